"""The HTTP service: FastAPI app around one detector.

Endpoints: ``POST /v1/predict`` (multipart file or JSON base64), ``POST /v1/predict/batch``,
``GET /healthz``, ``GET /v1/model``, ``GET /metrics`` (Prometheus), ``POST /v1/feedback``,
``WS /v1/stream`` (live PCM, :mod:`wavguard.serve.websocket`). Bad input never crashes the
server: it gets an HTTP error whose JSON body says what was wrong
(``{"detail": {"error": ..., "message": ...}}``, :mod:`wavguard.serve.errors`), 500 included.

An upload is judged before it is decoded: size (:mod:`wavguard.serve.requests`), then the
duration and sample rate its header declares; it is then decoded block by block through the
scoring pipeline (the same stages as ``Detector.predict``) and its windows scored in groups, so
memory stays flat whatever the file claims.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import PlainTextResponse, Response

from .._version import __version__
from ..audio.decode import audio_info
from ..audio.windows import Window
from ..detector import Detector
from ..errors import AudioError, WavguardError
from ..feedback.store import PredictionStore
from ..hub.publish import backbone_id
from ..scoring.pipeline import ScoringState
from .auth import check_key, presented_key
from .batcher import DynamicBatcher
from .errors import api_error, audio_error, install_error_handlers, internal_error_response
from .logs import install_log_redaction
from .requests import parse_feedback, read_body, read_uploads
from .schemas import (
    BatchOut,
    FeedbackOut,
    HealthOut,
    ModelInfoOut,
    PredictionOut,
    error_responses,
    feedback_body,
    openapi_extra,
    upload_body,
)
from .settings import ServiceSettings
from .websocket import serve_stream

__all__ = ["create_app"]

#: Windows taken from the decoder between trips to the batcher: bounds a request's memory.
_WINDOW_GROUP = 64


def _metrics(registry):
    from prometheus_client import Counter, Histogram

    return {
        "requests": Counter("wavguard_requests", "HTTP requests", ["endpoint", "status"], registry=registry),
        "latency": Histogram("wavguard_request_latency_seconds", "Request latency", ["endpoint"], registry=registry),
        "scores": Histogram(
            "wavguard_score", "Calibrated P(fake) of predictions", buckets=[i / 10 for i in range(1, 11)], registry=registry
        ),
        "batch": Histogram(
            "wavguard_batch_windows", "Windows per forward pass", buckets=[1, 2, 4, 8, 16, 32, 64, 128], registry=registry
        ),
    }


def _endpoint_label(app, request) -> str:
    """The metrics label of a request: its route's template (``/v1/predict``), the mount it fell
    into (``/ui`` for every asset of the web page), or ``unmatched``, so raw paths (ids, asset
    names, scanners' probes) never become label values."""
    route = request.scope.get("route")
    if getattr(route, "path", None):
        return route.path
    from starlette.routing import Mount

    path = request.url.path
    for mount in app.routes:
        if isinstance(mount, Mount) and (path == mount.path or path.startswith(mount.path + "/")):
            return mount.path
    return "unmatched"


def create_app(detector: Detector, settings: ServiceSettings | None = None, *, ui: bool = True) -> FastAPI:
    """The FastAPI app serving ``detector`` (run it with uvicorn, or ``wavguard serve``).

    With ``ui`` and gradio installed (the ``[demo]`` extra), the browser page of
    :mod:`wavguard.demo` is mounted at ``/ui``.
    """
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    settings = settings or ServiceSettings()
    registry = CollectorRegistry()
    metrics = _metrics(registry)
    batcher = DynamicBatcher(
        detector.pipeline.logits, settings.max_batch_windows, settings.max_wait_ms / 1000.0, metrics["batch"].observe
    )
    store = PredictionStore(settings.log_db) if settings.log_db else None
    rate = detector.config.sample_rate_hz

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()
            if store is not None:
                store.close()

    app = FastAPI(title="wavguard", version=__version__, lifespan=lifespan,
                  description="Deepfake speech detection. `score` = probability that the audio is FAKE.")
    app.state.detector, app.state.settings, app.state.store, app.state.batcher = detector, settings, store, batcher

    install_error_handlers(app)
    install_log_redaction()

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:  # outermost, so the 500 is counted; the body is the documented JSON
            response = internal_error_response(request, exc)
        endpoint = _endpoint_label(app, request)
        metrics["requests"].labels(endpoint, str(response.status_code)).inc()
        metrics["latency"].labels(endpoint).observe(time.perf_counter() - start)
        return response

    def check_auth(request: Request) -> None:
        check_key(settings, presented_key(request.headers))

    def open_upload(name: str, data: bytes) -> tuple[ScoringState, Iterator[Window]]:
        """Check the header (rate, declared duration), then the pipeline's windows, decoded lazily."""
        rate_hz, frames, _ = audio_info(data, name=name)  # SampleRateError for 1 Hz, before any decoding
        declared_seconds = frames / rate_hz
        if declared_seconds > settings.max_duration_seconds:
            raise too_long(name, f"its header declares {declared_seconds:.1f} s of audio")
        state = detector.pipeline.start(name)
        return state, capped(detector.pipeline.windows(data, None, state), state, name)

    def capped(windows: Iterator[Window], state: ScoringState, name: str) -> Iterator[Window]:
        """Stop decoding as soon as a file holds more audio than the limit: a header can understate it."""
        limit = settings.max_duration_seconds * rate
        for window in windows:
            if state.num_samples > limit:
                raise too_long(name, f"it decodes to more than {state.num_samples / rate:.1f} s of audio")
            yield window

    def too_long(name: str, what: str) -> HTTPException:
        return api_error(413, "AudioTooLong", f"{name}: {what}; the limit is {settings.max_duration_seconds:g} s")

    async def score_windows(name: str, data: bytes) -> ScoringState:
        state, windows = await asyncio.to_thread(open_upload, name, data)
        while group := await asyncio.to_thread(lambda: list(itertools.islice(windows, _WINDOW_GROUP))):
            logits = await batcher.score([w.samples for w in group])
            detector.pipeline.record(state, group, logits)
        return state

    async def score_one(name: str, data: bytes, threshold: float | None) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            state = await asyncio.wait_for(score_windows(name, data), settings.request_timeout_seconds)
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
        metrics["scores"].observe(pred.score)
        if store is not None:
            await asyncio.to_thread(store.log_prediction, record)
        out = pred.to_dict()
        out.pop("error")
        out.update(
            id=record["id"], audio_sha256=record["audio_sha256"], processing_ms=latency_ms,
            model={"id": settings.model_id, "version": __version__, "backbone": backbone_id(detector.config)},
        )
        return out

    def threshold_param(request: Request) -> float | None:
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

    upload_errors = error_responses(401, 403, 413, 415, 422, 500, 504)

    @app.get("/healthz", responses={200: {"model": HealthOut}, **error_responses(500)}, openapi_extra=openapi_extra(auth=False))
    async def healthz():
        return {"status": "ok", "version": __version__}

    @app.get("/v1/model", responses={200: {"model": ModelInfoOut}, **error_responses(401, 403, 500)}, openapi_extra=openapi_extra())
    async def model_info(request: Request):
        check_auth(request)
        return {"id": settings.model_id, "version": __version__, "backbone": backbone_id(detector.config),
                "backend": detector.backend_name, "config": detector.config.to_dict(),
                "metrics": detector.config.metrics, "score": "probability that the audio is fake"}

    @app.post("/v1/predict", responses={200: {"model": PredictionOut}, **upload_errors},
              openapi_extra=openapi_extra(body=upload_body(batch=False), threshold=True))
    async def predict(request: Request):
        """Score one audio file: multipart/form-data with a `file` field, or JSON `{"audio_base64": ...}`."""
        check_auth(request)
        threshold = threshold_param(request)
        [(name, data)] = await read_uploads(request, settings, max_files=1)
        return await score_one(name, data, threshold)

    @app.post("/v1/predict/batch", responses={200: {"model": BatchOut}, **upload_errors},
              openapi_extra=openapi_extra(body=upload_body(batch=True), threshold=True))
    async def predict_batch(request: Request):
        """Score several files (multipart `files` parts, or JSON `{"files": [{"audio_base64": ...}]}`);
        a file that fails gets its own status in `results`, the others are still scored."""
        check_auth(request)
        threshold = threshold_param(request)
        files = await read_uploads(request, settings, max_files=settings.max_batch_files)

        async def guarded(name: str, data: bytes) -> dict[str, Any]:
            try:
                return {"status": 200, **(await score_one(name, data, threshold))}
            except HTTPException as exc:
                return {"status": exc.status_code, "source": name, **exc.detail}

        return {"results": await asyncio.gather(*(guarded(n, d) for n, d in files))}

    @app.post("/v1/feedback", responses={200: {"model": FeedbackOut}, **error_responses(401, 403, 404, 413, 422, 500, 503)},
              openapi_extra=openapi_extra(body=feedback_body()))
    async def feedback(request: Request):
        """The true label of a prediction (by `prediction_id`) or of audio sent along (`audio_base64`)."""
        check_auth(request)
        if store is None:
            raise api_error(503, "FeedbackDisabled", "this server keeps no feedback; start it with --log-db FILE")
        payload, audio = parse_feedback(await read_body(request, settings))
        prediction_id = payload.prediction_id
        sha = hashlib.sha256(audio).hexdigest() if audio is not None else None
        if prediction_id is not None:
            known = await asyncio.to_thread(store.get_prediction, prediction_id)
            if known is None:
                raise api_error(404, "UnknownPrediction", f"no prediction with id {prediction_id!r}")
            sha = sha or known["audio_sha256"]
        if prediction_id is None and audio is None:
            raise api_error(422, "InvalidRequest", "send a prediction_id, or the audio itself (audio_base64)")
        kept = audio if settings.store_feedback_audio else None
        row = await asyncio.to_thread(store.add_feedback, payload.label, prediction_id, sha, kept, payload.note)
        return {"id": row, "stored_audio": kept is not None}

    metrics_doc = {200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                         "description": "Prometheus text exposition"}, **error_responses(401, 403, 500, by_reference=True)}

    @app.get("/metrics", response_class=PlainTextResponse, responses=metrics_doc,
             openapi_extra=openapi_extra(auth=not settings.metrics_public))
    async def prometheus_metrics(request: Request):
        if not settings.metrics_public:
            check_auth(request)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket):
        """Live scoring: send binary PCM frames (``dtype`` float32 or int16, interleaved channels),
        receive ``{"segments": [...]}`` per completed window; send the text ``end`` for the final
        ``{"final": prediction}``. Refusals close the socket with a code and reason
        (:mod:`wavguard.serve.websocket`)."""
        await serve_stream(websocket, detector, settings)

    if ui:
        _mount_ui(app)
    return app


def _mount_ui(app: FastAPI) -> None:
    """The browser page at ``/ui`` (``wavguard.demo``), sharing ``app.state``'s detector, settings
    and feedback store; skipped when gradio is not installed."""
    from ..demo import gradio_available, mount_demo

    if gradio_available():
        mount_demo(app, path="/ui")
