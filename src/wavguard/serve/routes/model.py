"""``GET /healthz``, ``GET /readyz``, ``GET /v1/model`` and ``GET /metrics``: what runs, and how it is doing.

Contract:

- ``/healthz`` (no key): liveness, 200 ``{"status": "ok", "version": ...}`` while the event loop
  answers. It checks nothing else: restart the process when it fails.
- ``/readyz`` (no key): readiness, 200 ``{"status": "ready", "checks": {...}}`` when the service
  can do its whole job: the batcher's worker runs and, with ``--log-db``, one row can be written
  to the log right now (a real write, :meth:`PredictionLog.probe`). Otherwise 503 ``NotReady``
  saying which check failed: send traffic elsewhere until it passes.
- ``/v1/model`` (key): the served id, wavguard's version, the backbone, the backend (torch, onnx,
  onnx-int8), the detector's config (its preprocessing contract and threshold) and stored metrics,
  with no local path (:mod:`wavguard.serve.public`: names as a portable save writes them).
- ``/metrics``: the Prometheus text exposition (:mod:`wavguard.serve.metrics`); it needs a key
  when the service has keys, unless ``metrics_public``.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response

from ..._version import __version__
from ...hub.publish import backbone_id
from ..dependencies import ServiceDep, require_key, require_metrics_key
from ..errors import api_error
from ..metrics import CONTENT_TYPE_LATEST
from ..prediction_log import PredictionLog
from ..public import public_config, public_model_id
from ..schemas import HealthOut, ModelInfoOut, ReadyOut, error_responses, openapi_extra

__all__ = ["router", "metrics_router"]

router = APIRouter()


@router.get(
    "/healthz", responses={200: {"model": HealthOut}, **error_responses(500)}, openapi_extra=openapi_extra(auth=False)
)
async def healthz():
    return {"status": "ok", "version": __version__}


@router.get(
    "/readyz",
    responses={200: {"model": ReadyOut}, **error_responses(500, 503)},
    openapi_extra=openapi_extra(auth=False),
)
async def readyz(service: ServiceDep):
    checks = {
        "batcher": "ok" if service.batcher.running else "not running",
        "log": "disabled" if service.log is None else await asyncio.to_thread(_log_check, service.log),
    }
    failed = {name: state for name, state in checks.items() if state not in ("ok", "disabled")}
    if failed:
        raise api_error(503, "NotReady", "; ".join(f"{name}: {state}" for name, state in failed.items()))
    return {"status": "ready", "version": __version__, "checks": checks}


def _log_check(log: PredictionLog) -> str:
    problem = log.probe()
    return "ok" if problem is None else f"cannot be written ({problem})"


@router.get(
    "/v1/model",
    responses={200: {"model": ModelInfoOut}, **error_responses(401, 403, 500)},
    openapi_extra=openapi_extra(),
    dependencies=[Depends(require_key)],
)
async def model_info(service: ServiceDep):
    detector = service.detector
    config = public_config(detector.config)
    return {
        "id": public_model_id(service.settings.model_id),
        "version": __version__,
        "backbone": backbone_id(detector.config),
        "backend": detector.backend_name,
        "config": config,
        "metrics": config["metrics"],
        "score": "probability that the audio is fake",
    }


_METRICS_DOC = {
    200: {
        "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        "description": "Prometheus text exposition",
    },
    **error_responses(401, 403, 500, by_reference=True),
}


def metrics_router(public: bool) -> APIRouter:
    """``GET /metrics``; ``public``: documented without the API key header (``metrics_public``),
    which the OpenAPI description must know when the route is declared."""
    metrics = APIRouter()

    @metrics.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses=_METRICS_DOC,
        openapi_extra=openapi_extra(auth=not public),
        dependencies=[Depends(require_metrics_key)],
    )
    async def prometheus_metrics(service: ServiceDep):
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return metrics
