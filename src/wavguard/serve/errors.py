"""The service's error responses: one JSON shape for every error, 500 included.

Every error body is ``{"detail": {"error": "<kind>", "message": "<what is wrong>"}}``: the
service's own refusals, FastAPI's and Starlette's (404, 405, a malformed multipart body), and
unexpected exceptions, whose traceback is logged and never sent to the client.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import AudioDecodeError, AudioError, AudioFileNotFoundError, WavguardError

__all__ = ["api_error", "audio_error", "error_response", "internal_error_response", "install_error_handlers", "logger"]

logger = logging.getLogger("wavguard.serve")


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

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(WavguardError, wavguard_error)
    app.add_exception_handler(Exception, unexpected)
