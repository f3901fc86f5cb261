"""Make one clip of the plan: generate (or decode) its audio, post-process it, write it atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from wavguard._io import atomic_write
from wavguard.audio.decode import load_audio, resample

from .channel import match_spectrum
from .families import FAMILIES, CopyFamily, TtsFamily, family
from .postprocess import ChainConfig, SkipClip, process, speech_seconds
from .source_channel import apply_source_channel, band_limit
from .spec import ClipSpec

__all__ = ["generate_audio", "make_clip"]

_MAX_RERENDERS = 3
_DURATION_TOLERANCE = 0.06
#: Second key of the source-channel generator's seed, so its draws are independent of the chain's.
_CHANNEL_STREAM = 0x5C


def _speak_matched(spec: ClipSpec, tts: TtsFamily, trim_top_db: float) -> tuple[np.ndarray, int]:
    """TTS whose speech lasts ``params["duration_ratio"]`` times the source clip's speech.

    Renders at the engine's own rate, then up to three more times with the durations scaled by
    the remaining ratio (limited to the family's ``stretch_limits``) until within 6 %; then, when
    ``params["channel_match"]`` is positive, filters it towards the source clip's long-term spectrum
    (:func:`channel.match_spectrum`); then, when ``spec.channel`` is set, puts it through the source's
    channel (:func:`source_channel.apply_source_channel`: its rate and band, quantisation, codec).
    """
    audio, rate = tts.speak(spec, 1.0)
    if not spec.source_path:
        return audio, rate
    real, real_rate = load_audio(spec.source_path)
    target = speech_seconds(real, real_rate, trim_top_db) * float(spec.params.get("duration_ratio", 1.0))
    stretch, got = 1.0, speech_seconds(audio, rate, trim_top_db)
    for _ in range(_MAX_RERENDERS):  # pauses and phrase-final lengthening do not scale linearly
        if got <= 0 or abs(target / got - 1.0) <= _DURATION_TOLERANCE:
            break
        new = float(np.clip(stretch * target / got, *tts.stretch_limits))
        if new == stretch:
            break
        stretch = new
        audio, rate = tts.speak(spec, stretch)
        got = speech_seconds(audio, rate, trim_top_db)
    strength = float(spec.params.get("channel_match", 0.0))
    if strength > 0:
        audio = match_spectrum(resample(audio, rate, real_rate), real, real_rate, strength)
        rate = real_rate
    if spec.channel:
        audio, rate = apply_source_channel(
            audio, rate, spec.channel, np.random.default_rng((spec.seed, _CHANNEL_STREAM))
        )
    return audio, rate


def generate_audio(spec: ClipSpec, analysis_rate_hz: int = 16000, trim_top_db: float = 35.0) -> tuple[np.ndarray, int]:
    """The raw audio of one clip before post-processing.

    Real clips are decoded; copy-synthesis decodes the real clip at ``analysis_rate_hz`` and
    vocodes it (:func:`make_clip` then limits it to the source channel's band); TTS engines speak
    ``spec.text`` at a rate matched to the source clip, then go through the source's channel.

    Returns:
        (float32 samples, shape (time,), rate_hz).
    """
    if spec.family == "bonafide":
        return load_audio(spec.source_path)
    generator = family(spec.family)
    if isinstance(generator, CopyFamily):
        return generator.make(spec.source_path, spec.variant, spec.seed, analysis_rate_hz)
    return _speak_matched(spec, generator, trim_top_db)


def make_clip(spec: ClipSpec, chain: ChainConfig, out_dir: str) -> dict:
    """Make ``spec``'s file under ``out_dir`` (atomic write) and return its progress record.

    Returns:
        ``{"clip_id", "status": "done", "duration_seconds", "choices"}`` or
        ``{"clip_id", "status": "skipped", "reason"}``. Generator failures are reported as skipped
        (with the error) rather than stopping the build; the balance check catches too many.
    """
    from threadpoolctl import threadpool_limits

    try:
        # one BLAS/OpenMP thread: multi-threaded reductions (Griffin-Lim's mel inversion) would
        # make a clip's bytes depend on the thread count, and resumed builds must be identical
        with threadpool_limits(limits=1):
            samples, rate = generate_audio(spec, chain.sample_rate_hz, chain.trim_top_db)
            if (
                isinstance(FAMILIES.get(spec.family), CopyFamily) and spec.channel
            ):  # a vocoder can leak above its input's band
                samples, rate = band_limit(samples, rate, spec.channel)
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
    return {
        "clip_id": spec.clip_id,
        "status": "done",
        "duration_seconds": round(len(pcm) / chain.sample_rate_hz, 4),
        "choices": choices,
    }
