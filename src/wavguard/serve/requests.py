"""Request bodies: uploads (multipart or JSON base64, size-limited) and the feedback schema.

Uploads are read into memory up to ``max_upload_bytes`` (413 beyond that, judged from
``Content-Length`` before reading and again while reading); the multipart parser may spool a part
over 1 MB to a temporary file, deleted when the request ends.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest

from .errors import api_error
from .settings import ServiceSettings

__all__ = ["FeedbackIn", "MAX_NOTE_CHARS", "read_body", "read_uploads", "parse_feedback"]

_MULTIPART_OVERHEAD_BYTES = 64 * 1024

#: The longest feedback note kept, in characters.
MAX_NOTE_CHARS = 2000


class FeedbackIn(BaseModel):
    """The body of ``POST /v1/feedback``: the true label of a prediction (by id) or of audio sent along."""

    label: Literal["real", "fake"] = Field(description="the true label")
    prediction_id: str | None = Field(None, max_length=64, description="the id a /v1/predict response gave")
    audio_base64: str | None = Field(None, description="the audio itself, base64 (kept only with --store-feedback-audio)")
    note: str | None = Field(None, max_length=MAX_NOTE_CHARS, description="free text, at most 2000 characters")


def parse_feedback(body: bytes) -> tuple[FeedbackIn, bytes | None]:
    """The validated feedback and its decoded audio; 422 in the documented shape otherwise."""
    try:
        payload = FeedbackIn.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise api_error(
            422, "InvalidRequest", f"feedback must be JSON {{'prediction_id', 'label': 'real'|'fake', 'note'?}} ({problems})"
        ) from None
    try:
        audio = base64.b64decode(payload.audio_base64, validate=True) if payload.audio_base64 else None
    except (binascii.Error, ValueError) as exc:
        raise api_error(422, "InvalidRequest", f"audio_base64 is not valid base64 ({exc})") from None
    return payload, audio


async def read_body(request: Request, settings: ServiceSettings) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed the upload limit."""
    limit = settings.max_upload_bytes + _MULTIPART_OVERHEAD_BYTES
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise api_error(413, "PayloadTooLarge", f"the upload is {int(declared)} bytes; the limit is {settings.max_upload_bytes}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise api_error(413, "PayloadTooLarge", f"the upload exceeds the limit of {settings.max_upload_bytes} bytes")
    return bytes(body)


def _json_uploads(body: bytes) -> list[tuple[str, bytes]]:
    try:
        payload = json.loads(body)
        items = payload.get("files", [payload]) if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise ValueError("expected an object")
        return [(str(i.get("filename", "upload")), base64.b64decode(i["audio_base64"], validate=True)) for i in items]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise api_error(422, "InvalidRequest", f"JSON body must be {{'audio_base64': <base64>}} ({exc})") from None


async def _multipart_uploads(request: Request, body: bytes, max_files: int) -> list[tuple[str, bytes]]:
    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await StarletteRequest(request.scope, replay).form(max_files=max_files, max_fields=16)
    except HTTPException as exc:  # Starlette's 400 for a malformed body or too many parts
        message = str(exc.detail)
        if "too many files" in message.lower():
            raise api_error(413, "PayloadTooLarge", f"more than {max_files} files; at most {max_files} per request") from None
        raise api_error(422, "InvalidRequest", f"the multipart body cannot be parsed ({message})") from None
    try:
        return [(f.filename or "upload", await f.read()) for _, f in form.multi_items() if hasattr(f, "read")]
    finally:
        await form.close()


async def read_uploads(request: Request, settings: ServiceSettings, max_files: int) -> list[tuple[str, bytes]]:
    """(filename, bytes) of each uploaded audio, from multipart or a JSON body."""
    body = await read_body(request, settings)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        out = _json_uploads(body)
    elif ctype.startswith("multipart/form-data"):
        out = await _multipart_uploads(request, body, max_files)
    else:
        raise api_error(415, "UnsupportedMediaType", "send multipart/form-data with a 'file' field, or JSON with 'audio_base64'")
    if not out:
        raise api_error(422, "InvalidRequest", "no audio file in the request")
    if len(out) > max_files:
        raise api_error(413, "PayloadTooLarge", f"{len(out)} files; at most {max_files} per request")
    for name, data in out:
        if len(data) > settings.max_upload_bytes:
            raise api_error(413, "PayloadTooLarge", f"{name}: {len(data)} bytes; the limit is {settings.max_upload_bytes}")
    return out
