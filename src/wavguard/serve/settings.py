"""Service settings: limits, batching, auth and logging for ``wavguard serve``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["ServiceSettings", "BODY_OVERHEAD_BYTES"]

#: What a request body may hold beyond ``max_upload_bytes``: multipart boundaries and part
#: headers, JSON and its base64 (bodies are judged against the upload limit plus this).
BODY_OVERHEAD_BYTES = 64 * 1024


@dataclass
class ServiceSettings:
    """Settings of the HTTP service.

    Attributes:
        max_upload_bytes: larger uploads get HTTP 413.
        max_duration_seconds: longer audio gets HTTP 413, judged from the file's header before
            decoding, and again while decoding (a header can lie).
        max_request_audio_seconds: most audio in one request, all its files together (HTTP 413
            ``RequestAudioTooLong``): bounds the work one client can ask for in one call.
        max_inflight_upload_bytes: most request-body bytes held at once by all requests together
            (in memory or spooled to temporary files); a request that would pass it gets HTTP 503
            with ``Retry-After``. ``None``: four times ``max_upload_bytes``.
        body_timeout_seconds: a request body not received in full within this time gets HTTP 408
            (a client sending a byte now and then cannot hold a slot forever).
        max_files_scoring: most files decoded and scored at once, all requests together (one
            request takes at most two of them); others wait their turn, within their timeout.
            Bounds the decoding memory: each holds a decoded block and up to 64 windows.
        max_connections: most open connections (uvicorn's ``limit_concurrency``; beyond it,
            uvicorn answers 503). Used by :func:`wavguard.serve.run` and ``wavguard serve``;
            ``None``: no cap.
        request_timeout_seconds: scoring that takes longer gets HTTP 504.
        max_batch_windows: most windows per forward pass across concurrent requests.
        max_client_batch_windows: most windows of one request in one forward pass, even when it
            is alone: a pass cannot be interrupted, so a request that arrives beside a big one
            waits for at most one pass of this size. ``None``: 1 when the model runs on the CPU
            (where a pass costs about its number of windows, so short requests stay fast beside
            a big one), ``max_batch_windows`` on an accelerator (where a pass of many windows
            costs little more than one).
        max_wait_ms: how long the batcher waits for more windows before running a batch.
        api_keys: accepted keys (header ``X-API-Key`` or ``Authorization: Bearer``; the websocket
            also takes the subprotocol ``api-key.KEY`` or, redacted in logs, ``?api_key=``);
            empty = no auth.
        log_db: SQLite file for the prediction log and feedback; ``None`` = no logging.
        store_feedback_audio: keep audio sent with feedback (never the audio of predictions).
        model_id: the name reported in responses (``wavguard serve`` gives the model as named on its
            command line); a local path is reported by its base name (:mod:`wavguard.serve.public`),
            the prediction log keeps it whole.
        max_batch_files: most files in one ``/v1/predict/batch`` request.
        max_stream_seconds: a ``/v1/stream`` websocket is closed (1008) after this much audio.
        max_stream_frame_bytes: a larger binary frame on ``/v1/stream`` is refused (close 1009).
        metrics_public: serve ``/metrics`` without an API key. By default it needs one whenever
            ``api_keys`` are set (score distributions and traffic are not for everyone).
    """

    max_upload_bytes: int = 25 * 1024 * 1024
    max_duration_seconds: float = 600.0
    max_request_audio_seconds: float = 1800.0
    max_inflight_upload_bytes: int | None = None
    body_timeout_seconds: float = 60.0
    max_files_scoring: int = 16
    max_connections: int | None = 64
    request_timeout_seconds: float = 60.0
    max_batch_windows: int = 16
    max_client_batch_windows: int | None = None
    max_wait_ms: float = 5.0
    api_keys: tuple[str, ...] = field(default_factory=tuple)
    log_db: str | None = None
    store_feedback_audio: bool = False
    model_id: str = "wavguard-detector"
    max_batch_files: int = 32
    max_stream_seconds: float = 3600.0
    max_stream_frame_bytes: int = 1024 * 1024
    metrics_public: bool = False

    def __post_init__(self) -> None:
        self.api_keys = tuple(self.api_keys)
        for name in (
            "max_upload_bytes",
            "max_duration_seconds",
            "request_timeout_seconds",
            "max_batch_windows",
            "max_batch_files",
            "max_stream_seconds",
            "max_stream_frame_bytes",
            "max_request_audio_seconds",
            "body_timeout_seconds",
            "max_files_scoring",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("max_inflight_upload_bytes", "max_connections", "max_client_batch_windows"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive or None, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        largest_body = self.max_upload_bytes + BODY_OVERHEAD_BYTES
        if self.max_inflight_upload_bytes is not None and self.max_inflight_upload_bytes < largest_body:
            raise ConfigError(
                f"max_inflight_upload_bytes ({self.max_inflight_upload_bytes}) is below the largest request body "
                f"({largest_body} bytes: max_upload_bytes plus {BODY_OVERHEAD_BYTES} of framing): "
                "an upload within the limit could never be served"
            )

    def server_options(self) -> dict[str, Any]:
        """What uvicorn must enforce itself (``uvicorn.run(app, **settings.server_options())``):
        the connection cap, ``limit_concurrency``."""
        return {"limit_concurrency": self.max_connections}

    def client_batch_windows(self, device_type: str) -> int:
        """``max_client_batch_windows``, or its default for a model on ``device_type`` ("cpu", "cuda", ...)."""
        if self.max_client_batch_windows is not None:
            return self.max_client_batch_windows
        return 1 if device_type == "cpu" else self.max_batch_windows

    @property
    def inflight_upload_bytes(self) -> int:
        """The cap on request-body bytes held at once: ``max_inflight_upload_bytes`` or its default."""
        return self.max_inflight_upload_bytes or 4 * self.max_upload_bytes
