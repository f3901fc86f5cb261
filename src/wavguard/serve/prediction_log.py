"""The prediction log as the service uses it: writes that may fail, and a readiness probe.

A prediction whose log write fails is still returned: the score is right, only its record is
missing. The response says so in the header ``X-Wavguard-Warning`` (:data:`NOT_LOGGED`), the
server logs one warning line, ``wavguard_log_write_failures_total`` counts it, and its ``id`` is
unknown to ``/v1/feedback`` (404). ``/readyz`` answers 503 while the log cannot be written, so a
load balancer sends traffic elsewhere until it can.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

from ..feedback.store import PredictionStore
from .errors import logger

__all__ = ["PredictionLog", "NOT_LOGGED", "WARNING_HEADER", "PROBE_TIMEOUT_SECONDS"]

#: The response header that says a prediction was not logged, and its value.
WARNING_HEADER = "X-Wavguard-Warning"
NOT_LOGGED = "prediction-not-logged"
#: How long the readiness probe waits for a lock on the log before calling it unwritable.
PROBE_TIMEOUT_SECONDS = 1.0

_PROBE_TABLE = """CREATE TABLE IF NOT EXISTS service_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at REAL NOT NULL
)"""


class PredictionLog:
    """Writes predictions to a :class:`PredictionStore` without ever failing a request over it.

    Args:
        store: the SQLite store (``--log-db``).
        on_failure: called once per failed write (for metrics).
    """

    def __init__(self, store: PredictionStore, on_failure: Callable[[], None] | None = None):
        self.store = store
        self._on_failure = on_failure
        #: Why the most recent write failed; ``None`` once a write succeeds.
        self.last_error: str | None = None

    async def write(self, record: dict[str, Any]) -> bool:
        """Log one prediction (in a worker thread); ``False``, with one warning line, when it fails."""
        try:
            await asyncio.to_thread(self.store.log_prediction, record)
        except (sqlite3.Error, OSError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("prediction %s was not logged to %s: %s", record.get("id"), self.store.path, self.last_error)
            if self._on_failure:
                self._on_failure()
            return False
        self.last_error = None
        return True

    def probe(self) -> str | None:
        """Write one row to the log's file through a connection of its own, committed to disk;
        ``None`` when it worked, else why not. Blocking: call it in a worker thread.

        A real write (one row of a table of its own, replaced each time), so a full disk, a
        read-only file or a lock held too long all show, which a read would not."""
        try:
            conn = sqlite3.connect(str(self.store.path), timeout=PROBE_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            return f"{type(exc).__name__}: {exc}"
        try:
            conn.execute(_PROBE_TABLE)
            conn.execute("INSERT OR REPLACE INTO service_probe (id, checked_at) VALUES (1, julianday('now'))")
            return None
        except (sqlite3.Error, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
