"""What every detector shares: a config, a backend, and the scoring pipeline that drives them.

:class:`~wavguard.detector.Detector` is a :class:`Scorer` whose backend is a PyTorch module or an
ONNX Runtime session (:mod:`wavguard.models.backends`). Scores are the calibrated probability that the audio is FAKE (higher = more likely fake).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..config import DetectorConfig
from ..models.backends import Backend
from .datasets import ItemScores, predict_margins
from .pipeline import ScoringPipeline
from .predicts import Predicts
from .streaming import StreamingScorer

__all__ = ["Scorer"]


class Scorer(Predicts):
    """A detector config and a model backend, scored through :class:`~wavguard.scoring.pipeline.ScoringPipeline`.

    Args:
        backend: the network (:class:`~wavguard.models.backends.Backend`).
        config: the detector's :class:`~wavguard.config.DetectorConfig`.
    """

    def __init__(self, backend: Backend, config: DetectorConfig):
        self.backend = backend
        self._config = config
        self.pipeline = ScoringPipeline(config, backend)

    @property
    def config(self) -> DetectorConfig:
        """The detector's config; assigning a new one (e.g. after calibration) updates scoring."""
        return self._config

    @config.setter
    def config(self, value: DetectorConfig) -> None:
        self._config = value
        self.pipeline = ScoringPipeline(value, self.backend)

    @property
    def sample_rate_hz(self) -> int:
        """The rate (Hz) every input is resampled to."""
        return self.config.sample_rate_hz

    # -- device --------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.backend.device

    def to(self, device: str | torch.device):
        """Move the network to ``device``; returns the detector."""
        self.backend.to(device)
        return self

    # -- scoring -------------------------------------------------------------------------
    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated P(fake) for logits of shape (..., 2) -> (...)."""
        return self.pipeline.calibrate(logits)

    def score_windows(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Raw logits (N, 2), columns (REAL, FAKE), for mono float32 windows at the model's rate."""
        return self.pipeline.logits(windows)

    @property
    def default_threshold(self) -> float:
        return self.config.threshold

    def _outcomes(self, items, sample_rate, *, batch_size, threshold, on_error, progress, prefetch=True):
        return self.pipeline.predict(
            items,
            sample_rate,
            batch_size=batch_size,
            threshold=threshold,
            on_error=on_error,
            progress=progress,
            prefetch=prefetch,
        )

    def score_inputs(self, inputs: Sequence[Any], *, sample_rate: int | None = None, batch_size: int = 8) -> ItemScores:
        """Scores of a list of inputs, one bad input never stopping the run (NaN and its message).

        ``scores`` equal :meth:`predict`'s; ``margins`` are the uncalibrated FAKE-minus-REAL logits.
        """
        margins, durations, errors = predict_margins(self, inputs, sample_rate=sample_rate, batch_size=batch_size)
        n = margins.shape[0]
        log_odds = self.config.calibration_scale * margins + self.config.calibration_bias
        scores = np.asarray(self.calibrate(np.stack([np.zeros(n), margins], axis=-1)), dtype=np.float64).reshape(n)
        return ItemScores(margins, scores, log_odds, durations, [None if e is None else str(e) for e in errors])

    def stream(self, sample_rate: int | None = None, channels: int = 1, source: str = "<stream>") -> StreamingScorer:
        """A :class:`~wavguard.scoring.streaming.StreamingScorer` for live audio at ``sample_rate`` Hz
        (default: the model's rate). Its window scores equal :meth:`predict`'s segments."""
        return StreamingScorer(self.pipeline, sample_rate or self.config.sample_rate_hz, channels, source)
