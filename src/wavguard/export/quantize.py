"""int8 quantization of an exported detector graph, and the check that it still detects.

Two methods (:func:`~wavguard.models.onnx_graph.quantize_int8`: onnxruntime's quantizer on
``MatMul`` nodes only):

- ``"dynamic"`` (the default): weights int8 per output channel, activation ranges measured per
  batch at run time. On the released detector: 1.72x PyTorch, validation EER +0.39 points.
- ``"static"``: weights int8 per output channel (symmetric), activations int8 with ranges measured
  once on calibration windows of real audio (QDQ format). Needs calibration data. On the released
  detector: 1.63x PyTorch, validation EER +1.65 points (the check refuses it).

The check (:func:`check_int8`) scores held-out clips with the fp32 and the int8 graph: the int8 EER
may exceed the fp32 EER by at most ``max_eer_increase`` (labelled clips of both classes), and no
clip's probability of FAKE may move by more than ``max_score_change``.

Example:
    >>> windows = calibration_windows(onnx_fp32, dataset, max_windows=256)   # doctest: +SKIP
    >>> quantize_int8("fp32.onnx", "int8.onnx", windows)                       # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, WavguardError
from ..metrics import compute_eer
from ..models.onnx_graph import quantize_int8
from ..scoring.datasets import cell_input, score_dataset

__all__ = ["QuantizationCheck", "QuantizationCheckError", "calibration_windows", "check_int8", "quantize_int8"]

logger = logging.getLogger(__name__)


class QuantizationCheckError(ConfigError):
    """The int8 graph lost too much: nothing was written."""


@dataclass
class QuantizationCheck:
    """The int8 graph against the fp32 graph on the same clips (scores = probability of FAKE).

    Attributes:
        clips: clips scored by both graphs.
        labelled: whether the clips had labels of both classes (then the EERs are set).
        eer_fp32, eer_int8: EER as fractions (``None`` without labels).
        max_score_change, mean_score_change: |P_int8(fake) - P_fp32(fake)| over clips.
        label_agreement: fraction of clips with the same label at the detector's threshold.
        passed: both limits held.
        reason: why it failed ("" when it passed).
    """

    clips: int
    labelled: bool
    eer_fp32: float | None
    eer_int8: float | None
    max_score_change: float
    mean_score_change: float
    label_agreement: float
    max_eer_increase: float
    max_score_change_allowed: float
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        eer = f"EER fp32 {100 * self.eer_fp32:.2f}% -> int8 {100 * self.eer_int8:.2f}%, " if self.labelled else ""
        return (
            f"int8 check on {self.clips} clips: {eer}mean |score change| {self.mean_score_change:.4f}, "
            f"max {self.max_score_change:.4f}, same label {100 * self.label_agreement:.1f}%: "
            + ("passed" if self.passed else f"FAILED ({self.reason})")
        )


def _rows(data) -> Iterator[tuple[Any, str]]:
    """(input, name) of every clip: a ``datasets.Dataset`` with an ``audio`` column, or a list of inputs."""
    if hasattr(data, "column_names"):
        if "audio" not in data.column_names:
            raise ConfigError(f"the calibration data has no 'audio' column (columns: {', '.join(data.column_names)})")
        for row, cell in enumerate(data.select_columns(["audio"])["audio"]):
            item, name, _ = cell_input(cell, row)
            if item is not None:
                yield item, name
        return
    for row, item in enumerate(data):
        yield item, os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"input {row}"


def calibration_windows(scorer, data, *, max_windows: int = 256) -> list[np.ndarray]:
    """Up to ``max_windows`` scoring windows (each (S,) float32 at the model's rate) of ``data``,
    cut exactly as :meth:`predict` cuts them; clips that cannot be decoded are skipped.

    Args:
        scorer: a detector (PyTorch or ONNX); its pipeline decodes, preprocesses and windows.
        data: a ``datasets.Dataset`` with an ``audio`` column, or a list of paths / arrays at the
            model's rate.
        max_windows: stop after this many windows (taken from the clips in order).
    """
    pipeline = scorer.pipeline
    windows: list[np.ndarray] = []
    first_error = None
    for item, name in _rows(data):
        rate = None if isinstance(item, (str, os.PathLike, bytes)) else scorer.sample_rate_hz
        try:
            for window in pipeline.windows(item, rate, pipeline.start(name)):
                windows.append(np.asarray(window.samples, dtype=np.float32))
                if len(windows) >= max_windows:
                    return windows
        except WavguardError as exc:
            first_error = first_error or exc
    if not windows:
        raise ConfigError(
            f"no clip of the calibration data could be decoded into a scoring window (first error: {first_error})"
        )
    return windows


def check_int8(
    fp32, int8, data, *, max_eer_increase: float = 0.005, max_score_change: float = 0.2, batch_size: int = 8
) -> QuantizationCheck:
    """Score ``data`` with both detectors and judge the int8 one (see :class:`QuantizationCheck`).

    Args:
        fp32, int8: detectors with the same config (ONNX or PyTorch).
        data: a ``datasets.Dataset`` (``audio``, optional ``label`` 1 = fake) or a list of inputs.
        max_eer_increase: largest allowed EER increase, a fraction (0.005 = half a point).
        max_score_change: largest allowed change of one clip's probability of FAKE.
    """
    if hasattr(data, "column_names"):
        ref = score_dataset(fp32, data, batch_size=batch_size)
        got = score_dataset(int8, data, batch_size=batch_size)
        ok = [i for i, (a, b) in enumerate(zip(ref, got)) if a.error is None and b.error is None]
        p_ref = np.array([ref[i].score for i in ok])
        p_got = np.array([got[i].score for i in ok])
        labels = np.asarray(data["label"])[ok] if "label" in data.column_names else None
    else:
        items = list(data)
        rate = None if all(isinstance(i, (str, os.PathLike, bytes)) for i in items) else fp32.sample_rate_hz
        p_ref = np.asarray(fp32.score_inputs(items, sample_rate=rate, batch_size=batch_size).scores)
        p_got = np.asarray(int8.score_inputs(items, sample_rate=rate, batch_size=batch_size).scores)
        keep = np.isfinite(p_ref) & np.isfinite(p_got)
        p_ref, p_got, labels = p_ref[keep], p_got[keep], None
    if p_ref.size == 0:
        raise ConfigError("no clip of the check data could be scored by both graphs")
    change = np.abs(p_got - p_ref)
    threshold = fp32.config.threshold
    labelled = labels is not None and set(np.unique(labels)) == {0, 1}
    eer_ref = eer_got = None
    reasons = []
    if labelled:
        eer_ref, eer_got = compute_eer(labels, p_ref)[0], compute_eer(labels, p_got)[0]
        if eer_got > eer_ref + max_eer_increase:
            reasons.append(
                f"EER rose by {100 * (eer_got - eer_ref):.2f} points, more than {100 * max_eer_increase:.2f}"
            )
    if change.max() > max_score_change:
        reasons.append(f"a clip's score moved by {change.max():.3f}, more than {max_score_change:g}")
    return QuantizationCheck(
        clips=int(p_ref.size),
        labelled=labelled,
        eer_fp32=eer_ref,
        eer_int8=eer_got,
        max_score_change=float(change.max()),
        mean_score_change=float(change.mean()),
        label_agreement=float(np.mean((p_ref >= threshold) == (p_got >= threshold))),
        max_eer_increase=max_eer_increase,
        max_score_change_allowed=max_score_change,
        passed=not reasons,
        reason="; ".join(reasons),
    )
