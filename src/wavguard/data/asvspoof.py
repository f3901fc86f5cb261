"""ASVspoof 2019 LA and ASVspoof 2021 LA / DF, from their protocol (key) files.

ASVspoof 2019 LA: ``ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt``
with lines ``SPEAKER FILE - ATTACK KEY`` (ATTACK is ``-`` for bona fide audio, A01-A19 otherwise;
KEY is ``bonafide`` or ``spoof``); audio in ``ASVspoof2019_LA_{train,dev,eval}/flac/FILE.flac``.

ASVspoof 2021: ``keys/{LA,DF}/CM/trial_metadata.txt``, one trial a line:
  LA: ``SPEAKER FILE CODEC TRANSMISSION ATTACK KEY TRIM SUBSET``
  DF: ``SPEAKER FILE CODEC SOURCE ATTACK KEY TRIM SUBSET VOCODER ...`` (further VCC columns ignored)
audio in ``ASVspoof2021_{LA,DF}_eval*/flac/FILE.flac`` (the DF release comes in several parts).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from ._corpus_util import check_missing, find_dirs, find_files, require_dir
from ._schema import BONAFIDE, build_dataset, canonical_split, offenders_message, parse_label

__all__ = ["load_asvspoof2019_la", "load_asvspoof2021", "ASV19_PROTOCOLS", "asv21_keys"]

#: canonical split -> (protocol file name, audio folder part)
ASV19_PROTOCOLS = {
    "train": ("ASVspoof2019.LA.cm.train.trn.txt", "train"),
    "validation": ("ASVspoof2019.LA.cm.dev.trl.txt", "dev"),
    "test": ("ASVspoof2019.LA.cm.eval.trl.txt", "eval"),
}
_ASV21_COLUMNS = {
    "LA": ("speaker", "file", "codec", "transmission", "attack", "key", "trim", "subset"),
    "DF": ("speaker", "file", "codec", "source", "attack", "key", "trim", "subset", "vocoder"),
}


def _read_protocol(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Whitespace-separated protocol lines as dicts; a short line raises ConfigError."""
    rows, bad = [], []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < len(columns):
                bad.append(f"line {number}: {line.strip()!r}")
                continue
            rows.append(dict(zip(columns, fields)))
    if bad:
        raise ConfigError(
            f"{path}: "
            + offenders_message(
                f"lines have fewer than {len(columns)} fields ({' '.join(columns)})",
                bad,
                len(bad),
                "Is this the right protocol file?",
            )
        )
    return rows


def _rows_to_dataset(rows, audio_path, source: str, missing: str, condition_columns, with_duration: bool, fix: str):
    paths, labels, gone, bad_keys = [], [], [], []
    columns: dict[str, list] = {name: [] for name in ("speaker", "attack", "language", *condition_columns)}
    for row in rows:
        label = parse_label(row["key"])
        if label is None:
            bad_keys.append(f"{row['file']}: {row['key']!r}")
            continue
        path = audio_path(row["file"])
        if path is None or not os.path.isfile(path):
            gone.append(str(path or row["file"]))
            continue
        paths.append(path)
        labels.append(label)
        attack = row["attack"]
        columns["speaker"].append(row["speaker"])
        columns["attack"].append(BONAFIDE if label == 0 or attack in ("-", "bonafide") else attack)
        columns["language"].append("en")
        for name in condition_columns:
            columns[name].append(row[name])
    if bad_keys:
        raise ConfigError(
            f"{source}: "
            + offenders_message(
                "trials have a key that is neither bonafide nor spoof",
                bad_keys,
                len(bad_keys),
                "Is this the right key file?",
            )
        )
    check_missing(gone, len(rows), source, missing, fix)
    if not paths:
        raise ConfigError(f"{source}: none of the listed audio files exist. {fix}")
    return build_dataset(paths, labels, columns, with_duration=with_duration)


