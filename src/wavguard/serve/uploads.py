"""Uploaded audio files, parsed from a request body without holding it whole.

- multipart/form-data: the body is fed to a streaming parser (python-multipart) as it arrives,
  in a worker thread; each file part is kept in memory up to ``SPOOL_BYTES`` and beyond that
  written to a temporary file, deleted when the request ends. The audio is then decoded from
  that file, block by block: a large part never sits in memory.
- JSON ``{"audio_base64": ...}`` or ``{"files": [...]}``: JSON needs the whole document, so the
  body is held; parsing and base64 decoding run in a worker thread.

Either way the event loop only moves chunks, so health checks and other requests are answered
while a large body is parsed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from python_multipart.multipart import FormParserError, MultipartParser, parse_options_header

from .errors import api_error
from .limits import RequestTicket
from .requests import body_chunks, declared_length, parse_json, read_body
from .settings import ServiceSettings

__all__ = ["Upload", "read_uploads", "parse_json_uploads", "MultipartSink", "SPOOL_BYTES"]

#: A file part larger than this goes to a temporary file instead of memory (Starlette's 1 MB).
SPOOL_BYTES = 1 << 20
#: Body bytes gathered before a trip to the parser thread.
_FEED_BYTES = 1 << 20
#: Non-file form fields accepted (and ignored) in one multipart body.
_MAX_FIELDS = 16


@dataclass
class Upload:
    """One uploaded file. Attributes:
    name: the client's file name (``upload`` when it gave none).
    source: what the pipeline decodes: the bytes, or the temporary file holding them.
    size_bytes: the file's size.
    """

    name: str
    source: bytes | Path
    size_bytes: int

    def sha256(self) -> str:
        """The SHA-256 of the file, read in blocks (call it in a worker thread)."""
        if isinstance(self.source, bytes):
            return hashlib.sha256(self.source).hexdigest()
        digest = hashlib.sha256()
        with open(self.source, "rb") as fh:
            while block := fh.read(SPOOL_BYTES):
                digest.update(block)
        return digest.hexdigest()


async def read_uploads(
    request: Request, settings: ServiceSettings, ticket: RequestTicket, max_files: int
) -> list[Upload]:
    """Each uploaded audio file of ``request``, from multipart or a JSON body.

    Raises:
        HTTPException: 413 (too large, too many files), 415 (neither multipart nor JSON), 422
            (malformed body, no file), 408 and 503 from reading the body (:mod:`wavguard.serve.requests`).
        ClientLeft: the client left mid-body.
    """
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        body = await read_body(request, settings, ticket)
        out = await asyncio.to_thread(parse_json_uploads, body)
    elif ctype.startswith("multipart/form-data"):
        out = await _read_multipart(request, settings, ticket, max_files)
    else:
        declared_length(request, settings)  # an oversized body is still a 413
        raise api_error(
            415, "UnsupportedMediaType", "send multipart/form-data with a 'file' field, or JSON with 'audio_base64'"
        )
    if not out:
        raise api_error(422, "InvalidRequest", "no audio file in the request")
    if len(out) > max_files:
        raise api_error(413, "PayloadTooLarge", f"{len(out)} files; at most {max_files} per request")
    for upload in out:
        if upload.size_bytes > settings.max_upload_bytes:
            raise api_error(
                413,
                "PayloadTooLarge",
                f"{upload.name}: {upload.size_bytes} bytes; the limit is {settings.max_upload_bytes}",
            )
    return out


def parse_json_uploads(body: bytes | bytearray) -> list[Upload]:
    """The files of a JSON body; 422 when it is not ``{"audio_base64"}`` or ``{"files": [...]}``, or
    nests too deeply (:func:`~wavguard.serve.requests.parse_json`). CPU-bound on a large body: call
    it in a worker thread."""
    payload = parse_json(body)
    try:
        items = payload.get("files", [payload]) if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise ValueError("expected an object")
        files = [(str(i.get("filename", "upload")), base64.b64decode(i["audio_base64"], validate=True)) for i in items]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise api_error(422, "InvalidRequest", f"JSON body must be {{'audio_base64': <base64>}} ({exc})") from None
    return [Upload(name, data, len(data)) for name, data in files]


async def _read_multipart(
    request: Request, settings: ServiceSettings, ticket: RequestTicket, max_files: int
) -> list[Upload]:
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise api_error(422, "InvalidRequest", "the multipart body cannot be parsed (Missing boundary in multipart.)")
    sink = MultipartSink(boundary, max_files, ticket)
    pending = bytearray()
    try:
        async for chunk in body_chunks(request, settings, ticket):
            pending += chunk
            if len(pending) >= _FEED_BYTES:
                await asyncio.to_thread(sink.write, bytes(pending))
                pending.clear()
        return await asyncio.to_thread(sink.finish, bytes(pending))
    finally:
        sink.close()


class _Part:
    """One file part: in memory up to ``SPOOL_BYTES``, then in a temporary file."""

    def __init__(self, name: str, ticket: RequestTicket):
        self.name, self._ticket = name, ticket
        self._buffer = bytearray()
        self._file = None
        self._path: Path | None = None
        self.size_bytes = 0

    def write(self, data: bytes) -> None:
        self.size_bytes += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._buffer += data
        if len(self._buffer) > SPOOL_BYTES:
            # Keep the file's extension: libsndfile may need it to tell some formats apart.
            suffix = re.sub(r"[^A-Za-z0-9]", "", Path(self.name).suffix)[:8]
            fd, path = tempfile.mkstemp(prefix="wavguard-upload-", suffix=f".{suffix}" if suffix else "")
            self._path = Path(path)
            self._ticket.temporary_files.append(self._path)  # deleted when the request ends, whatever happens
            self._file = os.fdopen(fd, "wb")
            self._file.write(self._buffer)
            self._buffer = bytearray()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def upload(self) -> Upload:
        self.close()
        source = self._path if self._path is not None else bytes(self._buffer)
        return Upload(self.name or "upload", source, self.size_bytes)


class MultipartSink:
    """python-multipart's callbacks: file parts to :class:`_Part`, other fields counted and dropped.

    Its :meth:`write` and :meth:`finish` parse and write files: call them in a worker thread.
    A malformed body is remembered, not raised at once, so the rest of the body is still read
    (and an oversized one still answered 413, as when the body was read first).
    """

    def __init__(self, boundary: bytes, max_files: int, ticket: RequestTicket):
        self.max_files, self._ticket = max_files, ticket
        self.parts: list[_Part] = []
        self.error: str | None = None
        self._fields = 0
        self._current: _Part | None = None
        self._header_name = self._header_value = b""
        self._disposition = b""
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
            },
        )

    def write(self, data: bytes) -> None:
        """Parse the next bytes of the body."""
        if self.error is not None or not data:
            return
        try:
            self._parser.write(data)
        except FormParserError as exc:
            self.error = str(exc) or type(exc).__name__

    def finish(self, data: bytes = b"") -> list[Upload]:
        """Parse the last bytes; the uploads, or 413/422 in the documented shape."""
        self.write(data)
        if self.error is None:
            try:
                self._parser.finalize()
            except FormParserError as exc:
                self.error = str(exc) or type(exc).__name__
        if self.error is not None:
            raise api_error(422, "InvalidRequest", f"the multipart body cannot be parsed ({self.error})")
        return [part.upload() for part in self.parts]

    def close(self) -> None:
        for part in self.parts:
            part.close()

    # -- callbacks (python-multipart calls them from write) --------------------------------
    def _on_part_begin(self) -> None:
        self._current, self._disposition = None, b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise _BadPart('The Content-Disposition header field "name" must be provided.')
        if b"filename" in options:
            if len(self.parts) >= self.max_files:
                raise api_error(
                    413, "PayloadTooLarge", f"more than {self.max_files} files; at most {self.max_files} per request"
                )
            self._current = _Part(_decode(options[b"filename"]), self._ticket)
            self.parts.append(self._current)
        else:
            self._fields += 1
            if self._fields > _MAX_FIELDS:
                raise _BadPart(f"Too many fields. Maximum number of fields is {_MAX_FIELDS}.")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is not None:
            self._current.write(data[start:end])


class _BadPart(FormParserError):
    """A part python-multipart parsed but the service cannot take (no name, too many fields)."""


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
