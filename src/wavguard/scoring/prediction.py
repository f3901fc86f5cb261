"""Prediction results: what ``Detector.predict`` returns for one input."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import WavguardError

__all__ = ["Prediction", "Segment"]


@dataclass(frozen=True)
class Segment:
    """Score of one scoring window; also behaves as the tuple ``(start_seconds, end_seconds, score)``.

    Attributes:
        start_seconds, end_seconds: the window's span in the input.
        score: calibrated probability that this window is FAKE.

    Example:
        >>> seg = Segment(0.0, 4.0, 0.93)
        >>> start, end, score = seg
        >>> seg[2] == score == 0.93
        True
    """

    start_seconds: float
    end_seconds: float
    score: float

    def _astuple(self) -> tuple[float, float, float]:
        return (self.start_seconds, self.end_seconds, self.score)

    def __iter__(self) -> Iterator[float]:
        return iter(self._astuple())

    def __getitem__(self, index):
        return self._astuple()[index]

    def __len__(self) -> int:
        return 3


@dataclass
class Prediction:
    """The verdict on one input.

    Attributes:
        source: the file path, or a description of an in-memory array.
        score: calibrated probability that the audio is FAKE, in [0, 1] (higher = more likely fake).
        label: ``"fake"`` when ``score >= threshold``, else ``"real"``.
        threshold: the decision threshold used.
        duration_seconds: length of the input (at the model's sample rate).
        segments: one :class:`Segment` per scoring window, in time order.
        error: with ``on_error="return"``, the error that stopped this input (score is NaN, label "error").
        logit_margin: the aggregated FAKE-minus-REAL logit before calibration (what calibration
            and score fusion are fitted on); NaN for an input that failed.
        backend: which runtime scored it: ``"torch"``, ``"onnx"``, ``"onnx-int8"`` (an ensemble
            joins its members', e.g. ``"torch+onnx-int8"``); empty when it failed before scoring.
    """

    source: str
    score: float
    label: str
    threshold: float
    duration_seconds: float = 0.0
    segments: list[Segment] = field(default_factory=list)
    error: WavguardError | None = None
    logit_margin: float = math.nan
    backend: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``score`` is ``None`` for an input that failed)."""
        return {
            "source": self.source,
            "score": None if self.error is not None else self.score,
            "label": self.label,
            "threshold": self.threshold,
            "duration_seconds": self.duration_seconds,
            "segments": [asdict(s) for s in self.segments],
            "error": None if self.error is None else str(self.error),
            "logit_margin": None if self.error is not None else self.logit_margin,
            "backend": self.backend,
        }