def load_asvspoof2019_la(
    root: str | os.PathLike, split: str | None = None, *, missing: str = "error", with_duration: bool = True
):
    """ASVspoof 2019 LA as a ``DatasetDict`` (train / validation = dev / test = eval), no decoding.

    Args:
        root: the ``LA`` folder (or any folder up to three levels above the protocol files).
        split: return only this split ("train", "dev"/"validation", "eval"/"test").
        missing: "error" (default) or "skip" for listed files that are absent.

    Returns:
        columns audio, label, speaker, attack (A01-A19, "bonafide"), language ("en"), duration_seconds.
    """
    import datasets

    root = require_dir(root, "ASVspoof 2019 LA (the LA folder)")
    wanted = list(ASV19_PROTOCOLS) if split is None else [canonical_split(split) or split]
    parts = {}
    for name in wanted:
        if name not in ASV19_PROTOCOLS:
            raise ConfigError(f"ASVspoof 2019 LA has splits train, validation (dev) and test (eval), not {split!r}")
        protocol_name, part = ASV19_PROTOCOLS[name]
        protocols = find_files(root, protocol_name)
        if not protocols:
            if split is None:
                continue
            raise ConfigError(f"{root}: no {protocol_name} found (looked three levels deep)")
        protocol = protocols[0]
        audio_dirs = find_dirs(protocol.parent.parent, lambda d, p=part: d == f"ASVspoof2019_LA_{p}", max_depth=2)
        flac = audio_dirs[0] / "flac" if audio_dirs else None
        rows = _read_protocol(protocol, ("speaker", "file", "environment", "attack", "key"))
        parts[name] = _rows_to_dataset(
            rows,
            lambda file, flac=flac: None if flac is None else str(flac / f"{file}.flac"),
            str(protocol),
            missing,
            (),
            with_duration,
            f"Expected the audio in ASVspoof2019_LA_{part}/flac/ next to the protocol folder.",
        )
    if not parts:
        raise ConfigError(f"{root}: no ASVspoof2019.LA.cm.*.txt protocol files found (looked three levels deep)")
    if split is not None:
        return parts[wanted[0]]
    return datasets.DatasetDict(parts)


def asv21_keys(root: Path, track: str) -> list[Path]:
    """The ``keys/{track}/CM/trial_metadata.txt`` files within four levels of ``root``."""
    return [
        p
        for p in find_files(root, "trial_metadata.txt", max_depth=4)
        if p.parent.name.upper() == "CM" and p.parent.parent.name.upper() == track
    ]


def load_asvspoof2021(
    root: str | os.PathLike,
    track: str = "LA",
    subset: str | None = None,
    *,
    missing: str = "error",
    with_duration: bool = True,
):
    """ASVspoof 2021 LA or DF evaluation data with its conditions, as one ``Dataset``; no decoding.

    Args:
        root: a folder holding the keys (``keys/LA/CM/trial_metadata.txt``) and the audio folders
            (``ASVspoof2021_LA_eval/flac``; for DF every ``ASVspoof2021_DF_eval_part*/.../flac``).
        track: "LA" or "DF".
        subset: keep only trials of this subset ("progress", "eval", "hidden_track"); None keeps all.
        missing: "error" (default) or "skip" for listed files that are absent.

    Returns:
        columns audio, label, speaker, attack, language, codec, and for LA ``transmission``,
        for DF ``source`` (asvspoof / vcc2018 / vcc2020) and ``vocoder``; plus trim, subset,
        duration_seconds.
    """
    track = str(track).upper()
    if track not in _ASV21_COLUMNS:
        raise ConfigError(f"track must be 'LA' or 'DF', got {track!r}")
    root = require_dir(root, f"ASVspoof 2021 {track}")
    keys = asv21_keys(root, track)
    if not keys:
        raise ConfigError(
            f"{root}: no keys/{track}/CM/trial_metadata.txt found (looked four levels deep); download the "
            f"{track} keys from asvspoof.org and unpack them next to the audio"
        )
    rows = _read_protocol(keys[0], _ASV21_COLUMNS[track])
    if subset is not None:
        rows = [r for r in rows if r["subset"] == subset]
        if not rows:
            raise ConfigError(f"{keys[0]}: no trials in subset {subset!r} (subsets: progress, eval, hidden_track)")
    index: dict[str, str] = {}
    prefix = f"asvspoof2021_{track.lower()}_eval"
    for folder in find_dirs(root, lambda d: d.lower().startswith(prefix), max_depth=3):
        for flac in [folder / "flac", *sorted(folder.glob("*/flac"))]:
            if flac.is_dir():
                with os.scandir(flac) as entries:
                    index.update({e.name[: -len(".flac")]: e.path for e in entries if e.name.endswith(".flac")})
    conditions = tuple(c for c in _ASV21_COLUMNS[track][2:] if c not in ("attack", "key"))
    return _rows_to_dataset(
        rows,
        index.get,
        str(keys[0]),
        missing,
        conditions,
        with_duration,
        f"Expected the audio in {root}/ASVspoof2021_{track}_eval*/flac/.",
    )
