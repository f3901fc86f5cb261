"""KTuberling: single spoken words (~1 s) recorded by volunteers, one folder per language.

Clips: ``ktuberling-data`` ``usr/share/ktuberling/sounds/LANG/*.{ogg,wav,opus}`` (the notes allow
every language of this package). ``sr``, ``sr@latin``, ``sr@ijekavian`` and ``sr@ijekavianlatin``
are the same recordings under four script variants: a file whose bytes were already seen in an
earlier folder (sorted order) is left out. The speaker key is the folder (``ktuberling:de``), most
likely one volunteer per language but not checked. The word's text is not read (the theme files
give an English object key, not what is said), so ``text`` is "".
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from . import Clip, debian
from ._text import audio_info

__all__ = ["PACKAGES", "SOUNDS", "list_clips", "read"]

PACKAGES = ("ktuberling-data",)
SOUNDS = "usr/share/ktuberling/sounds"
_CHANNEL = {".ogg": "words_vorbis", ".opus": "words_opus", ".wav": "words_pcm"}


def list_clips(root: Path) -> list[Clip]:
    """Every distinct word clip under an unpacked root."""
    out = []
    seen: set[str] = set()
    for folder in sorted(p for p in (Path(root) / SOUNDS).iterdir() if p.is_dir()):
        language = folder.name.split("@")[0]
        for path in sorted(p for p in folder.iterdir() if p.suffix in _CHANNEL):
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            rate, frames = audio_info(path)
            out.append(
                Clip(
                    f"ktuberling/{folder.name}/{path.stem}",
                    "ktuberling-data",
                    str(path),
                    f"ktuberling:{folder.name}",
                    "language folder",
                    language,
                    _CHANNEL[path.suffix],
                    "",
                    "",
                    rate,
                    frames,
                )
            )
    return out


def read(cache_dir: Path, debs_dir: Path | None = None) -> list[Clip]:
    """Download/unpack ``ktuberling-data`` into ``cache_dir`` (once) and list its words."""
    return list_clips(debian.fetch(cache_dir, PACKAGES, debs_dir))
