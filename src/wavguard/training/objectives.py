"""Validation of a recipe's training objectives beyond the loss: adversarial training, paired
batches, sharpness-aware minimisation and consistency training, and how they combine with the rest
of :class:`~wavguard.training.config.TrainConfig`.

Each setting is normalised in place to the plain mapping its module's config writes
(``to_dict``), so a saved ``train_config.yaml`` holds every default that applied.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import ConfigError
from .adversarial import AdversarialConfig
from .consistency import ConsistencyConfig
from .pairing import PairingConfig
from .sam import SamConfig

__all__ = ["check_objectives"]


def _needs_waveforms(cfg: Any, name: str, what: str) -> None:
    if cfg.uses_feature_cache:
        raise ConfigError(
            f"{name} {what}, but frozen mode with cache_features=true trains on cached features of clean "
            f"audio: set cache_features=false (the backbone then runs every step) or {name}=null"
        )


def check_objectives(cfg: Any) -> None:
    """Validate and normalise ``cfg.adversarial``, ``cfg.pairing``, ``cfg.sam`` and ``cfg.consistency``.

    Raises:
        ConfigError: a bad setting, or a combination the training loop cannot run.
    """
    if cfg.adversarial is not None:
        cfg.adversarial = dataclasses.asdict(AdversarialConfig.from_value(cfg.adversarial))
        _needs_waveforms(cfg, "adversarial", "perturbs waveforms against the current model")
    if cfg.consistency is not None:
        cfg.consistency = ConsistencyConfig.from_value(cfg.consistency).to_dict()
        _needs_waveforms(cfg, "consistency", "copies training waveforms through a channel")
    if cfg.pairing is not None:
        cfg.pairing = PairingConfig.from_value(cfg.pairing).to_dict()
        if cfg.balance == "oversample":
            raise ConfigError(
                "pairing keeps a real clip and its copies in one batch; balance='oversample' draws rows "
                "one by one: use balance='class_weights' with pairing"
            )
    if cfg.sam is not None:
        cfg.sam = SamConfig.from_value(cfg.sam).to_dict()
        if cfg.gradient_accumulation_steps not in (None, 1):
            raise ConfigError(
                "sam needs the whole step's gradient before its second pass; gradient_accumulation_steps="
                f"{cfg.gradient_accumulation_steps} splits a step over several batches: use 1 or sam=null"
            )
