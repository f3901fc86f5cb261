"""Classic spectral features, one function each, with window/hop in seconds and frequencies in Hz.

All functions take mono float32 samples ``(time,)`` and return ``(coefficients, frames)`` float32
arrays with ``frames = 1 + time // hop_samples`` (frames are centred, edges zero-padded). Power
values are in dB (``10 * log10(max(power, 1e-10))``, no per-clip clipping), so a frame's features do
not depend on the rest of the clip. librosa computes the STFT, mel filters, MFCC, chroma and CQT;
LFCC (linear-frequency cepstra, the ASVspoof baseline front end) is a linear triangular filter
bank on librosa's STFT followed by the same DCT as MFCC.

Example:
    >>> from wavguard.audio.features import log_mel
    >>> from wavguard.testing import sine
    >>> log_mel(sine(1.0), 16000, n_mels=64).shape
    (64, 101)
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ConfigError

__all__ = [
    "frame_params",
    "linear_filterbank",
    "mel_filterbank",
    "power_spectrogram",
    "log_mel",
    "mfcc",
    "lfcc",
    "chroma",
    "cqt",
    "AMIN",
]

#: Power floor before the logarithm (-100 dB).
AMIN = 1e-10


def frame_params(sample_rate_hz: int, window_seconds: float, hop_seconds: float) -> tuple[int, int, int]:
    """STFT sizes in samples: (n_fft, win_length, hop_length); n_fft is the next power of two."""
    if not (window_seconds > 0 and hop_seconds > 0):
        raise ConfigError(f"window_seconds and hop_seconds must be positive, got {window_seconds}, {hop_seconds}")
    win_length = max(2, int(round(window_seconds * sample_rate_hz)))
    hop_length = max(1, int(round(hop_seconds * sample_rate_hz)))
    n_fft = 1 << (win_length - 1).bit_length()
    return n_fft, win_length, hop_length


def _fmax(sample_rate_hz: int, fmin_hz: float, fmax_hz: float | None) -> float:
    fmax = sample_rate_hz / 2 if fmax_hz is None else float(fmax_hz)
    if not 0 <= fmin_hz < fmax <= sample_rate_hz / 2:
        raise ConfigError(f"need 0 <= fmin_hz < fmax_hz <= {sample_rate_hz / 2} (Nyquist), got {fmin_hz}, {fmax}")
    return fmax


def mel_filterbank(
    sample_rate_hz: int, n_fft: int, n_mels: int, fmin_hz: float = 0.0, fmax_hz: float | None = None
) -> np.ndarray:
    """librosa's (Slaney-normalised) mel filter bank, shape (n_mels, n_fft // 2 + 1)."""
    import librosa

    fmax = _fmax(sample_rate_hz, fmin_hz, fmax_hz)
    return librosa.filters.mel(sr=sample_rate_hz, n_fft=n_fft, n_mels=n_mels, fmin=fmin_hz, fmax=fmax).astype(
        np.float32
    )


def linear_filterbank(
    sample_rate_hz: int, n_fft: int, n_filters: int, fmin_hz: float = 0.0, fmax_hz: float | None = None
) -> np.ndarray:
    """Triangular filters with centres equally spaced in Hz, peak 1, shape (n_filters, n_fft // 2 + 1).

    Filter ``i`` rises from ``edges[i]`` to 1 at ``edges[i + 1]`` and falls to 0 at ``edges[i + 2]``,
    with ``edges = linspace(fmin_hz, fmax_hz, n_filters + 2)``.
    """
    fmax = _fmax(sample_rate_hz, fmin_hz, fmax_hz)
    if n_filters < 1:
        raise ConfigError(f"n_filters must be at least 1, got {n_filters}")
    edges = np.linspace(fmin_hz, fmax, n_filters + 2)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def power_spectrogram(
    samples: np.ndarray, sample_rate_hz: int, window_seconds: float = 0.025, hop_seconds: float = 0.010
) -> np.ndarray:
    """|STFT|^2 with a Hann window (librosa), shape (n_fft // 2 + 1, frames)."""
    import librosa

    n_fft, win, hop = frame_params(sample_rate_hz, window_seconds, hop_seconds)
    spec = librosa.stft(
        np.asarray(samples, np.float32), n_fft=n_fft, hop_length=hop, win_length=win, window="hann", center=True
    )
    return (np.abs(spec) ** 2).astype(np.float32)


def _db(power: np.ndarray) -> np.ndarray:
    return (10.0 * np.log10(np.maximum(power, AMIN))).astype(np.float32)


def _with_deltas(coefficients: np.ndarray, deltas: bool) -> np.ndarray:
    if not deltas:
        return coefficients
    import librosa

    width = min(9, coefficients.shape[1] if coefficients.shape[1] % 2 else coefficients.shape[1] - 1)
    if width < 3:
        raise ConfigError(f"deltas need at least 3 frames, got {coefficients.shape[1]}; pass a longer clip")
    d1 = librosa.feature.delta(coefficients, width=width, order=1)
    d2 = librosa.feature.delta(coefficients, width=width, order=2)
    return np.concatenate([coefficients, d1, d2]).astype(np.float32)


