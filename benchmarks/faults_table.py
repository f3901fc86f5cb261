"""The fault suite's table (:mod:`benchmarks.faults`): one :class:`Case` per row, the answers it
got by status class, its latencies (ms) and the server's peak resident memory (MB).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Case", "format_table", "percentile_text"]


@dataclass
class Case:
    """One row of the table: the answers (status -> count; 0 = no answer), latencies of the
    well-formed requests (ms), ``/healthz`` latencies (ms), the server's peak RSS (MB)."""

    name: str
    statuses: Counter = field(default_factory=Counter)
    latencies_ms: list = field(default_factory=list)
    healthz_ms: list = field(default_factory=list)
    peak_rss_mb: float | None = None
    deliberate_drops: int = 0
    notes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # what a case found beyond the table (for tests)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, status: int, ms: float | None = None) -> None:
        with self.lock:
            self.statuses[status] += 1
            if ms is not None and 200 <= status < 300:
                self.latencies_ms.append(ms)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def count(self, low: int, high: int, exclude: tuple = ()) -> int:
        return sum(n for s, n in self.statuses.items() if low <= s < high and s not in exclude)

    @property
    def server_errors(self) -> int:
        """Answers of 500 and above other than the documented 503 refusals."""
        return self.count(500, 600, exclude=(503,))

    @property
    def unexpected_no_answer(self) -> int:
        return self.statuses[0] - self.deliberate_drops


def percentile_text(values, q) -> str:
    """The q-th percentile of ``values`` as whole milliseconds ("-" for none)."""
    return f"{np.percentile(values, q):.0f}" if len(values) else "-"


def format_table(cases: list[Case]) -> str:
    head = (
        "| case | requests | 2xx | 4xx | 503 | 5xx err | no answer | p50 ms | p99 ms | /healthz p99 ms "
        "| peak RSS MB | notes |"
    )
    lines = [head, "|" + " --- |" * head.count(" | ") + " --- |"]
    for c in cases:
        rss = f"{c.peak_rss_mb:.0f}" if c.peak_rss_mb else "-"
        lines.append(
            f"| {c.name} | {c.requests} | {c.count(200, 300)} | {c.count(400, 500)} | {c.statuses[503]} | "
            f"{c.server_errors} | {c.statuses[0]} | {percentile_text(c.latencies_ms, 50)} | {percentile_text(c.latencies_ms, 99)} | "
            f"{percentile_text(c.healthz_ms, 99)} | {rss} | {'; '.join(c.notes)} |"
        )
    return "\n".join(lines)
