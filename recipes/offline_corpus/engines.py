"""Text-to-speech engines run as subprocesses: espeak-ng, Festival diphone voices, Flite.

Each ``synthesize_*`` function writes a wav into a temporary folder and returns it decoded with
:func:`wavguard.audio.decode.load_audio` at its native rate, so every engine goes through the same
decoder as the real clips. Piper lives in :mod:`recipes.offline_corpus.piper_engine`; what each
family needs installed is checked by :func:`recipes.offline_corpus.families.missing_engines`.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from wavguard.audio.decode import load_audio
from wavguard.errors import ConfigError

__all__ = [
    "ENGINE_BINARIES",
    "FESTIVAL_VOICES",
    "synthesize_espeak",
    "synthesize_festival",
    "synthesize_flite",
    "festival_text",
]

#: Binary each subprocess engine needs, and the Debian package that ships it.
ENGINE_BINARIES = {
    "espeak-ng": ("espeak-ng", "espeak-ng"),
    "festival": ("text2wave", "festival"),
    "flite": ("flite", "flite"),
}

#: Festival voice -> (language, Debian package, text encoding).
FESTIVAL_VOICES = {
    "czech_dita": ("cs", "festvox-czech-dita", "iso-8859-2"),
    "czech_machac": ("cs", "festvox-czech-machac", "iso-8859-2"),
    "kal_diphone": ("en", "festvox-kallpc16k", "latin-1"),
    "ked_diphone": ("en", "festvox-kdlpc16k", "latin-1"),
}

_TIMEOUT_SECONDS = 120


def _run(cmd: list[str], what: str, stdin: bytes | None = None) -> None:
    try:
        result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=_TIMEOUT_SECONDS)
    except FileNotFoundError:
        raise ConfigError(f"{cmd[0]} is not installed; see recipes/offline_corpus/install.sh") from None
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {result.returncode}): {result.stderr.decode(errors='replace')[-300:]}")


def _read(path: Path, what: str) -> tuple[np.ndarray, int]:
    if not path.exists() or path.stat().st_size <= 44:
        raise RuntimeError(f"{what} produced no audio")
    return load_audio(path)


def synthesize_espeak(text: str, voice: str, speed_wpm: int, pitch: int) -> tuple[np.ndarray, int]:
    """espeak-ng (formant synthesis). ``voice`` like ``cs`` or ``nl+f2``; returns (samples, rate_hz)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        _run(
            ["espeak-ng", "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "-w", str(out), "--", text],
            f"espeak-ng -v {voice}",
        )
        return _read(out, f"espeak-ng -v {voice}")


def festival_text(text: str, voice: str) -> bytes:
    """Text encoded as the Festival voice expects (Czech voices read ISO-8859-2, not UTF-8)."""
    encoding = FESTIVAL_VOICES[voice][2]
    return text.encode(encoding, errors="ignore")


def synthesize_festival(text: str, voice: str, stretch: float = 1.0) -> tuple[np.ndarray, int]:
    """Festival ``text2wave`` with a diphone voice of :data:`FESTIVAL_VOICES`; returns (samples, rate_hz).

    ``stretch`` multiplies every segment's duration (Festival's ``Duration_Stretch``).
    """
    if voice not in FESTIVAL_VOICES:
        raise ConfigError(f"unknown Festival voice {voice!r}; choose from {sorted(FESTIVAL_VOICES)}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        _run(
            [
                "text2wave",
                "-eval",
                f"(voice_{voice})",
                "-eval",
                f"(Parameter.set 'Duration_Stretch {stretch:.4f})",
                "-o",
                str(out),
            ],
            f"festival {voice}",
            stdin=festival_text(text, voice),
        )
        return _read(out, f"festival {voice}")


def synthesize_flite(text: str, voice: str, stretch: float = 1.0) -> tuple[np.ndarray, int]:
    """Flite (English only): voices ``awb``, ``rms``, ``kal16`` (the ones offline-data.md allows); returns (samples, rate_hz).

    ``stretch`` multiplies durations (Flite's ``duration_stretch`` feature).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        _run(
            ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.4f}", "-t", text, "-o", str(out)],
            f"flite -voice {voice}",
        )
        return _read(out, f"flite -voice {voice}")
