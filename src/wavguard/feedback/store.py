"""Durable SQLite store for the prediction log and client feedback (WAL mode).

Every write is its own transaction, committed before the HTTP response is sent, so a server
killed mid-request loses at most that request. Audio is never stored for predictions (only its
SHA-256); feedback audio only when the service is configured to keep it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["PredictionStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    audio_sha256 TEXT NOT NULL,
    duration_seconds REAL NOT NULL,
    score REAL NOT NULL,
    label TEXT NOT NULL,
    threshold REAL NOT NULL,
    latency_ms REAL NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    prediction_id TEXT,
    audio_sha256 TEXT,
    true_label TEXT NOT NULL CHECK (true_label IN ('real', 'fake')),
    audio BLOB,
    note TEXT
);
"""


class PredictionStore:
    """Thread-safe SQLite store. Args: path: the database file (created with its folder)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    def log_prediction(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO predictions VALUES (:id, :created_at, :audio_sha256, :duration_seconds, :score, :label,"
                " :threshold, :latency_ms, :model_id, :model_version)",
                {"created_at": time.time(), **record},
            )

    def get_prediction(self, prediction_id: str) -> dict[str, Any] | None:
        with self._lock:
            cur = self._conn.execute("SELECT * FROM predictions WHERE id = ?", (prediction_id,))
            row = cur.fetchone()
            return None if row is None else dict(zip([c[0] for c in cur.description], row))

    def add_feedback(
        self,
        true_label: str,
        prediction_id: str | None = None,
        audio_sha256: str | None = None,
        audio: bytes | None = None,
        note: str | None = None,
    ) -> int:
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO feedback (created_at, prediction_id, audio_sha256, true_label, audio, note) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), prediction_id, audio_sha256, true_label, audio, note),
            )
            return int(cur.lastrowid)

    def feedback(self) -> list[dict[str, Any]]:
        """All feedback rows, oldest first."""
        with self._lock:
            cur = self._conn.execute("SELECT * FROM feedback ORDER BY id")
            names = [c[0] for c in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def count(self, table: str) -> int:
        if table not in ("predictions", "feedback"):
            raise ValueError(table)
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
