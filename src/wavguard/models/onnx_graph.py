"""A network as an ONNX graph, and its int8 quantisation: the file-level work under
:mod:`wavguard.export` (which adds the detector's folder and the check on real clips) and under the
built-in detector's fast path (:mod:`wavguard.loading`).

The graph is the whole network: (LoRA merged) backbone, Whisper log-mel where used, weighted layer
sum, CNN head, and a fused detector's AASIST branch (or AASIST and its linear head alone); input
``waveforms`` (batch, samples) float32 at the model's rate, outputs ``logits`` (batch, 2; columns
REAL, FAKE) and ``probabilities`` (softmax), both with dynamic batch and length axes.

int8 (onnxruntime's quantizer; only ``MatMul`` nodes, so the transformer's linear layers and
attention products run in int8 while the log-mel front end, the convolution stem and the CNN head
stay float):

- ``"dynamic"``: weights int8 per output channel, activation ranges measured per batch at run time.
- ``"static"``: weights int8 per output channel (symmetric), activations int8 with ranges measured
  once on calibration windows of real audio (QDQ format).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..layout import ONNX_META_NAME, ONNX_NAME
from .aasist_branch import AasistDetectorModel
from .lora import has_lora, merge_lora
from .quiet import quiet_onnx_export
from .transformer import DetectorModel

__all__ = [
    "GraphWrapper",
    "merged_copy",
    "write_graph",
    "quantize_int8",
    "checked_int8",
    "MAX_EXPORT_SECONDS",
    "METHODS",
]

logger = logging.getLogger(__name__)

#: the longest input (seconds) the exported graph's length axis allows
MAX_EXPORT_SECONDS = 600
METHODS = ("static", "dynamic")
#: the ops quantized; everything else (log-mel, convolutions, layer norms, head) stays float
QUANTIZED_OPS = ("MatMul",)


class GraphWrapper(nn.Module):
    """(B, S) waveforms of equal length -> (logits, probabilities); no Python-side grouping."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.model, DetectorModel):
            states = self.model.backbone(waveforms)
            mask = torch.ones(states.shape[1], states.shape[2], dtype=torch.bool, device=states.device)
            aasist = None if self.model.aasist is None else self.model.aasist(waveforms)  # every row full length
            logits = self.model.classify(states, mask, aasist)
        elif isinstance(self.model, AasistDetectorModel):
            logits = self.model(waveforms)  # no lengths: one call, no grouping by length
        else:  # the spectrogram baseline takes waveforms and lengths
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long, device=waveforms.device)
            logits = self.model(waveforms, lengths)
        return logits, torch.softmax(logits, dim=-1)


def merged_copy(model: nn.Module) -> nn.Module:
    """A CPU eval copy with any LoRA adapters merged into the backbone weights."""
    model = copy.deepcopy(model).cpu().eval()
    if has_lora(model):
        model = merge_lora(model)
    return model


def write_graph(
    model: nn.Module, path: str | os.PathLike, *, window_samples: int, sample_rate_hz: int, opset: int = 20
):
    """Write ``model``'s fp32 graph to ``path`` (atomically: a half-written file never has its name).

    Args:
        model: a detector network (:class:`DetectorModel`, :class:`AasistDetectorModel` or the
            spectrogram CNN) with ``min_samples``; it is copied, never changed.
        window_samples: the scoring window, samples (the example input's length).
        sample_rate_hz: the model's rate (the length axis allows :data:`MAX_EXPORT_SECONDS`).

    Returns:
        ``(min_samples, min_export_samples)``: the network's receptive field and the graph's shortest
        input, in samples (what :class:`~.backends.OnnxBackend` takes).
    """
    path = Path(path)
    wrapper = GraphWrapper(merged_copy(model)).eval()
    min_samples = int(model.min_samples)
    example = torch.randn(2, max(window_samples, 2 * min_samples, 4000)) * 0.1
    min_export_samples = max(min_samples, 400)
    batch = torch.export.Dim("batch", min=1, max=4096)
    samples = torch.export.Dim("samples", min=min_export_samples, max=MAX_EXPORT_SECONDS * sample_rate_hz)
    tmp = path.with_name(f".{path.name}.tmp")
    with torch.no_grad(), quiet_onnx_export():
        program = torch.onnx.export(
            wrapper,
            (example,),
            input_names=["waveforms"],
            output_names=["logits", "probabilities"],
            dynamic_shapes={"waveforms": {0: batch, 1: samples}},
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    program.save(str(tmp))
    os.replace(tmp, path)
    return min_samples, min_export_samples


def quantize_int8(
    fp32_path: str | os.PathLike,
    int8_path: str | os.PathLike,
    windows: Sequence[np.ndarray] | None = None,
    *,
    method: str = "static",
) -> Path:
    """Write the int8 graph of ``fp32_path`` to ``int8_path`` (see the module docstring).

    Args:
        windows: calibration windows, each (S,) float32 at the model's rate; required for ``"static"``.
        method: ``"static"`` or ``"dynamic"``.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if method not in METHODS:
        raise ConfigError(f"int8 method must be one of {', '.join(METHODS)}, got {method!r}")
    int8_path = Path(int8_path)
    if method == "static" and not windows:
        raise ConfigError("static int8 quantization needs calibration windows of real audio")
    source = _preprocessed(Path(fp32_path), int8_path.with_name(int8_path.name + ".pre.onnx"))
    try:
        if method == "dynamic":
            quantize_dynamic(
                str(source),
                str(int8_path),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=list(QUANTIZED_OPS),
            )
        else:
            _quantize_static(source, int8_path, windows)
    finally:
        if source != Path(fp32_path):
            source.unlink(missing_ok=True)
    return int8_path


def _preprocessed(fp32_path: Path, out_path: Path) -> Path:
    """onnxruntime's recommended pre-processing (ONNX shape inference, graph optimisation) of the graph;
    the graph itself when it fails (symbolic shape inference cannot follow the STFT front end: skipped)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=True)
        return out_path
    except Exception as exc:  # noqa: BLE001 - an optimisation only; quantizing the raw graph is correct too
        logger.info("quantization pre-processing skipped (%s: %s)", type(exc).__name__, exc)
        out_path.unlink(missing_ok=True)
        return fp32_path


def _quantize_static(source: Path, int8_path: Path, windows: Sequence[np.ndarray]) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(source),
        str(int8_path),
        WindowReader(windows),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        op_types_to_quantize=list(QUANTIZED_OPS),
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
    )


def checked_int8(directory: Path) -> Path | None:
    """``directory`` when it holds a graph (``model.onnx``) whose int8 check passed (``onnx.json``'s
    ``quantization_check``), else None."""
    try:
        check = json.loads((directory / ONNX_META_NAME).read_text()).get("quantization_check") or {}
    except (OSError, ValueError, AttributeError):
        return None
    return directory if check.get("passed") and (directory / ONNX_NAME).is_file() else None


class WindowReader:
    """onnxruntime's CalibrationDataReader: one window per call as a (1, S) batch."""

    def __init__(self, windows: Sequence[np.ndarray]):
        self._windows = iter(windows)

    def get_next(self) -> dict[str, np.ndarray] | None:
        window = next(self._windows, None)
        return None if window is None else {"waveforms": window[None, :]}
