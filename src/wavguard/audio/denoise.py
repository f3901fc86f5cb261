"""Noise reduction by spectral subtraction (Berouti et al., 1979), in torch so inference needs no extra.

The noise power spectrum comes from the quietest frames of the clip itself or from a separate
noise-only clip; each frame's power spectrum loses ``over_subtraction`` times that estimate and
keeps at least ``floor_db`` of its own power, and the phase is kept. When a detector's
``config.denoise`` is set, :meth:`wavguard.Detector.predict` runs :func:`denoise_from_config` on
every input, and training does the same, so both see identical preprocessing.

Audio is denoised in fixed blocks of ``block_seconds`` (default 5 s) counted from its first
sample, each with its own noise estimate, so a file decoded block by block, a stream arriving in
chunks of any size (:class:`BlockDenoiser`) and a whole clip in training all give the same samples.

Example:
    >>> from wavguard.audio.denoise import spectral_subtraction
    >>> from wavguard.testing import sine
    >>> clean = spectral_subtraction(sine(1.0), 16000, over_subtraction=2.0, floor_db=-20.0)
    >>> clean.shape
    (16000,)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError

__all__ = ["spectral_subtraction", "noise_power_spectrum", "denoise_from_config", "BlockDenoiser", "DENOISE_DEFAULTS"]

#: Settings :func:`denoise_from_config` accepts, with their defaults.
DENOISE_DEFAULTS: dict[str, Any] = {
    "method": "spectral_subtraction",
    "frame_seconds": 0.032,
    "hop_seconds": 0.008,
    "over_subtraction": 2.0,
    "floor_db": -20.0,
    "noise_quantile": 0.1,
    "block_seconds": 5.0,
}

_EPS = 1e-12


def _frame_sizes(sample_rate_hz: int, frame_seconds: float, hop_seconds: float) -> tuple[int, int]:
    n_fft = max(4, int(round(frame_seconds * sample_rate_hz)))
    hop = max(1, int(round(hop_seconds * sample_rate_hz)))
    if hop > n_fft // 2:
        raise ConfigError(f"hop_seconds ({hop_seconds}) must be at most half of frame_seconds ({frame_seconds})")
    return n_fft, hop


def _stft(x: np.ndarray, n_fft: int, hop: int) -> torch.Tensor:
    """Complex STFT (bins, frames) with a periodic Hann window, zero-padded at the edges."""
    wave = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).double()
    return torch.stft(
        wave,
        n_fft,
        hop,
        window=torch.hann_window(n_fft, dtype=torch.float64),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )


def noise_power_spectrum(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    frame_seconds: float = 0.032,
    hop_seconds: float = 0.008,
    quantile: float = 1.0,
) -> np.ndarray:
    """Mean power spectrum of the quietest ``quantile`` of a clip's frames.

    Args:
        samples: (time,) float32. Pass a noise-only clip with ``quantile=1.0`` (all frames), or a
            noisy clip with e.g. ``quantile=0.1`` (its 10% quietest frames, taken to be noise).

    Returns:
        (frame_samples // 2 + 1,) float64 power per frequency bin.
    """
    if not 0.0 < quantile <= 1.0:
        raise ConfigError(f"noise_quantile must be in (0, 1], got {quantile}")
    n_fft, hop = _frame_sizes(sample_rate_hz, frame_seconds, hop_seconds)
    power = _stft(samples, n_fft, hop).abs().square()  # (bins, frames)
    frames = power.shape[1]
    # interior frames only when there are enough: the zero-padded edges would look quiet
    if frames > 4:
        power = power[:, 2:-2]
    keep = max(1, int(math.ceil(quantile * power.shape[1])))
    quietest = torch.argsort(power.sum(dim=0))[:keep]
    return power[:, quietest].mean(dim=1).numpy()


def spectral_subtraction(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    noise: np.ndarray | None = None,
    frame_seconds: float = 0.032,
    hop_seconds: float = 0.008,
    over_subtraction: float = 2.0,
    floor_db: float = -20.0,
    noise_quantile: float = 0.1,
) -> np.ndarray:
    """Reduce stationary noise by power spectral subtraction.

    Each STFT bin's power ``P`` becomes ``max(P - over_subtraction * N, 10**(floor_db/10) * P)``
    where ``N`` is the noise power of that bin; the noisy phase is kept.

    Args:
        samples: (time,) mono audio.
        sample_rate_hz: its sample rate.
        noise: a noise-only clip (time',) at the same rate; ``None`` estimates the noise from the
            ``noise_quantile`` quietest frames of ``samples``.
        frame_seconds: STFT frame (Hann window) length.
        hop_seconds: STFT hop, at most half a frame.
        over_subtraction: multiple of the noise estimate removed (>= 0; 1 = plain subtraction,
            larger removes more noise and more signal).
        floor_db: the least power a bin keeps, relative to its noisy power (<= 0), which limits
            "musical noise".
        noise_quantile: fraction of frames used for the estimate when ``noise`` is ``None``.

    Returns:
        (time,) float32, finite (all-zero input gives all-zero output).
    """
    if over_subtraction < 0:
        raise ConfigError(f"over_subtraction must be >= 0, got {over_subtraction}")
    if floor_db > 0:
        raise ConfigError(f"floor_db is an attenuation limit and must be <= 0 dB, got {floor_db}")
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ConfigError(f"spectral_subtraction takes mono audio of shape (time,), got shape {x.shape}")
    if x.size == 0:
        return x.copy()
    n_fft, hop = _frame_sizes(sample_rate_hz, frame_seconds, hop_seconds)
    if noise is None:
        noise_power = noise_power_spectrum(
            x, sample_rate_hz, frame_seconds=frame_seconds, hop_seconds=hop_seconds, quantile=noise_quantile
        )
    else:
        noise_power = noise_power_spectrum(
            np.asarray(noise, np.float32), sample_rate_hz, frame_seconds=frame_seconds, hop_seconds=hop_seconds
        )
    spec = _stft(x, n_fft, hop)
    power = spec.abs().square()
    floor = 10.0 ** (floor_db / 10.0)
    cleaned = torch.maximum(power - over_subtraction * torch.from_numpy(noise_power)[:, None], floor * power)
    gain = torch.sqrt(cleaned / power.clamp_min(_EPS)).where(power > _EPS, torch.zeros_like(power))
    out = torch.istft(
        spec * gain, n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64), center=True, length=x.shape[0]
    )
    return out.float().numpy()


def _settings(cfg: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """(block_seconds, keyword arguments of :func:`spectral_subtraction`) of a ``config.denoise``."""
    unknown = sorted(set(cfg) - set(DENOISE_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown denoise settings {unknown}; known: {sorted(DENOISE_DEFAULTS)}")
    settings = {**DENOISE_DEFAULTS, **cfg}
    method = settings.pop("method")
    if method != "spectral_subtraction":
        raise ConfigError(f"denoise method must be 'spectral_subtraction', got {method!r}")
    block_seconds = settings.pop("block_seconds")
    if not (isinstance(block_seconds, (int, float)) and block_seconds > 0):
        raise ConfigError(f"denoise block_seconds must be a positive number of seconds, got {block_seconds!r}")
    return float(block_seconds), settings


def denoise_from_config(samples: np.ndarray, sample_rate_hz: int, cfg: dict[str, Any]) -> np.ndarray:
    """Apply the noise reduction a detector's ``config.denoise`` describes, block by block.

    Args:
        samples: (time,) float32 at ``sample_rate_hz``.
        cfg: ``{"method": "spectral_subtraction", ...}`` with any keys of :data:`DENOISE_DEFAULTS`;
            missing keys take their defaults.

    Returns:
        (time,) float32: each ``block_seconds`` block (from the first sample; the last one shorter)
        through :func:`spectral_subtraction` with its own noise estimate.
    """
    denoiser = BlockDenoiser(sample_rate_hz, cfg)
    return np.concatenate([denoiser.push(samples), denoiser.flush()])


class BlockDenoiser:
    """Denoises audio that arrives in pieces of any size exactly as :func:`denoise_from_config`
    denoises it whole: samples are held until a ``block_seconds`` block is complete.

    Example:
        >>> from wavguard.testing import sine
        >>> d = BlockDenoiser(16000, {"block_seconds": 0.5})
        >>> [d.push(sine(0.3)).shape, d.push(sine(0.3)).shape, d.flush().shape]
        [(0,), (8000,), (1600,)]
    """

    def __init__(self, sample_rate_hz: int, cfg: dict[str, Any]):
        block_seconds, self._settings = _settings(cfg)
        self.sample_rate_hz = int(sample_rate_hz)
        self.block_samples = max(1, int(round(block_seconds * self.sample_rate_hz)))
        self._pending = np.zeros(0, dtype=np.float32)

    def _denoise(self, block: np.ndarray) -> np.ndarray:
        return spectral_subtraction(block, self.sample_rate_hz, **self._settings)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add (time,) samples; returns the denoised samples of every block completed, float32."""
        pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        full = pending.shape[0] // self.block_samples * self.block_samples
        self._pending = pending[full:]
        blocks = [self._denoise(pending[i : i + self.block_samples]) for i in range(0, full, self.block_samples)]
        return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)

    def flush(self) -> np.ndarray:
        """Denoise and return what is left (the last, shorter block); the denoiser is then empty."""
        rest, self._pending = self._pending, np.zeros(0, dtype=np.float32)
        return self._denoise(rest) if rest.size else rest
