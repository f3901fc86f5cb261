"""Windows: cut audio of any length into scoring windows and aggregate window logits.

Pure functions (numpy only). Conventions:

* A window starts every ``hop_samples``; full windows are ``window_samples`` long.
* Audio no longer than one window is one window, scored as it is (never tiled, never padded
  with fake content).
* When the full windows stop short of the end, one last *partial* window covers the rest; it is
  shorter than ``window_samples`` and its true length travels with it, so the model masks the
  padding (never dropped, never tiled).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..config import AGGREGATIONS
from ..errors import ConfigError

__all__ = [
    "window_spans",
    "WindowBuffer",
    "iter_windows",
    "Window",
    "aggregate_logits",
    "fake_margin",
    "AGGREGATIONS",
]


def _check_sizes(window_samples: int, hop_samples: int) -> None:
    if window_samples <= 0 or hop_samples <= 0:
        raise ConfigError(f"window ({window_samples}) and hop ({hop_samples}) must be positive sample counts")
    if hop_samples > window_samples:
        raise ConfigError(f"hop ({hop_samples} samples) longer than the window ({window_samples}) would skip audio")


def window_spans(
    num_samples: int, window_samples: int, hop_samples: int, min_window_samples: int = 1
) -> list[tuple[int, int]]:
    """(start, end) sample indices of every scoring window of a signal.

    A final partial window shorter than ``min_window_samples`` (e.g. the backbone's receptive
    field) starts earlier, overlapping its neighbour, so it still holds ``min_window_samples``.

    Example:
        >>> window_spans(10, 4, 3)
        [(0, 4), (3, 7), (6, 10)]
        >>> window_spans(11, 4, 3)
        [(0, 4), (3, 7), (6, 10), (9, 11)]
        >>> window_spans(3, 4, 2)
        [(0, 3)]
    """
    _check_sizes(window_samples, hop_samples)
    if num_samples <= 0:
        return []
    if num_samples <= window_samples:
        return [(0, num_samples)]
    num_full = 1 + (num_samples - window_samples) // hop_samples
    spans = [(i * hop_samples, i * hop_samples + window_samples) for i in range(num_full)]
    if spans[-1][1] < num_samples:
        start = min(num_full * hop_samples, num_samples - min_window_samples)
        spans.append((start, num_samples))
    return spans


@dataclass(frozen=True)
class Window:
    """One scoring window.

    Attributes:
        samples: float32, shape (length,), ``length <= window_samples``.
        start: index of the first sample in the whole signal.
    """

    samples: np.ndarray
    start: int

    @property
    def end(self) -> int:
        return self.start + int(self.samples.shape[0])


class WindowBuffer:
    """Turns blocks of any size into the windows of :func:`window_spans`, holding at most one window.

    Feed blocks with :meth:`push` (yields every window that is complete), then call :meth:`flush`
    once at the end of the signal (yields the final partial window, if any). The windows equal
    ``window_spans`` of the concatenated signal exactly; memory is bounded by one window plus
    one block.
    """

    def __init__(self, window_samples: int, hop_samples: int, min_window_samples: int = 1):
        _check_sizes(window_samples, hop_samples)
        self.min_window_samples = max(1, min(int(min_window_samples), int(window_samples)))
        self._last_window: Window | None = None
        self.window_samples = int(window_samples)
        self.hop_samples = int(hop_samples)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # signal index of _buffer[0]
        self._next_start = 0  # signal index of the next window's first sample
        self._emitted_end = 0  # end of the last emitted window
        self.total_samples = 0

    def push(self, block: np.ndarray) -> Iterator[Window]:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        self.total_samples += block.shape[0]
        self._buffer = np.concatenate([self._buffer, block]) if self._buffer.size else block.copy()
        while self._next_start + self.window_samples <= self._buffer_start + self._buffer.shape[0]:
            offset = self._next_start - self._buffer_start
            self._last_window = Window(self._buffer[offset : offset + self.window_samples].copy(), self._next_start)
            yield self._last_window
            self._emitted_end = self._next_start + self.window_samples
            self._next_start += self.hop_samples
            drop = self._next_start - self._buffer_start
            self._buffer = self._buffer[drop:]
            self._buffer_start = self._next_start

    def flush(self) -> Iterator[Window]:
        """The last partial window (or the only window of a short signal)."""
        if self.total_samples > self._emitted_end:
            offset = self._next_start - self._buffer_start
            rest = self._buffer[offset:]
            start = self._next_start
            short = self.min_window_samples - rest.shape[0]
            if short > 0 and self._last_window is not None:
                # Borrow the tail of the previous window; it ends where ``rest`` starts or later.
                last = self._last_window
                overlap = last.end - start
                history = last.samples[: last.samples.shape[0] - overlap] if overlap > 0 else last.samples
                borrow = min(short, history.shape[0])
                rest = np.concatenate([history[history.shape[0] - borrow :], rest])
                start -= borrow
            if rest.size:
                yield Window(rest.copy(), start)
        self._buffer = np.zeros(0, dtype=np.float32)


def iter_windows(
    blocks: Iterable[np.ndarray], window_samples: int, hop_samples: int, min_window_samples: int = 1
) -> Iterator[Window]:
    """All windows of a signal given as blocks (see :class:`WindowBuffer`)."""
    buffer = WindowBuffer(window_samples, hop_samples, min_window_samples)
    for block in blocks:
        yield from buffer.push(block)
    yield from buffer.flush()


def fake_margin(logits: np.ndarray) -> np.ndarray:
    """FAKE minus REAL logit. Shape (..., 2) -> (...). Positive means the model leans to fake."""
    logits = np.asarray(logits, dtype=np.float64)
    return logits[..., 1] - logits[..., 0]


def aggregate_logits(window_logits: np.ndarray, method: str = "mean", top_k: int = 3) -> np.ndarray:
    """Combine per-window logits of one recording into one pair of logits.

    Args:
        window_logits: shape (windows, 2), columns (REAL, FAKE).
        method: ``"mean"`` averages the logits; ``"max"`` takes the window that leans most to
            fake; ``"topk"`` averages the ``top_k`` windows that lean most to fake.
        top_k: windows averaged by ``"topk"`` (all of them when there are fewer).

    Returns:
        shape (2,).
    """
    window_logits = np.asarray(window_logits, dtype=np.float64)
    if window_logits.ndim != 2 or window_logits.shape[1] != 2 or window_logits.shape[0] == 0:
        raise ValueError(f"window_logits must have shape (windows >= 1, 2), got {window_logits.shape}")
    if method == "mean":
        return window_logits.mean(axis=0)
    order = np.argsort(-fake_margin(window_logits), kind="stable")
    if method == "max":
        return window_logits[order[0]]
    if method == "topk":
        if top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {top_k}")
        return window_logits[order[:top_k]].mean(axis=0)
    raise ConfigError(f"unknown aggregation {method!r}; choose one of {', '.join(AGGREGATIONS)}")
