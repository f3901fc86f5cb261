"""The one post-processing chain every clip goes through, real and fake alike.

decode (done by the caller) -> mono 16 kHz -> silence trim -> random edge padding -> random
reverb -> random background noise -> random equalisation (low-pass, high shelf) -> level
normalisation (RMS) -> limiter (peaks at a random crest factor above the RMS) -> random codec
(Ogg Vorbis / MP3 / none) -> peak guard -> dither -> 16-bit PCM. Every random choice comes from the clip's own seeded
generator and is drawn from the same distribution for both classes, so the chain carries no
label information. The equaliser and limiter widen the spread of bandwidth and crest factor in
both classes alike, so that neither separates them. Clips that are too short or silent after
trimming raise :class:`SkipClip`. Filters and limiter are audiomentations transforms, run with
parameters drawn from the clip's generator.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from wavguard.audio.decode import resample

__all__ = ["ChainConfig", "SkipClip", "process", "speech_seconds", "zero_run_max"]


class SkipClip(Exception):
    """A clip left out of the corpus (too short, silent); the message says why."""


@dataclass(frozen=True)
class ChainConfig:
    """Settings of the post-processing chain (units in the names; probabilities in [0, 1])."""

    sample_rate_hz: int = 16000
    trim_top_db: float = 35.0
    pad_seconds: tuple[float, float] = (0.05, 0.35)
    min_seconds: float = 0.6
    max_seconds: float = 20.0
    silent_rms_dbfs: float = -55.0
    reverb_probability: float = 0.3
    reverb_rt60_seconds: tuple[float, float] = (0.15, 0.6)
    reverb_wet: tuple[float, float] = (0.1, 0.4)
    noise_probability: float = 0.5
    noise_snr_db: tuple[float, float] = (20.0, 45.0)
    lowpass_probability: float = 0.4
    lowpass_cutoff_hz: tuple[float, float] = (3500.0, 7500.0)
    shelf_probability: float = 0.5
    shelf_center_hz: tuple[float, float] = (1500.0, 4000.0)
    shelf_gain_db: tuple[float, float] = (-8.0, 6.0)
    limiter_crest_db: tuple[float, float] = (6.0, 12.0)
    limiter_attack_seconds: tuple[float, float] = (0.001, 0.005)
    limiter_release_seconds: tuple[float, float] = (0.05, 0.2)
    target_rms_dbfs: tuple[float, float] = (-26.0, -18.0)
    peak_limit: float = 0.95
    codecs: dict = field(default_factory=lambda: {"none": 0.4, "vorbis": 0.3, "mp3": 0.3})
    codec_quality: tuple[float, float] = (0.2, 0.8)
    dither_dbfs: float = -62.0

    @classmethod
    def from_dict(cls, values: dict) -> ChainConfig:
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items()}
        return cls(**known)


def _rms_dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20))


def _trim(x: np.ndarray, top_db: float) -> np.ndarray:
    import librosa

    _, (start, end) = librosa.effects.trim(x, top_db=top_db, frame_length=512, hop_length=128)
    return x[start:end]


def speech_seconds(samples: np.ndarray, rate_hz: int, top_db: float = 35.0) -> float:
    """Duration in seconds of ``samples`` (shape (time,)) after the chain's silence trim."""
    if samples.size == 0 or not np.any(samples):
        return 0.0
    return len(_trim(samples / np.max(np.abs(samples)), top_db)) / rate_hz


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


def _equalise(x: np.ndarray, rate_hz: int, config: ChainConfig, rng: np.random.Generator, choices: dict) -> np.ndarray:
    """Random low-pass and high-shelf filters (audiomentations, fixed parameters from ``rng``)."""
    from audiomentations import HighShelfFilter, LowPassFilter

    if rng.random() < config.lowpass_probability:
        cutoff, order = float(rng.uniform(*config.lowpass_cutoff_hz)), int(rng.choice([12, 24]))
        x = LowPassFilter(
            min_cutoff_freq=cutoff,
            max_cutoff_freq=cutoff,
            min_rolloff=order,
            max_rolloff=order,
            zero_phase=False,
            p=1.0,
        )(x, rate_hz)
        choices["lowpass"] = [round(cutoff), order]
    if rng.random() < config.shelf_probability:
        center, gain = float(rng.uniform(*config.shelf_center_hz)), float(rng.uniform(*config.shelf_gain_db))
        x = HighShelfFilter(
            min_center_freq=center,
            max_center_freq=center,
            min_gain_db=gain,
            max_gain_db=gain,
            min_q=0.7,
            max_q=0.7,
            p=1.0,
        )(x, rate_hz)
        choices["high_shelf"] = [round(center), round(gain, 2)]
    return x.astype(np.float32)


def _limit(
    x: np.ndarray, rate_hz: int, threshold_dbfs: float, attack_seconds: float, release_seconds: float
) -> np.ndarray:
    """Look-ahead peak limiter (audiomentations ``Limiter``) at an absolute threshold."""
    from audiomentations import Limiter

    return Limiter(
        min_threshold_db=threshold_dbfs,
        max_threshold_db=threshold_dbfs,
        min_attack=attack_seconds,
        max_attack=attack_seconds,
        min_release=release_seconds,
        max_release=release_seconds,
        threshold_mode="absolute",
        p=1.0,
    )(x.astype(np.float32), rate_hz)


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
    x = _equalise(x.astype(np.float32), sr, config, rng, choices)
    target = rng.uniform(*config.target_rms_dbfs)
    x = x * 10 ** ((target - _rms_dbfs(x)) / 20)
    crest = float(rng.uniform(*config.limiter_crest_db))
    attack, release = (
        float(rng.uniform(*config.limiter_attack_seconds)),
        float(rng.uniform(*config.limiter_release_seconds)),
    )
    threshold = min(target + crest, 20 * np.log10(config.peak_limit))
    x = _limit(x, sr, threshold, attack, release)
    x = x * 10 ** ((target - _rms_dbfs(x)) / 20)  # the limiter lowers the RMS of peaky clips more,
    x = _limit(x, sr, threshold, attack, release)  # so restore it and limit the peaks once more
    choices["limiter_crest_db"] = round(crest, 2)
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
