"""Data sets through ``datasets.load_dataset``: Hub ids and local folders in the Hub layout.

A Hub id (``owner/name``) is passed to ``load_dataset`` unchanged, with ``split``, ``revision`` and
``streaming``; so is a local folder in the Hub layout (what ``push_to_hub`` uploads: a ``README.md``
dataset card and/or parquet/arrow/csv/json files, e.g. under ``data/``). The result is brought into
the common schema (``audio`` as ``Audio(decode=False)``, ``label`` 0 = real, 1 = fake) without
decoding audio: wavguard's own decoder stays the one path from audio to samples.

Streamed data (``IterableDataset``) keeps streaming here; :func:`materialize` reads a bounded
number of its rows into a ``Dataset`` for the code that needs random access (training).
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._schema import LABEL_NAMES, check_label_mapping, map_labels, parse_label
from .manifest import from_dataset

__all__ = ["is_hub_id", "is_hub_layout", "load_hub_dataset", "from_iterable", "materialize"]

logger = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_DATA_SUFFIXES = (".parquet", ".arrow", ".csv", ".jsonl", ".json")


def is_hub_id(source: str) -> bool:
    """``owner/name`` with no path syntax (no leading ``.``/``/``, one slash, no file suffix)."""
    return bool(_HUB_ID.match(source)) and not source.lower().endswith(_DATA_SUFFIXES + (".tsv",))


def is_hub_layout(root: Path) -> bool:
    """A folder ``load_dataset`` reads as a Hub repository: a dataset card with a YAML header
    naming ``configs``/``dataset_info``, parquet/arrow files at the top, or data files (parquet,
    arrow, csv, json) under ``data/``. (``load_any`` asks this after its corpus rules.)"""
    card = root / "README.md"
    if card.is_file():
        head = card.read_text(errors="replace")[:20000]
        if head.startswith("---") and re.search(r"^(configs|dataset_info):", head, re.M):
            return True
    top = any(p.suffix.lower() in (".parquet", ".arrow") and p.is_file() for p in root.iterdir())
    data = root / "data"
    return top or (data.is_dir() and any(p.suffix.lower() in _DATA_SUFFIXES and p.is_file() for p in data.rglob("*")))


def load_hub_dataset(
    source: str,
    split: str | None = None,
    *,
    revision: str | None = None,
    streaming: bool = False,
    audio_column: str | None = None,
    label_column: str | None = None,
    label_mapping: dict[Any, Any] | None = None,
):
    """``datasets.load_dataset(source, split=..., revision=..., streaming=...)`` in the common schema.

    Args:
        source: a Hub id (``owner/name``) or a local folder in the Hub layout.
        split: one split, named as the repository names it (``"train"``, ``"test"``...); ``None``:
            every split (a ``DatasetDict``).
        revision: a branch, tag or commit of the Hub repository.
        streaming: an ``IterableDataset`` that reads rows lazily instead of downloading everything.
        audio_column, label_column, label_mapping: the data set's own audio and label columns and
            label values (see :func:`~wavguard.data.manifest.from_dataset`).

    Raises:
        ConfigError: ``load_dataset`` failed (not found, offline, no such split...), with its message.
    """
    import datasets

    try:
        result = datasets.load_dataset(source, split=split, revision=revision, streaming=streaming)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types (not found, offline, unknown split...)
        raise ConfigError(f"{source}: datasets.load_dataset failed ({type(exc).__name__}: {exc})") from None
    columns = {"audio_column": audio_column, "label_column": label_column, "label_mapping": label_mapping}
    if isinstance(result, (datasets.IterableDataset, datasets.IterableDatasetDict)):
        return from_iterable(result, **columns)
    return from_dataset(result, **columns)


def from_iterable(
    ds, *, audio_column: str | None = None, label_column: str | None = None, label_mapping: dict[Any, Any] | None = None
):
    """An ``IterableDataset`` (or ``IterableDatasetDict``) in the common schema, still lazy.

    Args:
        ds: the streamed data set.
        audio_column, label_column, label_mapping: its own audio and label columns and label
            values (see :func:`~wavguard.data.manifest.from_dataset`); by default the usual names.

    Raises:
        ConfigError: no ``Audio``/path column, no label column (or a named one missing), label
            classes that mean neither real nor fake; unknown label values (or values
            ``label_mapping`` leaves out) raise when their row is read.
    """
    import datasets

    if isinstance(ds, datasets.IterableDatasetDict):
        return datasets.IterableDatasetDict(
            {
                k: from_iterable(v, audio_column=audio_column, label_column=label_column, label_mapping=label_mapping)
                for k, v in ds.items()
            }
        )
    if ds.features is None:
        ds = ds._resolve_features()  # reads the first rows to learn the columns
    for name in (audio_column, label_column):
        if name is not None and name not in ds.column_names:
            raise ConfigError(f"the streamed data set has no column {name!r}; its columns are {ds.column_names}")
    audio_col = audio_column or next((n for n, f in ds.features.items() if isinstance(f, datasets.Audio)), None)
    if audio_col is None:
        audio_col = next(
            (n for n in ds.column_names if n.lower() in ("audio", "path", "file", "filename", "filepath")), None
        )
    label_col = label_column or next(
        (n for n in ds.column_names if n.lower() in ("label", "labels", "key", "class", "target")), None
    )
    if audio_col is None or label_col is None:
        raise ConfigError(
            f"the streamed data set needs an Audio (or path) column and a label column; it has {ds.column_names}"
        )
    ds = ds.cast_column(audio_col, datasets.Audio(decode=False))
    feature = ds.features[label_col]
    if label_mapping is not None:
        checked, names = check_label_mapping(label_mapping), getattr(feature, "names", None)
        convert = lambda v: map_labels([names[v] if names and v is not None else v], label_col, checked)[0]  # noqa: E731
    elif isinstance(feature, datasets.ClassLabel):
        mapping = [parse_label(name) for name in feature.names]
        if None in mapping or len(set(mapping)) != len(mapping):
            raise ConfigError(
                f"label column {label_col!r} has class names {feature.names}; expected real/fake (e.g. bonafide/spoof)"
            )
        convert = lambda v: mapping[v]  # noqa: E731
    else:
        convert = lambda v: _known_label(v, label_col)  # noqa: E731
    target = datasets.ClassLabel(names=list(LABEL_NAMES))
    features = datasets.Features(
        {("audio" if n == audio_col else n): f for n, f in ds.features.items() if n != label_col}
    )
    features["label"] = target

    def to_schema(row: dict[str, Any]) -> dict[str, Any]:
        out = {("audio" if k == audio_col else k): v for k, v in row.items() if k != label_col}
        out["label"] = convert(row[label_col])
        return out

    ds = ds.map(to_schema, remove_columns=ds.column_names, features=features)
    return ds.select_columns(["audio", "label"] + [c for c in features if c not in ("audio", "label")])


def _known_label(value: Any, column: str) -> int:
    parsed = parse_label(value)
    if parsed is None:
        raise ConfigError(f"column {column!r} holds the label {value!r}; use 0/1, real/fake or bonafide/spoof")
    return parsed


def materialize(ds, limit: int | None = None, *, seed: int | None = None, what: str = "data"):
    """The rows of an ``IterableDataset`` as a ``Dataset`` (other data sets pass through).

    Rows (audio bytes included) are written once to the ``datasets`` cache, so what follows has
    random access and a length. A ``Dataset`` is returned unchanged.

    Args:
        limit: read at most this many rows (``None``: the whole stream).
        seed: shuffle the stream first (its shards, and rows within a 10,000-row buffer).
        what: how log messages name the data.
    """
    import datasets

    if not isinstance(ds, datasets.IterableDataset):
        return ds
    if seed is not None:
        ds = ds.shuffle(seed=seed, buffer_size=10_000)
    if limit is not None:
        ds = ds.take(int(limit))
    logger.info(
        "%s is streamed: reading %s into the local datasets cache",
        what,
        "the whole stream" if limit is None else f"its first {int(limit)} rows",
    )
    # a fresh fingerprint: each call reads the stream again instead of reusing an older cache
    return datasets.Dataset.from_generator(
        _rows, features=ds.features, gen_kwargs={"ds": ds}, fingerprint=uuid.uuid4().hex
    )


def _rows(ds):
    yield from ds
