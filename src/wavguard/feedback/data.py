"""Client feedback from the service's SQLite log, as a labelled ``datasets.Dataset``.

``wavguard serve --log-db FILE --store-feedback-audio`` keeps each ``POST /v1/feedback`` in the
``feedback`` table: ``true_label`` (``"real"``/``"fake"``), the audio bytes when the client sent
them, its SHA-256 and the ``prediction_id`` it corrects. Only rows that carry audio can train a
model; the others are counted and reported.

Example:
    >>> from wavguard.feedback.data import load_feedback, read_feedback
    >>> ds = load_feedback("logs/wavguard.db")                     # doctest: +SKIP
    >>> ds.column_names                                            # doctest: +SKIP
    ['audio', 'label', 'source', 'feedback_id', ...]
    >>> read_feedback("logs/wavguard.db").counts()["without_audio"]  # doctest: +SKIP
    3
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audio.decode import audio_info
from ..errors import AudioError, ConfigError

__all__ = ["FeedbackData", "load_feedback", "read_feedback", "feedback_dataset"]

logger = logging.getLogger(__name__)

_LABELS = {"real": 0, "fake": 1}


@dataclass
class FeedbackData:
    """The usable feedback of a log database and what was left out.

    Attributes:
        path: the database file.
        dataset: one row per distinct audio clip: ``audio`` (``Audio(decode=False)``, the bytes),
            ``label`` (``ClassLabel`` real/fake, from ``true_label``), ``source`` (``"feedback"``),
            ``feedback_id``, ``prediction_id``, ``audio_sha256``, ``created_at`` (Unix seconds) and
            ``duration_seconds``; ``None`` when no row carries usable audio.
        num_rows: feedback rows in the table.
        num_without_audio: rows without audio (label-only feedback): not usable for training.
        num_duplicates: rows whose audio a newer row labels again (the newest label wins).
        unreadable: ``{feedback id: reason}`` of rows whose audio could not be decoded.
    """

    path: Path
    dataset: Any
    num_rows: int
    num_without_audio: int
    num_duplicates: int = 0
    unreadable: dict[int, str] = field(default_factory=dict)

    @property
    def num_used(self) -> int:
        """Rows in :attr:`dataset`."""
        return 0 if self.dataset is None else len(self.dataset)

    def counts(self) -> dict[str, Any]:
        """JSON-ready counts: rows, used (and per class), without audio, duplicates, unreadable."""
        labels = [] if self.dataset is None else list(self.dataset["label"])
        return {
            "rows": self.num_rows,
            "used": self.num_used,
            "used_real": labels.count(0),
            "used_fake": labels.count(1),
            "without_audio": self.num_without_audio,
            "duplicates": self.num_duplicates,
            "unreadable": len(self.unreadable),
        }


def _connect_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ConfigError(f"{path}: no such feedback database; pass the file given to `wavguard serve --log-db`")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path}: not a SQLite database ({exc})") from None
    if "feedback" not in tables:
        conn.close()
        raise ConfigError(f"{path}: has no 'feedback' table; is this the file given to `wavguard serve --log-db`?")
    return conn


def feedback_dataset(rows: list[dict[str, Any]]):
    """A ``datasets.Dataset`` in the common schema from feedback rows that carry audio.

    Built with pyarrow (as :mod:`wavguard.data` does), never by encoding through ``datasets.Audio``.

    Args:
        rows: dicts with ``id``, ``true_label``, ``audio`` (bytes), ``prediction_id``,
            ``audio_sha256``, ``created_at`` and ``duration_seconds``.
    """
    import datasets
    import pyarrow as pa

    arrays = {
        "audio": pa.array(
            [{"bytes": bytes(r["audio"]), "path": f"feedback-{r['id']}"} for r in rows], type=datasets.Audio().pa_type
        ),
        "label": pa.array([_LABELS[r["true_label"]] for r in rows], type=pa.int64()),
        "source": pa.array(["feedback"] * len(rows), type=pa.string()),
        "feedback_id": pa.array([int(r["id"]) for r in rows], type=pa.int64()),
        "prediction_id": pa.array([r["prediction_id"] for r in rows], type=pa.string()),
        "audio_sha256": pa.array([r["audio_sha256"] for r in rows], type=pa.string()),
        "created_at": pa.array([float(r["created_at"]) for r in rows], type=pa.float64()),
        "duration_seconds": pa.array([r["duration_seconds"] for r in rows], type=pa.float64()),
    }
    table = pa.table(arrays)
    features = datasets.Features.from_arrow_schema(table.schema)
    features["audio"] = datasets.Audio(decode=False)
    features["label"] = datasets.ClassLabel(names=["real", "fake"])
    return datasets.Dataset(table.cast(features.arrow_schema), info=datasets.DatasetInfo(features=features))


def load_feedback(path: str | os.PathLike):
    """The feedback of a ``wavguard serve --log-db`` database that carries audio, as a ``datasets.Dataset``.

    One row per distinct clip (the newest label wins), in the columns :class:`FeedbackData`
    describes; no rows when no feedback carries usable audio. For the counts of what was left out
    (label-only rows, duplicates, unreadable audio) use :func:`read_feedback`.

    Raises:
        ConfigError: the file is missing, not SQLite, or has no ``feedback`` table.
    """
    fb = read_feedback(path)
    return fb.dataset if fb.dataset is not None else feedback_dataset([])


def read_feedback(path: str | os.PathLike) -> FeedbackData:
    """Read the feedback rows of a ``wavguard serve --log-db`` database (opened read-only).

    Rows are read oldest first. Several rows for the same audio (same SHA-256 of the bytes) keep
    the newest label only. Audio that cannot be decoded is left out with a warning. The database
    may be in use by a running server (WAL mode allows a concurrent reader).

    Args:
        path: the SQLite file.

    Returns:
        a :class:`FeedbackData`; ``dataset`` is ``None`` when no row carries usable audio.

    Raises:
        ConfigError: the file is missing, not SQLite, or has no ``feedback`` table.
    """

    path = Path(path)
    conn = _connect_read_only(path)
    try:
        num_rows = int(conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])
        num_without = int(
            conn.execute("SELECT COUNT(*) FROM feedback WHERE audio IS NULL OR length(audio) = 0").fetchone()[0]
        )
        cur = conn.execute(
            "SELECT id, created_at, prediction_id, audio_sha256, true_label, audio FROM feedback "
            "WHERE audio IS NOT NULL AND length(audio) > 0 ORDER BY id"
        )
        names = [c[0] for c in cur.description]
        newest: dict[str, dict[str, Any]] = {}
        unreadable: dict[int, str] = {}
        duplicates = 0
        for values in cur:
            row = dict(zip(names, values))
            data = bytes(row["audio"])
            try:
                rate_hz, frames, _ = audio_info(data)
                if frames <= 0 or rate_hz <= 0:
                    raise ValueError("the audio holds zero samples")
            except (AudioError, ValueError) as exc:
                unreadable[int(row["id"])] = str(exc)
                continue
            row["duration_seconds"] = frames / rate_hz
            sha = hashlib.sha256(data).hexdigest()
            row["audio_sha256"] = sha
            duplicates += sha in newest
            newest.pop(sha, None)
            newest[sha] = row  # re-inserted: the dict stays ordered by each clip's newest row
    finally:
        conn.close()
    if unreadable:
        first = next(iter(unreadable.items()))
        logger.warning(
            "%s: %d feedback rows have audio that cannot be decoded and are left out (id %d: %s)",
            path,
            len(unreadable),
            first[0],
            first[1],
        )
    rows = list(newest.values())
    dataset = feedback_dataset(rows) if rows else None
    return FeedbackData(path, dataset, num_rows, num_without, duplicates, unreadable)
