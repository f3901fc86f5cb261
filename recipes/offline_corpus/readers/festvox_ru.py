"""festvox-ru: the Russian male voice talent of the ``msu_ru_nsh`` Festival voice (620 read sentences).

Clips: ``usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav/ru_NNNN.wav`` (16 kHz, studio);
text: ``etc/txt.done.data`` lines ``( ru_0001 "text" )`` with ``+`` stress marks (removed).
"""

from __future__ import annotations

import re
from pathlib import Path

from . import Clip, debian
from ._text import audio_info, clean

__all__ = ["BASE", "PACKAGES", "list_clips", "parse_txt_done_data", "read"]

PACKAGES = ("festvox-ru",)
BASE = "usr/share/festival/voices/russian/msu_ru_nsh_clunits"
SPEAKER = "festvox_ru:msu_ru_nsh"


def parse_txt_done_data(text: str) -> dict[str, str]:
    """Parse a festvox ``txt.done.data``: ``( ru_0001 "text" )`` lines -> ``{id: text}``, ``+`` stress marks removed."""
    out = {}
    for m in re.finditer(r'^\(\s*(\S+)\s+"(.*)"\s*\)\s*$', text, re.MULTILINE):
        out[m.group(1)] = clean(m.group(2).replace("+", ""))
    return out


def list_clips(root: Path) -> list[Clip]:
    """All clips under an unpacked package root (``root/usr/share/festival/...``)."""
    base = Path(root) / BASE
    texts = parse_txt_done_data((base / "etc" / "txt.done.data").read_text(encoding="utf-8"))
    out = []
    for path in sorted((base / "wav").glob("*.wav")):
        rate, frames = audio_info(path)
        out.append(
            Clip(
                f"festvox_ru/{path.stem}",
                "festvox-ru",
                str(path),
                SPEAKER,
                "verified",
                "ru",
                "studio_16k",
                texts.get(path.stem, ""),
                "",
                rate,
                frames,
            )
        )
    return out


def read(cache_dir: Path, debs_dir: Path | None = None) -> list[Clip]:
    """Download/unpack ``festvox-ru`` into ``cache_dir`` (once) and list its clips."""
    return list_clips(debian.fetch(cache_dir, PACKAGES, debs_dir))
