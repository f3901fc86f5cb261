"""The service under pressure (issue 27): a fair batcher.

No assert here depends on timing: where a test waits, the wait is a hang guard (30 s) on an
outcome that comes whatever the machine's load.
"""

import asyncio
import threading

import numpy as np

from wavguard.serve.batcher import DynamicBatcher

HANG_GUARD_SECONDS = 30.0


# -- item 1: bounded work per request, and a fair batcher -------------------------------------------
def _run_batcher(clients: dict[str, int], max_batch: int) -> list[list[str]]:
    """The batches a batcher builds when ``clients`` (name -> windows) all queue while it is busy.

    The worker's first batch (a warm-up window) blocks until every client has queued, so the
    order of the later batches depends on the batcher's policy only, never on timing."""
    names = ["warm-up"] + list(clients)
    batches, busy, release = [], threading.Event(), threading.Event()

    def score(windows):
        batches.append([names[int(w[0])] for w in windows])
        if len(batches) == 1:
            busy.set()
            assert release.wait(HANG_GUARD_SECONDS)
        return np.zeros((len(windows), 2), np.float32)

    async def main():
        batcher = DynamicBatcher(score, max_batch=max_batch, max_wait_s=0.0)
        await batcher.start()
        try:
            warm = asyncio.create_task(batcher.score([np.zeros(1, np.float32)], client="warm-up"))
            assert await asyncio.to_thread(busy.wait, HANG_GUARD_SECONDS)
            tasks = [warm] + [
                asyncio.create_task(batcher.score([np.full(1, names.index(name), np.float32)] * count, client=name))
                for name, count in clients.items()
            ]
            while batcher.queued_windows < sum(clients.values()):
                await asyncio.sleep(0)
            release.set()
            results = await asyncio.wait_for(asyncio.gather(*tasks), HANG_GUARD_SECONDS)
            assert [len(r) for r in results] == [1] + list(clients.values())
        finally:
            release.set()
            await batcher.stop()

    asyncio.run(main())
    return batches[1:]


def test_a_short_request_is_not_queued_behind_a_big_batch():
    """A batch request queues 40 windows, then a short request queues 2: the short one's windows
    go into the very next forward pass (they waited behind all 40 before: 10 passes at 4)."""
    batches = _run_batcher({"big": 40, "short": 2}, max_batch=4)
    assert batches[0] == ["big", "short", "big", "short"]
    assert sum(len(b) for b in batches) == 42 and all(b == ["big"] * 4 for b in batches[1:-1])


def test_the_turn_carries_over_between_batches():
    batches = _run_batcher({"a": 3, "b": 1, "c": 2, "d": 1, "e": 1}, max_batch=3)
    assert batches == [["a", "b", "c"], ["d", "e", "a"], ["c", "a"]]


def test_windows_of_a_request_that_gave_up_are_skipped():
    async def main():
        seen = []
        batcher = DynamicBatcher(lambda w: seen.append(len(w)) or np.zeros((len(w), 2), np.float32), max_batch=8, max_wait_s=0)
        await batcher.start()
        try:
            gone = asyncio.create_task(batcher.score([np.zeros(1, np.float32)] * 5, client="gone"))
            await asyncio.sleep(0)
            gone.cancel()
            kept = await asyncio.wait_for(batcher.score([np.zeros(1, np.float32)] * 2, client="kept"), HANG_GUARD_SECONDS)
        finally:
            await batcher.stop()
        assert kept.shape == (2, 2) and sum(seen) == 2

    asyncio.run(main())
