"""Dynamic batching: windows from concurrent requests share forward passes.

Requests put their windows on a queue; one worker takes up to ``max_batch`` windows, waiting at
most ``max_wait_s`` for more after the first arrives, and scores them in a single call on a
worker thread (the event loop stays free to accept requests). Throughput grows with load; a lone
request waits at most ``max_wait_s`` extra.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["DynamicBatcher"]


class DynamicBatcher:
    """Args:
        score: maps a list of windows to logits (N, 2) (``ScoringPipeline.logits``).
        max_batch: most windows per call.
        max_wait_s: longest wait for more windows once one is queued.
        on_batch: called with each batch size (for metrics).
    """

    def __init__(
        self,
        score: Callable[[Sequence[np.ndarray]], np.ndarray],
        max_batch: int = 16,
        max_wait_s: float = 0.005,
        on_batch: Callable[[int], None] | None = None,
    ):
        self._score = score
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wavguard-score")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def score(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Logits (len(windows), 2), computed in batches shared with other requests."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in windows]
        for window, future in zip(windows, futures):
            self._queue.put_nowait((window, future))
        return np.stack(await asyncio.gather(*futures))

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait_s
            while len(batch) < self.max_batch:
                remaining = deadline - loop.time()
                try:
                    batch.append(self._queue.get_nowait() if remaining <= 0 else await asyncio.wait_for(self._queue.get(), remaining))
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
            live = [(w, f) for w, f in batch if not f.done()]  # requests that timed out are skipped
            if not live:
                continue
            try:
                logits = await loop.run_in_executor(self._executor, self._score, [w for w, _ in live])
            except Exception as exc:  # the model failed: fail these requests, keep serving
                for _, f in live:
                    if not f.done():
                        f.set_exception(exc)
                continue
            if self._on_batch:
                self._on_batch(len(live))
            for (_, f), row in zip(live, logits):
                if not f.done():
                    f.set_result(row)
