"""Dynamic batching: windows from concurrent requests share forward passes, taken fairly.

Each request (a *client*: one HTTP request, whatever its number of files) queues its windows
in a queue of its own. One worker builds each batch round-robin over the clients, one window
from each in turn, up to ``max_batch`` windows, waiting at most ``max_wait_s`` for more after
the first arrives, and scores it in a single call on a worker thread (the event loop stays free
to accept requests). So a request of thirty files cannot starve a short one: the short
request's windows go into the very next batch, beside the big one's. The turn carries over from
batch to batch, so with more clients than ``max_batch`` every client is served in order.
Throughput grows with load; a lone request waits at most ``max_wait_s`` extra.

One request holds at most ``max_client_windows`` windows of a pass, even alone: a pass cannot be
interrupted, so a short request that arrives while a big one is being scored waits for at most
one pass of that size. Measured (``python -m benchmarks.faults --cases starvation``, tiny model,
2 shared CPU cores): short requests' p99 beside a maximal batch was 5.1 times their p99 alone
with 16-window passes of the batch, 1.8 times with 1-window passes (the service's CPU default),
while the batch took 3.5 times longer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["DynamicBatcher"]


class DynamicBatcher:
    """Batches windows of concurrent clients into shared forward passes.

    Args:
        score: maps a list of windows to logits (N, 2) (``ScoringPipeline.logits``).
        max_batch: most windows per call.
        max_wait_s: longest wait for more windows once one is queued.
        on_batch: called with each batch size (for metrics).
        max_client_windows: most windows of one client per call (``None``: ``max_batch``).
    """

    def __init__(
        self,
        score: Callable[[Sequence[np.ndarray]], np.ndarray],
        max_batch: int = 16,
        max_wait_s: float = 0.005,
        on_batch: Callable[[int], None] | None = None,
        max_client_windows: int | None = None,
    ):
        self._score = score
        self.max_batch = max_batch
        self.max_client_windows = max_client_windows or max_batch
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch
        #: client -> its queued (window, future) pairs, oldest first; the dict's order is the turn.
        self._queues: dict[Hashable, deque[tuple[np.ndarray, asyncio.Future]]] = {}
        self._queued = 0
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wavguard-score")

    @property
    def queued_windows(self) -> int:
        """Windows waiting for a batch (those of requests that gave up included, until skipped)."""
        return self._queued

    @property
    def running(self) -> bool:
        """Whether the worker is started and alive (``/readyz``)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def score(self, windows: Sequence[np.ndarray], client: Hashable | None = None) -> np.ndarray:
        """Logits (len(windows), 2), computed in batches shared with other requests.

        Args:
            windows: mono float32 windows.
            client: whose windows these are (the fairness key: one per HTTP request); ``None``
                makes this call a client of its own.
        """
        if self._arrived is None:
            raise RuntimeError("the batcher is not started")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in windows]
        queue = self._queues.setdefault(object() if client is None else client, deque())
        queue.extend(zip(windows, futures))
        self._queued += len(futures)
        self._arrived.set()
        return np.stack(await asyncio.gather(*futures))

    def take(self, max_windows: int) -> list[tuple[np.ndarray, asyncio.Future]]:
        """The next batch: one window per client in turn, skipping those whose request gave up
        (timed out, left), each client at most ``max_client_windows`` times; a client that gave a
        window moves to the back of the turn."""
        batch: list[tuple[np.ndarray, asyncio.Future]] = []
        given: dict[Hashable, int] = {}
        while len(batch) < max_windows:
            turn = [c for c in self._queues if given.get(c, 0) < self.max_client_windows]
            if not turn:
                break
            for client in turn:
                if len(batch) >= max_windows:
                    break
                queue = self._queues.pop(client)
                while queue:
                    window, future = queue.popleft()
                    self._queued -= 1
                    if not future.done():
                        batch.append((window, future))
                        given[client] = given.get(client, 0) + 1
                        break
                if queue:
                    self._queues[client] = queue  # back of the turn
        return batch

    async def _run(self) -> None:
        assert self._arrived is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._queued:
                self._arrived.clear()
                await self._arrived.wait()
            deadline = loop.time() + self.max_wait_s
            while self._queued < self.max_batch and (remaining := deadline - loop.time()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            live = self.take(self.max_batch)
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
