"""Keep API keys out of the server's logs.

uvicorn logs each request line with its query string (``"GET /v1/stream?api_key=..."``) on the
``uvicorn.access`` logger, and each websocket handshake on ``uvicorn.error``. A filter on both
masks the value of every secret-looking query parameter before any handler sees the record.
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactSecrets", "redact", "install_log_redaction", "REDACTED_LOGGERS"]

#: The loggers uvicorn writes request lines and websocket handshakes to.
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error")

_SECRET = re.compile(r"(?i)([?&;](?:api[_-]?key|access[_-]?token|token|key)=)[^&;\s\"']*")


def redact(text: str) -> str:
    """``/v1/stream?api_key=s3cret&dtype=int16`` -> ``/v1/stream?api_key=[redacted]&dtype=int16``."""
    return _SECRET.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    """Masks secret query parameters in a record's message and string arguments (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactSecrets` to uvicorn's loggers, once. uvicorn's own logging config keeps
    logger filters, so this holds whether it runs before or after uvicorn configures logging."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
