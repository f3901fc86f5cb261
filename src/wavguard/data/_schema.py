"""The common column schema of every wavguard data set, and how rows become a ``datasets.Dataset``.

Columns: ``audio`` (``datasets.Audio(decode=False)``: {"path", "bytes"}), ``label``
(``ClassLabel(names=["real", "fake"])``), then, where known, ``speaker``, ``attack`` ("bonafide"
for real audio), ``language``, ``duration_seconds`` and corpus condition columns (``codec``,
``transmission``, ...).

Tables are built with pyarrow directly: ``datasets`` would otherwise try to *encode* the audio
column, which needs torchcodec, and nothing here ever decodes audio.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..audio.decode import audio_info
from ..errors import AudioError, ConfigError

logger = logging.getLogger("wavguard.data")

LABEL_NAMES = ("real", "fake")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
BONAFIDE = "bonafide"
#: How many offending rows an error message lists before giving the count.
MAX_LISTED = 5

_REAL_WORDS = {"0", "real", "bonafide", "bona-fide", "bona_fide", "bona fide", "genuine", "human"}
_FAKE_WORDS = {"1", "fake", "spoof", "spoofed", "synthetic", "deepfake"}

#: Canonical split names, and the folder / protocol names that map to them.
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "trn": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "development": "validation",
    "test": "test",
    "testing": "test",
    "eval": "test",
    "evaluation": "test",
}


def parse_label(value: Any) -> int | None:
    """Map a label cell to 0 (real) or 1 (fake); ``None`` when it is not a known label.

    Accepts 0/1 (int, float, bool or string), and case-insensitively real/fake,
    bonafide/spoof, bona-fide, genuine, ... (see ``_REAL_WORDS``/``_FAKE_WORDS``).
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if value in (0, 1) else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _REAL_WORDS:
            return 0
        if word in _FAKE_WORDS:
            return 1
    return None


