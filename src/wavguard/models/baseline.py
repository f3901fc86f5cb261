"""Spectrogram CNN baseline: log-mel / MFCC / LFCC features in torch + a light CNN (LCNN-style).

The features are computed inside the model (an STFT as a strided convolution with fixed DFT
kernels, fixed filter banks and DCT as buffers), so batches run on the GPU and the model exports
(``torch.export``, dynamic batch and length) without an STFT operator. librosa is only used at construction, for the mel filter bank. The CNN
uses max-feature-map activations (Wu et al., 2018; the ASVspoof LCNN baseline), pools only along
frequency, and masks padded frames after every block and in the final mean+std pooling, so a
zero-padded batch scores each row exactly as that row alone.

Example:
    >>> from wavguard.detector import build_baseline_detector
    >>> from wavguard.testing import chirp
    >>> det = build_baseline_detector("lfcc", window_seconds=1.0)
    >>> 0.0 <= det.predict(chirp(2.0), sample_rate=16000).score <= 1.0
    True
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np
import torch
from torch import nn

from ..audio.features import frame_params, linear_filterbank, mel_filterbank
from ..config import DetectorConfig
from ..errors import ConfigError

__all__ = [
    "SpectrogramFrontEnd",
    "BaselineCNN",
    "BaselineModel",
    "baseline_config",
    "load_baseline_model",
    "SPECTROGRAM_DEFAULTS",
    "FEATURES",
]

FEATURES = ("logmel", "mfcc", "lfcc")

#: ``config.spectrogram`` keys and defaults. ``n_filters``/``n_coefficients`` of ``None`` take the
#: feature's default: logmel 80 mel bands; mfcc 20 cepstra of 40 mel bands; lfcc 20 of 70 linear bands.
SPECTROGRAM_DEFAULTS: dict[str, Any] = {
    "feature": "logmel",
    "n_filters": None,
    "n_coefficients": None,
    "window_seconds": 0.025,
    "hop_seconds": 0.010,
    "fmin_hz": 0.0,
    "fmax_hz": None,
    "channels": [16, 32, 32],
    "kernel_size": 3,
    "dropout": 0.2,
}
_FEATURE_SIZES = {"logmel": (80, None), "mfcc": (40, 20), "lfcc": (70, 20)}
_AMIN_DB = -100.0


def spectrogram_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """Validate ``config.spectrogram`` and fill in defaults."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(SPECTROGRAM_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown spectrogram settings {unknown}; known: {sorted(SPECTROGRAM_DEFAULTS)}")
    out = {**SPECTROGRAM_DEFAULTS, **settings}
    if out["feature"] not in FEATURES:
        raise ConfigError(f"spectrogram feature must be one of {FEATURES}, got {out['feature']!r}")
    filters, coefficients = _FEATURE_SIZES[out["feature"]]
    out["n_filters"] = int(out["n_filters"] or filters)
    out["n_coefficients"] = None if coefficients is None else int(out["n_coefficients"] or coefficients)
    if out["n_coefficients"] is not None and not 1 <= out["n_coefficients"] <= out["n_filters"]:
        raise ConfigError(f"need 1 <= n_coefficients <= n_filters, got {out['n_coefficients']} and {out['n_filters']}")
    out["channels"] = [int(c) for c in out["channels"]]
    if not out["channels"] or any(c < 2 or c % 2 for c in out["channels"]):
        raise ConfigError(f"channels must be even numbers >= 2 (max-feature-map halves them), got {out['channels']}")
    if int(out["kernel_size"]) % 2 != 1:
        raise ConfigError(f"kernel_size must be odd, got {out['kernel_size']}")
    return out


def _dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II (as scipy ``dct(norm="ortho")``), shape (n_out, n_in)."""
    k, n = np.arange(n_out)[:, None], np.arange(n_in)[None, :]
    m = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_in))
    m[0] /= np.sqrt(2.0)
    return m


class SpectrogramFrontEnd(nn.Module):
    """Waveforms (B, S) -> features (B, C, F) in dB (or cepstra) and frame mask (B, F).

    Frames are centred (``n_fft // 2`` zeros each side), ``F = 1 + S // hop``; a row of length L
    has ``1 + L // hop`` valid frames. Matches :mod:`wavguard.audio.features` (``log_mel``, ``mfcc``,
    ``lfcc``) up to float32 rounding.
    """

    def __init__(self, sample_rate_hz: int, settings: dict[str, Any]):
        super().__init__()

        s = spectrogram_settings(settings)
        self.n_fft, win, self.hop = frame_params(sample_rate_hz, s["window_seconds"], s["hop_seconds"])
        self.win_length = win
        window = np.zeros(self.n_fft)
        left = (self.n_fft - win) // 2
        window[left : left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
        bins = np.arange(self.n_fft // 2 + 1)[:, None] * np.arange(self.n_fft)[None, :] * (2 * np.pi / self.n_fft)
        kernels = np.concatenate([np.cos(bins), -np.sin(bins)]) * window  # (2 * bins, n_fft)
        self.register_buffer("dft", torch.tensor(kernels[:, None, :], dtype=torch.float32), persistent=False)
        if s["feature"] == "lfcc":
            fb = linear_filterbank(sample_rate_hz, self.n_fft, s["n_filters"], s["fmin_hz"], s["fmax_hz"])
        else:
            fb = mel_filterbank(sample_rate_hz, self.n_fft, s["n_filters"], s["fmin_hz"], s["fmax_hz"])
        self.register_buffer("filterbank", torch.tensor(fb, dtype=torch.float32), persistent=False)
        dct = None if s["n_coefficients"] is None else _dct_matrix(s["n_coefficients"], s["n_filters"])
        self.register_buffer("dct", None if dct is None else torch.tensor(dct, dtype=torch.float32), persistent=False)
        self.num_features = s["n_filters"] if dct is None else s["n_coefficients"]

    def frame_mask(self, lengths: torch.Tensor, frames: int) -> torch.Tensor:
        valid = 1 + lengths.to(torch.long) // self.hop
        return torch.arange(frames, device=lengths.device)[None, :] < valid[:, None]

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, samples = waveforms.shape
        if lengths is None:
            lengths = torch.full((batch,), samples, dtype=torch.long, device=waveforms.device)
        padded = nn.functional.pad(waveforms.to(self.dft.dtype)[:, None, :], (self.n_fft // 2, self.n_fft // 2))
        spec = nn.functional.conv1d(padded, self.dft, stride=self.hop)  # (B, 2 * bins, F)
        real, imag = spec.chunk(2, dim=1)
        power = real.square() + imag.square()
        feats = 10.0 * torch.log10(torch.clamp(torch.matmul(self.filterbank, power), min=10 ** (_AMIN_DB / 10)))
        if self.dct is not None:
            feats = torch.matmul(self.dct, feats)
        return feats, self.frame_mask(lengths.to(feats.device), feats.shape[-1])


class _MFMBlock(nn.Module):
    """conv (2c channels) -> batch norm -> max-feature-map (c channels) -> frequency max-pool."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d((2, 1), ceil_mode=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a, b = self.norm(self.conv(x)).chunk(2, dim=1)
        return self.pool(torch.maximum(a, b)) * mask[:, None, None, :]


