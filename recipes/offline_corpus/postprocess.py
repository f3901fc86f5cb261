"""The one post-processing chain every clip goes through, real and fake alike.

decode (done by the caller) -> mono 16 kHz -> silence trim -> random edge padding -> random
reverb -> random background noise -> level normalisation -> random codec (Ogg Vorbis / MP3 / none)
-> peak limit -> dither -> 16-bit PCM. Every random choice comes from the clip's own seeded
generator and is drawn from the same distribution for both classes, so the chain carries no
label information. Clips that are too short or silent after trimming raise :class:`SkipClip`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from wavguard.audio import resample

__all__ = ["ChainConfig", "SkipClip", "process", "zero_run_max"]


class SkipClip(Exception):
    """A clip left out of the corpus (too short, silent); the message says why."""


@dataclass(frozen=True)
class ChainConfig:
    """Settings of the post-processing chain (units in the names; probabilities in [0, 1])."""

    sample_rate_hz: int = 16000
    trim_top_db: float = 35.0
    pad_seconds: tuple[float, float] = (0.05, 0.35)
    min_seconds: float = 1.0
    max_seconds: float = 20.0
    silent_rms_dbfs: float = -55.0
    reverb_probability: float = 0.3
    reverb_rt60_seconds: tuple[float, float] = (0.15, 0.6)
    reverb_wet: tuple[float, float] = (0.1, 0.4)
    noise_probability: float = 0.5
    noise_snr_db: tuple[float, float] = (20.0, 45.0)
    target_rms_dbfs: tuple[float, float] = (-26.0, -18.0)
    peak_limit: float = 0.95
    codecs: dict = field(default_factory=lambda: {"none": 0.4, "vorbis": 0.3, "mp3": 0.3})
    codec_quality: tuple[float, float] = (0.2, 0.8)
    dither_dbfs: float = -66.0

    @classmethod
    def from_dict(cls, values: dict) -> "ChainConfig":
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items()}
        return cls(**known)


def _rms_dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20))


def _trim(x: np.ndarray, top_db: float) -> np.ndarray:
    import librosa

    _, (start, end) = librosa.effects.trim(x, top_db=top_db, frame_length=512, hop_length=128)
    return x[start:end]


def _reverb(x: np.ndarray, rate_hz: int, rt60_seconds: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response: exponentially decaying noise with the given RT60."""
    from scipy.signal import fftconvolve

    n = int(rt60_seconds * rate_hz)
    t = np.arange(n) / rate_hz
    ir = rng.standard_normal(n) * np.exp(-6.91 * t / rt60_seconds)  # -60 dB at rt60
    ir[0] = 0.0
    ir /= np.sqrt(np.sum(ir**2)) + 1e-12
    tail = fftconvolve(x, ir)[: len(x)]
    dry = np.sqrt(np.mean(x**2)) + 1e-12
    tail *= dry / (np.sqrt(np.mean(tail**2)) + 1e-12)
    return ((1 - wet) * x + wet * tail).astype(np.float32)


def _codec(x: np.ndarray, rate_hz: int, codec: str, quality: float) -> np.ndarray:
    """Encode and decode in memory with libsndfile (Ogg Vorbis or MP3); ``quality`` in [0, 1]."""
    if codec == "none":
        return x
    fmt, subtype = {"vorbis": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}[codec]
    buf = io.BytesIO()
    # libsndfile's compression level: 0 = best quality, 1 = smallest file
    sf.write(buf, np.clip(x, -1, 1), rate_hz, format=fmt, subtype=subtype, compression_level=1.0 - quality)
    buf.seek(0)
    y, _ = sf.read(buf, dtype="float32")
    y = y[: len(x)]
    if len(y) < len(x):
        y = np.pad(y, (0, len(x) - len(y)))
    return y


def process(samples: np.ndarray, rate_hz: int, config: ChainConfig, seed: int) -> tuple[np.ndarray, dict]:
    """Run the chain on one decoded clip.

    Args:
        samples: float32 mono, shape (time,), at ``rate_hz``.
        rate_hz: its sample rate.
        config: chain settings.
        seed: the clip's seed; all random choices derive from it.

    Returns:
        (int16 samples at ``config.sample_rate_hz``, shape (time',), the choices made as a dict).

    Raises:
        SkipClip: shorter than ``min_seconds`` after trimming, or quieter than ``silent_rms_dbfs``.
    """
    rng = np.random.default_rng(seed)
    sr = config.sample_rate_hz
    x = resample(np.ascontiguousarray(samples, dtype=np.float32), rate_hz, sr)
    if x.size == 0 or not np.any(x):
        raise SkipClip("empty or all-zero audio")
    x = x / (np.max(np.abs(x)) + 1e-12)
    x = _trim(x, config.trim_top_db)
    seconds = len(x) / sr
    if seconds < config.min_seconds:
        raise SkipClip(f"{seconds:.2f} s of speech after trimming (< {config.min_seconds} s)")
    if _rms_dbfs(x) < config.silent_rms_dbfs:
        raise SkipClip(f"RMS {_rms_dbfs(x):.1f} dBFS after trimming (< {config.silent_rms_dbfs})")
    x = x[: int(config.max_seconds * sr)]
    lead, trail = (int(rng.uniform(*config.pad_seconds) * sr) for _ in range(2))
    x = np.concatenate([np.zeros(lead, np.float32), x, np.zeros(trail, np.float32)])
    choices: dict = {"pad_seconds": [round(lead / sr, 3), round(trail / sr, 3)]}
    if rng.random() < config.reverb_probability:
        rt60, wet = rng.uniform(*config.reverb_rt60_seconds), rng.uniform(*config.reverb_wet)
        x = _reverb(x, sr, rt60, wet, rng)
        choices["reverb"] = [round(rt60, 3), round(wet, 3)]
    if rng.random() < config.noise_probability:
        snr_db = rng.uniform(*config.noise_snr_db)
        noise = rng.standard_normal(len(x)).astype(np.float32)
        x = x + noise * np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10))
        choices["noise_snr_db"] = round(snr_db, 2)
    target = rng.uniform(*config.target_rms_dbfs)
    x = x * 10 ** ((target - _rms_dbfs(x)) / 20)
    names = sorted(config.codecs)
    weights = np.asarray([config.codecs[n] for n in names], dtype=np.float64)
    codec = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    quality = float(rng.uniform(*config.codec_quality))
    peak = np.max(np.abs(x))
    if peak > config.peak_limit:
        x = x * (config.peak_limit / peak)
    x = _codec(x.astype(np.float32), sr, codec, quality)
    peak = np.max(np.abs(x))
    if peak > config.peak_limit:
        x = x * (config.peak_limit / peak)
    choices.update(codec=codec, codec_quality=round(quality, 3), rms_dbfs=round(target, 2))
    x = x + rng.standard_normal(len(x)).astype(np.float32) * 10 ** (config.dither_dbfs / 20)
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    return pcm, choices


def zero_run_max(pcm: np.ndarray) -> int:
    """Length in samples of the longest run of exact zeros in ``pcm`` (shape (time,))."""
    zero = np.concatenate([[0], (np.asarray(pcm) == 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(zero))
    return int(np.max(edges[1::2] - edges[::2])) if edges.size else 0
