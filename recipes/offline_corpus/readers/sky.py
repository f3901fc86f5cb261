"""Beneath a Steel Sky (CD talkie): speech files of the ``sky.dnr`` index and ``sky.dsk`` data.

Layout, as read from the Debian package's files (0.0372):

* ``sky.dnr``: little-endian u32 entry count, then 8 bytes per entry: u16 file number, a 24-bit
  offset into ``sky.dsk`` (when its bit 23 is set, the other 23 bits count 16-byte units) and a
  24-bit size (low 22 bits; bit 23 set = a data file without the 22-byte header).
* Speech = file numbers >= 50000 with a header: 22 bytes of header, then either 8-bit unsigned
  PCM at 11,025 Hz, or that PCM compressed with RNC ProPack method 1 (the ``RNC\\x01`` signature right
  after the header). The 203 headerless files numbered >= 50000 are structured binary data, not
  audio, and are left out.

RNC method 1 is decompressed with PyPI ``propack`` (0.3.1, Unlicense, pure Python; it checks both
CRC-16s), which decodes every compressed speech file of the package; no decoder code was written
or ported here. The game names no speaker per file, so every clip has ``speaker="sky:unknown"``
(reliability ``none``) and no text.

Extraction writes ``CACHE/extracted/sky/NNNNN.wav`` (8-bit unsigned PCM, unchanged samples) plus
``clips.json``; it takes a minute or two on two cores (propack is pure Python).
"""

from __future__ import annotations

import os
import struct
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from wavguard._io import atomic_write
from wavguard.errors import ConfigError

from . import Clip, debian, load_index, save_index

__all__ = ["PACKAGES", "SPEECH_MIN", "DnrEntry", "extract", "parse_dnr", "read", "speech_pcm", "unpack_rnc"]

PACKAGES = ("beneath-a-steel-sky",)
GAME_DIR = "usr/share/scummvm/beneath-a-steel-sky"
SPEECH_MIN = 50000
HEADER_BYTES = 22
RATE_HZ = 11025
_NO_HEADER = 1 << 23


@dataclass(frozen=True)
class DnrEntry:
    number: int
    offset: int
    size: int
    has_header: bool


def parse_dnr(data: bytes) -> list[DnrEntry]:
    """Parse ``sky.dnr``; offsets are already in bytes."""
    if len(data) < 4:
        raise ConfigError("sky.dnr: too short")
    (count,) = struct.unpack_from("<I", data)
    if len(data) < 4 + 8 * count:
        raise ConfigError(f"sky.dnr: {count} entries announced, {(len(data) - 4) // 8} present")
    out = []
    for k in range(count):
        raw = data[4 + 8 * k : 12 + 8 * k]
        number = int.from_bytes(raw[0:2], "little")
        offset = int.from_bytes(raw[2:5], "little")
        size = int.from_bytes(raw[5:8], "little")
        if offset & (1 << 23):
            offset = (offset & 0x7FFFFF) << 4
        out.append(DnrEntry(number, offset, size & 0x3FFFFF, not size & _NO_HEADER))
    return out


def unpack_rnc(data: bytes) -> bytes:
    """Decompress an RNC ProPack block (``RNC`` + method byte + header + data), checking both CRCs.

    Raises:
        ValueError: not RNC, or corrupt (CRC or size mismatch).
    """
    import propack

    return propack.unpack(data)


def speech_pcm(blob: bytes) -> bytes:
    """The 8-bit unsigned PCM of one speech file (22-byte header, then raw or RNC-compressed PCM)."""
    if len(blob) <= HEADER_BYTES:
        raise ValueError(f"speech file of {len(blob)} bytes has no samples")
    body = blob[HEADER_BYTES:]
    return unpack_rnc(body) if body[:4] == b"RNC\x01" else body


def _write_one(job: tuple[int, bytes, str]) -> tuple[int, int, str]:
    number, blob, target = job
    try:
        pcm = np.frombuffer(speech_pcm(blob), dtype=np.uint8)
    except ValueError as exc:
        return number, 0, str(exc)
    # int16 (pcm - 128) << 8 makes libsndfile's 16-to-8-bit conversion exact (sample for sample).
    samples = (pcm.astype(np.int16) - 128) << 8
    atomic_write(target, lambda tmp: sf.write(tmp, samples, RATE_HZ, subtype="PCM_U8", format="WAV"))
    return number, int(pcm.size), ""


def extract(dnr: Path, dsk: Path, out_dir: Path, jobs: int | None = None) -> list[Clip]:
    """Decode every speech file to ``out_dir/NNNNN.wav`` (8-bit PCM, 11,025 Hz) and return the clips.

    Files that fail to decompress (CRC error) are left out. ``jobs`` worker processes (default: all cores).
    """
    out_dir = Path(out_dir)
    index = out_dir / "clips.json"
    cached = load_index(index)
    if cached is not None:
        return cached
    entries = [e for e in parse_dnr(Path(dnr).read_bytes()) if e.number >= SPEECH_MIN and e.has_header]
    data = Path(dsk).read_bytes()
    work = [
        (e.number, data[e.offset : e.offset + e.size], str(out_dir / f"{e.number}.wav"))
        for e in sorted(entries, key=lambda e: e.number)
    ]
    jobs = max(1, jobs or os.cpu_count() or 1)
    if jobs == 1 or len(work) < 8:
        results = [_write_one(w) for w in work]
    else:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_write_one, work, chunksize=16))
    clips = [
        Clip(
            f"sky/{number}",
            "beneath-a-steel-sky",
            str(out_dir / f"{number}.wav"),
            "sky:unknown",
            "none",
            "en",
            "pcm8_11k",
            "",
            "",
            RATE_HZ,
            n,
        )
        for number, n, error in results
        if not error and n
    ]
    save_index(index, clips)
    return clips


def read(cache_dir: Path, debs_dir: Path | None = None, jobs: int | None = None) -> list[Clip]:
    """Download/unpack the package into ``cache_dir`` (once), decode the speech files (once), list them."""
    root = debian.fetch(cache_dir, PACKAGES, debs_dir) / GAME_DIR
    return extract(root / "sky.dnr", root / "sky.dsk", Path(cache_dir).expanduser() / "extracted" / "sky", jobs)
