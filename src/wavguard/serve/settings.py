"""Service settings: limits, batching, auth and logging for ``wavguard serve``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = ["ServiceSettings"]


@dataclass
class ServiceSettings:
    """Settings of the HTTP service.

    Attributes:
        max_upload_bytes: larger uploads get HTTP 413.
        max_duration_seconds: longer audio gets HTTP 413, judged from the file's header before
            decoding, and again while decoding (a header can lie).
        request_timeout_seconds: scoring that takes longer gets HTTP 504.
        max_batch_windows: most windows per forward pass across concurrent requests.
        max_wait_ms: how long the batcher waits for more windows before running a batch.
        api_keys: accepted keys (header ``X-API-Key`` or ``Authorization: Bearer``; the websocket
            also takes the subprotocol ``api-key.KEY`` or, redacted in logs, ``?api_key=``);
            empty = no auth.
        log_db: SQLite file for the prediction log and feedback; ``None`` = no logging.
        store_feedback_audio: keep audio sent with feedback (never the audio of predictions).
        model_id: the name reported in responses (defaults to the model path).
        max_batch_files: most files in one ``/v1/predict/batch`` request.
        max_stream_seconds: a ``/v1/stream`` websocket is closed (1008) after this much audio.
        max_stream_frame_bytes: a larger binary frame on ``/v1/stream`` is refused (close 1009).
        metrics_public: serve ``/metrics`` without an API key. By default it needs one whenever
            ``api_keys`` are set (score distributions and traffic are not for everyone).
    """

    max_upload_bytes: int = 25 * 1024 * 1024
    max_duration_seconds: float = 600.0
    request_timeout_seconds: float = 60.0
    max_batch_windows: int = 16
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
        for name in ("max_upload_bytes", "max_duration_seconds", "request_timeout_seconds", "max_batch_windows", "max_batch_files",
                     "max_stream_seconds", "max_stream_frame_bytes"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
