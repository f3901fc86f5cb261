"""In-the-Wild, WaveFake and Fake-or-Real loaders, and detection of a corpus from its files.

In-the-Wild: ``meta.csv`` (``file,speaker,label``; label ``spoof`` or ``bona-fide``) next to the
audio files.

WaveFake: one folder per vocoder (``ljspeech_melgan/``, ``jsut_multi_band_melgan/``, ...;
usually under ``generated_audio/``); ``attack`` is the folder name. Real audio comes from an
LJSpeech ``wavs/`` folder (and optionally JSUT), found next to the vocoder folders or passed in.

Fake-or-Real (FoR): ``{training,validation,testing}/{real,fake}/`` in each version folder
(``for-norm``, ``for-original``, ``for-2seconds``, ``for-rerecorded``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from ._corpus_util import check_missing, find_dirs, find_files, require_dir
from ._schema import BONAFIDE, audio_files, build_dataset, offenders_message, parse_label
from .asvspoof import ASV19_PROTOCOLS, asv21_keys
from .folders import load_folder, split_folders

__all__ = ["load_in_the_wild", "load_wavefake", "load_fake_or_real", "detect_corpus", "CORPORA"]

#: Corpus names :func:`detect_corpus` returns.
CORPORA = ("asvspoof2019_la", "asvspoof2021_la", "asvspoof2021_df", "in_the_wild", "wavefake", "fake_or_real")
_WAVEFAKE_PREFIXES = ("ljspeech_", "jsut_", "common_voices_")


def load_in_the_wild(root: str | os.PathLike, *, missing: str = "error", with_duration: bool = True):
    """The In-the-Wild corpus (``meta.csv`` + audio) as one ``Dataset``; no decoding.

    Returns:
        columns audio, label, speaker, attack ("bonafide" for real, None for fake: the generators
        are not labelled), language ("en"), duration_seconds.
    """
    import pandas as pd

    root = require_dir(root, "In-the-Wild (the folder with meta.csv)")
    metas = find_files(root, "meta.csv", max_depth=2)
    if not metas:
        raise ConfigError(f"{root}: no meta.csv found (In-the-Wild lists its files in meta.csv)")
    meta = metas[0]
    table = pd.read_csv(meta, dtype=str, keep_default_na=False)
    needed = {"file", "speaker", "label"}
    if not needed <= set(table.columns):
        raise ConfigError(f"{meta}: expected columns file,speaker,label; found {list(table.columns)}")
    paths, labels, speakers, unknown, gone = [], [], [], [], []
    for row, (file, speaker, raw) in enumerate(zip(table["file"], table["speaker"], table["label"]), start=2):
        label = parse_label(raw)
        if label is None:
            unknown.append(f"row {row}: {raw!r}")
            continue
        path = meta.parent / file
        if not path.is_file():
            gone.append(str(path))
            continue
        paths.append(str(path))
        labels.append(label)
        speakers.append(speaker)
    if unknown:
        raise ConfigError(
            f"{meta}: "
            + offenders_message(
                "rows have a label that is neither spoof nor bona-fide",
                unknown,
                len(unknown),
                "Is this In-the-Wild's meta.csv?",
            )
        )
    check_missing(gone, len(table), str(meta), missing, "Expected the audio files next to meta.csv.")
    columns = {
        "speaker": speakers,
        "attack": [BONAFIDE if y == 0 else None for y in labels],
        "language": ["en"] * len(paths),
    }
    return build_dataset(paths, labels, columns, with_duration=with_duration)


def _is_vocoder_folder(name: str) -> bool:
    return name.lower().startswith(_WAVEFAKE_PREFIXES)


def _voice(name: str) -> tuple[str | None, str | None]:
    """(speaker, language) of a WaveFake folder name."""
    lowered = name.lower()
    if "jsut" in lowered:
        return "JSUT", "ja"
    if "ljspeech" in lowered:
        return "LJ", "en"
    return None, None


def load_wavefake(
    root: str | os.PathLike,
    *,
    ljspeech_root: str | os.PathLike | None = None,
    jsut_root: str | os.PathLike | None = None,
    with_duration: bool = True,
):
    """WaveFake's vocoder folders (fake) plus LJSpeech / JSUT (real) as one ``Dataset``; no decoding.

    Args:
        root: the folder holding the vocoder folders (or their parent, e.g. with ``generated_audio/``).
        ljspeech_root: LJSpeech (the ``LJSpeech-1.1`` folder or its ``wavs/``); by default a
            ``wavs/`` folder is searched within two levels of ``root`` and of its parent.
        jsut_root: JSUT real audio (any folder of audio files), optional.

    Returns:
        columns audio, label, speaker ("LJ" / "JSUT"), attack (the vocoder folder name, or
        "bonafide"), language ("en" / "ja"), duration_seconds.
    """
    root = require_dir(root, "WaveFake (the folder with ljspeech_* vocoder folders)")
    vocoders = [d for d in find_dirs(root, _is_vocoder_folder, max_depth=2) if d != root]
    if not vocoders:
        raise ConfigError(f"{root}: no WaveFake vocoder folders (ljspeech_*, jsut_*) found within two levels")
    paths, labels, columns = [], [], {"speaker": [], "attack": [], "language": []}

    def add(files, label, speaker, attack, language):
        paths.extend(files)
        labels.extend([label] * len(files))
        columns["speaker"].extend([speaker] * len(files))
        columns["attack"].extend([attack] * len(files))
        columns["language"].extend([language] * len(files))

    for folder in vocoders:
        speaker, language = _voice(folder.name)
        add(audio_files(folder), 1, speaker, folder.name, language)
    if ljspeech_root is None:
        for base in (root, root.parent):
            wavs = [d for d in find_dirs(base, lambda d: d == "wavs", max_depth=2)]
            if wavs:
                ljspeech_root = wavs[0]
                break
    if ljspeech_root is not None:
        lj = Path(ljspeech_root)
        lj = lj / "wavs" if (lj / "wavs").is_dir() else lj
        real = audio_files(lj)
        if not real:
            raise ConfigError(f"{lj}: no LJSpeech audio files found")
        add(real, 0, "LJ", BONAFIDE, "en")
    if jsut_root is not None:
        real = audio_files(require_dir(jsut_root, "JSUT"))
        if not real:
            raise ConfigError(f"{jsut_root}: no JSUT audio files found")
        add(real, 0, "JSUT", BONAFIDE, "ja")
    if 0 not in labels:
        import logging

        logging.getLogger("wavguard.data").warning(
            "%s: no real audio found (no LJSpeech wavs/ folder); pass ljspeech_root=... to add it", root
        )
    return build_dataset(paths, labels, columns, with_duration=with_duration)


def _for_versions(root: Path) -> list[Path]:
    if split_folders(root):
        return [root]
    return [d for d in sorted(root.iterdir()) if d.is_dir() and d.name.lower().startswith("for-") and split_folders(d)]


def load_fake_or_real(
    root: str | os.PathLike, split: str | None = None, *, version: str | None = None, with_duration: bool = True
):
    """Fake-or-Real (FoR) as a ``DatasetDict`` (train / validation / test); no decoding.

    Args:
        root: a version folder (``for-norm``) or the folder holding the version folders.
        split: return only this split.
        version: which version folder when ``root`` holds several ("for-norm", "for-2seconds", ...).

    Returns:
        columns audio, label, attack ("bonafide" for real, None for fake), language ("en"),
        duration_seconds.
    """
    import datasets

    root = require_dir(root, "Fake-or-Real (a for-* folder)")
    if version is not None:
        root = require_dir(root / version, f"the FoR version {version}")
    versions = _for_versions(root)
    if not versions:
        raise ConfigError(f"{root}: no training/validation/testing folders with real/ and fake/ inside")
    if len(versions) > 1:
        raise ConfigError(
            f"{root}: holds several FoR versions ({', '.join(v.name for v in versions)}); pass version=..."
        )
    result = load_folder(versions[0], split, with_duration=with_duration)

    def add_language(ds):
        return ds.add_column("language", ["en"] * len(ds), feature=datasets.Value("string"))

    if isinstance(result, datasets.DatasetDict):
        return datasets.DatasetDict({k: add_language(v) for k, v in result.items()})
    return add_language(result)


def detect_corpus(root: str | os.PathLike) -> list[str]:
    """Names (from :data:`CORPORA`) of the known corpora whose protocol files lie under ``root``.

    Rules: ASVspoof 2019 LA by an ``ASVspoof2019.LA.cm.*.txt`` file within three levels;
    ASVspoof 2021 by ``keys/{LA,DF}/CM/trial_metadata.txt`` within four; In-the-Wild by a
    ``meta.csv`` with columns file,speaker,label within two; WaveFake by ``ljspeech_*`` /
    ``jsut_*`` folders within two; Fake-or-Real by ``for-*`` folders (or the root itself) holding
    training/validation/testing folders with real/fake inside.
    """

    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    if any(find_files(root, name) for name, _ in ASV19_PROTOCOLS.values()):
        found.append("asvspoof2019_la")
    for track in ("LA", "DF"):
        if asv21_keys(root, track):
            found.append(f"asvspoof2021_{track.lower()}")
    for meta in find_files(root, "meta.csv", max_depth=2):
        with open(meta, encoding="utf-8", errors="replace") as fh:
            header = fh.readline().strip().lower().replace(" ", "")
        if header.startswith("file,speaker,label"):
            found.append("in_the_wild")
            break
    if any(d != root for d in find_dirs(root, _is_vocoder_folder, max_depth=2)):
        found.append("wavefake")
    if (root.name.lower().startswith("for-") and split_folders(root)) or any(
        d.is_dir() and d.name.lower().startswith("for-") and split_folders(d) for d in root.iterdir()
    ):
        found.append("fake_or_real")
    return found
