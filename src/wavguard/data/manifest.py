"""Manifests (CSV / TSV / JSON lines / parquet) and existing ``datasets.Dataset`` objects, in the common schema.

A manifest has one row per file: a path column (``path``; also ``file``, ``filename``,
``filepath``, ``audio``, ``audio_path``) and a label column (``label``; also ``labels``, ``key``,
``class``, ``target``) holding 0/1, real/fake, bonafide/spoof or bona-fide. Relative paths are
resolved against the manifest's folder. Every other column is kept; a ``split`` column
(train/validation/test or their aliases) turns the result into a ``DatasetDict``.

:func:`manifest_paths` reads only the path column (no labels needed, no file checked): the list of
files ``wavguard predict --data MANIFEST`` scores.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._schema import (
    LABEL_NAMES,
    build_dataset,
    canonical_split,
    check_label_mapping,
    map_labels,
    offenders_message,
    parse_label,
    select_split,
)

__all__ = ["load_manifest", "manifest_paths", "from_dataset", "PATH_COLUMNS", "LABEL_COLUMNS", "MANIFEST_SUFFIXES"]

logger = logging.getLogger("wavguard.data")

PATH_COLUMNS = ("path", "file", "filename", "filepath", "audio", "audio_path")
LABEL_COLUMNS = ("label", "labels", "key", "class", "target")
MANIFEST_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


def _pick(columns: list[str], wanted: str | None, aliases: tuple[str, ...], what: str, source: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise ConfigError(f"{source}: has no {what} column {wanted!r}; its columns are {columns}")
        return wanted
    lowered = {c.lower(): c for c in columns}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    raise ConfigError(
        f"{source}: needs a {what} column named one of {list(aliases)}; its columns are {columns}; "
        f"name yours with {what}_column=..."
    )


def _read_table(path: Path):
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, skipinitialspace=True)
        if suffix == ".tsv":
            return pd.read_csv(path, sep="\t")
        if suffix == ".jsonl":
            return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".json":
            with open(path, encoding="utf-8") as fh:
                first = fh.read(1024).lstrip()[:1]
            return pd.read_json(path, lines=first != "[", dtype=False)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except ImportError as exc:  # pandas reads parquet through pyarrow, an optional dependency
        raise ConfigError(f"{path}: reading a parquet manifest needs pyarrow ({exc}); pip install pyarrow") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be parsed as a {suffix[1:]} manifest ({exc})") from None
    raise ConfigError(f"{path}: a manifest must end in {', '.join(MANIFEST_SUFFIXES)}")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _resolve(raw_path: Any, base: Path) -> Path | None:
    """A manifest cell as a path (relative to ``base``, ``~`` expanded), or ``None`` when empty."""
    if _is_missing(raw_path) or not str(raw_path).strip():
        return None
    file = Path(os.path.expanduser(str(raw_path).strip()))
    return file if file.is_absolute() else base / file


def manifest_paths(path: str | os.PathLike, *, path_column: str | None = None) -> list[str]:
    """The audio files a manifest lists, in row order; labels are not needed and files not checked.

    Args:
        path: a .csv, .tsv, .jsonl, .json or .parquet file with a path column (one of
            :data:`PATH_COLUMNS`, or ``path_column``).
        path_column: override the column detection.

    Returns:
        one path per row; a relative path is resolved against the manifest's folder. A file that
        does not exist is the scorer's to report, so a list of 100,000 files costs no ``stat`` here.

    Raises:
        ConfigError: the manifest cannot be read, has no rows or no path column, or a row has an
            empty path (the message lists the first such rows).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: manifest not found")
    table = _read_table(path)
    if len(table) == 0:
        raise ConfigError(f"{path}: the manifest has no rows")
    columns = [str(c) for c in table.columns]
    table.columns = columns
    column = _pick(columns, path_column, PATH_COLUMNS, "path", str(path))
    cells = table[column].astype(object).where(table[column].notna(), None)  # pandas' NA and NaN -> None
    files = [_resolve(raw, path.parent) for raw in cells]
    empty = [f"row {row}" for row, file in enumerate(files, start=2) if file is None]
    if empty:
        raise ConfigError(
            f"{path}: "
            + offenders_message(f"rows have an empty {column!r}", empty, len(empty), "Give every row a path.")
        )
    return [str(file) for file in files]


