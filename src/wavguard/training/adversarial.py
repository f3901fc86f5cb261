"""Adversarial training: FGSM / PGD perturbations of training waveforms against the current model.

``TrainConfig.adversarial`` (``None``: off) is a mapping such as
``{method: pgd, snr_db: 30, steps: 3, probability: 0.5}``. Before every forward pass, each clip of
the batch is replaced, with ``probability``, by its adversarial version: the perturbation that
raises the training loss most within an L2 budget ``snr_db`` below the clip
(:mod:`wavguard.models.adversarial`), computed against the model as it is at that step (in eval
mode, so BatchNorm statistics and dropout are untouched by the attack). The model then trains on
the mixed batch as usual. Frozen-feature-cache training cannot do this (the cache holds features of
clean audio): :class:`~wavguard.training.config.TrainConfig` refuses the combination.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..models.adversarial import ATTACKS, attack
from .overrides import settings_mapping

__all__ = ["AdversarialConfig", "AdversarialTraining", "adversary_from_config"]


@dataclass(frozen=True)
class AdversarialConfig:
    """Settings of adversarial training.

    Attributes:
        method: ``"fgsm"`` (one step, SNR exactly ``snr_db``) or ``"pgd"`` (``steps`` projected steps,
            SNR at least ``snr_db``).
        snr_db: perturbation budget: clip-to-perturbation power ratio in dB (higher = subtler).
        steps: PGD gradient steps (ignored by FGSM).
        probability: chance that each training clip is replaced by its adversarial version.
    """

    method: str = "fgsm"
    snr_db: float = 30.0
    steps: int = 3
    probability: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in ATTACKS:
            raise ConfigError(f"adversarial.method must be one of {ATTACKS}, got {self.method!r}")
        if not isinstance(self.snr_db, (int, float)) or not -100.0 < float(self.snr_db) < 200.0:
            raise ConfigError(f"adversarial.snr_db must be a number of dB (e.g. 30), got {self.snr_db!r}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"adversarial.steps must be a whole number >= 1, got {self.steps!r}")
        if not isinstance(self.probability, (int, float)) or not 0.0 < float(self.probability) <= 1.0:
            raise ConfigError(f"adversarial.probability must be in (0, 1], got {self.probability!r}")

    @classmethod
    def from_value(cls, value: Any) -> AdversarialConfig | None:
        """``None`` -> ``None``; ``True`` -> the defaults; a mapping of the fields (numbers may be
        strings from YAML) -> a config."""
        if value is None or isinstance(value, cls):
            return value
        known = [f.name for f in dataclasses.fields(cls)]
        data = settings_mapping("adversarial", value, known, "{method: fgsm, snr_db: 30}")
        try:
            for key, kind in (("snr_db", float), ("probability", float), ("steps", int)):
                if key in data and isinstance(data[key], str):
                    data[key] = kind(data[key])
        except ValueError as exc:
            raise ConfigError(f"adversarial: {exc}") from None
        return cls(**data)


class AdversarialTraining:
    """Perturbs training batches (``{"waveforms", "lengths", "labels", ...}``) against a model.

    Args:
        config: the attack settings.
        loss: the training loss ``loss(logits, labels)`` the attack raises.
        seed: with the optimizer step, seeds which clips are replaced (reproducible, resumable).
    """

    def __init__(self, config: AdversarialConfig, loss: nn.Module, seed: int = 0):
        self.config = config
        self.loss = loss
        self.seed = int(seed)

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """``batch`` with some waveforms replaced by adversarial ones (a new dict; others shared).

        Args:
            model: the unwrapped network ``model(waveforms, lengths) -> logits (B, 2)``.
            step: the optimizer step (with ``seed``, picks the clips to replace).
        """
        if "waveforms" not in batch:
            raise ConfigError("adversarial training perturbs waveforms; this batch holds cached features")
        cfg = self.config
        waveforms, lengths, labels = batch["waveforms"], batch["lengths"], batch["labels"]
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(step))
        chosen = torch.rand(waveforms.shape[0], generator=generator) < cfg.probability
        if not bool(chosen.any()):
            return batch
        rows = chosen.nonzero().flatten().to(waveforms.device)
        was_training = model.training
        model.eval()
        try:
            sub_lengths, sub_labels = lengths[rows], labels[rows]

            def loss_fn(x: torch.Tensor) -> torch.Tensor:
                return self.loss(model(x, sub_lengths), sub_labels) * x.shape[0]

            adversarial = attack(
                loss_fn, waveforms[rows], sub_lengths, method=cfg.method, snr_db=cfg.snr_db, steps=cfg.steps
            )
        finally:
            model.train(was_training)
        out = dict(batch)
        out["waveforms"] = waveforms.index_copy(0, rows, adversarial.to(waveforms.dtype))
        return out


def adversary_from_config(value: Any, loss: nn.Module, seed: int = 0) -> AdversarialTraining | None:
    """The batch perturber of ``TrainConfig.adversarial`` (``None`` when off)."""
    config = AdversarialConfig.from_value(value)
    return None if config is None else AdversarialTraining(config, loss, seed)
