"""``GET /healthz``, ``GET /v1/model`` and ``GET /metrics``: what runs, and how it is doing.

Contract:

- ``/healthz`` (no key): liveness, 200 ``{"status": "ok", "version": ...}`` while the process serves.
- ``/v1/model`` (key): the served id, wavguard's version, the backbone, the backend (torch, onnx,
  onnx-int8), the detector's config (its preprocessing contract and threshold) and stored metrics.
- ``/metrics``: the Prometheus text exposition (:mod:`wavguard.serve.metrics`); it needs a key
  when the service has keys, unless ``metrics_public``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response

from ..._version import __version__
from ...hub.publish import backbone_id
from ..dependencies import ServiceDep, require_key, require_metrics_key
from ..metrics import CONTENT_TYPE_LATEST
from ..schemas import HealthOut, ModelInfoOut, error_responses, openapi_extra

__all__ = ["router", "metrics_router"]

router = APIRouter()


@router.get("/healthz", responses={200: {"model": HealthOut}, **error_responses(500)}, openapi_extra=openapi_extra(auth=False))
async def healthz():
    return {"status": "ok", "version": __version__}


@router.get("/v1/model", responses={200: {"model": ModelInfoOut}, **error_responses(401, 403, 500)},
            openapi_extra=openapi_extra(), dependencies=[Depends(require_key)])
async def model_info(service: ServiceDep):
    detector = service.detector
    return {"id": service.settings.model_id, "version": __version__, "backbone": backbone_id(detector.config),
            "backend": detector.backend_name, "config": detector.config.to_dict(),
            "metrics": detector.config.metrics, "score": "probability that the audio is fake"}


_METRICS_DOC = {200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                      "description": "Prometheus text exposition"}, **error_responses(401, 403, 500, by_reference=True)}


def metrics_router(public: bool) -> APIRouter:
    """``GET /metrics``; ``public``: documented without the API key header (``metrics_public``),
    which the OpenAPI description must know when the route is declared."""
    metrics = APIRouter()

    @metrics.get("/metrics", response_class=PlainTextResponse, responses=_METRICS_DOC,
                 openapi_extra=openapi_extra(auth=not public), dependencies=[Depends(require_metrics_key)])
    async def prometheus_metrics(service: ServiceDep):
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return metrics
