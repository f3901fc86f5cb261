"""Flight of the Amazon Queen (CD talkie): speech slices of the ``queen.1c`` resource table.

``usr/share/scummvm/flight-of-the-amazon-queen/queen.1c`` starts with a table: magic ``QTBL``, a
6-byte version (``CEM10\\0``), 2 bytes, 1 compression byte (1 = MP3), a big-endian u16 entry count,
then per entry a 12-byte NUL-padded name, 1 bundle byte and big-endian u32 offset and size (offsets
are from the start of the same file). ``*.SB`` entries are speech: MPEG-2.5 Layer III, 11,025 Hz mono,
about 16 kb/s. libsndfile (through soundfile, 1.2.2 here) decodes them, so no ffmpeg is needed.

The 7th character of a speech name is a speaker code (``J`` = Joe, the hero; ``P``, digits and a
few letters for the others). It is a key, not a verified identity: the same code may be a different
actor in another room. The game's text is not read, so ``text`` is "".

Extraction writes each slice unchanged as ``CACHE/extracted/queen/NAME.mp3`` plus ``clips.json``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from wavguard._io import atomic_write
from wavguard.errors import ConfigError

from . import Clip, debian, load_index, save_index

__all__ = ["GAME_FILE", "PACKAGES", "TableEntry", "extract", "parse_table", "read"]

PACKAGES = ("flight-of-the-amazon-queen",)
GAME_FILE = "usr/share/scummvm/flight-of-the-amazon-queen/queen.1c"
_HEAD = struct.Struct(">4s6s2sBH")  # magic, version, 2 bytes, compression, entry count
_ENTRY = struct.Struct(">12sBII")  # name, bundle, offset, size


@dataclass(frozen=True)
class TableEntry:
    name: str
    bundle: int
    offset: int
    size: int


def parse_table(data: bytes) -> tuple[int, list[TableEntry]]:
    """Parse the resource table at the start of a ``queen.1c``: ``(compression, entries)``.

    Raises:
        ConfigError: not a ``QTBL`` table, or an entry points past the end of ``data``.
    """
    if len(data) < _HEAD.size or data[:4] != b"QTBL":
        raise ConfigError("queen.1c: no QTBL table at the start of the file")
    _, _, _, compression, count = _HEAD.unpack_from(data)
    entries = []
    for k in range(count):
        pos = _HEAD.size + k * _ENTRY.size
        if pos + _ENTRY.size > len(data):
            raise ConfigError(f"queen.1c: table truncated at entry {k} of {count}")
        name, bundle, offset, size = _ENTRY.unpack_from(data, pos)
        entry = TableEntry(name.rstrip(b"\0").decode("ascii", "replace"), bundle, offset, size)
        if offset + size > len(data):
            raise ConfigError(f"queen.1c: {entry.name} ends at {offset + size}, past the file ({len(data)} bytes)")
        entries.append(entry)
    return compression, entries


def speaker_code(name: str) -> str:
    """The speaker code of a speech entry name (``020006J1.SB`` -> ``J``)."""
    return name[6] if len(name) > 7 else "?"


def extract(game_file: Path, out_dir: Path) -> list[Clip]:
    """Write every ``*.SB`` slice of ``game_file`` to ``out_dir`` as ``.mp3`` and return the clips.

    Each slice is decoded once (soundfile) to count its samples; an index ``out_dir/clips.json``
    makes later calls free. Slices soundfile cannot decode are left out (logged in the index count).
    """
    index = Path(out_dir) / "clips.json"
    cached = load_index(index)
    if cached is not None:
        return cached
    data = Path(game_file).read_bytes()
    compression, entries = parse_table(data)
    if compression != 1:
        raise ConfigError(f"{game_file}: compression byte {compression}; only 1 (MP3) is supported")
    clips = []
    for entry in sorted(entries, key=lambda e: e.name):
        if not entry.name.upper().endswith(".SB"):
            continue
        blob = data[entry.offset : entry.offset + entry.size]
        target = Path(out_dir) / (entry.name[:-3] + ".mp3")
        atomic_write(target, lambda tmp, b=blob: Path(tmp).write_bytes(b))
        try:
            samples, rate = sf.read(str(target), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError):  # a slice libsndfile rejects: skip it, do not fail the source
            target.unlink()
            continue
        code = speaker_code(entry.name)
        clips.append(
            Clip(
                f"queen/{entry.name[:-3]}",
                "flight-of-the-amazon-queen",
                str(target),
                f"queen:{code}",
                "game code",
                "en",
                "mp3_16kbps_11k",
                "",
                "",
                int(rate),
                int(samples.shape[0]),
            )
        )
    save_index(index, clips)
    return clips


def read(cache_dir: Path, debs_dir: Path | None = None) -> list[Clip]:
    """Download/unpack the package into ``cache_dir`` (once), extract the speech slices (once), list them."""
    root = debian.fetch(cache_dir, PACKAGES, debs_dir)
    return extract(root / GAME_FILE, Path(cache_dir).expanduser() / "extracted" / "queen")
