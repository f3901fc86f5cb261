"""ONNX export and an ONNX-runtime detector with the same ``predict`` as :class:`Detector`.

The exported graph is the whole network: (LoRA merged) backbone, Whisper log-mel where used,
weighted layer sum, CNN head; input ``waveforms`` (batch, samples) float32 at the model's rate,
outputs ``logits`` (batch, 2; columns REAL, FAKE) and ``probabilities`` (softmax), both with
dynamic batch and length axes. Windowing, aggregation, calibration and the threshold stay in
Python (:class:`OnnxDetector` reuses :class:`Detector`'s), so scores match the PyTorch detector.

Example:
    >>> export_onnx(detector, "detector-onnx/", quantize="int8")   # doctest: +SKIP
    >>> OnnxDetector.from_pretrained("detector-onnx/").predict("clip.wav")   # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._io import atomic_write_text
from .config import DetectorConfig
from .detector import Detector, _has_lora
from .errors import ConfigError, ModelLoadError

__all__ = ["export_onnx", "OnnxDetector", "ONNX_NAME", "ONNX_META_NAME"]

ONNX_NAME = "model.onnx"
ONNX_META_NAME = "onnx.json"
MAX_EXPORT_SECONDS = 600


class _ExportWrapper(nn.Module):
    """(B, S) waveforms of equal length -> (logits, probabilities); no Python-side grouping."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if hasattr(self.model, "classify"):
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
    if _has_lora(model):
        from .lora import merge_lora

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
        ``out_dir``, loadable with :meth:`OnnxDetector.from_pretrained` (and ``Detector.from_pretrained``).
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
    for stale in ("model.safetensors", "backbone", "adapter"):
        target = out_dir / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    return out_dir


class _OnnxModel:
    """The minimal model interface :class:`Detector` needs, backed by an onnxruntime session."""

    def __init__(self, path: Path, min_samples: int, min_export_samples: int, threads: int | None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.min_samples = min_samples
        self.min_export_samples = min_export_samples

    def eval(self) -> "_OnnxModel":
        return self

    def parameters(self):
        return iter(())

    def to(self, device) -> "_OnnxModel":
        if str(device) != "cpu":
            raise ConfigError("the ONNX detector runs on onnxruntime's CPU provider; device must be 'cpu'")
        return self


class OnnxDetector(Detector):
    """A detector running an exported ONNX graph; same ``predict``, ``stream`` and score convention."""

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, revision: str | None = None, *, device=None, threads: int | None = None) -> "OnnxDetector":
        from .backbone import resolve_model_dir

        directory = resolve_model_dir(str(name_or_path), revision)
        if not (directory / ONNX_NAME).is_file():
            raise ModelLoadError(f"{directory}: no {ONNX_NAME}; export one with `wavguard export`")
        config = DetectorConfig.load(directory)
        try:
            meta = json.loads((directory / ONNX_META_NAME).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{directory}: missing or invalid {ONNX_META_NAME} ({exc})") from None
        model = _OnnxModel(directory / ONNX_NAME, int(meta["min_samples"]), int(meta.get("min_export_samples", 400)), threads)
        detector = cls(model, config)  # type: ignore[arg-type]
        detector.directory = directory
        return detector

    def score_windows(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Logits (N, 2); windows of equal length run together (no padding, exact like PyTorch)."""
        out = np.zeros((len(windows), 2), dtype=np.float32)
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            groups.setdefault(int(w.shape[0]), []).append(i)
        for length, rows in groups.items():
            if length < self.model.min_export_samples:
                raise ConfigError(
                    f"a {length}-sample window is shorter than the exported graph accepts "
                    f"({self.model.min_export_samples}); use longer audio"
                )
            batch = np.stack([np.asarray(windows[i], dtype=np.float32) for i in rows])
            out[rows] = self.model.session.run(["logits"], {"waveforms": batch})[0]
        return out

    def save_pretrained(self, directory: str | os.PathLike, **_: object) -> Path:
        """Copy the ONNX graph and metadata, and write the (possibly changed) config."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in (ONNX_NAME, ONNX_META_NAME):
            if Path(self.directory, name).resolve() != (directory / name).resolve():
                shutil.copyfile(Path(self.directory, name), directory / f".{name}.tmp")
                os.replace(directory / f".{name}.tmp", directory / name)
        self.config.save(directory)
        return directory
