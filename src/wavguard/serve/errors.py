"""The service's error responses: one JSON shape for every error, 500 included.

Every error body is ``{"detail": {"error": "<kind>", "message": "<what is wrong>"}}``: the
service's own refusals, FastAPI's and Starlette's (404, 405, a malformed multipart body), and
unexpected exceptions, whose traceback is logged and never sent to the client.

A client that leaves mid-upload is not an error of the server's: it is logged in one line,
without a traceback, and counted as status ``499`` (nginx's "client closed request"); nothing is
sent, there is no one to send it to.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import AudioDecodeError, AudioError, AudioFileNotFoundError, WavguardError

__all__ = [
    "api_error",
    "audio_error",
    "error_response",
    "internal_error_response",
    "install_error_handlers",
    "logger",
    "ClientLeft",
    "CLIENT_LEFT_STATUS",
]

logger = logging.getLogger("wavguard.serve")

#: The status a request whose client left mid-upload is counted under (nginx's 499).
CLIENT_LEFT_STATUS = 499


class ClientLeft(Exception):
    """The client closed the connection before its request body was complete.

    Args:
        received_bytes: body bytes that arrived.
        declared_bytes: its ``Content-Length``, or ``None`` (chunked).
    """

    def __init__(self, received_bytes: int, declared_bytes: int | None):
        of = f" of {declared_bytes}" if declared_bytes is not None else ""
        super().__init__(f"the client left after {received_bytes}{of} bytes of the body")
        self.received_bytes, self.declared_bytes = received_bytes, declared_bytes


def api_error(status: int, kind: str, message: str) -> HTTPException:
    """The exception a route raises to answer ``status`` with the documented JSON body."""
    return HTTPException(status_code=status, detail={"error": kind, "message": message})


def audio_error(exc: AudioError) -> HTTPException:
    """415 for what is not audio at all (not decodable, truncated), 422 for audio that cannot be
    scored (empty, silent, too short, NaN samples, a sample rate outside 1 kHz-768 kHz)."""
    status = 415 if isinstance(exc, (AudioDecodeError, AudioFileNotFoundError)) else 422
    return api_error(status, type(exc).__name__, str(exc))


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": {"error": kind, "message": message}}, headers=headers)


def _kind(status: int) -> str:
    """``NotFound`` for 404: the status's phrase without spaces."""
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "Error"


def internal_error_response(request: Request, exc: BaseException) -> JSONResponse:
    """Log the traceback of an unexpected exception; answer 500 in the documented shape."""
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "InternalServerError", "an unexpected error stopped this request; the server logged it")


def install_error_handlers(app: FastAPI) -> None:
    """Give every error the documented JSON shape.

    Unexpected exceptions are caught by the app's outermost HTTP middleware (see
    :func:`wavguard.serve.metrics.install_request_metrics`), so the 500 is counted in the metrics; the handler for
    ``Exception`` registered here is the backstop for anything raised outside it.
    """

    async def http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail
        if isinstance(detail, dict) and "error" in detail:
            return JSONResponse(status_code=exc.status_code, content={"detail": detail}, headers=exc.headers)
        return error_response(exc.status_code, _kind(exc.status_code), str(detail), headers=exc.headers)

    async def validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return error_response(422, "InvalidRequest", problems or "the request is not valid")

    async def wavguard_error(request: Request, exc: WavguardError):
        return error_response(422, type(exc).__name__, str(exc))

    async def unexpected(request: Request, exc: Exception):
        return internal_error_response(request, exc)

    async def client_left(request: Request, exc: ClientLeft):
        logger.warning("client left mid-upload: %s %s: %s", request.method, request.url.path, exc)
        return Response(status_code=CLIENT_LEFT_STATUS)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(WavguardError, wavguard_error)
    app.add_exception_handler(ClientLeft, client_left)
    app.add_exception_handler(Exception, unexpected)