class BaselineCNN(nn.Module):
    """LCNN-style CNN on features (B, C, F) with frame mask (B, F) -> logits (B, 2)."""

    def __init__(self, num_features: int, channels: list[int], kernel_size: int = 3, dropout: float = 0.2):
        super().__init__()
        blocks, in_ch, height = [], 1, num_features
        for out in channels:
            blocks.append(_MFMBlock(in_ch, out, kernel_size))
            in_ch, height = out // 2, math.ceil(height / 2)
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * in_ch * height, 2)

    def forward(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.to(feats.dtype)
        count = m.sum(dim=1).clamp_min(1.0)[:, None, None]
        # per-row mean normalisation over valid frames (removes level and channel), dB -> ~unit scale
        mean = (feats * m[:, None, :]).sum(dim=2, keepdim=True) / count
        x = ((feats - mean) / 20.0 * m[:, None, :])[:, None]  # (B, 1, C, F)
        for block in self.blocks:
            x = block(x, m)
        x = x.flatten(1, 2)  # (B, D, F)
        mean = x.sum(dim=2) / count[:, :, 0]
        var = ((x - mean[:, :, None]).square() * m[:, None, :]).sum(dim=2) / count[:, :, 0]
        pooled = torch.cat([mean, torch.sqrt(var + 1e-6)], dim=1)
        return self.classifier(self.dropout(pooled))


class BaselineModel(nn.Module):
    """Front end + CNN: (waveforms (B, S) zero-padded, lengths (B,)) -> logits (B, 2), columns (REAL, FAKE).

    Attributes:
        min_samples: shortest input (samples): one full analysis window.
    """

    def __init__(self, sample_rate_hz: int, settings: dict[str, Any] | None = None):
        super().__init__()
        s = spectrogram_settings(settings)
        self.settings = s
        self.frontend = SpectrogramFrontEnd(sample_rate_hz, s)
        self.head = BaselineCNN(self.frontend.num_features, s["channels"], int(s["kernel_size"]), float(s["dropout"]))
        self.min_samples = self.frontend.win_length

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        feats, mask = self.frontend(waveforms, lengths)
        return self.head(feats, mask)


def baseline_config(feature: str = "logmel", sample_rate_hz: int = 16000, **config_overrides: Any) -> DetectorConfig:
    """The config of a new spectrogram-CNN detector (see ``wavguard.detector.build_baseline_detector``).

    ``config_overrides`` are :class:`~wavguard.config.DetectorConfig` fields and/or
    ``config.spectrogram`` keys (see :data:`SPECTROGRAM_DEFAULTS`); a ``spectrogram={...}`` dict
    also works. ``window_seconds`` given here sets the scoring windows (the hop defaults to it).
    """
    fields = {f.name for f in dataclasses.fields(DetectorConfig)}
    spectrogram = dict(config_overrides.pop("spectrogram", None) or {})
    for key in list(config_overrides):
        if key not in fields:
            if key not in SPECTROGRAM_DEFAULTS:
                raise ConfigError(f"unknown setting {key!r}: neither a DetectorConfig field nor a spectrogram setting")
            spectrogram[key] = config_overrides.pop(key)
    if "window_seconds" in config_overrides:
        config_overrides.setdefault("hop_seconds", config_overrides["window_seconds"])
    spectrogram["feature"] = feature
    settings = spectrogram_settings(spectrogram)
    return DetectorConfig(
        kind="spectrogram", sample_rate_hz=sample_rate_hz, normalize=False, spectrogram=settings, **config_overrides
    )


def load_baseline_model(directory: str | os.PathLike, config: DetectorConfig) -> nn.Module:
    """The untrained network for a saved baseline's config (``Detector.from_pretrained`` loads the weights)."""
    if config.kind != "spectrogram":
        raise ConfigError(f"{directory}: config kind is {config.kind!r}, not 'spectrogram'")
    return BaselineModel(config.sample_rate_hz, config.spectrogram)