def load_manifest(
    path: str | os.PathLike,
    split: str | None = None,
    *,
    path_column: str | None = None,
    label_column: str | None = None,
    label_mapping: dict[Any, Any] | None = None,
    with_duration: bool = True,
):
    """Load a CSV/TSV/JSON-lines manifest without decoding audio.

    Args:
        path: the manifest file (.csv, .tsv, .jsonl, .json holding lines or a list of objects, or .parquet).
        split: with a ``split`` column, return only that split.
        path_column, label_column: override the column detection.
        label_mapping: the label column's values -> 0/1 or real/fake, e.g.
            ``{"human": "real", "tts": "fake"}``, instead of the usual names; a value it leaves
            out is an error.
        with_duration: add ``duration_seconds`` from each file's header.

    Returns:
        ``Dataset`` (or ``DatasetDict`` when the manifest has a ``split`` column) with audio,
        label, duration_seconds and every other manifest column.

    Raises:
        ConfigError: missing columns, files that do not exist, or unknown labels; the message lists
            the first offending rows and how many there are.
    """
    import datasets

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: manifest not found")
    table = _read_table(path)
    source = str(path)
    if len(table) == 0:
        raise ConfigError(f"{path}: the manifest has no rows")
    columns = [str(c) for c in table.columns]
    table.columns = columns
    path_col = _pick(columns, path_column, PATH_COLUMNS, "path", source)
    label_col = _pick(columns, label_column, LABEL_COLUMNS, "label", source)
    records = table.astype(object).where(table.notna(), None).to_dict(orient="list")
    raw_labels = records.pop(label_col)
    mapped = None
    if label_mapping is not None:
        try:
            mapped = map_labels(raw_labels, label_col, check_label_mapping(label_mapping))
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    base = path.parent
    paths, labels, missing, unknown = [], [], [], []
    for row, (raw_path, raw_label) in enumerate(zip(records.pop(path_col), raw_labels), start=2):
        file = _resolve(raw_path, base)
        if file is None:
            missing.append(f"row {row}: empty path")
            paths.append("")
        else:
            if not file.is_file():
                missing.append(f"row {row}: {file}")
            paths.append(str(file))
        label = parse_label(raw_label) if mapped is None else mapped[row - 2]
        if label is None:
            unknown.append(f"row {row}: {raw_label!r}")
        labels.append(label)
    problems = []
    if missing:
        problems.append(
            offenders_message(
                "files do not exist",
                missing,
                len(missing),
                "Fix the paths (relative paths are resolved against the manifest's folder).",
            )
        )
    if unknown:
        problems.append(
            offenders_message(
                f"rows have an unknown {label_col!r}", unknown, len(unknown), "Use 0/1, real/fake or bonafide/spoof."
            )
        )
    if problems:
        raise ConfigError(f"{path}: " + " ".join(problems))

    split_values = records.pop("split", None)
    if split_values is None:
        return select_split(build_dataset(paths, labels, records, with_duration=with_duration), split, source)
    names = [canonical_split(v) if v is not None else None for v in split_values]
    bad = [f"row {i + 2}: {v!r}" for i, (v, n) in enumerate(zip(split_values, names)) if n is None]
    if bad:
        raise ConfigError(
            f"{path}: "
            + offenders_message("rows have an unknown split", bad, len(bad), "Use train, validation or test.")
        )
    parts = {}
    for name in ("train", "validation", "test"):
        rows = [i for i, n in enumerate(names) if n == name]
        if rows:
            parts[name] = build_dataset(
                [paths[i] for i in rows],
                [labels[i] for i in rows],
                {k: [v[i] for i in rows] for k, v in records.items()},
                with_duration=with_duration,
            )
    return select_split(datasets.DatasetDict(parts), split, source)


