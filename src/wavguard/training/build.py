"""What a training run is built from: the accelerator, the detector it starts from (new, or a
saved one continued) and the optimizer. Pure functions of a :class:`~.config.TrainConfig`; the
:class:`~.trainer.Trainer` calls them in ``setup``.

Example:
    >>> cfg = TrainConfig(train_data="data/", kind="spectrogram", mode="full")
    >>> detector = build_detector(cfg)  # doctest: +SKIP
    >>> optimizer = build_optimizer(cfg, detector.model, torch.nn.CrossEntropyLoss())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from ..detector import Detector, build_aasist_detector, build_baseline_detector
from ..errors import ConfigError
from ..models.lora import apply_lora, has_lora, lora_config
from .config import TrainConfig
from .losses import loss_param_groups

__all__ = [
    "build_accelerator",
    "build_detector",
    "continue_from",
    "build_optimizer",
    "provenance",
    "ADAM_BETAS",
    "ADAM_EPSILON",
]

logger = logging.getLogger(__name__)
#: AdamW's betas and epsilon: torch's defaults, named so that checkpoints record them
ADAM_BETAS, ADAM_EPSILON = (0.9, 0.999), 1e-8


def build_accelerator(cfg: TrainConfig):
    """The ``accelerate.Accelerator`` of a run: ``cfg``'s mixed precision, gradient accumulation and
    tracker where it sets them, accelerate's own settings where it does not."""
    from accelerate import Accelerator

    kwargs: dict[str, Any] = {}
    if cfg.log_with:
        from accelerate.tracking import filter_trackers

        if filter_trackers([cfg.log_with]):
            kwargs["log_with"] = cfg.log_with
        else:
            logger.warning("log_with=%r is not installed; logging to metrics.jsonl only", cfg.log_with)
    # None leaves the choice to accelerate (`accelerate launch --mixed_precision`, ACCELERATE_* variables,
    # `accelerate config`); accelerate's ACCELERATE_GRADIENT_ACCUMULATION_STEPS wins over a passed value.
    if cfg.mixed_precision is not None:
        kwargs["mixed_precision"] = cfg.mixed_precision
    if cfg.gradient_accumulation_steps is not None:
        kwargs["gradient_accumulation_steps"] = cfg.gradient_accumulation_steps
    # rng_types=[]: the sampler is a pure function of (seed, epoch), so nothing needs syncing.
    return Accelerator(project_dir=cfg.output_dir, rng_types=[], **kwargs)


def build_detector(cfg: TrainConfig) -> Detector:
    """A new detector on the configured backbone (or the ``init_from`` detector), its trainable
    part set by ``mode``; ``config.extra["training"]`` records the run's provenance.

    Raises:
        ConfigError: an ``init_from`` detector that cannot continue as ``cfg`` asks (another kind,
            a mode its weights do not allow).
    """
    if cfg.init_from is not None:
        return continue_from(cfg, cfg.init_from)
    overrides = dict(cfg.detector)
    if cfg.dropout is not None:
        overrides["head_dropout"] = cfg.dropout
    freeze = {"frozen": "all", "lora": "all", "full": "feature_encoder" if cfg.freeze_feature_encoder else "none"}
    overrides["extra"] = {**overrides.get("extra", {}), "training": provenance(cfg)}
    if cfg.kind == "spectrogram":
        return build_baseline_detector(seed=cfg.seed, **overrides)
    if cfg.kind == "aasist":  # mode (and "graph") say what trains; its weights and head come from detector.aasist
        aasist = {"weights": "offline:aasist", "head": "published", **(overrides.pop("aasist", None) or {})}
        return build_aasist_detector(aasist["weights"], aasist["head"], cfg.aasist_train, seed=cfg.seed, **overrides)
    det = Detector.from_backbone(
        cfg.backbone,
        cfg.backbone_revision,
        num_layers=cfg.num_layers,
        freeze=freeze[cfg.mode],
        seed=cfg.seed,
        **overrides,
    )
    if cfg.mode == "lora":
        apply_lora(det.model, lora_config(cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules))
    if cfg.mode == "full":
        det.backbone_is_reference = False
    return det


