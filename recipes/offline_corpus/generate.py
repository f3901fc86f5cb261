"""Make one clip of the plan: generate (or decode) its audio, post-process it, write it atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from wavguard._io import atomic_write
from wavguard.audio import load_audio

from . import engines, vocoders
from .plan import ClipSpec
from .postprocess import ChainConfig, SkipClip, process

__all__ = ["generate_audio", "make_clip"]

_PIPER = None


def _piper():
    """One Piper session per process (building it takes seconds)."""
    global _PIPER
    if _PIPER is None:
        from .piper_engine import PiperSynth

        _PIPER = PiperSynth()
    return _PIPER


def generate_audio(spec: ClipSpec, analysis_rate_hz: int = 16000) -> tuple[np.ndarray, int]:
    """The raw audio of one clip before post-processing.

    Real clips are decoded; copy-synthesis decodes the real clip at ``analysis_rate_hz`` and
    vocodes it; TTS engines speak ``spec.text``.

    Returns:
        (float32 samples, shape (time,), rate_hz).
    """
    if spec.family == "bonafide":
        return load_audio(spec.source_path)
    if spec.family == "griffinlim":
        x, sr = load_audio(spec.source_path, analysis_rate_hz)
        return vocoders.griffinlim(x, sr, vocoders.GRIFFINLIM_VARIANTS[spec.variant], spec.seed), sr
    if spec.family == "world":
        x, sr = load_audio(spec.source_path, analysis_rate_hz)
        return vocoders.world(x, sr, vocoders.WORLD_VARIANTS[spec.variant]), sr
    if spec.family == "espeak-ng":
        return engines.synthesize_espeak(spec.text, spec.variant, spec.params["speed_wpm"], spec.params["pitch"])
    if spec.family == "festival":
        return engines.synthesize_festival(spec.text, spec.variant)
    if spec.family == "flite":
        return engines.synthesize_flite(spec.text, spec.variant)
    if spec.family == "piper":
        return _piper().synthesize(spec.text, spec.language, spec.seed, **spec.params)
    raise ValueError(f"{spec.clip_id}: unknown family {spec.family!r}")


def make_clip(spec: ClipSpec, chain: ChainConfig, out_dir: str) -> dict:
    """Make ``spec``'s file under ``out_dir`` (atomic write) and return its progress record.

    Returns:
        ``{"clip_id", "status": "done", "duration_seconds", "choices"}`` or
        ``{"clip_id", "status": "skipped", "reason"}``. Generator failures are reported as skipped
        (with the error) rather than stopping the build; the balance check catches too many.
    """
    try:
        samples, rate = generate_audio(spec, chain.sample_rate_hz)
        pcm, choices = process(samples, rate, chain, spec.seed)
    except SkipClip as exc:
        return {"clip_id": spec.clip_id, "status": "skipped", "reason": str(exc)}
    except (RuntimeError, ValueError, OSError) as exc:
        return {"clip_id": spec.clip_id, "status": "skipped", "reason": f"{type(exc).__name__}: {exc}"}
    target = Path(out_dir) / spec.rel_path

    def _write(tmp: str) -> None:
        sf.write(tmp, pcm, chain.sample_rate_hz, format="WAV", subtype="PCM_16")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())

    atomic_write(target, _write)
    return {"clip_id": spec.clip_id, "status": "done",
            "duration_seconds": round(len(pcm) / chain.sample_rate_hz, 4), "choices": choices}
