"""Checks of a recipe's AASIST settings: AASIST alone (``kind="aasist"``) and the input of a fused
detector's AASIST branch (``aasist_augment``). Called by :class:`~.config.TrainConfig` on creation."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

__all__ = ["check_aasist_alone", "check_aasist_augment", "check_aasist_learning_rate"]


def check_aasist_alone(cfg: Any) -> None:
    """ConfigError unless ``cfg`` (a ``TrainConfig``, ``kind="aasist"``) sets only what AASIST alone has."""
    if cfg.mode == "lora":
        raise ConfigError("kind='aasist' has no LoRA adapters: use mode='frozen' (only the head trains) or 'full'")
    given = [name for name in ("backbone", "num_layers", "dropout") if getattr(cfg, name)]
    if given:
        raise ConfigError(
            f"kind='aasist' has no backbone or CNN head; leave {given} unset (AASIST's weights are "
            "detector.aasist.weights)"
        )
    train = cfg._aasist_settings.get("train")
    if train is not None and (train != "graph" or cfg.mode != "frozen"):
        raise ConfigError(
            f"kind='aasist' with mode={cfg.mode!r}: mode says whether AASIST trains, so detector.aasist.train "
            f"is either unset or 'graph' with mode='frozen' (the encoder frozen, the graph part and the head "
            f"train); got train={train!r}"
        )


def check_aasist_augment(cfg: Any) -> None:
    """ConfigError unless ``cfg.aasist_augment`` (a ``TrainConfig``'s, set) can work: a fused detector (a transformer
    with ``detector.aasist``, or ``init_from`` a detector, checked again when it is loaded), no
    adversarial training, and a value ``aasist_augment_fn`` resolves."""
    fused = cfg.kind == "transformer" and (cfg.init_from is not None or cfg.detector.get("aasist") is not None)
    if not fused or cfg.adversarial is not None:
        raise ConfigError(
            "aasist_augment gives a fused detector's AASIST branch its own training input: it needs "
            "kind='transformer' with detector.aasist, and no adversarial training (whose perturbation "
            f"would reach one branch only); got kind={cfg.kind!r}, detector.aasist="
            f"{cfg.detector.get('aasist')!r}, adversarial={cfg.adversarial is not None}"
        )
    if cfg.aasist_augment != "clean":
        cfg.aasist_augment_fn  # noqa: B018 - a bad value fails here, before any training


def check_aasist_learning_rate(cfg: Any) -> None:
    """ConfigError unless ``cfg.aasist_learning_rate`` (set) has AASIST weights to train: AASIST alone with
    ``mode="full"`` or ``train: graph``, or a fused detector whose ``detector.aasist.train`` is
    ``"graph"`` or ``"full"`` (with ``init_from`` and no ``detector.aasist``, the loaded detector's own)."""
    inherited = cfg.kind == "transformer" and cfg.init_from is not None and cfg.detector.get("aasist") is None
    has_aasist = cfg.kind == "aasist" or (cfg.kind == "transformer" and cfg.detector.get("aasist") is not None)
    if inherited or (has_aasist and cfg.aasist_train != "frozen"):
        return
    raise ConfigError(
        f"aasist_learning_rate={cfg.aasist_learning_rate} sets the rate of AASIST's weights, but none train here "
        f"(kind={cfg.kind!r}, mode={cfg.mode!r}, detector.aasist={cfg.detector.get('aasist')!r}): set "
        "detector.aasist.train to 'graph' or 'full' (fused), mode='full' (AASIST alone), or leave it unset"
    )
