"""ONNX export and an ONNX-runtime detector with the same ``predict`` as :class:`Detector`.

The exported graph is the whole network: (LoRA merged) backbone, Whisper log-mel where used,
weighted layer sum, CNN head, and a fused detector's AASIST branch (or AASIST and its linear
head alone, for ``kind="aasist"``); input ``waveforms`` (batch, samples) float32 at the model's rate,
outputs ``logits`` (batch, 2; columns REAL, FAKE) and ``probabilities`` (softmax), both with
dynamic batch and length axes. Windowing, aggregation, calibration and the threshold stay in
Python (the same :mod:`wavguard.scoring.pipeline` as the PyTorch detector), so scores match; load the
folder with ``Detector.from_pretrained`` (its ``backend_name`` is ``"onnx"`` or ``"onnx-int8"``).

Example:
    >>> export_onnx(detector, "detector-onnx/", quantize="int8", calibration_data=validation)   # doctest: +SKIP
    >>> Detector.from_pretrained("detector-onnx/").predict("clip.wav")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from pathlib import Path

from .._io import atomic_write_text
from ..detector import Detector
from ..errors import ConfigError
from ..layout import ADAPTER_DIR, BACKBONE_DIR, ONNX_META_NAME, ONNX_NAME, WEIGHTS_NAME
from ..models.backends import OnnxBackend
from ..models.onnx_graph import quantize_int8, write_graph
from .quantize import QuantizationCheckError, calibration_windows, check_int8

__all__ = ["export_onnx"]

logger = logging.getLogger(__name__)


def export_onnx(
    detector: Detector,
    out_dir: str | os.PathLike,
    *,
    quantize: str | None = None,
    calibration_data=None,
    check_data=None,
    int8_method: str | None = None,
    max_eer_increase: float = 0.005,
    max_score_change: float = 0.2,
    calibration_windows_max: int = 256,
    force: bool = False,
    opset: int = 20,
) -> Path:
    """Export a detector to ``out_dir/model.onnx`` (+ ``config.json``, ``onnx.json``).

    Args:
        detector: a PyTorch :class:`Detector`.
        quantize: ``None`` (fp32) or ``"int8"`` (:mod:`wavguard.export.quantize`: ``MatMul`` nodes in int8).
        calibration_data: clips like those the detector will score (a ``datasets.Dataset`` with an
            ``audio`` column, or a list of paths): static int8 measures activation ranges on their
            windows; without ``check_data`` either method is checked on them.
        check_data: clips to check the int8 graph on (labelled: the EER check too); best held out
            from ``calibration_data``.
        int8_method: ``"dynamic"`` (default: measured to keep the EER on the released detector,
            where static did not) or ``"static"`` (needs ``calibration_data``). Unchecked without
            check or calibration data, with a warning.
        max_eer_increase: the check's largest allowed EER increase (fraction; 0.005 = half a point).
        max_score_change: the check's largest allowed change of one clip's probability of FAKE.
        calibration_windows_max: windows the static calibration reads.
        force: write the int8 graph even when the check fails (with a warning).
        opset: ONNX opset.

    Returns:
        ``out_dir``, loadable with ``Detector.from_pretrained``;
        ``onnx.json`` records the int8 method and the check.

    Raises:
        QuantizationCheckError: the int8 check failed (and ``force`` is off); no model file is written.
    """
    if quantize not in (None, "int8"):
        raise ConfigError(f"quantize must be None or 'int8', got {quantize!r}")
    method = int8_method or "dynamic"  # measured better than static on the released detector (docs/benchmarks.md)
    if quantize and method == "static" and calibration_data is None:
        raise ConfigError(
            "static int8 quantization needs calibration_data (CLI: --calibration-data DATA): a few "
            "hundred clips like the ones the detector will score; or use int8_method='dynamic'"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32_path = out_dir / (".fp32.onnx" if quantize else ONNX_NAME)
    min_samples, min_export_samples = write_graph(
        detector.model,
        fp32_path,
        window_samples=detector.config.window_samples,
        sample_rate_hz=detector.config.sample_rate_hz,
        opset=opset,
    )
    check = None
    if quantize == "int8":
        check = _quantize(
            detector,
            out_dir,
            fp32_path,
            (min_samples, min_export_samples),
            method,
            calibration_data,
            check_data,
            max_eer_increase=max_eer_increase,
            max_score_change=max_score_change,
            max_windows=calibration_windows_max,
            force=force,
        )
    detector.config.save(out_dir)
    meta = {
        "min_samples": min_samples,
        "min_export_samples": min_export_samples,
        "quantization": quantize or "fp32",
        **({"int8_method": method, "quantization_check": check.to_dict() if check else None} if quantize else {}),
        "opset": opset,
        "inputs": {"waveforms": "float32 (batch, samples) at config.sample_rate_hz"},
        "outputs": {"logits": "(batch, 2): REAL, FAKE", "probabilities": "softmax of logits"},
    }
    atomic_write_text(out_dir / ONNX_META_NAME, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    for stale in (WEIGHTS_NAME, BACKBONE_DIR, ADAPTER_DIR):
        target = out_dir / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    return out_dir


def _quantize(
    detector: Detector,
    out_dir: Path,
    fp32_path: Path,
    input_limits: tuple[int, int],
    method: str,
    calibration_data,
    check_data,
    *,
    max_eer_increase: float,
    max_score_change: float,
    max_windows: int,
    force: bool,
):
    """Replace ``fp32_path`` by ``out_dir/model.onnx`` in int8; returns the check (``None`` if unchecked).

    ``input_limits``: (the network's receptive field, the exported graph's shortest input), in samples."""
    int8_path = out_dir / ".int8.onnx"

    def graph(path: Path, name: str) -> Detector:
        return Detector(OnnxBackend(path, *input_limits, name=name), detector.config, directory=out_dir)

    data = check_data if check_data is not None else calibration_data
    try:
        fp32 = graph(fp32_path, "onnx") if method == "static" or data is not None else None
        windows = calibration_windows(fp32, calibration_data, max_windows=max_windows) if method == "static" else None
        quantize_int8(fp32_path, int8_path, windows, method=method)
        check = None
        if data is None:
            warnings.warn(
                "int8 (dynamic) export without check data: its detection was not checked against fp32; "
                "pass check_data (CLI: --check-data) with labelled clips",
                UserWarning,
                stacklevel=3,
            )
        else:
            check = check_int8(
                fp32,
                graph(int8_path, "onnx-int8"),
                data,
                max_eer_increase=max_eer_increase,
                max_score_change=max_score_change,
            )
            logger.info(check.summary())
            if not check.passed and not force:
                raise QuantizationCheckError(
                    f"{check.summary()}. The int8 graph was not written: export fp32 (no --quantize), try the other "
                    f"int8 method, calibrate on clips closer to what you score, or pass force=True (--force) to "
                    f"keep it anyway"
                )
            if not check.passed:
                warnings.warn(f"{check.summary()}; written anyway (force)", UserWarning, stacklevel=3)
    except BaseException:
        for path in (int8_path, fp32_path):
            path.unlink(missing_ok=True)
        raise
    os.replace(int8_path, out_dir / ONNX_NAME)
    fp32_path.unlink()
    return check
