"""One upload -> one prediction response, through the scoring pipeline and the shared batcher.

An upload is judged before it is decoded: the sample rate and the duration its header declares
(413 ``AudioTooLong`` over ``max_duration_seconds``); it is then decoded block by block through
the scoring pipeline (the same stages as ``Detector.predict``: ``start`` -> ``windows`` ->
``record`` -> ``finish``), its windows scored ``WINDOW_GROUP`` at a time by the batcher, so a
request's memory stays flat whatever the file claims. Decoding stops as soon as the audio runs
past the limit, since a header can understate the length.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
import uuid
from collections.abc import Iterator
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

__all__ = ["WINDOW_GROUP", "score_upload", "model_ref"]

#: Windows taken from the decoder between trips to the batcher: bounds a request's memory.
WINDOW_GROUP = 64


def model_ref(service: Service) -> dict[str, str | None]:
    """The ``model`` of a response: the served id, wavguard's version and the backbone."""
    return {"id": service.settings.model_id, "version": __version__, "backbone": backbone_id(service.detector.config)}


def _too_long(service: Service, name: str, what: str) -> HTTPException:
    return api_error(413, "AudioTooLong", f"{name}: {what}; the limit is {service.settings.max_duration_seconds:g} s")


def _capped(service: Service, windows: Iterator[Window], state: ScoringState, name: str) -> Iterator[Window]:
    """Stop decoding as soon as a file holds more audio than the limit: a header can understate it."""
    rate = service.detector.config.sample_rate_hz
    limit = service.settings.max_duration_seconds * rate
    for window in windows:
        if state.num_samples > limit:
            raise _too_long(service, name, f"it decodes to more than {state.num_samples / rate:.1f} s of audio")
        yield window


def _open_upload(service: Service, name: str, data: bytes) -> tuple[ScoringState, Iterator[Window]]:
    """Check the header (rate, declared duration), then the pipeline's windows, decoded lazily."""
    rate_hz, frames, _ = audio_info(data, name=name)  # SampleRateError for 1 Hz, before any decoding
    declared_seconds = frames / rate_hz
    if declared_seconds > service.settings.max_duration_seconds:
        raise _too_long(service, name, f"its header declares {declared_seconds:.1f} s of audio")
    pipeline = service.detector.pipeline
    state = pipeline.start(name)
    return state, _capped(service, pipeline.windows(data, None, state), state, name)


async def _score_windows(service: Service, name: str, data: bytes) -> ScoringState:
    state, windows = await asyncio.to_thread(_open_upload, service, name, data)
    while group := await asyncio.to_thread(lambda: list(itertools.islice(windows, WINDOW_GROUP))):
        logits = await service.batcher.score([w.samples for w in group])
        service.detector.pipeline.record(state, group, logits)
    return state


async def score_upload(service: Service, name: str, data: bytes, threshold: float | None) -> dict[str, Any]:
    """Score one uploaded file and log it; the body of a ``/v1/predict`` answer.

    Args:
        name: the file's name, for the response's ``source`` and the error messages.
        data: the encoded file (wav, flac, ogg, mp3).
        threshold: the decision threshold; ``None`` for the detector's.

    Returns:
        ``Prediction.to_dict()`` (less ``error``) with ``id``, ``audio_sha256``, ``processing_ms``, ``model``.

    Raises:
        HTTPException: 413 (too long), 415 (not audio), 422 (cannot be scored), 504 (timeout),
            in the documented JSON shape.
    """
    settings, detector = service.settings, service.detector
    start = time.perf_counter()
    try:
        state = await asyncio.wait_for(_score_windows(service, name, data), settings.request_timeout_seconds)
    except AudioError as exc:
        raise audio_error(exc) from None
    except WavguardError as exc:
        raise api_error(422, type(exc).__name__, str(exc)) from None
    except asyncio.TimeoutError:
        raise api_error(504, "Timeout", f"scoring took longer than {settings.request_timeout_seconds} s") from None
    threshold = detector.config.threshold if threshold is None else threshold
    pred = detector.pipeline.finish(state, threshold)
    latency_ms = (time.perf_counter() - start) * 1000.0
    record = {
        "id": uuid.uuid4().hex,
        "audio_sha256": hashlib.sha256(data).hexdigest(),
        "duration_seconds": pred.duration_seconds,
        "score": pred.score,
        "label": pred.label,
        "threshold": pred.threshold,
        "latency_ms": latency_ms,
        "model_id": settings.model_id,
        "model_version": __version__,
    }
    service.metrics.scores.observe(pred.score)
    if service.store is not None:
        await asyncio.to_thread(service.store.log_prediction, record)
    out = pred.to_dict()
    out.pop("error")
    out.update(id=record["id"], audio_sha256=record["audio_sha256"], processing_ms=latency_ms, model=model_ref(service))
    return out
