"""The HTTP service: :func:`create_app` assembles the routers around one detector.

Endpoints (one module each under :mod:`wavguard.serve.routes`): ``POST /v1/predict``,
``POST /v1/predict/batch`` (``predict``), ``POST /v1/feedback`` (``feedback``), ``GET /healthz``,
``GET /readyz``, ``GET /v1/model``, ``GET /metrics`` (``model``), ``WS /v1/stream`` (``stream``) and the page at
``/ui`` (``ui``). What they share (the detector, settings, log, batcher, metrics) is a
:class:`~wavguard.serve.dependencies.Service` in ``app.state.service``, handed to each route by
``Depends``. Bad input never crashes the server: it gets an HTTP error whose JSON body says what
was wrong (``{"detail": {"error": ..., "message": ...}}``, :mod:`wavguard.serve.errors`), 500 included.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from .._version import __version__
from ..detector import Detector
from .dependencies import Service, build_service
from .errors import install_error_handlers
from .logs import install_log_redaction
from .metrics import install_request_metrics
from .routes import feedback, model, predict, stream
from .routes.ui import mount_ui
from .settings import ServiceSettings

__all__ = ["create_app"]


def create_app(detector: Detector, settings: ServiceSettings | None = None, *, ui: bool = True) -> FastAPI:
    """The FastAPI app serving ``detector`` (run it with uvicorn, or ``wavguard serve``).

    With ``ui`` and gradio installed (the ``[demo]`` extra), the browser page of
    :mod:`wavguard.demo` is mounted at ``/ui``.
    """
    settings = settings or ServiceSettings()
    service = build_service(detector, settings)
    app = FastAPI(
        title="wavguard",
        version=__version__,
        lifespan=_lifespan,
        description="Deepfake speech detection. `score` = probability that the audio is FAKE.",
    )
    app.state.service = service
    # The page at /ui (wavguard.demo) reads these three from app.state.
    app.state.detector, app.state.settings, app.state.store = detector, settings, service.store
    app.state.batcher = service.batcher

    install_error_handlers(app)
    install_log_redaction()
    install_request_metrics(app, service.metrics)
    app.include_router(model.router)
    app.include_router(predict.router)
    app.include_router(feedback.router)
    app.include_router(model.metrics_router(public=settings.metrics_public))
    app.include_router(stream.router)
    if ui:
        mount_ui(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Start the batcher's worker with the server; stop it and close the log when the server stops."""
    service: Service = app.state.service
    await service.batcher.start()
    try:
        yield
    finally:
        await service.batcher.stop()
        if service.store is not None:
            service.store.close()
