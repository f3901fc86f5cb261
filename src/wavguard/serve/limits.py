"""What one request may hold, and what all requests together may hold.

- :class:`UploadPool`: the request-body bytes held at once by every request (in memory or in
  spooled temporary files), capped at ``settings.inflight_upload_bytes``. A request reserves
  its bytes before it reads them (its declared ``Content-Length`` at once, else chunk by chunk)
  and gets 503 with ``Retry-After`` when the pool is full, rather than waiting with a socket open.
- :class:`AudioAllowance`: the audio seconds one request may have decoded, all its files
  together (``max_request_audio_seconds``), counted while decoding, since headers can lie.
- :class:`RequestTicket`: what one request holds (its reserved bytes, temporary files and
  allowance), released when the request ends; it is also the request's turn in the batcher.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import HTTPException

from .errors import api_error

__all__ = ["UploadPool", "AudioAllowance", "RequestTicket", "RETRY_AFTER_SECONDS", "request_too_long"]

#: What a 503 for a full upload pool tells the client to wait, in seconds.
RETRY_AFTER_SECONDS = 2


class UploadPool:
    """A counting semaphore over bytes that never waits: :meth:`try_reserve` says yes or no.

    Args:
        capacity_bytes: most bytes reserved at once.
    """

    def __init__(self, capacity_bytes: int):
        self.capacity_bytes = capacity_bytes
        self._reserved = 0
        self._lock = threading.Lock()

    @property
    def reserved_bytes(self) -> int:
        return self._reserved

    def try_reserve(self, num_bytes: int) -> bool:
        with self._lock:
            if self._reserved + num_bytes > self.capacity_bytes:
                return False
            self._reserved += num_bytes
            return True

    def release(self, num_bytes: int) -> None:
        with self._lock:
            self._reserved -= num_bytes


def pool_full(pool: UploadPool) -> HTTPException:
    exc = api_error(
        503,
        "ServerBusy",
        f"the server holds {pool.reserved_bytes} bytes of uploads, near its limit of "
        f"{pool.capacity_bytes}; retry in {RETRY_AFTER_SECONDS} s",
    )
    exc.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return exc


def request_too_long(limit_seconds: float, what: str) -> HTTPException:
    """413 ``RequestAudioTooLong``: ``what`` the request holds, against the per-request limit."""
    return api_error(
        413, "RequestAudioTooLong", f"{what}; the limit is {limit_seconds:g} s of audio per request, all files together"
    )


class AudioAllowance:
    """The audio seconds a request may still decode, shared by its files (decoded in threads).

    Args:
        limit_seconds: ``max_request_audio_seconds``.
        sample_rate_hz: the rate the pipeline decodes to.
    """

    def __init__(self, limit_seconds: float, sample_rate_hz: int):
        self.limit_seconds = limit_seconds
        self._limit_samples = limit_seconds * sample_rate_hz
        self._rate = sample_rate_hz
        self._used = 0
        self._lock = threading.Lock()

    def spend(self, num_samples: int) -> None:
        """Count ``num_samples`` more decoded samples; 413 once the request passes its limit."""
        with self._lock:
            self._used += num_samples
            used = self._used
        if used > self._limit_samples:
            raise request_too_long(
                self.limit_seconds, f"the request decodes to more than {used / self._rate:.1f} s of audio"
            )


class RequestTicket:
    """What one request holds until it ends. Hashable by identity: the batcher's client key.

    Args:
        pool: the service's :class:`UploadPool`.
        allowance: this request's :class:`AudioAllowance`.
    """

    def __init__(self, pool: UploadPool, allowance: AudioAllowance):
        self.pool = pool
        self.allowance = allowance
        self.reserved_bytes = 0
        self.temporary_files: list[Path] = []

    def reserve(self, num_bytes: int) -> None:
        """Hold ``num_bytes`` more of the pool; 503 with ``Retry-After`` when it is full."""
        if not self.pool.try_reserve(num_bytes):
            raise pool_full(self.pool)
        self.reserved_bytes += num_bytes

    def reserve_up_to(self, num_bytes: int) -> None:
        """Hold at least ``num_bytes`` in all (a no-op when they are already held)."""
        if num_bytes > self.reserved_bytes:
            self.reserve(num_bytes - self.reserved_bytes)

    def close(self) -> None:
        """Give the bytes back and delete the temporary files; safe to call twice."""
        self.pool.release(self.reserved_bytes)
        self.reserved_bytes = 0
        for path in self.temporary_files:
            path.unlink(missing_ok=True)
        self.temporary_files.clear()
