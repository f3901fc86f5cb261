"""Small text helpers shared by the readers."""

from __future__ import annotations

import re
from pathlib import Path

import soundfile as sf

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "…": "..."})


def clean(text: str) -> str:
    """One line of plain text: typographic quotes and dashes to ASCII, no ``\\n`` escapes, single spaces."""
    text = text.translate(_QUOTES).replace("\\n", " ")
    return re.sub(r"\s+", " ", text).strip()


def audio_info(path: Path) -> tuple[int, int]:
    """``(sample_rate_hz, num_samples)`` of a file soundfile reads, from its header."""
    info = sf.info(str(path))
    return int(info.samplerate), int(info.frames)