def continue_from(cfg: TrainConfig, source: str) -> Detector:
    """The saved detector ``source``, its trainable part set by ``cfg.mode`` (see ``TrainConfig.init_from``)."""
    try:
        det = Detector.from_pretrained(source, backend="torch")
    except ConfigError as exc:
        raise ConfigError(f"init_from={source!r}: {exc}; continue from the PyTorch directory it came from") from None
    if det.config.kind != cfg.kind:
        raise ConfigError(f"init_from={source!r} is a {det.config.kind!r} detector; set kind={det.config.kind}")
    extra = dict(det.config.extra)
    extra["training"] = {**provenance(cfg), "init_from": str(source)}
    det.config = det.config.replace(extra=extra)
    if cfg.kind == "spectrogram":
        det.backbone_is_reference = False
        return det
    model = det.model
    if cfg.kind == "aasist":
        train = cfg.aasist_train
        model.set_trainable(train)
        det.config = det.config.replace(aasist={**det.config.aasist, "train": train})
        return det
    adapters = has_lora(model)
    if cfg.mode == "frozen":  # only the head trains: a fused detector's AASIST branch is frozen too
        model.set_trainable("all", aasist=None if model.aasist is None else "frozen")
        det.config = det.config.replace(
            freeze="all", aasist=det.config.aasist and {**det.config.aasist, "train": "frozen"}
        )
    elif cfg.mode == "full":
        if adapters:
            raise ConfigError(f"init_from={source!r} has LoRA adapters; continue it with mode=lora or mode=frozen")
        freeze = "feature_encoder" if cfg.freeze_feature_encoder else "none"
        model.set_trainable(freeze)
        det.config = det.config.replace(freeze=freeze)
        det.backbone_is_reference = False
    elif adapters:  # lora: the saved adapters train on
        model.set_trainable("lora")
    else:
        if not det.backbone_is_reference:
            raise ConfigError(
                f"init_from={source!r} bundles a fine-tuned backbone; continue it with mode=full or mode=frozen"
            )
        apply_lora(model, lora_config(cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules))
    return det


def build_optimizer(cfg: TrainConfig, model: torch.nn.Module, loss_fn: torch.nn.Module) -> torch.optim.AdamW:
    """AdamW over the trainable parameters: the layer weighting, the head and the backbone (or its
    adapters) each at its learning rate (AASIST's weights at ``aasist_learning_rate`` where it is
    set, else the backbone's), without weight decay on biases and norms; a loss with
    parameters of its own (OC-softmax's centre) adds its group (:func:`~.losses.loss_param_groups`).

    Raises:
        ConfigError: ``mode`` trains the backbone but none of its parameters is trainable, or
            ``aasist_learning_rate`` is set and no AASIST weight trains.
    """
    layer_sum = list(model.layer_sum.parameters()) if hasattr(model, "layer_sum") else []
    head = list(model.head.parameters())
    head_ids = {id(p) for p in [*layer_sum, *head]}
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    if cfg.mode != "frozen" and cfg.kind == "transformer" and not backbone:
        raise ConfigError(f"mode={cfg.mode!r} but no backbone parameter is trainable")
    raw: list[torch.nn.Parameter] = []  # AASIST's weights, where they get a rate of their own
    if cfg.aasist_learning_rate is not None:
        aasist = getattr(model, "aasist", None)
        aasist_ids = {id(p) for p in aasist.parameters()} if aasist is not None else set()
        raw = [p for p in backbone if id(p) in aasist_ids]
        backbone = [p for p in backbone if id(p) not in aasist_ids]
        if not raw:  # init_from a detector without a training AASIST
            raise ConfigError(
                f"aasist_learning_rate={cfg.aasist_learning_rate} but this detector has no AASIST weights that train"
            )
    layer_lr = cfg.layer_weights_learning_rate or cfg.head_learning_rate
    groups = []
    rates = [(layer_sum, layer_lr), (head, cfg.head_learning_rate), (backbone, cfg.backbone_learning_rate)]
    for params, lr in rates + [(raw, cfg.aasist_learning_rate)]:
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups += [
            {"params": decay, "lr": lr, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "lr": lr, "weight_decay": 0.0},
        ]
    return torch.optim.AdamW(
        loss_param_groups(loss_fn, model, [g for g in groups if g["params"]]), betas=ADAM_BETAS, eps=ADAM_EPSILON
    )


def provenance(cfg: TrainConfig) -> dict[str, Any]:
    """What a saved detector records about the run that trained it (``config.extra["training"]``)."""
    keys = (
        "mode",
        "train_data",
        "train_split",
        "epochs",
        "batch_size",
        "crop_seconds",
        "seed",
        "balance",
        "loss",
        "adversarial",
    )
    data = cfg.to_dict()
    # the data's Hub revision, when named, so a saved detector says which version it learned from
    return {k: data[k] for k in keys} | ({"revision": cfg.revision} if cfg.revision else {})
