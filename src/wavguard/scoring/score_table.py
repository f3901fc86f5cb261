"""The score file of :func:`wavguard.scoring.archive.score_archive`: its columns, its formats
(the suffix picks parquet, CSV, TSV or JSON lines) and the writer that streams rows into it."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["OUTPUT_SUFFIXES", "COLUMNS", "check_output", "write_table"]

#: What the score file's suffix may be; the suffix picks the format.
OUTPUT_SUFFIXES = (".parquet", ".csv", ".tsv", ".jsonl")
#: The score file's columns: the file as listed, P(fake) (null when it failed), "fake"/"real"/"error",
#: why it failed (null when scored), its length in seconds (null when it failed), the runtime that scored it.
COLUMNS = ("path", "score", "label", "error", "duration_seconds", "backend")


def check_output(out: str | os.PathLike) -> Path:
    """``out`` as a path, checked before any model loads: a suffix in :data:`OUTPUT_SUFFIXES`, not a
    folder, and pyarrow installed for parquet.

    Raises:
        ConfigError: what is wrong with ``out`` and what to write instead.
    """
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ConfigError(
            f"{path}: the score file must end in {', '.join(OUTPUT_SUFFIXES)} (the suffix picks the format)"
        )
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; --out names the score file, e.g. {path / ('scores' + suffix)}")
    if suffix == ".parquet":
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"{path}: writing parquet needs pyarrow (pip install pyarrow); or end the name in .csv, .tsv or .jsonl"
            ) from None
    return path


def write_table(tmp: str, suffix: str, shards: Iterator[list[dict[str, Any]]], record: dict[str, Any]) -> None:
    """Stream the rows into ``tmp`` as parquet (one row group per shard), CSV, TSV or JSON lines."""
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        string, number = pa.string(), pa.float64()
        schema = pa.schema([(c, number if c in ("score", "duration_seconds") else string) for c in COLUMNS])
        about = {
            "score": "calibrated probability that the file is FAKE",
            **{k: record[k] for k in ("model", "threshold")},
        }
        schema = schema.with_metadata({"wavguard": json.dumps(about)})
        with pq.ParquetWriter(tmp, schema) as writer:
            for rows in shards:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
        return
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:  # a path as its bytes
        if suffix == ".jsonl":
            for rows in shards:
                fh.writelines(json.dumps(row) + "\n" for row in rows)
        else:
            table = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",", lineterminator="\n")
            table.writerow(COLUMNS)
            for rows in shards:
                table.writerows([("" if row[c] is None else row[c]) for c in COLUMNS] for row in rows)
        fh.flush()
        os.fsync(fh.fileno())
