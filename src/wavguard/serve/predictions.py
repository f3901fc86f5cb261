"""Uploads -> prediction responses, through the scoring pipeline and the shared batcher.

The work of one request is bounded before any audio is decoded:

1. each file's header: its sample rate, and the duration it declares against
   ``max_duration_seconds`` (413 ``AudioTooLong`` for that file);
2. the request's total, the files that passed step 1 together, against
   ``max_request_audio_seconds`` (413 ``RequestAudioTooLong`` for the whole request).

Each file is then decoded block by block through the scoring pipeline (the same stages as
``Detector.predict``: ``start`` -> ``windows`` -> ``record`` -> ``finish``), its windows scored
``WINDOW_GROUP`` at a time by the batcher under the request's turn (one turn per request, so a
batch of files cannot starve a short request). At most ``FILES_AT_ONCE`` files of a request, and
``max_files_scoring`` files of all requests, are scored at a time (waiting for a turn counts
in the request timeout): this bounds the memory decoding takes. Decoding stops as soon as a file runs past ``max_duration_seconds`` or the request past
``max_request_audio_seconds``, since a header can understate the length.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException

from .._version import __version__
from ..audio.decode import audio_info
from ..audio.windows import Window
from ..errors import AudioError, WavguardError
from ..hub.publish import backbone_id
from ..scoring.pipeline import ScoringState
from .dependencies import Service
from .errors import api_error, audio_error
from .limits import RequestTicket, request_too_long
from .public import public_model_id
from .uploads import Upload

__all__ = ["WINDOW_GROUP", "FILES_AT_ONCE", "Scored", "score_uploads", "model_ref"]

#: Windows taken from the decoder between trips to the batcher: bounds a request's memory.
WINDOW_GROUP = 64
#: Files of one request decoded and scored at once: bounds a batch request's share of the
#: decoding threads and its windows in memory (``FILES_AT_ONCE * WINDOW_GROUP``).
FILES_AT_ONCE = 2


@dataclass
class Scored:
    """What a request's files came to. Attributes:
    results: per file, in order: the prediction body, or the error that file alone would get.
    not_logged: how many predictions the log could not record (the response says so).
    """

    results: list[dict[str, Any] | HTTPException] = field(default_factory=list)
    not_logged: int = 0


def model_ref(service: Service) -> dict[str, str | None]:
    """The ``model`` of a response: the served id (a local path's base name), wavguard's version and
    the backbone (:mod:`wavguard.serve.public`)."""
    return {
        "id": public_model_id(service.settings.model_id),
        "version": __version__,
        "backbone": backbone_id(service.detector.config),
    }


def _as_http(exc: Exception) -> HTTPException:
    if isinstance(exc, HTTPException):
        return exc
    if isinstance(exc, AudioError):
        return audio_error(exc)
    if isinstance(exc, WavguardError):
        return api_error(422, type(exc).__name__, str(exc))
    raise exc


def _too_long(service: Service, name: str, what: str) -> HTTPException:
    return api_error(413, "AudioTooLong", f"{name}: {what}; the limit is {service.settings.max_duration_seconds:g} s")


def _declared_seconds(service: Service, upload: Upload) -> float:
    """The duration the file's header declares, after checking it and its rate (no decoding)."""
    rate_hz, frames, _ = audio_info(upload.source, name=upload.name)  # SampleRateError for 1 Hz
    declared_seconds = frames / rate_hz
    if declared_seconds > service.settings.max_duration_seconds:
        raise _too_long(service, upload.name, f"its header declares {declared_seconds:.1f} s of audio")
    return declared_seconds


def _capped(
    service: Service, ticket: RequestTicket, windows: Iterator[Window], state: ScoringState, name: str
) -> Iterator[Window]:
    """Stop decoding as soon as a file, or the request, holds more audio than its limit."""
    rate = service.detector.config.sample_rate_hz
    limit = service.settings.max_duration_seconds * rate
    counted = 0
    for window in windows:
        if state.num_samples > limit:
            raise _too_long(service, name, f"it decodes to more than {state.num_samples / rate:.1f} s of audio")
        ticket.allowance.spend(state.num_samples - counted)
        counted = state.num_samples
        yield window


async def _score_windows(service: Service, ticket: RequestTicket, upload: Upload) -> ScoringState:
    async with service.scoring_slots:  # a slot of the service's max_files_scoring
        return await _score_windows_now(service, ticket, upload)


async def _score_windows_now(service: Service, ticket: RequestTicket, upload: Upload) -> ScoringState:
    pipeline = service.detector.pipeline
    state = pipeline.start(upload.name)
    windows = _capped(service, ticket, pipeline.windows(upload.source, None, state), state, upload.name)
    while group := await asyncio.to_thread(lambda: list(itertools.islice(windows, WINDOW_GROUP))):
        logits = await service.batcher.score([w.samples for w in group], client=ticket)
        pipeline.record(state, group, logits)
    return state


async def _score_one(
    service: Service, ticket: RequestTicket, upload: Upload, threshold: float | None, scored: Scored
) -> dict[str, Any]:
    settings, detector = service.settings, service.detector
    start = time.perf_counter()
    try:
        state = await asyncio.wait_for(_score_windows(service, ticket, upload), settings.request_timeout_seconds)
    except asyncio.TimeoutError:
        raise api_error(504, "Timeout", f"scoring took longer than {settings.request_timeout_seconds} s") from None
    except (AudioError, WavguardError) as exc:
        raise _as_http(exc) from None
    threshold = detector.config.threshold if threshold is None else threshold
    pred = detector.pipeline.finish(state, threshold)
    latency_ms = (time.perf_counter() - start) * 1000.0
    record = {
        "id": uuid.uuid4().hex,
        "audio_sha256": await asyncio.to_thread(upload.sha256),
        "duration_seconds": pred.duration_seconds,
        "score": pred.score,
        "label": pred.label,
        "threshold": pred.threshold,
        "latency_ms": latency_ms,
        "model_id": settings.model_id,
        "model_version": __version__,
    }
    service.metrics.scores.observe(pred.score)
    if service.log is not None and not await service.log.write(record):
        scored.not_logged += 1
    out = pred.to_dict()
    out.pop("error")
    out.update(id=record["id"], audio_sha256=record["audio_sha256"], processing_ms=latency_ms, model=model_ref(service))
    return out


async def score_uploads(
    service: Service, ticket: RequestTicket, uploads: list[Upload], threshold: float | None
) -> Scored:
    """Score a request's files and log each prediction.

    Args:
        ticket: the request's limits (its audio allowance) and its turn in the batcher.
        uploads: the request's files.
        threshold: the decision threshold; ``None`` for the detector's.

    Returns:
        :class:`Scored`: per file ``Prediction.to_dict()`` (less ``error``) with ``id``,
        ``audio_sha256``, ``processing_ms`` and ``model``, or that file's HTTPException: 413 (too
        long), 415 (not audio), 422 (cannot be scored), 504 (timeout), in the documented shape.

    Raises:
        HTTPException: 413 ``RequestAudioTooLong`` when the files' headers together declare more
            than ``max_request_audio_seconds``.
    """
    checked = await asyncio.gather(
        *(asyncio.to_thread(_declared_seconds, service, u) for u in uploads), return_exceptions=True
    )
    checked = [c if isinstance(c, float) else _as_http(c) for c in checked]
    total_seconds = sum(c for c in checked if isinstance(c, float))
    if total_seconds > ticket.allowance.limit_seconds:
        passed = sum(isinstance(c, float) for c in checked)
        raise request_too_long(
            ticket.allowance.limit_seconds,
            f"the request's {passed} file(s) declare {total_seconds:.1f} s of audio in all",
        )
    scored = Scored()
    turns = asyncio.Semaphore(FILES_AT_ONCE)

    async def one(upload: Upload, check: float | HTTPException) -> dict[str, Any] | HTTPException:
        if isinstance(check, HTTPException):
            return check
        async with turns:
            try:
                return await _score_one(service, ticket, upload, threshold, scored)
            except HTTPException as exc:
                return exc

    scored.results = list(await asyncio.gather(*(one(u, c) for u, c in zip(uploads, checked))))
    return scored
