"""Sharpness-aware minimisation: SAM (Foret et al., ICLR 2021) and its adaptive form ASAM (Kwon et al., ICML 2021).

``TrainConfig.sam`` (``None``: off) is a mapping such as ``{rho: 0.05, adaptive: false}``. Every
optimizer step then takes two passes over the same batch: the gradient ``g`` at the weights ``w``;
a step up the loss to ``w + e`` with ``e = rho * g / ||g||`` (ASAM: ``e = rho * T**2 g / ||T g||``,
``T = |w| + eta`` per weight, so the radius scales with each weight); the gradient there; then the
weights go back to ``w`` (copied, not subtracted: exactly ``w``) and the optimizer steps with the
second gradient. The step prefers flat minima, which the field reports generalise better to
unseen spoofing attacks (Shim et al., "Multi-dataset co-training with sharpness-aware optimization
for audio anti-spoofing", Interspeech 2023). It costs a second forward and backward pass per step.
BatchNorm running statistics are updated by the first pass only; the reported training loss is the
first pass's (at ``w``). ``e`` is computed from the gradient accelerate has already reduced over
processes, so every process moves to the same ``w + e``; gradient accumulation (several batches
per step) is refused, since the ascent needs the whole step's gradient before the second pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .overrides import settings_mapping

__all__ = ["ASAM_ETA", "SamConfig", "ascend", "frozen_batch_norm_stats", "restore", "sharpness_aware_backward"]

#: ASAM's offset in ``T = |w| + eta``: a weight at zero still gets a radius (the paper's value).
ASAM_ETA = 0.01


@dataclass(frozen=True)
class SamConfig:
    """Settings of sharpness-aware minimisation.

    Attributes:
        rho: radius of the ascent step (the paper's default 0.05; ASAM uses larger, e.g. 0.5-2).
        adaptive: ASAM's per-weight scaling instead of plain SAM.
    """

    rho: float = 0.05
    adaptive: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.rho, bool) or not isinstance(self.rho, (int, float)) or not 0 < float(self.rho) < math.inf:
            raise ConfigError(f"sam.rho must be a positive number (e.g. 0.05), got {self.rho!r}")
        if not isinstance(self.adaptive, bool):
            raise ConfigError(f"sam.adaptive must be true or false, got {self.adaptive!r}")

    @classmethod
    def from_value(cls, value: Any) -> SamConfig | None:
        """``None`` -> ``None``; ``True`` -> the defaults; a mapping of the fields -> a config."""
        if value is None or isinstance(value, cls):
            return value
        value = settings_mapping("sam", value, ("rho", "adaptive"), "{rho: 0.05, adaptive: false}")
        rho = value.get("rho", cls.rho)
        if isinstance(rho, str):
            try:
                rho = float(rho)
            except ValueError:
                raise ConfigError(f"sam.rho must be a positive number (e.g. 0.05), got {rho!r}") from None
        return cls(rho=rho, adaptive=value.get("adaptive", cls.adaptive))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ascend(
    params: Iterable[nn.Parameter], rho: float, adaptive: bool = False
) -> list[tuple[nn.Parameter, torch.Tensor]]:
    """Move every parameter that has a gradient to ``w + e`` in place (SAM's ascent step).

    Args:
        params: the trainable parameters; those whose ``.grad`` is None are left alone.
        rho: the step's radius (in the norm of ``g``, or of ``T g`` when ``adaptive``).
        adaptive: ASAM: ``e = rho * T**2 g / ||T g||`` with ``T = |w| + ASAM_ETA``.

    Returns:
        ``(parameter, its weights before the step)`` for each moved parameter: hand them to
        :func:`restore`. Empty (nothing moved) when the gradient is zero or not finite.
    """
    with torch.no_grad():
        moved = [(p, p.grad) for p in params if p.grad is not None]
        if not moved:
            return []
        scales = [p.abs() + ASAM_ETA if adaptive else None for p, _ in moved]
        scaled = [g if t is None else t * g for (_, g), t in zip(moved, scales)]
        norms = [torch.linalg.vector_norm(s, dtype=torch.promote_types(s.dtype, torch.float32)) for s in scaled]
        norm = torch.linalg.vector_norm(torch.stack([n.to(norms[0].dtype) for n in norms]))  # at least fp32
        if not torch.isfinite(norm) or float(norm) == 0.0:
            return []
        saved = []
        for (p, _), s, t in zip(moved, scaled, scales):
            saved.append((p, p.detach().clone()))
            step = s if t is None else t * s
            p.add_(step * (float(rho) / float(norm)))
        return saved


def restore(saved: list[tuple[nn.Parameter, torch.Tensor]]) -> None:
    """Put the weights :func:`ascend` moved back exactly as they were."""
    with torch.no_grad():
        for p, before in saved:
            p.copy_(before)


@contextmanager
def frozen_batch_norm_stats(module: nn.Module) -> Iterator[None]:
    """Within the block, BatchNorm layers normalise by the batch (in train mode) without updating
    their running statistics (momentum 0 keeps them as they are)."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    before = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, before):
            m.momentum = momentum


def sharpness_aware_backward(
    accelerator, module: nn.Module, second_loss: Callable[[], torch.Tensor], optimizer, config: Mapping[str, Any]
) -> None:
    """Replace the gradients of the first pass (already in ``.grad``) by SAM's: ascend, zero the
    gradients, backward ``second_loss()`` (the same batch through ``module`` at ``w + e``), restore ``w``.

    Args:
        accelerator: the run's Accelerator (its ``backward``).
        module: the prepared model.
        second_loss: computes the batch's loss with ``module`` as it is when called.
        optimizer: the prepared optimizer (its ``zero_grad``).
        config: :class:`SamConfig` as a mapping (``TrainConfig.sam``).
    """
    params = [p for p in module.parameters() if p.requires_grad]
    saved = ascend(params, float(config["rho"]), bool(config.get("adaptive", False)))
    if not saved:  # a zero or non-finite gradient: the first pass's gradient stands
        return
    optimizer.zero_grad()
    try:
        with frozen_batch_norm_stats(module):
            accelerator.backward(second_loss())
    finally:
        restore(saved)
