"""A HiFi-GAN generator's input: the log-mel analysis each checkpoint was trained on.

``variant`` is a :class:`recipes.offline_corpus.neural_vocoders.HifiganVariant`: its rate, FFT,
hop, window, mel band, floor and smoothing fix the analysis. librosa and numpy only, no torch.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .neural_vocoders import HifiganVariant

__all__ = ["log_mel", "mel_basis", "smooth_mel"]


@functools.lru_cache(maxsize=4)
def mel_basis(variant: HifiganVariant) -> np.ndarray:
    """Slaney mel filters, float32, shape (n_mels, 1 + n_fft // 2): what ``log_mel`` applies to the
    STFT magnitude (the fine-tuning loss applies the same matrix in torch)."""
    import librosa

    return librosa.filters.mel(
        sr=variant.rate_hz, n_fft=variant.n_fft, n_mels=variant.n_mels, fmin=variant.fmin_hz, fmax=variant.fmax_hz
    ).astype(np.float32)


def log_mel(samples: np.ndarray, variant: HifiganVariant) -> np.ndarray:
    """The generator's input: natural-log magnitude mel spectrogram.

    Args:
        samples: float32, shape (time,), at ``variant.rate_hz``.

    Returns:
        float32, shape (n_mels, 1 + time // hop): centred, reflect-padded STFT frames.
    """
    import librosa

    spec = np.abs(
        librosa.stft(
            samples.astype(np.float32),
            n_fft=variant.n_fft,
            hop_length=variant.hop,
            win_length=variant.win_length,
            window="hann",
            center=True,
            pad_mode="reflect",
        )
    )
    return np.log(np.maximum(mel_basis(variant) @ spec, variant.log_floor)).astype(np.float32)


def smooth_mel(mel: np.ndarray, variant: HifiganVariant) -> np.ndarray:
    """``mel`` (n_mels, frames) averaged over ``variant.smoothing`` (bins, frames), edges repeated;
    unchanged when the smoothing is (1, 1)."""
    if tuple(variant.smoothing) == (1, 1):
        return mel
    from scipy.ndimage import uniform_filter

    return uniform_filter(mel.astype(np.float64), size=variant.smoothing, mode="nearest").astype(np.float32)
