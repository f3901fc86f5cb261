"""Asterisk core sound prompts in en, es, fr and ru (``asterisk-core-sounds-{lang}-wav``).

Clips: ``usr/share/asterisk/sounds/VOICE/[SUBDIR/]PROMPT.wav``, 16-bit PCM at 8 kHz, where
``VOICE`` is ``{lang}_{REGION}_{sex}_{Name}`` (``en_US_f_Allison``; the es prompts are the same
Allison voice, so both share the key ``asterisk:allison``). The ``silence/`` prompts are left out.
Transcripts: ``asterisk-core-sounds-{lang}``'s ``usr/share/doc/asterisk-core-sounds-{lang}/
core-sounds-{lang}.txt.gz``, lines ``PROMPT: text`` (``digits/1: one``) after ``;`` comments.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from . import Clip, debian
from ._text import audio_info, clean

__all__ = ["LANGUAGES", "list_clips", "packages", "parse_transcripts", "read"]

LANGUAGES = ("en", "es", "fr", "ru")
SOUNDS = "usr/share/asterisk/sounds"
_VOICE = re.compile(r"^([a-z]{2})_[A-Z]{2}_[fm]_(\w+)$")


def packages(language: str) -> tuple[str, str]:
    return f"asterisk-core-sounds-{language}-wav", f"asterisk-core-sounds-{language}"


def parse_transcripts(text: str) -> dict[str, str]:
    """``PROMPT: text`` lines -> ``{prompt: text}`` (``;`` comments and blank lines skipped)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(";") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        if key.strip() and " " not in key.strip():
            out[key.strip()] = clean(value)
    return out


def list_clips(root: Path, language: str) -> list[Clip]:
    """The prompts of one language under an unpacked root (``-wav`` package and transcript package)."""
    if language not in LANGUAGES:
        raise ValueError(f"asterisk: language must be one of {LANGUAGES}, not {language!r}")
    root = Path(root)
    doc = root / "usr/share/doc" / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
    texts = parse_transcripts(gzip.decompress(doc.read_bytes()).decode("utf-8", "replace")) if doc.is_file() else {}
    out = []
    for voice in sorted((root / SOUNDS).iterdir()):
        m = _VOICE.match(voice.name)
        if not (voice.is_dir() and m and m.group(1) == language):
            continue
        speaker = f"asterisk:{m.group(2).lower()}"
        for path in sorted(voice.rglob("*.wav")):
            prompt = path.relative_to(voice).with_suffix("").as_posix()
            if prompt.startswith("silence/"):
                continue
            rate, frames = audio_info(path)
            out.append(
                Clip(
                    f"asterisk_{language}/{prompt}",
                    f"asterisk-core-sounds-{language}-wav",
                    str(path),
                    speaker,
                    "voice",
                    language,
                    "telephone_8k",
                    texts.get(prompt, ""),
                    texts.get(prompt, "") if language == "en" else "",
                    rate,
                    frames,
                )
            )
    return out


def read(cache_dir: Path, debs_dir: Path | None = None, languages: tuple[str, ...] = LANGUAGES) -> list[Clip]:
    """Download/unpack the packages into ``cache_dir`` (once) and list the prompts of ``languages``."""
    out = []
    for language in languages:
        out += list_clips(debian.fetch(cache_dir, packages(language), debs_dir), language)
    return sorted(out, key=lambda c: c.clip_id)