def log_mel(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    n_mels: int = 80,
    window_seconds: float = 0.025,
    hop_seconds: float = 0.010,
    fmin_hz: float = 0.0,
    fmax_hz: float | None = None,
) -> np.ndarray:
    """Log-mel spectrogram in dB, shape (n_mels, frames)."""
    n_fft, _, _ = frame_params(sample_rate_hz, window_seconds, hop_seconds)
    power = power_spectrogram(samples, sample_rate_hz, window_seconds, hop_seconds)
    return _db(mel_filterbank(sample_rate_hz, n_fft, n_mels, fmin_hz, fmax_hz) @ power)


def mfcc(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    n_mfcc: int = 20,
    n_mels: int = 40,
    window_seconds: float = 0.025,
    hop_seconds: float = 0.010,
    fmin_hz: float = 0.0,
    fmax_hz: float | None = None,
    deltas: bool = False,
) -> np.ndarray:
    """MFCC (librosa: DCT-II, orthonormal, of the log-mel dB), optionally with deltas and delta-deltas.

    Returns:
        (n_mfcc, frames), or (3 * n_mfcc, frames) with ``deltas`` (static, delta, delta-delta).
    """
    import librosa

    log_power = log_mel(
        samples,
        sample_rate_hz,
        n_mels=n_mels,
        window_seconds=window_seconds,
        hop_seconds=hop_seconds,
        fmin_hz=fmin_hz,
        fmax_hz=fmax_hz,
    )
    return _with_deltas(librosa.feature.mfcc(S=log_power, n_mfcc=n_mfcc).astype(np.float32), deltas)


def lfcc(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    n_lfcc: int = 20,
    n_filters: int = 70,
    window_seconds: float = 0.025,
    hop_seconds: float = 0.010,
    fmin_hz: float = 0.0,
    fmax_hz: float | None = None,
    deltas: bool = False,
) -> np.ndarray:
    """LFCC: DCT-II (orthonormal) of the dB energies of a linear triangular filter bank.

    Returns:
        (n_lfcc, frames), or (3 * n_lfcc, frames) with ``deltas``.
    """
    from scipy.fft import dct

    if not 1 <= n_lfcc <= n_filters:
        raise ConfigError(f"need 1 <= n_lfcc <= n_filters, got n_lfcc={n_lfcc}, n_filters={n_filters}")
    n_fft, _, _ = frame_params(sample_rate_hz, window_seconds, hop_seconds)
    power = power_spectrogram(samples, sample_rate_hz, window_seconds, hop_seconds)
    energies = _db(linear_filterbank(sample_rate_hz, n_fft, n_filters, fmin_hz, fmax_hz) @ power)
    return _with_deltas(dct(energies, type=2, axis=0, norm="ortho")[:n_lfcc].astype(np.float32), deltas)


def chroma(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    n_chroma: int = 12,
    window_seconds: float = 0.025,
    hop_seconds: float = 0.010,
) -> np.ndarray:
    """Chromagram (librosa ``chroma_stft``), shape (n_chroma, frames); row 0 is C, each column max 1."""
    import librosa

    n_fft, win, hop = frame_params(sample_rate_hz, window_seconds, hop_seconds)
    power = power_spectrogram(samples, sample_rate_hz, window_seconds, hop_seconds)
    return librosa.feature.chroma_stft(
        S=power, sr=sample_rate_hz, n_fft=n_fft, hop_length=hop, n_chroma=n_chroma
    ).astype(np.float32)


def cqt(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    hop_seconds: float = 0.010,
    fmin_hz: float = 32.70319566257483,
    n_bins: int = 84,
    bins_per_octave: int = 12,
) -> np.ndarray:
    """Constant-Q power in dB (librosa ``cqt``), shape (n_bins, frames).

    Bin ``k`` is centred on ``fmin_hz * 2 ** (k / bins_per_octave)`` (default: C1 = 32.7 Hz, 7
    octaves). The hop is rounded to a multiple of ``2 ** (octaves - 1)`` samples, which librosa needs.
    """
    import librosa

    octaves = int(np.ceil(n_bins / bins_per_octave))
    top_hz = fmin_hz * 2 ** ((n_bins - 1) / bins_per_octave)
    if top_hz >= sample_rate_hz / 2:
        raise ConfigError(
            f"the highest CQT bin ({top_hz:.0f} Hz) must be below Nyquist ({sample_rate_hz / 2:.0f} Hz); use fewer n_bins"
        )
    step = 2 ** (octaves - 1)
    hop = max(step, int(round(hop_seconds * sample_rate_hz / step)) * step)
    with warnings.catch_warnings():  # librosa warns about its own short low-octave FFTs on short clips
        warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)
        spec = librosa.cqt(
            np.asarray(samples, np.float32),
            sr=sample_rate_hz,
            hop_length=hop,
            fmin=fmin_hz,
            n_bins=n_bins,
            bins_per_octave=bins_per_octave,
        )
    return _db(np.abs(spec) ** 2)
