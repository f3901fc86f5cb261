"""Detector: build, load, save and score. The one object most users touch.

Example:
    >>> from wavguard import Detector
    >>> det = Detector.from_pretrained("path/or/hub-id")      # doctest: +SKIP
    >>> pred = det.predict("clip.flac")                        # doctest: +SKIP
    >>> pred.score, pred.label                                 # doctest: +SKIP
    (0.93, 'fake')

Scoring itself (decode -> preprocess -> windows -> logits -> calibrate -> aggregate) is
:mod:`wavguard.pipeline`; a detector is a :class:`~wavguard.scorer.Scorer` whose backend is a
PyTorch module. Saved directories follow :mod:`wavguard.layout`.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._io import apply_umask, atomic_write, atomic_write_text
from .config import DetectorConfig
from .errors import ConfigError, ModelLoadError
from .hub import push_to_hub
from .layout import ADAPTER_DIR, BACKBONE_DIR, PREPROCESSOR_NAME, WEIGHTS_NAME, is_onnx_dir
from .models.backbone import load_backbone, resolve_model_dir
from .models.backends import TorchBackend
from .models.baseline import BaselineModel, baseline_config, load_baseline_model
from .models.lora import has_lora, load_adapter, save_adapter
from .models.quiet import quiet_transformers
from .models.transformer import DetectorModel
from .onnx_detector import OnnxDetector
from .portable import is_hub_id, portable_config
from .scorer import Scorer

__all__ = ["Detector", "build_baseline_detector"]

logger = logging.getLogger(__name__)


class Detector(Scorer):
    """A deepfake speech detector: preprocessing contract + network + calibration + threshold.

    Build one with :meth:`from_backbone` (new, untrained head) or :meth:`from_pretrained`
    (a saved detector), score with :meth:`predict`, save with :meth:`save_pretrained`.

    Args:
        model: a module mapping (waveforms (B, S), lengths (B,)) to logits (B, 2) with columns
            (REAL, FAKE), exposing ``min_samples``.
        config: the detector's :class:`DetectorConfig`.
        backbone_is_reference: the backbone's weights equal ``config.backbone`` at
            ``config.backbone_revision``, so a save may reference it instead of copying it.
    """

    def __init__(self, model: nn.Module, config: DetectorConfig, backbone_is_reference: bool = False):
        super().__init__(TorchBackend(model), config)
        self.backbone_is_reference = backbone_is_reference
        model.eval()

    @property
    def model(self) -> nn.Module:
        """The PyTorch network: (waveforms (B, S), lengths (B,)) -> logits (B, 2), (REAL, FAKE)."""
        return self.backend.module

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_backbone(
        cls,
        name_or_path: str,
        revision: str | None = None,
        *,
        pretrained: bool = True,
        config: DetectorConfig | None = None,
        seed: int | None = None,
        **overrides: Any,
    ) -> "Detector":
        """A new detector on a pretrained backbone, with a freshly initialised head.

        Args:
            name_or_path: Hub id or local directory of a wav2vec2 / HuBERT / WavLM / Whisper checkpoint.
            revision: Hub revision of the backbone.
            pretrained: ``False`` gives the backbone random weights (tests, ablations).
            config: a base config; ``overrides`` (any :class:`DetectorConfig` field) change it.
            seed: seeds the head's (and a random backbone's) initialisation.

        Example:
            >>> det = Detector.from_backbone("facebook/wav2vec2-base", num_layers=6)  # doctest: +SKIP
        """
        base = config or DetectorConfig()
        cfg = base.replace(backbone=str(name_or_path), backbone_revision=revision, **overrides)
        if seed is not None:
            torch.manual_seed(seed)
        backbone = load_backbone(cfg.backbone, revision, cfg.num_layers, pretrained=pretrained, normalize=cfg.normalize)
        cfg = cfg.replace(
            backbone_type=backbone.model_type,
            normalize=backbone.normalize,
            sample_rate_hz=backbone.sample_rate_hz,
        )
        model = DetectorModel(backbone, cfg)
        return cls(model, cfg, backbone_is_reference=pretrained)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        revision: str | None = None,
        *,
        device: str | torch.device | None = None,
        token: str | bool | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        torch_dtype: torch.dtype | str | None = None,
    ) -> "Detector":
        """Load a saved detector from a local directory or a Hugging Face Hub id.

        Hub ids are fetched with ``huggingface_hub.snapshot_download`` (honours
        ``HF_HUB_OFFLINE`` and the local cache). Nothing from the checkpoint is executed. A
        directory written by :func:`wavguard.export.export_onnx` gives an
        :class:`~wavguard.export.OnnxDetector`.

        Args:
            name_or_path: a detector directory or a Hub id (``"user/detector"``).
            revision: Hub branch, tag or commit of the detector (a referenced backbone uses
                ``config.backbone_revision``).
            device: where the network runs.
            token, cache_dir, local_files_only: passed to ``snapshot_download`` for the
                detector and for a backbone it references by Hub id.
            torch_dtype: ``torch.bfloat16``, ``torch.float16`` (or their names) to score in
                that precision; inputs are cast to it, scores stay float.
        """
        hub = {"token": token, "cache_dir": cache_dir, "local_files_only": local_files_only}
        directory = resolve_model_dir(str(name_or_path), revision, **hub)
        if is_onnx_dir(directory):
            return OnnxDetector.from_pretrained(directory, device=device)
        config = DetectorConfig.load(directory)
        if config.kind != "transformer":  # the spectrogram CNN
            model = load_baseline_model(directory, config)
            reference = False
        else:
            bundled = directory / BACKBONE_DIR
            if bundled.is_dir():
                backbone = load_backbone(str(bundled), normalize=config.normalize)
                reference = False  # a bundle stays a bundle when saved again
            else:
                backbone = load_backbone(
                    config.backbone, config.backbone_revision, config.num_layers, normalize=config.normalize, **hub
                )
                reference = True
            model = DetectorModel(backbone, config)
        _load_weights(model, directory / WEIGHTS_NAME, strict_prefixes=("layer_sum.", "head."))
        adapter = directory / ADAPTER_DIR
        if adapter.is_dir():
            model = load_adapter(model, adapter)  # the base weights stay what ``reference`` says
        det = cls(model, config, backbone_is_reference=reference)
        if torch_dtype is not None:
            det.model.to(_as_dtype(torch_dtype))
        if device is not None:
            det.to(device)
        return det

    # -- saving --------------------------------------------------------------------------
    def save_pretrained(
        self, directory: str | os.PathLike, *, bundle_backbone: bool | None = None, portable: bool = False
    ) -> Path:
        """Save as a directory: ``config.json``, ``model.safetensors``, ``preprocessor_config.json``
        and, when needed, ``backbone/`` and ``adapter/`` (see :mod:`wavguard.layout`).

        Args:
            bundle_backbone: copy the backbone into ``backbone/`` (an offline bundle). ``None``
                bundles when the backbone differs from the reference it was loaded from (random
                init, fine-tuned, or loaded from a bundle), and with ``portable`` also when the
                reference is not a Hub id (a local folder).
            portable: a directory that loads on any machine and names none of this one's folders
                (what :meth:`push_to_hub` uploads): a local backbone is bundled, local paths in
                ``config.json`` and ``adapter/adapter_config.json`` become base names.

        Returns:
            the directory.

        Raises:
            ConfigError: ``portable`` with ``bundle_backbone=False`` on a local backbone.
        """
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        transformer = self.config.kind == "transformer"
        reference = self.backbone_is_reference and (not portable or is_hub_id(self.config.backbone))
        bundle = transformer and ((not reference) if bundle_backbone is None else bundle_backbone)
        config = portable_config(self.config, bundled=bundle) if portable else self.config
        if transformer:
            state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
        atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
        target = directory / BACKBONE_DIR
        if bundle:
            staging = directory / f".{BACKBONE_DIR}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            base = self.model.backbone.model
            if has_lora(self.model):  # bundle the unchanged base weights; the adapter is saved apart
                base = copy.deepcopy(base).unload()
            with quiet_transformers():
                base.save_pretrained(str(staging), safe_serialization=True)
            apply_umask(staging)  # safetensors writes 0600 files: others could not load the detector
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        elif target.exists():
            shutil.rmtree(target)
        adapter = directory / ADAPTER_DIR
        if transformer and has_lora(self.model):
            base_model = (config.backbone if is_hub_id(config.backbone) and not bundle else "") if portable else None
            save_adapter(self.model, adapter, base_model=base_model)
        elif adapter.exists():
            shutil.rmtree(adapter)
        config.save(directory)
        atomic_write_text(directory / PREPROCESSOR_NAME, json.dumps(_preprocessor_config(config), indent=2) + "\n")
        return directory

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | None = None,
        commit_message: str = "Upload wavguard detector",
        revision: str | None = None,
        portable: bool = True,
    ):
        """Upload the detector with a model card to the Hugging Face Hub; returns the commit info.

        ``portable`` (the default) uploads what :meth:`save_pretrained` writes with ``portable=True``:
        a local backbone bundled, no local paths, so anyone can load it.
        """
        return push_to_hub(
            self, repo_id, private=private, token=token, commit_message=commit_message, revision=revision, portable=portable
        )

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"Detector(kind={cfg.kind!r}, backbone={cfg.backbone!r}, type={cfg.backbone_type!r}, "
            f"layers={cfg.num_layers}, window={cfg.window_seconds}s, threshold={cfg.threshold})"
        )


def build_baseline_detector(feature: str = "logmel", sample_rate_hz: int = 16000, seed: int | None = 0, **config_overrides: Any) -> Detector:
    """A new spectrogram-CNN detector with random weights.

    Args:
        feature: ``"logmel"``, ``"mfcc"`` or ``"lfcc"``.
        sample_rate_hz: input rate; every input is resampled to it.
        seed: seeds the weight initialisation.
        config_overrides: :class:`~wavguard.config.DetectorConfig` fields (``window_seconds``,
            ``threshold``, ``denoise`` ...) and/or ``config.spectrogram`` keys (``n_filters``,
            ``channels``, ``hop_seconds`` ... see
            :data:`~wavguard.models.baseline.SPECTROGRAM_DEFAULTS`); a ``spectrogram={...}`` dict
            also works. ``window_seconds``/``hop_seconds`` given here set the scoring windows (hop
            defaults to the window); the STFT's are ``spectrogram={"window_seconds": ...}``.

    Returns:
        a :class:`Detector` with ``config.kind == "spectrogram"``.
    """
    config = baseline_config(feature, sample_rate_hz, **config_overrides)
    if seed is not None:
        torch.manual_seed(seed)
    return Detector(BaselineModel(sample_rate_hz, config.spectrogram), config)


def _preprocessor_config(config: DetectorConfig) -> dict[str, Any]:
    """``preprocessor_config.json``: transformers' pipeline hands the model raw mono float32 at the
    detector's rate, unnormalised (a backbone that normalises does it per window, inside wavguard)."""
    return {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1,
        "sampling_rate": config.sample_rate_hz,
        "padding_value": 0.0,
        "padding_side": "right",
        "do_normalize": False,
        "return_attention_mask": True,
    }


def _as_dtype(dtype: torch.dtype | str) -> torch.dtype:
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


def _load_weights(model: nn.Module, path: Path, strict_prefixes: tuple[str, ...]) -> None:
    """Load ``model.safetensors`` into ``model``; every parameter under ``strict_prefixes`` must be present."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelLoadError(f"{path.parent}: no {path.name}; is this a wavguard detector directory?")
    try:
        state = load_file(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot read the weights ({exc})") from None
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k.startswith(strict_prefixes) and k not in state]
    if unexpected or missing:
        raise ModelLoadError(
            f"{path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    mismatched = [k for k in state if own[k].shape != state[k].shape]
    if mismatched:
        raise ModelLoadError(f"{path}: tensor shapes do not match the config for {mismatched[:5]}")
    model.load_state_dict(state, strict=False)
