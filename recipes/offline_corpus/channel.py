"""Channel matching for TTS fakes: give synthetic speech the long-term spectrum of a real recording.

A TTS engine's output has its own spectral tilt and bandwidth, while each real speaker's clips
carry their microphone, room and codec. A spoofer plays or post-processes synthetic speech so
it sounds like the target recording; here the fake is filtered by a smooth linear-phase FIR
whose response is (a fraction of) the ratio of the two long-term average spectra. This is part
of making the fake, not of the shared post-processing chain: real clips are never filtered.
"""

from __future__ import annotations

import numpy as np

__all__ = ["match_spectrum"]

_NPERSEG = 512
_SMOOTH_BINS = 9  # about 280 Hz at 16 kHz
_MAX_GAIN_DB = 15.0
_TAPS = 257


def _ltas_db(x: np.ndarray, rate_hz: int) -> np.ndarray:
    from scipy.signal import welch

    _, psd = welch(x.astype(np.float64), fs=rate_hz, nperseg=_NPERSEG)
    return 10 * np.log10(psd + 1e-12)


def match_spectrum(x: np.ndarray, reference: np.ndarray, rate_hz: int, strength: float) -> np.ndarray:
    """Filter ``x`` towards the long-term average spectrum of ``reference``.

    Args:
        x: the synthetic clip, float32, shape (time,), at ``rate_hz``.
        reference: a real clip at the same rate, shape (time',).
        strength: fraction of the spectral difference (in dB) to apply, 0 (none) to 1 (full).

    Returns:
        float32, shape (time,), same length as ``x`` (zero-delay linear-phase FIR).
    """
    from scipy.signal import fftconvolve, firwin2

    if strength <= 0 or len(x) < _NPERSEG or len(reference) < _NPERSEG:
        return x
    diff = _ltas_db(reference, rate_hz) - _ltas_db(x, rate_hz)
    kernel = np.ones(_SMOOTH_BINS) / _SMOOTH_BINS
    diff = np.convolve(np.pad(diff, _SMOOTH_BINS // 2, mode="edge"), kernel, mode="valid")
    diff = np.clip(diff - np.median(diff), -_MAX_GAIN_DB, _MAX_GAIN_DB) * strength
    freqs = np.linspace(0.0, 1.0, len(diff))
    taps = firwin2(_TAPS, freqs, 10 ** (diff / 20), window="hann")
    return fftconvolve(x, taps, mode="same").astype(np.float32)
