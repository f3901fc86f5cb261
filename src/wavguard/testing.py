"""Tiny random detectors and synthetic audio for tests, docs and examples (no downloads).

Example:
    >>> from wavguard.testing import tiny_detector
    >>> det = tiny_detector("wav2vec2")
    >>> det.predict(sine(1.0), sample_rate=16000).label in ("real", "fake")
    True
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .detector import Detector
from .models.quiet import quiet_transformers

__all__ = ["tiny_backbone_dir", "tiny_detector", "sine", "chirp", "TINY_MODEL_TYPES"]

TINY_MODEL_TYPES = ("wav2vec2", "hubert", "wavlm", "whisper")

_W2V_KWARGS = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=(16, 16, 16),
    conv_kernel=(10, 3, 3),
    conv_stride=(5, 4, 4),
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
    vocab_size=32,
)


def _tiny_config(model_type: str):
    from transformers import HubertConfig, Wav2Vec2Config, WavLMConfig, WhisperConfig

    if model_type == "wav2vec2":
        return Wav2Vec2Config(**_W2V_KWARGS)
    if model_type == "hubert":
        return HubertConfig(**_W2V_KWARGS)
    if model_type == "wavlm":
        return WavLMConfig(**_W2V_KWARGS, num_buckets=16, max_bucket_distance=32)
    if model_type == "whisper":
        return WhisperConfig(
            vocab_size=100,
            d_model=32,
            encoder_layers=2,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            num_mel_bins=80,
            max_source_positions=1500,
            max_target_positions=64,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=3,
        )
    raise ValueError(f"model_type must be one of {TINY_MODEL_TYPES}, got {model_type!r}")


def tiny_backbone_dir(model_type: str = "wav2vec2", directory: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """Save a tiny random backbone with ``save_pretrained`` (the Hub layout) and return its directory.

    Loading it by path exercises the same code as a Hub checkpoint.
    """
    from transformers import AutoModel, WhisperForConditionalGeneration

    directory = Path(directory or tempfile.mkdtemp(prefix=f"wavguard-tiny-{model_type}-"))
    torch.manual_seed(seed)
    config = _tiny_config(model_type)
    model = WhisperForConditionalGeneration(config) if model_type == "whisper" else AutoModel.from_config(config)
    with quiet_transformers():
        model.save_pretrained(str(directory), safe_serialization=True)
    return directory


def tiny_detector(model_type: str = "wav2vec2", seed: int = 0, **overrides):
    """A detector on a tiny pretrained-layout backbone (random weights), ready to score.

    Args:
        model_type: one of ``TINY_MODEL_TYPES``.
        seed: seeds both backbone and head.
        overrides: :class:`~wavguard.config.DetectorConfig` fields (e.g. ``window_seconds=1.0``).
    """

    overrides.setdefault("head_channels", (16,))
    overrides.setdefault("window_seconds", 2.0)
    path = tiny_backbone_dir(model_type, seed=seed)
    det = Detector.from_backbone(str(path), seed=seed, **overrides)
    det.backbone_is_reference = False  # the temp directory will not outlive the process
    return det


def sine(seconds: float, sample_rate: int = 16000, frequency_hz: float = 220.0, amplitude: float = 0.3) -> np.ndarray:
    """A float32 sine tone, shape (seconds * sample_rate,)."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def chirp(
    seconds: float, sample_rate: int = 16000, f0_hz: float = 100.0, f1_hz: float = 4000.0, amplitude: float = 0.3
) -> np.ndarray:
    """A float32 linear chirp from ``f0_hz`` to ``f1_hz``, shape (seconds * sample_rate,)."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    phase = 2 * np.pi * (f0_hz * t + 0.5 * (f1_hz - f0_hz) / max(seconds, 1e-9) * t * t)
    return (amplitude * np.sin(phase)).astype(np.float32)
