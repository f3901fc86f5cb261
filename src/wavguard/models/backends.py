"""Model backends: the one thing the scoring pipeline asks of a network.

A backend turns a list of mono float32 windows at the model's rate (any lengths) into logits of
shape (N, 2), columns (REAL, FAKE). :class:`TorchBackend` runs a PyTorch module (the transformer
detector or the spectrogram CNN), :class:`OnnxBackend` an exported graph in ONNX Runtime. Both
follow :class:`Backend`, a :class:`typing.Protocol`, so the pipeline never asks which one it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["Backend", "TorchBackend", "OnnxBackend", "check_device"]


@runtime_checkable
class Backend(Protocol):
    """What the scoring pipeline needs from a network."""

    #: which runtime scores: ``"torch"``, ``"onnx"`` or ``"onnx-int8"`` (every prediction names it)
    name: str

    @property
    def min_samples(self) -> int:
        """The shortest window (samples at the model's rate) the network can score."""
        ...

    @property
    def device(self) -> torch.device:
        """Where the network runs."""
        ...

    def to(self, device: str | torch.device) -> Backend:
        """Move the network to ``device``; returns the backend."""
        ...

    def logits(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Logits (N, 2) float32, columns (REAL, FAKE), for N windows of shape (samples,)."""
        ...


class TorchBackend:
    """A PyTorch module mapping (waveforms (B, S), lengths (B,)) to logits (B, 2).

    Windows are zero-padded to the longest in the batch and the true lengths passed along, so the
    module masks the padding; the batch is cast to the module's floating dtype (fp32, bf16, fp16)
    and the logits come back as float32 numpy. On CUDA the batch is built in pinned memory and
    copied without blocking.

    Args:
        module: the network; it exposes ``min_samples``.
    """

    name = "torch"

    def __init__(self, module: nn.Module):
        self.module = module

    @property
    def min_samples(self) -> int:
        return int(self.module.min_samples)

    @property
    def device(self) -> torch.device:
        try:
            return next(self.module.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the module's parameters (float32 when it has none)."""
        for param in self.module.parameters():
            if param.is_floating_point():
                return param.dtype
        return torch.float32

    def to(self, device: str | torch.device) -> TorchBackend:
        self.module.to(check_device(device))
        return self

    @torch.inference_mode()
    def logits(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        device = self.device
        lengths = torch.tensor([w.shape[0] for w in windows], dtype=torch.long)
        # on CUDA the batch is assembled in pinned (page-locked) memory: one direct, asynchronous copy
        batch = torch.zeros(len(windows), int(lengths.max()), dtype=torch.float32, pin_memory=device.type == "cuda")
        for row, w in enumerate(windows):
            batch[row, : w.shape[0]] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
        self.module.eval()
        out = self.module(batch.to(device=device, dtype=self.dtype, non_blocking=True), lengths.to(device))
        return out.float().cpu().numpy()


class OnnxBackend:
    """An exported graph (input ``waveforms`` (B, S) float32, output ``logits`` (B, 2)) in ONNX
    Runtime on the CPU. Windows of equal length run together, unpadded, as PyTorch runs them.

    Args:
        path: the ``.onnx`` file.
        min_samples: the network's receptive field in samples.
        min_export_samples: the shortest window the exported graph accepts.
        threads: ONNX Runtime intra-op threads (``None``: its default).
        name: ``"onnx"`` (an fp32 graph) or ``"onnx-int8"``.
    """

    def __init__(
        self,
        path: str | Path,
        min_samples: int,
        min_export_samples: int,
        threads: int | None = None,
        *,
        name: str = "onnx",
    ):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._min_samples = int(min_samples)
        self.min_export_samples = int(min_export_samples)
        self.name = name

    @property
    def min_samples(self) -> int:
        """The shortest window this graph scores: the network's receptive field or the exported
        graph's shortest input, whichever is longer (a file's short last window then borrows
        samples from the window before it instead of failing the file)."""
        return max(self._min_samples, self.min_export_samples)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def to(self, device: str | torch.device) -> OnnxBackend:
        if torch.device(device).type != "cpu":
            raise ConfigError("the ONNX detector runs on onnxruntime's CPU provider; device must be 'cpu'")
        return self

    def logits(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(windows), 2), dtype=np.float32)
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            groups.setdefault(int(w.shape[0]), []).append(i)
        for length, rows in groups.items():
            if length < self.min_export_samples:
                raise ConfigError(
                    f"a {length}-sample window is shorter than the exported graph accepts "
                    f"({self.min_export_samples}); use longer audio"
                )
            batch = np.stack([np.asarray(windows[i], dtype=np.float32) for i in rows])
            out[rows] = self.session.run(["logits"], {"waveforms": batch})[0]
        return out


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` this PyTorch build can use.

    Raises:
        ConfigError: not a device name, or a CUDA/MPS device on a build or machine without one
            (instead of PyTorch's ``AssertionError: Torch not compiled with CUDA enabled``).
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ConfigError(f"device={device!r} is not a torch device ({exc}); use e.g. cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        why = "this PyTorch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ConfigError(f"device={device!r}: {why}; use --device cpu (or install a CUDA build of PyTorch)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={device!r}: MPS (Apple GPU) is not available on this machine; use --device cpu")
    return dev
