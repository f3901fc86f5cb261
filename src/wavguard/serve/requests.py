"""Request bodies: read under limits, and the feedback schema.

A body is read chunk by chunk (:func:`body_chunks`) under four limits, each with its answer:

- its size: 413 ``PayloadTooLarge`` past ``max_upload_bytes`` (plus a little framing), judged from
  ``Content-Length`` before reading and again while reading;
- the bytes all requests hold at once: each chunk is reserved in the service's upload pool
  (a declared ``Content-Length`` at once, before reading) before it is kept; 503 ``ServerBusy``
  with ``Retry-After`` when the pool is full (:mod:`wavguard.serve.limits`);
- its time: 408 ``RequestTimeout`` when the whole body has not arrived within
  ``body_timeout_seconds``;
- the client leaving mid-body: :class:`~wavguard.serve.errors.ClientLeft`, logged in one line
  and counted as status 499, never a 500 with a traceback.

JSON bodies are parsed by :func:`parse_json`: pydantic's parser, which refuses nesting deeper than
:data:`MAX_JSON_DEPTH` levels with a 422 (Python's ``json`` would recurse on ``"[" * 100000``
until a ``RecursionError``: a 500).

Uploads are parsed from these chunks by :mod:`wavguard.serve.uploads`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any, Literal

import pydantic_core
from fastapi import Request
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import ClientDisconnect

from .errors import ClientLeft, api_error
from .limits import RequestTicket
from .settings import BODY_OVERHEAD_BYTES, ServiceSettings

__all__ = ["FeedbackIn", "MAX_NOTE_CHARS", "MAX_JSON_DEPTH", "body_chunks", "read_body", "parse_json", "parse_feedback"]

#: The longest feedback note kept, in characters.
MAX_NOTE_CHARS = 2000
#: The deepest nesting a JSON body may have: pydantic's parser (jiter) stops there. The service's
#: own bodies are at most three levels deep (``{"files": [{...}]}``).
MAX_JSON_DEPTH = 200


def parse_json(body: bytes | bytearray) -> Any:
    """``body`` as JSON, parsed without recursion in Python; 422 ``InvalidRequest`` when it is not
    JSON or nests deeper than :data:`MAX_JSON_DEPTH` levels. CPU-bound on a large body: call it in
    a worker thread."""
    try:
        return pydantic_core.from_json(body)
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise api_error(
                422,
                "InvalidRequest",
                f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep; "
                "the service's bodies are at most 3 levels deep",
            ) from None
        raise api_error(422, "InvalidRequest", f"the body is not valid JSON ({exc})") from None


class FeedbackIn(BaseModel):
    """The body of ``POST /v1/feedback``: the true label of a prediction (by id) or of audio sent along."""

    label: Literal["real", "fake"] = Field(description="the true label")
    prediction_id: str | None = Field(None, max_length=64, description="the id a /v1/predict response gave")
    audio_base64: str | None = Field(
        None, description="the audio itself, base64 (kept only with --store-feedback-audio)"
    )
    note: str | None = Field(None, max_length=MAX_NOTE_CHARS, description="free text, at most 2000 characters")


def parse_feedback(body: bytes | bytearray) -> tuple[FeedbackIn, bytes | None]:
    """The validated feedback and its decoded audio; 422 in the documented shape otherwise.
    CPU-bound on a large body: call it in a worker thread."""
    try:
        payload = FeedbackIn.model_validate(parse_json(body))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise api_error(
            422,
            "InvalidRequest",
            f"feedback must be JSON {{'prediction_id', 'label': 'real'|'fake', 'note'?}} ({problems})",
        ) from None
    try:
        audio = base64.b64decode(payload.audio_base64, validate=True) if payload.audio_base64 else None
    except (binascii.Error, ValueError) as exc:
        raise api_error(422, "InvalidRequest", f"audio_base64 is not valid base64 ({exc})") from None
    return payload, audio


def body_limit_bytes(settings: ServiceSettings) -> int:
    """The largest body accepted: the upload limit plus multipart or JSON framing."""
    return settings.max_upload_bytes + BODY_OVERHEAD_BYTES


def declared_length(request: Request, settings: ServiceSettings) -> int | None:
    """The body's ``Content-Length`` (``None`` when chunked); 413 at once when it is over the limit."""
    declared = request.headers.get("content-length")
    declared_bytes = int(declared) if declared and declared.isdigit() else None
    if declared_bytes is not None and declared_bytes > body_limit_bytes(settings):
        raise api_error(
            413, "PayloadTooLarge", f"the upload is {declared_bytes} bytes; the limit is {settings.max_upload_bytes}"
        )
    return declared_bytes


async def body_chunks(request: Request, settings: ServiceSettings, ticket: RequestTicket) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive, each within the size, pool and time limits (see above)."""
    limit = body_limit_bytes(settings)
    declared_bytes = declared_length(request, settings)
    if declared_bytes:
        ticket.reserve_up_to(declared_bytes)  # 503 before a byte is read when the pool is full
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.body_timeout_seconds
    stream = request.stream().__aiter__()
    received = 0
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), max(deadline - loop.time(), 0.0))
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            exc = api_error(
                408,
                "RequestTimeout",
                f"the request body did not arrive within {settings.body_timeout_seconds:g} s ({received} bytes came)",
            )
            exc.headers = {"Connection": "close"}
            raise exc from None
        except ClientDisconnect:
            raise ClientLeft(received, declared_bytes) from None
        received += len(chunk)
        if received > limit:
            raise api_error(
                413, "PayloadTooLarge", f"the upload exceeds the limit of {settings.max_upload_bytes} bytes"
            )
        ticket.reserve_up_to(received)
        yield chunk


async def read_body(request: Request, settings: ServiceSettings, ticket: RequestTicket) -> bytearray:
    """The whole body, read by :func:`body_chunks` (not copied to ``bytes``: JSON and pydantic
    parse a bytearray as it is)."""
    body = bytearray()
    async for chunk in body_chunks(request, settings, ticket):
        body += chunk
    return body
