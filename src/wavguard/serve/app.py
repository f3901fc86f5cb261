"""The HTTP service: FastAPI app around one detector.

Endpoints: ``POST /v1/predict`` (multipart file or JSON base64), ``POST /v1/predict/batch``,
``GET /healthz``, ``GET /v1/model``, ``GET /metrics`` (Prometheus), ``POST /v1/feedback``,
``WS /v1/stream`` (live PCM). Bad input never crashes the server: it gets an HTTP error whose
JSON body says what was wrong (``{"detail": {"error": ..., "message": ...}}``).

Uploads are read into memory up to ``max_upload_bytes`` (413 beyond that); the multipart parser
may spool a part over 1 MB to a temporary file, which is deleted when the request ends.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from starlette.requests import Request as StarletteRequest

from .._version import __version__
from ..audio.decode import load_audio
from ..detector import Detector
from ..errors import AudioDecodeError, AudioError, AudioFileNotFoundError, WavguardError
from ..feedback.store import PredictionStore
from ..pipeline import ScoringState
from .batcher import DynamicBatcher
from .settings import ServiceSettings

__all__ = ["create_app"]

_MULTIPART_OVERHEAD_BYTES = 64 * 1024


def _error(status: int, kind: str, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail={"error": kind, "message": message})


def _audio_error(exc: AudioError) -> HTTPException:
    status = 415 if isinstance(exc, (AudioDecodeError, AudioFileNotFoundError)) else 422
    return _error(status, type(exc).__name__, str(exc))


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

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        endpoint = _endpoint_label(app, request)
        metrics["requests"].labels(endpoint, str(response.status_code)).inc()
        metrics["latency"].labels(endpoint).observe(time.perf_counter() - start)
        return response

    def check_auth(headers, query_key: str | None = None) -> None:
        if not settings.api_keys:
            return
        key = headers.get("x-api-key") or query_key
        auth = headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            raise _error(401, "Unauthorized", "an API key is required: send it in the X-API-Key header")
        if not any(hmac.compare_digest(key, k) for k in settings.api_keys):
            raise _error(403, "Forbidden", "the API key is not valid")

    async def read_body(request: Request) -> bytes:
        limit = settings.max_upload_bytes + _MULTIPART_OVERHEAD_BYTES
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _error(413, "PayloadTooLarge", f"the upload is {int(declared)} bytes; the limit is {settings.max_upload_bytes}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _error(413, "PayloadTooLarge", f"the upload exceeds the limit of {settings.max_upload_bytes} bytes")
        return bytes(body)

    async def uploads(request: Request, max_files: int) -> list[tuple[str, bytes]]:
        """(filename, bytes) of each uploaded audio, from multipart or a JSON body."""
        body = await read_body(request)
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            try:
                payload = json.loads(body)
                items = payload.get("files", [payload]) if isinstance(payload, dict) else None
                if not isinstance(items, list):
                    raise ValueError("expected an object")
                out = [(str(i.get("filename", "upload")), base64.b64decode(i["audio_base64"], validate=True)) for i in items]
            except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
                raise _error(422, "InvalidRequest", f"JSON body must be {{'audio_base64': <base64>}} ({exc})") from None
        elif ctype.startswith("multipart/form-data"):
            async def replay():
                return {"type": "http.request", "body": body, "more_body": False}

            form = await StarletteRequest(request.scope, replay).form(max_files=max_files + 1, max_fields=16)
            try:
                out = [(f.filename or "upload", await f.read()) for _, f in form.multi_items() if hasattr(f, "read")]
            finally:
                await form.close()
        else:
            raise _error(415, "UnsupportedMediaType", "send multipart/form-data with a 'file' field, or JSON with 'audio_base64'")
        if not out:
            raise _error(422, "InvalidRequest", "no audio file in the request")
        if len(out) > max_files:
            raise _error(413, "PayloadTooLarge", f"{len(out)} files; at most {max_files} per request")
        for name, data in out:
            if len(data) > settings.max_upload_bytes:
                raise _error(413, "PayloadTooLarge", f"{name}: {len(data)} bytes; the limit is {settings.max_upload_bytes}")
        return out

    def prepare(name: str, data: bytes) -> tuple[ScoringState, list]:
        samples, _ = load_audio(data, rate, name=name)
        seconds = samples.shape[0] / rate
        if seconds > settings.max_duration_seconds:
            raise _error(413, "AudioTooLong", f"{name}: {seconds:.1f} s of audio; the limit is {settings.max_duration_seconds} s")
        state = detector.pipeline.start(name)
        windows = list(detector.pipeline.windows(samples, rate, state))
        return state, windows

    async def score_one(name: str, data: bytes, threshold: float | None) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            state, windows = await asyncio.to_thread(prepare, name, data)
        except AudioError as exc:
            raise _audio_error(exc) from None
        except WavguardError as exc:
            raise _error(422, type(exc).__name__, str(exc)) from None
        try:
            logits = await asyncio.wait_for(batcher.score([w.samples for w in windows]), settings.request_timeout_seconds)
        except asyncio.TimeoutError:
            raise _error(504, "Timeout", f"scoring took longer than {settings.request_timeout_seconds} s") from None
        detector.pipeline.record(state, windows, logits)
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
            model={"id": settings.model_id, "version": __version__, "backbone": detector.config.backbone},
        )
        return out

    def threshold_param(request: Request) -> float | None:
        raw = request.query_params.get("threshold")
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise _error(422, "InvalidRequest", f"threshold must be a number, got {raw!r}") from None
        if not 0.0 <= value <= 1.0:
            raise _error(422, "InvalidRequest", f"threshold must be in [0, 1], got {value}")
        return value

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "version": __version__}

    @app.get("/v1/model")
    async def model_info(request: Request):
        check_auth(request.headers)
        return {"id": settings.model_id, "version": __version__, "config": detector.config.to_dict(),
                "metrics": detector.config.metrics, "score": "probability that the audio is fake"}

    @app.post("/v1/predict")
    async def predict(request: Request):
        check_auth(request.headers)
        threshold = threshold_param(request)
        [(name, data)] = await uploads(request, max_files=1)
        return await score_one(name, data, threshold)

    @app.post("/v1/predict/batch")
    async def predict_batch(request: Request):
        check_auth(request.headers)
        threshold = threshold_param(request)
        files = await uploads(request, max_files=settings.max_batch_files)

        async def guarded(name: str, data: bytes) -> dict[str, Any]:
            try:
                return {"status": 200, **(await score_one(name, data, threshold))}
            except HTTPException as exc:
                return {"status": exc.status_code, "source": name, **exc.detail}

        return {"results": await asyncio.gather(*(guarded(n, d) for n, d in files))}

    @app.post("/v1/feedback")
    async def feedback(request: Request):
        check_auth(request.headers)
        if store is None:
            raise _error(503, "FeedbackDisabled", "this server keeps no feedback; start it with --log-db FILE")
        try:
            payload = json.loads(await read_body(request))
            label = payload["label"]
            if label not in ("real", "fake"):
                raise ValueError(f"label must be 'real' or 'fake', got {label!r}")
            audio = base64.b64decode(payload["audio_base64"], validate=True) if payload.get("audio_base64") else None
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise _error(422, "InvalidRequest", f"feedback must be JSON {{'prediction_id', 'label': 'real'|'fake'}} ({exc})") from None
        prediction_id = payload.get("prediction_id")
        sha = hashlib.sha256(audio).hexdigest() if audio is not None else None
        if prediction_id is not None:
            known = await asyncio.to_thread(store.get_prediction, str(prediction_id))
            if known is None:
                raise _error(404, "UnknownPrediction", f"no prediction with id {prediction_id!r}")
            sha = sha or known["audio_sha256"]
        if prediction_id is None and audio is None:
            raise _error(422, "InvalidRequest", "send a prediction_id, or the audio itself (audio_base64)")
        kept = audio if settings.store_feedback_audio else None
        row = await asyncio.to_thread(store.add_feedback, label, prediction_id, sha, kept, payload.get("note"))
        return {"id": row, "stored_audio": kept is not None}

    @app.get("/metrics")
    async def prometheus_metrics():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket):
        """Live scoring: send binary PCM frames (``dtype`` float32 or int16, interleaved channels),
        receive ``{"segments": [...]}`` per completed window; send the text ``end`` for the final
        ``{"final": prediction}``."""
        query = websocket.query_params
        try:
            check_auth(websocket.headers, query.get("api_key"))
            sample_rate = int(query.get("sample_rate", rate))
            channels = int(query.get("channels", 1))
            dtype = {"float32": np.float32, "int16": np.int16}[query.get("dtype", "float32")]
            if sample_rate <= 0 or not 1 <= channels <= 32:
                raise ValueError("sample_rate must be positive and channels in 1..32")
        except HTTPException as exc:
            await websocket.close(code=1008, reason=exc.detail["message"])
            return
        except (ValueError, KeyError) as exc:
            await websocket.close(code=1003, reason=f"bad stream parameters: {exc}")
            return
        await websocket.accept()
        scorer = detector.stream(sample_rate=sample_rate, channels=channels, source="websocket")
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    frame = np.frombuffer(message["bytes"], dtype=dtype)
                    if frame.size % channels:
                        raise WavguardError(f"a frame of {frame.size} samples does not split into {channels} channels")
                    segments = await asyncio.to_thread(scorer.push, frame.reshape(-1, channels))
                    if segments:
                        await websocket.send_json({"segments": [s.__dict__ for s in segments]})
                elif (message.get("text") or "").strip() == "end":
                    final = await asyncio.to_thread(scorer.close)
                    final_dict = final.to_dict()
                    final_dict.pop("error")
                    await websocket.send_json({"final": final_dict})
                    await websocket.close()
                    return
        except WebSocketDisconnect:
            return
        except WavguardError as exc:
            await websocket.send_json({"error": type(exc).__name__, "message": str(exc)})
            await websocket.close(code=1003)

    @app.exception_handler(WavguardError)
    async def wavguard_error(request: Request, exc: WavguardError):
        return JSONResponse(status_code=422, content={"detail": {"error": type(exc).__name__, "message": str(exc)}})

    if ui:
        _mount_ui(app)
    return app


def _mount_ui(app: FastAPI) -> None:
    """The browser page at ``/ui`` (``wavguard.demo``), sharing ``app.state``'s detector, settings
    and feedback store; skipped when gradio is not installed."""
    from ..demo import gradio_available, mount_demo

    if gradio_available():
        mount_demo(app, path="/ui")
