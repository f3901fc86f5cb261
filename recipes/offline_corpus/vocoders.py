"""Copy-synthesis: re-synthesise a real clip through a vocoder, keeping its speaker, text and prosody.

Griffin-Lim (librosa) inverts a magnitude spectrogram (mel or linear) with a seeded initial
phase; WORLD (pyworld) analyses F0, spectral envelope and aperiodicity and resynthesises them.
Variants differ in what a real vocoder would differ in: iterations, momentum, mel resolution,
phase initialisation, F0 estimator, frame period and spectral-envelope coding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wavguard.errors import ConfigError

__all__ = ["GriffinLimVariant", "WorldVariant", "GRIFFINLIM_VARIANTS", "WORLD_VARIANTS", "griffinlim", "world"]


@dataclass(frozen=True)
class GriffinLimVariant:
    """One Griffin-Lim setting.

    Attributes:
        n_mels: mel bands of the analysed spectrogram; 0 means the linear magnitude (no mel step).
        n_iter: Griffin-Lim iterations.
        momentum: fast Griffin-Lim momentum (0 = classic Griffin-Lim).
        init: initial phase, ``"random"`` (seeded) or ``"zero"``.
        n_fft: FFT size in samples at 16 kHz; the hop is a quarter of it.
    """

    n_mels: int
    n_iter: int
    momentum: float
    init: str
    n_fft: int = 1024

    @property
    def name(self) -> str:
        mel = f"mel{self.n_mels}" if self.n_mels else "linear"
        return f"{mel}-it{self.n_iter}-m{self.momentum:g}-{self.init}-fft{self.n_fft}"


@dataclass(frozen=True)
class WorldVariant:
    """One WORLD analysis setting.

    Attributes:
        f0: ``"harvest"`` or ``"dio"`` (with StoneMask refinement).
        frame_period_ms: analysis hop in milliseconds.
        coded_dims: spectral envelope coded to this many dimensions and decoded (0 = uncoded), as a
            parametric TTS vocoder would see it.
    """

    f0: str
    frame_period_ms: float
    coded_dims: int = 0

    @property
    def name(self) -> str:
        coded = f"-sp{self.coded_dims}" if self.coded_dims else ""
        return f"{self.f0}-fp{self.frame_period_ms:g}{coded}"


GRIFFINLIM_VARIANTS = {
    v.name: v
    for v in (
        GriffinLimVariant(80, 32, 0.99, "random"),
        GriffinLimVariant(128, 64, 0.5, "random"),
        GriffinLimVariant(40, 100, 0.99, "random"),
        GriffinLimVariant(80, 60, 0.0, "zero"),
        GriffinLimVariant(0, 16, 0.99, "random", n_fft=512),
    )
}
WORLD_VARIANTS = {
    v.name: v
    for v in (
        WorldVariant("harvest", 5.0),
        WorldVariant("dio", 5.0),
        WorldVariant("harvest", 10.0, coded_dims=40),
        WorldVariant("dio", 10.0, coded_dims=24),
    )
}


def griffinlim(samples: np.ndarray, rate_hz: int, variant: GriffinLimVariant, seed: int) -> np.ndarray:
    """Griffin-Lim copy-synthesis of ``samples`` (float32, shape (time,)); returns the same length."""
    import librosa

    hop = variant.n_fft // 4
    spec = np.abs(librosa.stft(samples, n_fft=variant.n_fft, hop_length=hop))
    if variant.n_mels:
        mel = librosa.feature.melspectrogram(S=spec**2, sr=rate_hz, n_fft=variant.n_fft, n_mels=variant.n_mels)
        spec = librosa.feature.inverse.mel_to_stft(mel, sr=rate_hz, n_fft=variant.n_fft)
    out = librosa.griffinlim(
        spec,
        n_iter=variant.n_iter,
        hop_length=hop,
        n_fft=variant.n_fft,
        momentum=variant.momentum,
        init="random" if variant.init == "random" else None,
        random_state=np.random.default_rng(seed),
        length=len(samples),
    )
    return out.astype(np.float32)


def world(samples: np.ndarray, rate_hz: int, variant: WorldVariant) -> np.ndarray:
    """WORLD copy-synthesis of ``samples`` (float32, shape (time,)); returns about the same length."""
    import pyworld

    x = samples.astype(np.float64)
    if variant.f0 == "harvest":
        f0, times = pyworld.harvest(x, rate_hz, frame_period=variant.frame_period_ms)
    elif variant.f0 == "dio":
        f0, times = pyworld.dio(x, rate_hz, frame_period=variant.frame_period_ms)
        f0 = pyworld.stonemask(x, f0, times, rate_hz)
    else:
        raise ConfigError(f"WORLD f0 estimator {variant.f0!r}: choose harvest or dio")
    envelope = pyworld.cheaptrick(x, f0, times, rate_hz)
    aperiodicity = pyworld.d4c(x, f0, times, rate_hz)
    if variant.coded_dims:
        fft_size = pyworld.get_cheaptrick_fft_size(rate_hz)
        coded = pyworld.code_spectral_envelope(envelope, rate_hz, variant.coded_dims)
        envelope = pyworld.decode_spectral_envelope(coded, rate_hz, fft_size)
    out = pyworld.synthesize(f0, envelope, aperiodicity, rate_hz, variant.frame_period_ms)
    return out[: len(samples)].astype(np.float32)
