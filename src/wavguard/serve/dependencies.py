"""What the routes share, handed to them by FastAPI's ``Depends``.

:class:`Service` holds the one detector, the settings, the prediction log, the dynamic batcher
and the metrics; :func:`~wavguard.serve.app.create_app` builds it and keeps it in
``app.state.service``. A route asks for it (``service: ServiceDep``) instead of closing over it,
so each route module reads on its own and a test can build a :class:`Service` by hand.

Route-level checks are dependencies too: :func:`require_key` (401/403), :func:`require_metrics_key`,
:func:`threshold_param` (422) and :func:`require_store` (503 when there is no log); and
:func:`request_ticket`, what a request holds (its share of the upload pool, its temporary
files, its audio allowance), given back when the request ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from ..detector import Detector
from ..feedback.store import PredictionStore
from .auth import check_key, presented_key
from .batcher import DynamicBatcher
from .errors import api_error
from .limits import AudioAllowance, RequestTicket, UploadPool
from .metrics import ServiceMetrics
from .prediction_log import PredictionLog
from .settings import ServiceSettings

__all__ = [
    "Service",
    "build_service",
    "get_service",
    "ServiceDep",
    "require_key",
    "require_metrics_key",
    "threshold_param",
    "ThresholdDep",
    "require_store",
    "StoreDep",
    "request_ticket",
    "TicketDep",
]


@dataclass
class Service:
    """Everything a request may use. Attributes:
    detector: scores audio (its ``pipeline`` stages; its ``config`` for the rate and threshold).
    settings: the limits, keys and logging of :class:`ServiceSettings`.
    store: the prediction log and feedback (``--log-db``), or ``None``.
    log: predictions are written to ``store`` through it (failures counted, never raised).
    batcher: windows from concurrent requests share forward passes through it.
    metrics: the Prometheus metrics.
    uploads: the request-body bytes all requests hold at once.
    scoring_slots: files decoded and scored at once, all requests together.
    """

    detector: Detector
    settings: ServiceSettings
    store: PredictionStore | None
    log: PredictionLog | None
    batcher: DynamicBatcher
    metrics: ServiceMetrics
    uploads: UploadPool
    scoring_slots: asyncio.Semaphore


def build_service(detector: Detector, settings: ServiceSettings) -> Service:
    """A :class:`Service` for ``detector``: its batcher (not started) and its log store (opened)."""
    metrics = ServiceMetrics()
    batcher = DynamicBatcher(
        detector.pipeline.logits,
        settings.max_batch_windows,
        settings.max_wait_ms / 1000.0,
        metrics.batch.observe,
        max_client_windows=settings.client_batch_windows(detector.device.type),
    )
    store = PredictionStore(settings.log_db) if settings.log_db else None
    log = PredictionLog(store, metrics.log_failures.inc) if store is not None else None
    return Service(
        detector,
        settings,
        store,
        log,
        batcher,
        metrics,
        UploadPool(settings.inflight_upload_bytes),
        asyncio.Semaphore(settings.max_files_scoring),
    )


def get_service(connection: HTTPConnection) -> Service:
    """The app's :class:`Service` (HTTP requests and websockets alike)."""
    return connection.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def require_key(request: Request, service: ServiceDep) -> None:
    """401 without a key, 403 with a wrong one, when the service has API keys."""
    check_key(service.settings, presented_key(request.headers))


def require_metrics_key(request: Request, service: ServiceDep) -> None:
    """Like :func:`require_key`, unless ``/metrics`` is public (``metrics_public``)."""
    if not service.settings.metrics_public:
        check_key(service.settings, presented_key(request.headers))


def threshold_param(request: Request) -> float | None:
    """``?threshold=`` as a number in [0, 1]; ``None`` (the detector's) when absent; 422 otherwise.
    Read by hand, not as a typed ``Query``, so the 422 says what was wrong in the service's words."""
    raw = request.query_params.get("threshold")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise api_error(422, "InvalidRequest", f"threshold must be a number, got {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise api_error(422, "InvalidRequest", f"threshold must be in [0, 1], got {value}")
    return value


ThresholdDep = Annotated[float | None, Depends(threshold_param)]


def require_store(service: ServiceDep) -> PredictionStore:
    """The prediction log; 503 when the server keeps none (started without ``--log-db``)."""
    if service.store is None:
        raise api_error(503, "FeedbackDisabled", "this server keeps no feedback; start it with --log-db FILE")
    return service.store


StoreDep = Annotated[PredictionStore, Depends(require_store)]


async def request_ticket(service: ServiceDep) -> AsyncIterator[RequestTicket]:
    """A fresh :class:`RequestTicket` for this request; its bytes and temporary files are given
    back when the request ends, however it ends."""
    ticket = RequestTicket(
        service.uploads,
        AudioAllowance(service.settings.max_request_audio_seconds, service.detector.config.sample_rate_hz),
    )
    try:
        yield ticket
    finally:
        ticket.close()


TicketDep = Annotated[RequestTicket, Depends(request_ticket)]
