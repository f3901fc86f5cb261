"""Cut-off files: the length a container's header declares against the bytes that are there.

libsndfile trusts the bytes over the header: a WAV, AIFF, AU, W64, RF64 or NIST file cut short
decodes without a word to whatever length is left (its frame count is capped to the file), and an
Ogg stream cut at a page boundary ends early. :func:`check_container` runs before libsndfile opens
a file and raises :class:`~wavguard.errors.AudioDecodeError` naming the file instead.
"""

from __future__ import annotations

import io
import os
import re
import struct

from ..errors import AudioDecodeError

__all__ = ["check_container"]

#: Bytes of a file's start read to find its declared length (a NIST header is 1,024 bytes).
_HEADER_BYTES = 4096
#: Formats whose chunks are padded to an even size: one byte short is a missing pad, not lost audio.
_EVEN_PADDED = ("WAV", "RF64", "AIFF")
_W64_RIFF = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"


def check_container(source: object, name: str) -> None:
    """Raise AudioDecodeError for a cut-off file: the length a WAV, RF64, W64, AIFF, AU or NIST
    header declares is compared with the file's size, and Ogg pages are walked. ``source`` is a
    path, bytes, or a file object (checked when it can seek, and left where it was)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            header = fh.read(_HEADER_BYTES)
            actual = os.fstat(fh.fileno()).st_size
            if header[:4] == b"OggS":
                _check_ogg_pages(fh, actual, name)
    elif isinstance(source, (bytes, bytearray)):
        header, actual = bytes(source[:_HEADER_BYTES]), len(source)
        if header[:4] == b"OggS":
            _check_ogg_pages(io.BytesIO(source), actual, name)
    elif _seekable(source):
        start = source.tell()
        try:
            header = source.read(_HEADER_BYTES)
            actual = source.seek(0, io.SEEK_END) - start
            if isinstance(header, bytes) and header[:4] == b"OggS":
                _check_ogg_pages(source, actual, name, start)
        finally:
            source.seek(start)
        if not isinstance(header, bytes):
            return
    else:
        return
    declared = _declared_bytes(header)
    # RIFF and AIFF pad an odd-sized chunk to an even size; some writers leave the last pad byte out
    if declared is not None and actual < declared[1] - (declared[0] in _EVEN_PADDED):
        kind, size = declared
        raise AudioDecodeError(
            name,
            f"the {kind} file is truncated: its header declares {size} bytes but it holds {actual}; re-export or re-download it",
        )


def _seekable(source: object) -> bool:
    try:
        return bool(source.seekable())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def _declared_bytes(header: bytes) -> tuple[str, int] | None:
    """(format, the file size its header declares), or ``None`` when it declares none (a size field
    of 0 or all ones: written by a streaming encoder) or is not one of these containers."""

    def unknown(value: int, bits: int) -> bool:
        return value == 0 or value == (1 << bits) - 1

    if len(header) >= 12 and header[:4] in (b"RIFF", b"RIFX") and header[8:12] == b"WAVE":
        size = struct.unpack("<I" if header[:4] == b"RIFF" else ">I", header[4:8])[0]
        return None if unknown(size, 32) else ("WAV", size + 8)
    if len(header) >= 28 and header[:4] in (b"RF64", b"BW64") and header[8:16] == b"WAVEds64":
        size = struct.unpack("<Q", header[20:28])[0]  # ds64: the 64-bit RIFF size
        return None if unknown(size, 64) else ("RF64", size + 8)
    if len(header) >= 24 and header[:16] == _W64_RIFF:
        size = struct.unpack("<Q", header[16:24])[0]  # the whole file, header included
        return None if unknown(size, 64) else ("W64", size)
    if len(header) >= 12 and header[:4] == b"FORM" and header[8:12] in (b"AIFF", b"AIFC"):
        size = struct.unpack(">I", header[4:8])[0]
        return None if unknown(size, 32) else ("AIFF", size + 8)
    if len(header) >= 12 and header[:4] in (b".snd", b"dns."):
        offset, size = struct.unpack(">II" if header[:4] == b".snd" else "<II", header[4:12])
        return None if unknown(size, 32) else ("AU", offset + size)
    if header[:8] == b"NIST_1A\n":
        return _nist_declared_bytes(header)
    return None


def _nist_declared_bytes(header: bytes) -> tuple[str, int] | None:
    """A NIST SPHERE header: its size (line 2) + sample_count x channel_count x sample_n_bytes."""
    text = header.decode("latin-1")
    lines = text.split("\n")
    fields = dict(re.findall(r"^(\w+) -i (\d+)\s*$", text, flags=re.MULTILINE))
    try:
        header_bytes, count, width = int(lines[1]), int(fields["sample_count"]), int(fields["sample_n_bytes"])
    except (IndexError, KeyError, ValueError):
        return None
    return "NIST", header_bytes + count * int(fields.get("channel_count", 1)) * width


def _check_ogg_pages(fh: io.IOBase, size: int, name: str, start: int = 0) -> None:
    """Walk the Ogg page headers (27 bytes + segment table each; seeks, no decoding): every page
    must be complete and the last one must end its stream (the end-of-stream flag). ``size``
    counts from ``start``, where the file begins in ``fh``."""
    offset, ended = 0, False
    while offset < size:
        fh.seek(start + offset)
        header = fh.read(27)
        table = fh.read(header[26]) if len(header) == 27 else b""
        if (
            len(header) < 27
            or header[:4] != b"OggS"
            or len(table) < header[26]
            or offset + 27 + len(table) + sum(table) > size
        ):
            raise AudioDecodeError(
                name, f"the Ogg file is truncated or corrupt at byte {offset} of {size}; re-export or re-download it"
            )
        ended = bool(header[5] & 0x04)  # end of stream
        offset += 27 + len(table) + sum(table)
    if not ended:
        raise AudioDecodeError(
            name,
            f"the Ogg file is truncated: its last page (of {size} bytes) does not end the stream; re-export or re-download it",
        )
