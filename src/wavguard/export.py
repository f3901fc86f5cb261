"""ONNX export and an ONNX-runtime detector with the same ``predict`` as :class:`Detector`.

The exported graph is the whole network: (LoRA merged) backbone, Whisper log-mel where used,
weighted layer sum, CNN head; input ``waveforms`` (batch, samples) float32 at the model's rate,
outputs ``logits`` (batch, 2; columns REAL, FAKE) and ``probabilities`` (softmax), both with
dynamic batch and length axes. Windowing, aggregation, calibration and the threshold stay in
Python (the same :mod:`wavguard.pipeline` as the PyTorch detector), so scores match; load the
folder with :class:`~wavguard.onnx_detector.OnnxDetector` or ``Detector.from_pretrained``.

Example:
    >>> export_onnx(detector, "detector-onnx/", quantize="int8")   # doctest: +SKIP
    >>> Detector.from_pretrained("detector-onnx/").predict("clip.wav")   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import torch
from torch import nn

from ._io import atomic_write_text
from .detector import Detector
from .errors import ConfigError
from .layout import ADAPTER_DIR, BACKBONE_DIR, ONNX_META_NAME, ONNX_NAME, WEIGHTS_NAME
from .models.lora import has_lora, merge_lora
from .models.transformer import DetectorModel

__all__ = ["export_onnx"]

MAX_EXPORT_SECONDS = 600


class _ExportWrapper(nn.Module):
    """(B, S) waveforms of equal length -> (logits, probabilities); no Python-side grouping."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.model, DetectorModel):
            states = self.model.backbone(waveforms)
            mask = torch.ones(states.shape[1], states.shape[2], dtype=torch.bool, device=states.device)
            logits = self.model.classify(states, mask)
        else:  # the spectrogram baseline takes waveforms and lengths
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long, device=waveforms.device)
            logits = self.model(waveforms, lengths)
        return logits, torch.softmax(logits, dim=-1)


def _merged_copy(model: nn.Module) -> nn.Module:
    """A CPU eval copy with any LoRA adapters merged into the backbone weights."""
    model = copy.deepcopy(model).cpu().eval()
    if has_lora(model):
        model = merge_lora(model)
    return model


def export_onnx(
    detector: Detector,
    out_dir: str | os.PathLike,
    *,
    quantize: str | None = None,
    opset: int = 20,
) -> Path:
    """Export a detector to ``out_dir/model.onnx`` (+ ``config.json``, ``onnx.json``).

    Args:
        detector: a PyTorch :class:`Detector`.
        quantize: ``None`` (fp32) or ``"int8"`` (onnxruntime dynamic quantization of the weights).
        opset: ONNX opset.

    Returns:
        ``out_dir``, loadable with ``OnnxDetector.from_pretrained`` (and ``Detector.from_pretrained``).
    """
    if quantize not in (None, "int8"):
        raise ConfigError(f"quantize must be None or 'int8', got {quantize!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapper = _ExportWrapper(_merged_copy(detector.model))
    min_samples = int(detector.model.min_samples)
    example_samples = max(detector.config.window_samples, 2 * min_samples, 4000)
    example = torch.randn(2, example_samples) * 0.1
    batch = torch.export.Dim("batch", min=1, max=4096)
    samples = torch.export.Dim("samples", min=max(min_samples, 400), max=MAX_EXPORT_SECONDS * detector.config.sample_rate_hz)
    fp32_path = out_dir / (".fp32.onnx" if quantize else ONNX_NAME)
    tmp = out_dir / ".export.onnx"
    with torch.no_grad():
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
    os.replace(tmp, fp32_path)
    if quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32_path), str(out_dir / ".int8.onnx"), weight_type=QuantType.QInt8)
        os.replace(out_dir / ".int8.onnx", out_dir / ONNX_NAME)
        fp32_path.unlink()
    detector.config.save(out_dir)
    meta = {
        "min_samples": min_samples,
        "min_export_samples": max(min_samples, 400),
        "quantization": quantize or "fp32",
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