def _audio_column(ds, wanted: str | None) -> str:
    import datasets

    if wanted is not None:
        return _pick(ds.column_names, wanted, (), "audio", "the dataset")
    for name, feature in ds.features.items():
        if isinstance(feature, datasets.Audio):
            return name
    for name in ds.column_names:
        if name.lower() in PATH_COLUMNS and ds.features[name] == datasets.Value("string"):
            return name
    raise ConfigError(
        f"the dataset has no Audio column and no path column named one of {list(PATH_COLUMNS)}; "
        f"its columns are {ds.column_names}; pass audio_column=..."
    )


def _label_values(ds, column: str, label_mapping: dict[Any, Any] | None = None) -> list[int]:
    import datasets

    feature = ds.features[column]
    values = ds[column]
    if label_mapping is not None:  # a ClassLabel's values are looked up by class name
        names = feature.names if isinstance(feature, datasets.ClassLabel) else None
        values = [names[v] if names is not None and v is not None else v for v in values]
        return map_labels(values, column, check_label_mapping(label_mapping))
    if isinstance(feature, datasets.ClassLabel):
        mapping = [parse_label(name) for name in feature.names]
        if None in mapping or len(set(mapping)) != len(mapping):
            raise ConfigError(
                f"label column {column!r} has class names {feature.names}; expected two classes "
                "meaning real and fake (e.g. bonafide/spoof)"
            )
        return [mapping[v] for v in values]
    parsed = [parse_label(v) for v in values]
    unknown = [f"row {i}: {v!r}" for i, (v, p) in enumerate(zip(values, parsed)) if p is None]
    if unknown:
        raise ConfigError(
            offenders_message(
                f"rows of column {column!r} hold an unknown label",
                unknown,
                len(unknown),
                "Use 0/1, real/fake or bonafide/spoof.",
            )
        )
    return parsed


def from_dataset(
    ds, *, audio_column: str | None = None, label_column: str | None = None, label_mapping: dict[Any, Any] | None = None
):
    """Bring an existing ``Dataset``/``DatasetDict`` into the common schema (no decoding).

    The audio column (an ``Audio`` feature, or a string path column) becomes ``audio`` cast to
    ``Audio(decode=False)``; the label column (ClassLabel, 0/1 or strings such as bonafide/spoof)
    becomes ``label`` with ``ClassLabel(names=["real", "fake"])``. Other columns are kept.

    Args:
        ds: the data set.
        audio_column: the audio column's name (default: the first ``Audio`` column, else a path
            column named as in :data:`PATH_COLUMNS`).
        label_column: the label column's name (default: the first of :data:`LABEL_COLUMNS`).
        label_mapping: the label column's values (a ``ClassLabel``'s class names) -> 0/1 or
            real/fake, e.g. ``{"bonafide": 0, "spoof": 1}``, instead of the usual names.

    Raises:
        ConfigError: no audio or label column (or a named one missing), labels that mean neither
            real nor fake, or a value ``label_mapping`` leaves out (naming the values seen).
    """
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        return datasets.DatasetDict(
            {
                name: from_dataset(
                    part, audio_column=audio_column, label_column=label_column, label_mapping=label_mapping
                )
                for name, part in ds.items()
            }
        )
    if not isinstance(ds, datasets.Dataset):
        raise ConfigError(f"expected a datasets.Dataset or DatasetDict, got {type(ds).__name__}")
    audio_col = _audio_column(ds, audio_column)
    label_col = _pick(ds.column_names, label_column, LABEL_COLUMNS, "label", "the dataset")
    ds = ds.cast_column(audio_col, datasets.Audio(decode=False))
    if audio_col != "audio":
        if "audio" in ds.column_names:
            raise ConfigError(f"the dataset has a column 'audio' besides the audio column {audio_col!r}; rename one")
        ds = ds.rename_column(audio_col, "audio")
    target = datasets.ClassLabel(names=list(LABEL_NAMES))
    if label_mapping is not None or not (label_col == "label" and ds.features[label_col] == target):
        labels = _label_values(ds, label_col, label_mapping)
        ds = ds.remove_columns(label_col)
        if "label" in ds.column_names:
            raise ConfigError(f"the dataset has a column 'label' besides the label column {label_col!r}; rename one")
        ds = ds.add_column("label", labels, feature=target)
    order = ["audio", "label"] + [c for c in ds.column_names if c not in ("audio", "label")]
    return ds.select_columns(order)
