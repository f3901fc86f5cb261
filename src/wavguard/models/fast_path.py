"""The built-in detector's int8 graph, built on the user's machine on first use.

A built-in detector (``wavguard/detectors/``) ships only its own small weights; its int8 graph
holds the whole backbone (21 MB for Whisper-base), so it is not in the package. Dynamic int8
quantisation needs no data, so the graph is made where it runs: exported from the PyTorch network
(:func:`~.onnx_graph.write_graph`), quantised (:func:`~.onnx_graph.quantize_int8`, ``"dynamic"``,
the method whose EER check passed on the release's validation split) and checked against the
PyTorch network on :func:`probe_windows` before it is used: every window's probability of FAKE
(softmax of the logits, before calibration) may move by at most :data:`MAX_PROBABILITY_CHANGE`.

The folder (``model.onnx``, ``onnx.json`` with the check, ``config.json``) lives in the cache
(:func:`fast_path_dir`), named by a digest of the detector's files and of the torch and
onnxruntime versions that built it, so a new release or library version builds a new one.
``WAVGUARD_FAST_PATH=0`` turns it off: nothing is built and a built graph is not used (the detector
runs in PyTorch).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from importlib import metadata, util
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write_text, cache_root
from .._version import __version__
from ..layout import ONNX_META_NAME, ONNX_NAME
from .backends import OnnxBackend, TorchBackend
from .onnx_graph import checked_int8, quantize_int8, write_graph

__all__ = [
    "FAST_PATH_ENV",
    "MAX_PROBABILITY_CHANGE",
    "build_fast_path",
    "fast_path_dir",
    "fast_path_enabled",
    "probe_windows",
    "tried",
]

logger = logging.getLogger(__name__)

#: ``0``, ``off``, ``false`` or ``no`` keeps built-in detectors on PyTorch (nothing is built, a built graph unused)
FAST_PATH_ENV = "WAVGUARD_FAST_PATH"
#: the check's limit on one probe window's |P_int8(fake) - P_torch(fake)|
MAX_PROBABILITY_CHANGE = 0.1
#: what the graph needs beyond torch (the ``export`` extra)
REQUIRED_MODULES = ("onnx", "onnxscript", "onnxruntime")
FAILED_NAME = "failed.json"


def fast_path_enabled() -> bool:
    """Whether built-in detectors may build their int8 graph (:data:`FAST_PATH_ENV`) and the
    ``export`` extra is installed."""
    if os.environ.get(FAST_PATH_ENV, "").strip().lower() in ("0", "off", "false", "no"):
        return False
    return all(util.find_spec(name) is not None for name in REQUIRED_MODULES)


def fast_path_dir(detector_dir: Path) -> Path:
    """The cache folder of ``detector_dir``'s int8 graph: ``fast-path/<folder name>-<digest>`` in
    :func:`wavguard._io.cache_root`, the digest over the detector's files and the versions of
    wavguard, torch and onnxruntime."""
    digest = hashlib.sha256()
    for path in sorted(p for p in detector_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(detector_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        onnxruntime_version = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        onnxruntime_version = "none"
    digest.update(f"wavguard={__version__}\0torch={torch.__version__}\0onnxruntime={onnxruntime_version}".encode())
    return cache_root() / "fast-path" / f"{detector_dir.name}-{digest.hexdigest()[:16]}"


def probe_windows(sample_rate_hz: int, window_samples: int) -> list[np.ndarray]:
    """Fixed inputs for the check, each (S,) float32 at ``sample_rate_hz``: voiced sounds (a
    harmonic series on a gliding pitch, shaped by two formants, at syllable rate) clean and in noise,
    breath-like noise, a chirp, near-silence, and one half-length window.

    The check compares two runtimes on the same inputs, so they need not be real speech; they must
    drive the network through the ranges speech does.
    """
    rng = np.random.default_rng(20261207)
    n = int(window_samples)
    t = np.arange(n) / sample_rate_hz
    windows = []
    for f0_hz, glide_hz, snr_db in ((110, 30, None), (210, -40, None), (140, 60, 20), (180, 20, 5)):
        phase = 2 * np.pi * np.cumsum(f0_hz + glide_hz * np.sin(2 * np.pi * 0.7 * t)) / sample_rate_hz
        voiced = sum(np.sin(k * phase) / k for k in range(1, 25))
        spectrum = np.fft.rfft(voiced)
        freqs = np.fft.rfftfreq(n, 1 / sample_rate_hz)
        formants = sum(1 / (1 + ((freqs - fc) / 120) ** 2) for fc in (500 + f0_hz, 1500 + 3 * f0_hz))
        voiced = np.fft.irfft(spectrum * (0.05 + formants), n)
        voiced *= 0.5 * (1 - np.cos(2 * np.pi * 4.0 * t))  # four syllables a second
        voiced *= 0.3 / (np.abs(voiced).max() + 1e-9)
        if snr_db is not None:
            noise = rng.standard_normal(n)
            voiced += noise * np.sqrt(np.mean(voiced**2) / 10 ** (snr_db / 10) / np.mean(noise**2))
        windows.append(voiced)
    windows.append(0.05 * np.cumsum(rng.standard_normal(n)) / np.sqrt(n) + 0.02 * rng.standard_normal(n))
    windows.append(0.3 * np.sin(2 * np.pi * (80 * t + 0.5 * 3000 / t[-1] * t**2)))
    windows.append(1e-4 * rng.standard_normal(n))
    windows.append(windows[0][: n // 2].copy())
    return [np.asarray(w, dtype=np.float32) for w in windows]


def build_fast_path(torch_backend: TorchBackend, config: Any, out_dir: Path) -> Path | None:
    """Build, check and keep the int8 graph of ``torch_backend``'s network in ``out_dir``.

    Args:
        torch_backend: the detector's PyTorch network (on the CPU, in float32).
        config: its :class:`~wavguard.config.DetectorConfig` (saved next to the graph).
        out_dir: from :func:`fast_path_dir`; written whole or not at all (a folder built beside it
            is renamed into place, so concurrent builds never see half a graph).

    Returns:
        ``out_dir`` when the check passed, else None (``onnx.json`` in ``out_dir`` then says why,
        and the next load does not try again). An error while building is logged and leaves
        ``failed.json`` for the same reason; a cache folder that cannot be written is logged and
        nothing is kept (the next load tries again).
    """
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as exc:  # a read-only or misplaced cache: score in PyTorch rather than fail the load
        logger.warning("the int8 graph cannot be built in %s (%s); scoring in PyTorch", out_dir.parent, exc)
        return None
    started = time.perf_counter()
    try:
        try:
            meta = _build(torch_backend, config, work)
        except Exception as exc:  # noqa: BLE001 - the detector still scores in PyTorch; say why and move on
            logger.warning("the int8 graph could not be built (%s: %s); scoring in PyTorch", type(exc).__name__, exc)
            shutil.rmtree(work)
            work.mkdir()
            meta = None
            atomic_write_text(work / FAILED_NAME, json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        try:
            work.rename(out_dir)
        except OSError:  # another process finished first: keep its folder
            logger.debug("%s already built by another process", out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if meta is not None:
        check = meta["quantization_check"]
        logger.info(
            "built the int8 graph in %.0f s (%s; max |probability change| %.4f on %d probe windows): %s",
            time.perf_counter() - started,
            "passed" if check["passed"] else "FAILED, scoring in PyTorch",
            check["max_score_change"],
            check["clips"],
            out_dir,
        )
    return checked_int8(out_dir)


def _build(torch_backend: TorchBackend, config: Any, work: Path) -> dict[str, Any]:
    """Export, quantise and check in ``work``; returns what ``onnx.json`` holds."""
    fp32_path = work / ".fp32.onnx"
    limits = write_graph(
        torch_backend.module, fp32_path, window_samples=config.window_samples, sample_rate_hz=config.sample_rate_hz
    )
    quantize_int8(fp32_path, work / ONNX_NAME, method="dynamic")
    fp32_path.unlink()
    windows = probe_windows(config.sample_rate_hz, config.window_samples)
    int8 = OnnxBackend(work / ONNX_NAME, *limits, name="onnx-int8")
    # one window per call: no padding in either runtime
    want = _fake_probability(np.concatenate([torch_backend.logits([w]) for w in windows]))
    got = _fake_probability(np.concatenate([int8.logits([w]) for w in windows]))
    change = np.abs(got - want)
    passed = bool(change.max() <= MAX_PROBABILITY_CHANGE)
    check = {
        "clips": len(windows),
        "against": "the PyTorch network (float32) on wavguard.models.fast_path.probe_windows, softmax of the logits",
        "max_score_change": float(change.max()),
        "mean_score_change": float(change.mean()),
        "max_score_change_allowed": MAX_PROBABILITY_CHANGE,
        "passed": passed,
        "reason": "" if passed else f"a probe window's probability moved by {change.max():.3f}",
    }
    meta = {
        "min_samples": limits[0],
        "min_export_samples": limits[1],
        "quantization": "int8",
        "int8_method": "dynamic",
        "quantization_check": check,
        "built_on_first_use": True,
        "inputs": {"waveforms": "float32 (batch, samples) at config.sample_rate_hz"},
        "outputs": {"logits": "(batch, 2): REAL, FAKE", "probabilities": "softmax of logits"},
    }
    config.save(work)
    atomic_write_text(work / ONNX_META_NAME, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def _fake_probability(logits: np.ndarray) -> np.ndarray:
    """(N, 2) logits -> (N,) softmax probability of FAKE."""
    logits = np.asarray(logits, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))


def tried(directory: Path) -> bool:
    """Whether a build of this folder already ran (passed, failed its check or raised)."""
    return (directory / ONNX_META_NAME).is_file() or (directory / FAILED_NAME).is_file()