def mapping_key(value: Any) -> str:
    """How a label value is looked up in a ``label_mapping``: as text, so that YAML keys and column
    values meet (``True`` -> ``"true"``, ``1.0`` -> ``"1"``, ``"spoof"`` stays ``"spoof"``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_label_mapping(mapping: Any) -> dict[str, int]:
    """A ``label_mapping`` (a data set's label value -> wavguard's label) as ``{mapping_key(value): 0 or 1}``.

    Each target is 0 (real) or 1 (fake), or a name :func:`parse_label` reads (``"real"``,
    ``"fake"``, ``"bonafide"``, ``"spoof"``...).

    Example:
        >>> check_label_mapping({"bonafide": 0, "spoof": "fake", True: "fake"})
        {'bonafide': 0, 'spoof': 1, 'true': 1}

    Raises:
        ConfigError: not a mapping, an empty one, or targets that mean neither real nor fake.
    """
    if not isinstance(mapping, dict):
        raise ConfigError(
            f"label_mapping must map the data set's label values to 0/1 or real/fake "
            f"(e.g. {{bonafide: 0, spoof: 1}}), got {mapping!r}"
        )
    if not mapping:
        raise ConfigError("label_mapping is empty; map each of the data set's label values to 0/1 or real/fake")
    bad = [f"{key!r}: {target!r}" for key, target in mapping.items() if parse_label(target) is None]
    if bad:
        raise ConfigError(f"label_mapping: {', '.join(bad)}: each value must be 0 (real) or 1 (fake), or real/fake")
    return {mapping_key(key): parse_label(target) for key, target in mapping.items()}


def map_labels(values: Sequence[Any], column: str, mapping: dict[str, int]) -> list[int]:
    """``values`` of the label column ``column`` through a checked mapping (:func:`check_label_mapping`).

    Raises:
        ConfigError: naming the column, the values the mapping leaves out and every value seen.
    """
    mapped = [mapping.get(mapping_key(v)) for v in values]
    missing = sorted({repr(v) for v, m in zip(values, mapped) if m is None})
    if missing:
        seen = sorted({repr(v) for v in values})
        listed = ", ".join(seen[:20]) + (f" (and {len(seen) - 20} more)" if len(seen) > 20 else "")
        raise ConfigError(
            f"label column {column!r} holds {', '.join(missing[:MAX_LISTED])}, which label_mapping does not map "
            f"(it maps {sorted(mapping)}); the values seen are {listed}: add each to label_mapping as 0/1 or real/fake"
        )
    return mapped


def canonical_split(name: str) -> str | None:
    """``"training"`` -> ``"train"``, ``"dev"`` -> ``"validation"``, ``"eval"`` -> ``"test"``; else None."""
    return SPLIT_ALIASES.get(str(name).strip().lower())


def offenders_message(what: str, offenders: Sequence[str], total: int, fix: str) -> str:
    """``"3 rows have X: a, b, c; fix"``, listing at most :data:`MAX_LISTED` offenders."""
    listed = "; ".join(offenders[:MAX_LISTED])
    more = f" (and {total - MAX_LISTED} more)" if total > MAX_LISTED else ""
    return f"{total} {what}: {listed}{more}. {fix}"


def _one_duration(path: str) -> float | None:
    try:
        rate_hz, frames, _ = audio_info(path)
    except AudioError:
        return None  # unreadable files are reported by scan_dataset, not here
    return frames / rate_hz if rate_hz else None


def durations_seconds(paths: Sequence[str], num_threads: int = 8) -> list[float | None]:
    """Duration of each file from its header (no decoding); ``None`` for unreadable files."""
    if len(paths) < 64 or num_threads <= 1:
        return [_one_duration(p) for p in paths]
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        return list(pool.map(_one_duration, paths, chunksize=64))


def build_dataset(
    paths: Sequence[str],
    labels: Sequence[int],
    columns: dict[str, Sequence[Any]] | None = None,
    *,
    with_duration: bool = True,
):
    """A ``datasets.Dataset`` in the common schema from file paths, labels and extra columns.

    Args:
        paths: audio file paths, one per row (stored as absolute paths).
        labels: 0 (real) or 1 (fake), one per row.
        columns: extra columns (``speaker``, ``attack``, ``codec``, ...), each one value per row.
        with_duration: add ``duration_seconds`` read from each file's header (unless given).
    """
    import datasets
    import pyarrow as pa

    columns = dict(columns or {})
    for name, values in columns.items():
        if len(values) != len(paths):
            raise ConfigError(f"column {name!r} has {len(values)} values for {len(paths)} files")
    if with_duration and "duration_seconds" not in columns:
        columns["duration_seconds"] = durations_seconds([str(p) for p in paths])
    audio_type = datasets.Audio().pa_type
    arrays = {
        "audio": pa.array([{"bytes": None, "path": os.path.abspath(p)} for p in paths], type=audio_type),
        "label": pa.array([int(v) for v in labels], type=pa.int64()),
    }
    for name, values in columns.items():
        if name == "duration_seconds":
            arrays[name] = pa.array(values, type=pa.float64())
        else:
            try:
                arrays[name] = pa.array(list(values))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ConfigError(
                    f"column {name!r} mixes value types ({exc}); give it one type (e.g. all strings)"
                ) from None
    table = pa.table(arrays)
    features = datasets.Features.from_arrow_schema(table.schema)
    features["audio"] = datasets.Audio(decode=False)
    features["label"] = datasets.ClassLabel(names=list(LABEL_NAMES))
    for name in columns:  # an all-null column has arrow type null; store it as strings
        if pa.types.is_null(table.schema.field(name).type):
            features[name] = datasets.Value("string")
    table = table.cast(features.arrow_schema)
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=features))


def audio_files(folder: str | os.PathLike) -> list[str]:
    """Every audio file (by extension, case-insensitive) under ``folder``, recursively, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            if name.lower().endswith(AUDIO_EXTENSIONS) and not name.startswith("._"):
                found.append(os.path.join(dirpath, name))
    return sorted(found)


def label_counts(labels: Iterable[int]) -> dict[str, int]:
    """``{"real": n0, "fake": n1}`` from an iterable of 0/1 labels."""
    counts = {name: 0 for name in LABEL_NAMES}
    for value in labels:
        counts[LABEL_NAMES[int(value)]] += 1
    return counts


def select_split(result, split: str | None, source: str):
    """Return ``result[split]`` for a ``DatasetDict`` (split names canonicalised), else ``result``.

    A source without splits is returned whole when a split is asked for, with a logged warning.
    """
    import datasets

    if split is None:
        return result
    if isinstance(result, datasets.DatasetDict):
        name = canonical_split(split) or split
        if name not in result:
            raise ConfigError(f"{source}: has no split {split!r}; it has {sorted(result)}")
        return result[name]
    logger.warning("%s has no split sub-sets; split=%r returns all %d rows", source, split, len(result))
    return result
