"""TrainConfig: every training setting, validated, loadable from a YAML recipe of plain values.

A recipe is a YAML mapping whose keys are :class:`TrainConfig` fields. Command-line overrides are
``key=value`` strings; values are parsed as YAML (``[8, 8]``, ``true``, ``null``) and coerced to
the field's type, and dotted keys reach into mapping fields (``detector.window_seconds=2.0``; see
:mod:`wavguard.training.overrides`).

Example:
    >>> cfg = TrainConfig(train_data="data/", backbone="facebook/wav2vec2-base", output_dir="runs/x")
    >>> cfg.with_overrides(["epochs=3", "mode=lora", "lora_rank=4"]).lora_rank
    4
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_text, cache_root
from ..config import KINDS, DetectorConfig
from ..errors import ConfigError
from ..hub.publish import check_repo_id
from .aasist_recipe import check_aasist_alone, check_aasist_augment, check_aasist_learning_rate
from .data import check_columns, plain_sources
from .losses import LOSSES, loss_options
from .objectives import check_objectives
from .overrides import apply_overrides, coerce_value, read_recipe, resolve_augment

__all__ = ["TrainConfig", "LOSSES", "MODES", "BALANCE_MODES", "MIXED_PRECISION", "DEFAULT_LORA_TARGETS"]

MODES = ("frozen", "lora", "full")
BALANCE_MODES = ("none", "class_weights", "oversample")
MIXED_PRECISION = ("no", "fp16", "bf16")
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")

DataSources = Any  # str | {"source": str, "split": str | None} | a list of those


@dataclass
class TrainConfig:
    """Settings of one training run.

    Attributes:
        train_data: data source(s) for ``wavguard.data.load_any``: a path, a Hub dataset id
            (``owner/name``, through ``datasets.load_dataset``), a mapping
            ``{"source": ..., "split": ..., "revision": ..., "streaming": ...}``, an in-memory
            ``datasets.Dataset`` (used as is), or a list of those (concatenated).
        train_split: split passed to ``load_any`` for training sources without their own split.
        revision: Hub revision (branch, tag, commit) of training sources named by Hub id
            (``train_data: owner/dataset``) without their own ``revision`` key.
        streaming: read Hub / ``load_dataset`` sources as ``IterableDataset``: a stream is read once,
            its first ``max_train_clips`` (``max_eval_clips`` for validation and test) rows after a
            seeded shuffle, into the local ``datasets`` cache (training needs random access); without
            that limit it is refused. A source mapping's own ``streaming`` key wins.
        validation_data: validation source(s); ``None`` uses ``validation_fraction`` of the training data.
        validation_split: split for validation sources.
        validation_fraction: held-out stratified fraction of the training data when
            ``validation_data`` is ``None`` (0 = no validation; the last epoch is kept).
        test_data: source(s) scored once with the best model after training (EER per source).
        test_split: split for test sources.
        audio_column, label_column: the data's audio and label columns (``speech``, ``is_spoof``...);
            the defaults keep the usual names (an ``Audio`` column; label, key, class, target...).
        label_mapping: the label values (a ``ClassLabel``'s names) -> 0 (real) or 1 (fake), or
            ``"real"``/``"fake"``: ``{bonafide: 0, spoof: 1}``; a value it leaves out is an error. Without
            it the usual names are read (0/1, real/fake, bonafide/spoof...). Columns and mapping apply
            to training, validation and test sources that are tables (not class folders or corpora).
        init_from: a saved detector directory (or Hub id) to continue training from: its backbone,
            head, calibration and threshold are the starting point instead of a new head on
            ``backbone``. Its architecture is kept, so ``backbone``, ``num_layers``, ``detector``
            and ``dropout`` must be left unset; ``kind`` must match it. ``mode`` still chooses
            what trains (``"lora"`` continues a LoRA detector's adapters or adds new ones).
        backbone: Hub id or local directory of the pretrained speech transformer.
        backbone_revision: Hub revision of the backbone.
        num_layers: keep only the backbone's first N transformer layers.
        detector: other :class:`~wavguard.config.DetectorConfig` fields (head sizes, window...).
        mode: ``"frozen"`` (head only, cached features), ``"lora"`` or ``"full"`` fine-tuning.
        freeze_feature_encoder: ``"full"`` mode keeps the convolutional front end frozen.
        lora_rank, lora_alpha, lora_dropout, lora_target_modules: the LoRA adapters (``"lora"`` mode).
        epochs: passes over the training data.
        batch_size: clips per device per forward pass.
        eval_batch_size: clips per device in validation (default ``batch_size``).
        gradient_accumulation_steps: forward passes per optimizer step (``None``: accelerate decides,
            i.e. ``ACCELERATE_GRADIENT_ACCUMULATION_STEPS`` or 1). accelerate's environment variable wins
            over a recipe's value; the learning-rate schedule counts the accelerator's actual value.
        head_learning_rate: AdamW learning rate of the head (and of the layer weighting unless
            ``layer_weights_learning_rate`` is set).
        layer_weights_learning_rate: AdamW learning rate of the softmax layer weights (``None``: the
            head's). The weights are a handful of logits that start equal; at the head's rate they
            barely move in a few epochs, so a rate 10-50x larger lets them pick layers.
        backbone_learning_rate: AdamW learning rate of the backbone (``"full"``) or adapters (``"lora"``),
            and of AASIST's weights where they train (``aasist.train`` ``"graph"`` or ``"full"``)
            unless ``aasist_learning_rate`` is set.
        aasist_learning_rate: AdamW learning rate of AASIST's weights where they train, alone or fused
            (``None``: ``backbone_learning_rate``): a pretrained raw branch next to LoRA adapters.
        weight_decay: AdamW weight decay (not applied to biases and norms).
        max_grad_norm: clip the gradient norm to this (``None``: no clipping).
        scheduler: ``transformers.get_scheduler`` name (``"cosine"``, ``"linear"``, ...).
        warmup_ratio: fraction of optimizer steps spent warming up linearly.
        balance: ``"none"``, ``"class_weights"`` (inverse-frequency weighted cross-entropy) or
            ``"oversample"`` (sample clips with inverse class frequency).
        class_weights: explicit (real, fake) cross-entropy weights; overrides ``balance`` weights.
        loss: ``"ce"`` (cross-entropy, weighted as ``balance`` says) or ``"ocsoftmax"`` (one-class
            softmax, :mod:`wavguard.training.losses`: real speech within a cosine margin of a learned
            centre, fakes pushed away; transformer detectors; class weights weight it the same way).
        loss_options: the loss's settings: OC-softmax ``m_real`` (0.9), ``m_fake`` (0.2), ``alpha`` (20).
        adversarial: adversarial training (``None``: off), a mapping
            ``{method: fgsm|pgd, snr_db: 30, steps: 3, probability: 0.5}``
            (:class:`~wavguard.training.adversarial.AdversarialConfig`): each training clip is, with
            ``probability``, replaced by a perturbation ``snr_db`` below it that raises the loss of the
            current model. Needs waveforms in training: not with the frozen-feature cache.
        pairing: paired batches (``None``: off), a mapping ``{column: source_id, margin_weight: 0, margin: 1}``
            (:class:`~wavguard.training.pairing.PairingConfig`): rows with equal values of ``column``
            (a real clip and the copy-synthesis fakes made from it) share a batch, and
            with ``margin_weight > 0`` each fake's FAKE-minus-REAL margin is pushed ``margin`` above
            its own real source's. Not with ``balance: oversample``.
        sam: sharpness-aware minimisation (``None``: off), ``{rho: 0.05, adaptive: false}`` or ``true``
            for those (:class:`~wavguard.training.sam.SamConfig`): every step also backpropagates the
            batch at weights moved ``rho`` up the loss, and steps with that gradient (twice the
            compute). Not with gradient accumulation over several batches.
        consistency: consistency training (``None``: off), a mapping of ``channels`` (channel
            names; default reverb alone), ``weight`` (1.0) and ``probability`` (0.5)
            (:class:`~wavguard.training.consistency.ConsistencyConfig`): each
            training clip, with ``probability``, also goes through one of ``channels`` as an extra
            row, and ``weight`` times the squared difference of the two log-odds joins the loss.
            Needs waveforms in training: not with the frozen-feature cache.
        crop_seconds: training clips are cropped at random to this length (validation and cached
            features: the first ``crop_seconds``); shorter clips are kept whole.
        dropout: overrides the head's dropout probability.
        early_stopping_patience: stop after this many validations without a lower EER (``None``: off).
        seed: seeds weights, sampling, crops, augmentation and dropout.
        output_dir: checkpoints, ``metrics.jsonl`` and ``best/`` (a detector directory) go here.
        push_to_hub: at the end of training, publish the best detector with its model card to the
            Hub repository ``hub_model_id`` (created if needed; the token is huggingface_hub's:
            ``HF_TOKEN`` or ``hf auth login``).
        hub_model_id: the repository, ``name`` or ``owner/name``; required with ``push_to_hub``.
        hub_private: make a new repository private (``None``: the Hub's default for its owner).
        mixed_precision: ``"no"``, ``"fp16"`` or ``"bf16"`` (accelerate's autocast); ``None`` (the
            default): accelerate decides (``accelerate launch --mixed_precision``,
            ``ACCELERATE_MIXED_PRECISION``, ``accelerate config``; ``"no"`` when none is set). An
            explicit value overrides accelerate's settings. ``train_config.yaml`` records the
            precision the run used.
        checkpoint_every_steps: also checkpoint every N optimizer steps (0: at epoch ends only).
        keep_checkpoints: how many recent checkpoints to keep.
        log_every_steps: write a training-loss record every N optimizer steps.
        log_with: accelerate tracker (``"tensorboard"``, ``"wandb"``...), used only when installed.
        augment: on-the-fly augmentation of training crops: a :func:`wavguard.audio.augment.build_augmenter`
            config (``{"transforms": {...}}``), a ``"module:function"`` string, or a callable
            ``augment(samples, sample_rate_hz) -> samples``.
        aasist_augment: what a fused detector's AASIST branch sees in training: ``None`` (the
            backbone's input, ``augment`` included), ``"clean"`` (the crop before ``augment``) or an
            augmentation of that crop, given like ``augment`` (e.g. RawBoost alone).
        kind: ``"transformer"`` (backbone + CNN head), ``"spectrogram"`` (the CNN baseline on
            ``detector.spectrogram`` features; needs ``mode="full"``) or ``"aasist"`` (AASIST alone:
            ``detector.aasist`` names its ``weights`` and ``head``; ``mode`` is ``"frozen"``, only
            the head trains, or ``"full"``; ``detector.aasist.train: graph`` with ``mode="frozen"``
            also trains AASIST's graph-attention part, its front end and encoder frozen). A
            transformer detector with ``detector.aasist`` is fused with AASIST; ``mode`` then says
            what trains in the backbone and ``detector.aasist.train`` in AASIST (``"frozen"`` by
            default, ``"graph"`` or ``"full"``; a frozen or ``"graph"`` branch is cached with the
            features: its embedding, or its encoder's maps).
        calibration: after training, fit ``"platt"`` or ``"temperature"`` scaling of the best
            detector on the validation data (``"none"``: keep raw softmax scores).
        threshold: the decision threshold chosen on validation: ``"eer"`` or a target false-alarm
            rate (fraction of real clips flagged fake).
        cache_features: ``"frozen"`` mode computes the backbone's hidden states (and a frozen AASIST's
            embedding, or with ``aasist.train: graph`` its encoder's maps; for ``kind="aasist"``
            these alone) once and reuses them (turned off when ``augment`` is set: augmented audio
            changes every epoch).
        cache_dir: feature cache folder (default ``features/`` in :func:`wavguard._io.cache_root`:
            ``$WAVGUARD_CACHE``, ``$XDG_CACHE_HOME/wavguard`` or ``~/.cache/wavguard``).
        num_workers: DataLoader worker processes.
        max_train_clips, max_eval_clips: use only the first N clips (after a seeded shuffle) of the
            training and of each evaluation set (quick trials, smoke tests).
    """

    train_data: DataSources = None
    train_split: str | None = None
    revision: str | None = None
    streaming: bool = False
    validation_data: DataSources = None
    validation_split: str | None = None
    validation_fraction: float = 0.0
    test_data: DataSources = None
    test_split: str | None = None
    audio_column: str = "audio"
    label_column: str = "label"
    label_mapping: dict[str, Any] | None = None
    init_from: str | None = None
    backbone: str = ""
    backbone_revision: str | None = None
    num_layers: int | None = None
    detector: dict[str, Any] = field(default_factory=dict)
    mode: str = "frozen"
    freeze_feature_encoder: bool = True
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = DEFAULT_LORA_TARGETS
    epochs: int = 10
    batch_size: int = 16
    eval_batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    head_learning_rate: float = 1e-3
    layer_weights_learning_rate: float | None = None
    backbone_learning_rate: float = 5e-5
    aasist_learning_rate: float | None = None
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    balance: str = "class_weights"
    class_weights: tuple[float, float] | None = None
    loss: str = "ce"
    loss_options: dict[str, Any] = field(default_factory=dict)
    adversarial: dict[str, Any] | None = None
    pairing: dict[str, Any] | None = None
    sam: dict[str, Any] | None = None
    consistency: dict[str, Any] | None = None
    crop_seconds: float = 4.0
    dropout: float | None = None
    early_stopping_patience: int | None = 3
    seed: int = 0
    output_dir: str = "runs/wavguard"
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_private: bool | None = None
    mixed_precision: str | None = None
    checkpoint_every_steps: int = 0
    keep_checkpoints: int = 2
    log_every_steps: int = 10
    log_with: str | None = None
    augment: Any = None
    aasist_augment: Any = None
    kind: str = "transformer"
    calibration: str = "platt"
    threshold: Any = "eer"
    cache_features: bool = True
    cache_dir: str | None = None
    num_workers: int = 0
    max_train_clips: int | None = None
    max_eval_clips: int | None = None

    def __post_init__(self) -> None:
        self.lora_target_modules = tuple(str(m) for m in self.lora_target_modules)
        self.detector = dict(self.detector or {})
        if self.class_weights is not None:
            self.class_weights = tuple(float(w) for w in self.class_weights)
        self.output_dir = str(self.output_dir)
        if self.mixed_precision is False or str(self.mixed_precision).lower() in (
            "false",
            "no",
        ):  # YAML 1.1 reads `no` as false
            self.mixed_precision = "no"
        if self.train_data in (None, "", []):
            raise ConfigError("train_data is required: a folder with real/ and fake/ sub-folders, or a dataset")
        if self.init_from is not None:
            self.init_from = str(self.init_from)
            given = [
                name
                for name, unset in (
                    ("backbone", not self.backbone),
                    ("num_layers", self.num_layers is None),
                    ("detector", not self.detector),
                    ("dropout", self.dropout is None),
                )
                if not unset
            ]
            if given:
                raise ConfigError(
                    f"init_from={self.init_from!r} keeps that detector's architecture; leave {given} unset"
                )
        elif not self.backbone and self.kind == "transformer":
            raise ConfigError("backbone is required: a Hub id (e.g. facebook/wav2vec2-base) or a local directory")
        _check_choice("mode", self.mode, MODES)
        _check_choice("kind", self.kind, KINDS)
        _check_choice("calibration", self.calibration, ("platt", "temperature", "none"))
        if self.kind == "spectrogram" and self.mode != "full":
            raise ConfigError("kind='spectrogram' (the CNN baseline) has no pretrained backbone: use mode='full'")
        if self.kind == "aasist":
            check_aasist_alone(self)
        if not (self.threshold == "eer" or (isinstance(self.threshold, (int, float)) and 0 < self.threshold < 1)):
            raise ConfigError(f"threshold must be 'eer' or a target false-alarm rate in (0, 1), got {self.threshold!r}")
        _check_choice("balance", self.balance, BALANCE_MODES)
        if self.mixed_precision is not None:
            _check_choice("mixed_precision", self.mixed_precision, MIXED_PRECISION)
        _check_choice("scheduler", self.scheduler, SCHEDULERS)
        for name in ("epochs", "batch_size", "lora_rank", "keep_checkpoints", "log_every_steps"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in (
            "eval_batch_size",
            "early_stopping_patience",
            "num_layers",
            "max_train_clips",
            "max_eval_clips",
            "gradient_accumulation_steps",
        ):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ConfigError(f"{name} must be at least 1 or null, got {value}")
        if self.checkpoint_every_steps < 0 or self.num_workers < 0:
            raise ConfigError("checkpoint_every_steps and num_workers must be >= 0")
        if not self.crop_seconds > 0:
            raise ConfigError(f"crop_seconds must be positive, got {self.crop_seconds}")
        for name in (
            "head_learning_rate",
            "backbone_learning_rate",
            "layer_weights_learning_rate",
            "aasist_learning_rate",
        ):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("warmup_ratio", "lora_dropout", "validation_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ConfigError(f"max_grad_norm must be positive or null, got {self.max_grad_norm}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.class_weights is not None and (len(self.class_weights) != 2 or min(self.class_weights) <= 0):
            raise ConfigError(f"class_weights must be two positive numbers (real, fake), got {self.class_weights}")
        _check_choice("loss", self.loss, LOSSES)
        self.loss_options = dict(self.loss_options or {})
        loss_options(self.loss, self.loss_options)
        if self.loss == "ocsoftmax" and self.kind != "transformer":
            raise ConfigError(
                "loss='ocsoftmax' trains the transformer detector's head; the spectrogram baseline uses loss='ce'"
            )
        if self.aasist_augment is not None:
            check_aasist_augment(self)
        if self.aasist_learning_rate is not None:
            check_aasist_learning_rate(self)
        check_objectives(self)
        if self.mode == "lora" and not self.lora_target_modules:
            raise ConfigError("lora_target_modules must name at least one module (e.g. q_proj)")
        self.label_mapping = check_columns(self.audio_column, self.label_column, self.label_mapping)
        self._check_hub()

        known = {f.name for f in dataclasses.fields(DetectorConfig)}
        owned = {"backbone", "backbone_revision", "num_layers", "freeze"}
        bad = sorted(set(self.detector) - (known - owned))
        if bad:
            raise ConfigError(
                f"detector: unknown or training-owned keys {bad}; use top-level backbone/num_layers/mode, "
                "and DetectorConfig fields (head_channels, window_seconds, ...) here"
            )

    def _check_hub(self) -> None:
        if self.hub_model_id is not None:
            self.hub_model_id = check_repo_id(self.hub_model_id, "hub_model_id")
        if self.push_to_hub and not self.hub_model_id:
            raise ConfigError(
                "push_to_hub=true publishes the best detector to the Hub repository hub_model_id at the "
                "end of training, and hub_model_id is not set: add hub_model_id=owner/name"
            )

    # -- derived -------------------------------------------------------------------------
    @property
    def column_options(self) -> dict[str, Any]:
        """``audio_column``, ``label_column`` and ``label_mapping``, as ``load_sources`` takes them."""
        return {
            "audio_column": self.audio_column,
            "label_column": self.label_column,
            "label_mapping": self.label_mapping,
        }

    @property
    def _aasist_settings(self) -> dict[str, Any]:
        """``detector.aasist`` as given (DetectorConfig validates it when the detector is built)."""
        settings = self.detector.get("aasist")
        return settings if isinstance(settings, dict) else {}

    @property
    def augment_fn(self) -> Callable | None:
        """The augmentation callable: a :func:`wavguard.audio.augment.build_augmenter` config (a mapping
        with ``transforms``), a ``module:function`` string, or a callable."""
        return resolve_augment(self.augment, self.seed)

    @property
    def aasist_augment_fn(self) -> str | Callable | None:
        """``aasist_augment`` as :class:`~.data.ClipDataset` takes it: ``None``, ``"clean"`` or a callable."""
        if self.aasist_augment in (None, "clean"):
            return self.aasist_augment
        return resolve_augment(self.aasist_augment, self.seed + 1, "aasist_augment")

    @property
    def aasist_train(self) -> str:
        """What trains in AASIST: ``detector.aasist.train`` when given, else ``"full"`` for AASIST
        alone in ``mode="full"`` and ``"frozen"`` otherwise."""
        default = "full" if self.kind == "aasist" and self.mode == "full" else "frozen"
        return self._aasist_settings.get("train") or default

    @property
    def uses_feature_cache(self) -> bool:
        # a fused detector's AASIST branch is cached with the features when its encoder is frozen
        # (its embedding, or in "graph" mode its encoder's maps); AASIST alone in frozen mode caches
        # the same (only the head, and in "graph" mode the graph part, train)
        cacheable = self.kind in ("transformer", "aasist") and self.aasist_train != "full"
        unaugmented = self.augment is None and self.aasist_augment is None
        return self.mode == "frozen" and self.cache_features and unaugmented and cacheable

    @property
    def resolved_cache_dir(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir)
        return cache_root() / "features"

    # -- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain values (YAML/JSON-ready); a callable ``augment`` is written as its import path."""
        import copy

        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in ("train_data", "validation_data", "test_data"):
            data[key] = plain_sources(data[key])
        given = {k: getattr(self, k) for k in ("augment", "aasist_augment")}
        data = copy.deepcopy({k: v for k, v in data.items() if k not in given}) | given
        data["lora_target_modules"] = list(self.lora_target_modules)
        if self.class_weights is not None:
            data["class_weights"] = list(self.class_weights)
        for key, value in given.items():
            if callable(value):
                data[key] = f"{value.__module__}:{getattr(value, '__qualname__', repr(value))}"
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training settings {unknown}; known settings are {sorted(known)}")
        hints = typing.get_type_hints(cls)
        return cls(**{k: coerce_value(k, v, hints[k]) for k, v in data.items()})

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: Sequence[str] = ()) -> TrainConfig:
        """Load a recipe (:func:`~.overrides.read_recipe`), apply ``key=value`` overrides, validate.

        Relative data/output paths in the recipe stay relative to the working directory.
        """
        data = read_recipe(path)
        try:
            return cls.from_dict(apply_overrides(data, overrides))
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def with_overrides(self, overrides: Sequence[str]) -> TrainConfig:
        """A copy with ``key=value`` overrides applied (validated again)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return TrainConfig.from_dict(apply_overrides(data, overrides))

    def save(self, path: str | os.PathLike, *, mixed_precision: str | None = None) -> Path:
        """Write the settings as YAML (what ``from_yaml`` reads back).

        Args:
            path: the file.
            mixed_precision: the precision the run used (``accelerator.mixed_precision``: ``"no"``,
                ``"fp16"``, ``"bf16"``...), recorded instead of the setting, which may leave the
                choice to accelerate; ``None``: the setting as it is.
        """
        import yaml

        data = self.to_dict() | ({"mixed_precision": str(mixed_precision)} if mixed_precision is not None else {})
        return atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {choices}, got {value!r}")
