"""An exported detector: an ONNX graph in ONNX Runtime, with the same ``predict`` as ``Detector``.

Windowing, aggregation, calibration and the threshold run in the same scoring pipeline as the
PyTorch detector (:mod:`wavguard.pipeline`); only the backend differs
(:class:`~wavguard.models.backends.OnnxBackend`). Write one with :func:`wavguard.export.export_onnx`.

Example:
    >>> OnnxDetector.from_pretrained("detector-onnx/").predict("clip.wav")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .config import DetectorConfig
from .errors import ModelLoadError
from .layout import ONNX_META_NAME, ONNX_NAME
from .models.backbone import resolve_model_dir
from .models.backends import OnnxBackend
from .scorer import Scorer

__all__ = ["OnnxDetector"]


class OnnxDetector(Scorer):
    """A detector running an exported ONNX graph; same ``predict``, ``stream`` and score convention.

    Args:
        backend: the ONNX Runtime session.
        config: the detector's config (saved next to the graph).
        directory: the folder the graph was loaded from.
    """

    def __init__(self, backend: OnnxBackend, config: DetectorConfig, directory: Path):
        super().__init__(backend, config)
        self.directory = Path(directory)

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, revision: str | None = None, *, device=None, threads: int | None = None
    ) -> "OnnxDetector":
        """Load an exported detector from a local directory or a Hub id (``threads``: ONNX Runtime
        intra-op threads)."""
        directory = resolve_model_dir(str(name_or_path), revision)
        if not (directory / ONNX_NAME).is_file():
            raise ModelLoadError(f"{directory}: no {ONNX_NAME}; export one with `wavguard export`")
        config = DetectorConfig.load(directory)
        try:
            meta = json.loads((directory / ONNX_META_NAME).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{directory}: missing or invalid {ONNX_META_NAME} ({exc})") from None
        backend = OnnxBackend(directory / ONNX_NAME, int(meta["min_samples"]), int(meta.get("min_export_samples", 400)), threads)
        detector = cls(backend, config, directory)
        if device is not None:
            detector.to(device)
        return detector

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

    def __repr__(self) -> str:
        return f"OnnxDetector(directory={str(self.directory)!r}, window={self.config.window_seconds}s, threshold={self.config.threshold})"
