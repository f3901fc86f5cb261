"""Batching for lists of inputs: windows of similar length together, decoding ahead of the model.

:meth:`~wavguard.scoring.pipeline.ScoringPipeline.predict` uses both pieces:

* :class:`LengthBatcher` keeps a bounded pool of windows (the look-ahead) and hands out batches of
  windows whose lengths are as close as the pool allows. Full windows all share one length, so they
  batch without padding as soon as there are ``batch_size`` of them; the short last windows of many
  files wait in the pool and batch with each other instead of splitting a batch of full windows (the transformer runs one forward per distinct length, the
  spectrogram CNN pads to the longest). Which batches it forms depends only on the order windows
  were added, never on timing, so a run is reproducible.
* :class:`Prefetch` runs an iterator (decode, resample, preprocess, window) in a background thread,
  a bounded number of items ahead, so the next files are read while the model scores; its errors
  come out of :meth:`Prefetch.__next__` in order, and :meth:`Prefetch.close` stops and joins it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["LengthBatcher", "Prefetch"]

T = TypeVar("T")


class LengthBatcher(Generic[T]):
    """A pool of at most ``lookahead`` items, taken out in batches of similar length.

    Args:
        batch_size: items per batch.
        lookahead: items held before a batch must be taken (at least ``batch_size``); memory is
            bounded by it, whatever the number of inputs.
    """

    def __init__(self, batch_size: int, lookahead: int):
        self.batch_size = max(1, int(batch_size))
        self.lookahead = max(self.batch_size, int(lookahead))
        self._pool: list[tuple[int, T]] = []  # (length, item), in arrival order
        self._counts: dict[int, int] = {}  # items per length

    def __len__(self) -> int:
        return len(self._pool)

    def add(self, length: int, item: T) -> None:
        self._pool.append((int(length), item))
        self._counts[int(length)] = self._counts.get(int(length), 0) + 1

    @property
    def ready(self) -> bool:
        """A batch should be taken now: ``batch_size`` items share a length (a batch without
        padding), or the pool holds ``lookahead`` items."""
        return len(self._pool) >= self.lookahead or max(self._counts.values(), default=0) >= self.batch_size

    def discard(self, keep: Callable[[T], bool]) -> None:
        """Drop the pooled items for which ``keep`` is false (e.g. windows of a failed input)."""
        self._set_pool([(n, item) for n, item in self._pool if keep(item)])

    def _set_pool(self, pool: list[tuple[int, T]]) -> None:
        self._pool = pool
        self._counts = {}
        for n, _ in pool:
            self._counts[n] = self._counts.get(n, 0) + 1

    def take(self) -> list[T]:
        """The next batch (arrival order within it): ``batch_size`` items whose lengths waste the
        least padding, the longest and oldest first on ties; everything when fewer remain."""
        pool, size = self._pool, self.batch_size
        if len(pool) <= size:
            self._set_pool([])
            return [item for _, item in pool]
        order = sorted(range(len(pool)), key=lambda i: (-pool[i][0], i))
        lengths = [pool[i][0] for i in order]
        # padding of the run order[j : j + size] = sum(lengths[j] - lengths[k]); prefix sums keep it O(n)
        prefix = [0]
        for n in lengths:
            prefix.append(prefix[-1] + n)
        best = min(range(len(pool) - size + 1), key=lambda j: (size * lengths[j] - (prefix[j + size] - prefix[j]), j))
        chosen = sorted(order[best : best + size])
        picked = set(chosen)
        self._set_pool([entry for i, entry in enumerate(pool) if i not in picked])
        return [pool[i][1] for i in chosen]


class Prefetch(Generic[T]):
    """Iterate ``source`` in a background thread, at most ``depth`` items ahead of the consumer.

    An exception raised by ``source`` is raised by :meth:`__next__` after the items before it.
    :meth:`close` (or leaving the ``with`` block) stops the thread, closes ``source`` and joins the
    thread, also when the consumer stops early; no thread outlives it.
    """

    _DONE = object()

    def __init__(self, source: Iterator[T], depth: int = 16, name: str = "wavguard-prefetch"):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, args=(source,), name=name, daemon=True)
        self._thread.start()

    def _put(self, entry: tuple[bool, object]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put((True, item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put((False, exc))
            return
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        self._put((False, self._DONE))

    def __iter__(self) -> Prefetch[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        ok, value = self._queue.get()
        if ok:
            return value  # type: ignore[return-value]
        self._finished = True
        if value is self._DONE:
            raise StopIteration
        raise value  # type: ignore[misc]

    def close(self) -> None:
        """Stop the background thread and wait for it."""
        self._stop.set()
        self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
