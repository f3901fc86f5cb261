"""Training losses over the detector's 2 logits (REAL, FAKE): weighted cross-entropy and one-class softmax.

Both losses read the logits every detector already produces, so a detector trained with either is
saved, loaded, calibrated and scored by the same code (``Detector.predict`` unchanged).

**One-class softmax** (OC-softmax; Zhang, Jiang and Duan, "One-class learning towards synthetic
voice spoofing detection", IEEE SPL 2021). Real speech is pulled to within a cosine margin
``m_real`` of a learned unit direction ``w`` (the centre of real speech), fakes are pushed beyond
``m_fake``; nothing asks fakes to be compact, which is what lets unseen attacks fall outside.
With the cosine ``s = cos(w, x)`` of a clip's embedding ``x``::

    loss = softplus(alpha * (m_real - s))   for real clips
    loss = softplus(alpha * (s - m_fake))   for fake clips

How it maps onto the 2 logits: the head L2-normalises its pooled embedding
(``DetectorConfig.head_normalize_embedding``) and its linear layer is held at
``W = [0, -alpha * w]``, ``b = [0, alpha * t]`` with ``t = (m_real + m_fake) / 2``
(:func:`constrain_ocsoftmax_head`, after every optimizer step). So the logits are
``(0, alpha * (t - s))``: the FAKE-minus-REAL margin is ``alpha * (t - s)``, higher = more fake,
and the uncalibrated score ``sigmoid(alpha * (t - s))`` is 0.5 half-way between the margins. The
centre is the linear layer's FAKE row (its direction is trained, its length held at ``alpha``), so
the saved detector is an ordinary detector: the same files and weights, one config flag. Since
the centre is stored at length ``alpha``, its optimizer rate is ``alpha`` times the head's
(:func:`loss_param_groups`), so its direction turns as fast as a unit-length centre's would.

Example:
    >>> import torch
    >>> cosines = torch.tensor([1.0, 0.0])
    >>> round(float(ocsoftmax_loss(cosines, torch.tensor([0, 1]))), 4)  # (softplus(-2) + softplus(-4)) / 2
    0.0725
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError

__all__ = [
    "LOSSES",
    "OCSOFTMAX_DEFAULTS",
    "loss_options",
    "WeightedCrossEntropy",
    "OCSoftmaxLoss",
    "ocsoftmax_loss",
    "ocsoftmax_logits",
    "constrain_ocsoftmax_head",
    "build_loss",
    "prepare_model_for_loss",
    "loss_param_groups",
]

#: ``TrainConfig.loss`` choices.
LOSSES = ("ce", "ocsoftmax")
#: OC-softmax settings and the paper's values: cosine margins of real and fake speech, and scale.
OCSOFTMAX_DEFAULTS: dict[str, float] = {"m_real": 0.9, "m_fake": 0.2, "alpha": 20.0}


def loss_options(loss: str, options: Mapping[str, Any] | None) -> dict[str, float]:
    """Validated settings of ``loss`` with defaults filled in (``TrainConfig.loss_options``).

    Raises:
        ConfigError: an unknown loss or setting, or margins out of order.
    """
    if loss not in LOSSES:
        raise ConfigError(f"loss must be one of {LOSSES}, got {loss!r}")
    options = dict(options or {})
    defaults = OCSOFTMAX_DEFAULTS if loss == "ocsoftmax" else {}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        known = sorted(defaults) or "none"
        raise ConfigError(f"loss_options {unknown} do not apply to loss={loss!r} (its options: {known})")
    try:
        out = {k: float(options.get(k, v)) for k, v in defaults.items()}
    except (TypeError, ValueError):
        raise ConfigError(f"loss_options must be numbers, got {options}") from None
    if loss == "ocsoftmax":
        if not -1.0 <= out["m_fake"] < out["m_real"] <= 1.0:
            raise ConfigError(
                f"OC-softmax needs -1 <= m_fake < m_real <= 1 (cosines), got m_fake={out['m_fake']}, m_real={out['m_real']}"
            )
        if not out["alpha"] > 0:
            raise ConfigError(f"OC-softmax alpha (scale) must be positive, got {out['alpha']}")
    return out


def _weighted_mean(per_clip: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-clip losses, each weighted by its class weight (as ``F.cross_entropy`` weights)."""
    if weight is None:
        return per_clip.mean()
    w = weight.to(per_clip.device, per_clip.dtype)[labels]
    return (w * per_clip).sum() / w.sum()


class WeightedCrossEntropy(nn.Module):
    """Cross-entropy over (REAL, FAKE) logits with optional class weights (real, fake)."""

    def __init__(self, weight: torch.Tensor | None = None):
        super().__init__()
        self.weight = weight

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.to(logits.device)
        return F.cross_entropy(logits.float(), labels, weight=weight)

    def constrain_model(self, model: nn.Module) -> None:
        """Nothing to hold: a cross-entropy head is free."""


def ocsoftmax_loss(
    cosines: torch.Tensor,
    labels: torch.Tensor,
    m_real: float = 0.9,
    m_fake: float = 0.2,
    alpha: float = 20.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """OC-softmax loss of cosines to the real-speech centre.

    Args:
        cosines: (B,) ``cos(w, x)`` of each clip's embedding to the centre.
        labels: (B,) 0 = real, 1 = fake.
        m_real, m_fake: cosine margins; alpha: scale.
        weight: optional (2,) class weights (real, fake): a weighted mean, as cross-entropy weights.

    Returns:
        scalar: mean of ``softplus(alpha * (m_real - s))`` (real) and ``softplus(alpha * (s - m_fake))`` (fake).
    """
    cosines = cosines.float()
    fake = labels.bool()
    z = torch.where(fake, alpha * (cosines - m_fake), alpha * (m_real - cosines))
    return _weighted_mean(F.softplus(z), labels, weight)


def ocsoftmax_logits(
    embeddings: torch.Tensor, center: torch.Tensor, m_real: float = 0.9, m_fake: float = 0.2, alpha: float = 20.0
) -> torch.Tensor:
    """The (REAL, FAKE) logits an OC-softmax head gives: ``(0, alpha * (t - cos(center, x)))``,
    ``t = (m_real + m_fake) / 2``. Shapes: embeddings (B, E), center (E,) -> (B, 2)."""
    cosines = F.normalize(embeddings.float(), dim=1) @ F.normalize(center.float(), dim=0)
    margin = alpha * ((m_real + m_fake) / 2 - cosines)
    return torch.stack([torch.zeros_like(margin), margin], dim=1)


class OCSoftmaxLoss(nn.Module):
    """OC-softmax over the logits of a head held by :func:`constrain_ocsoftmax_head`.

    Such a head's logits are ``(0, alpha * (t - s))``, so the cosine is recovered exactly as
    ``s = t - (logit_fake - logit_real) / alpha`` and the loss is :func:`ocsoftmax_loss` of it;
    gradients reach the embedding and the centre (the linear layer's FAKE row) through the logits.

    Args:
        m_real, m_fake, alpha: margins and scale (defaults :data:`OCSOFTMAX_DEFAULTS`).
        weight: optional (2,) class weights (real, fake).
    """

    def __init__(
        self, m_real: float = 0.9, m_fake: float = 0.2, alpha: float = 20.0, weight: torch.Tensor | None = None
    ):
        super().__init__()
        loss_options("ocsoftmax", {"m_real": m_real, "m_fake": m_fake, "alpha": alpha})
        self.m_real, self.m_fake, self.alpha = float(m_real), float(m_fake), float(alpha)
        self.weight = weight

    @property
    def threshold(self) -> float:
        """The cosine ``t`` where the FAKE-minus-REAL margin is 0 (uncalibrated score 0.5)."""
        return (self.m_real + self.m_fake) / 2

    def cosines(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, 2) logits of a constrained head -> (B,) cosines to the centre (higher = more real)."""
        logits = logits.float()
        return self.threshold - (logits[:, 1] - logits[:, 0]) / self.alpha

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return ocsoftmax_loss(self.cosines(logits), labels, self.m_real, self.m_fake, self.alpha, self.weight)

    @torch.no_grad()
    def constrain(self, classifier: nn.Linear) -> None:
        """Hold ``classifier`` at ``W = [0, -alpha * w]``, ``b = [0, alpha * t]`` (see the module doc)."""
        constrain_ocsoftmax_head(classifier, self.alpha, self.threshold)

    def constrain_model(self, model: nn.Module) -> None:
        """:meth:`constrain` the head of a detector network (after each optimizer step)."""
        self.constrain(model.head.classifier)


@torch.no_grad()
def constrain_ocsoftmax_head(classifier: nn.Linear, alpha: float, threshold: float) -> None:
    """Project a (REAL, FAKE) linear layer onto the OC-softmax form, in place.

    The centre is ``w = -(W_fake - W_real) / |W_fake - W_real|`` (the direction the margin falls
    along); afterwards ``W_real = 0``, ``W_fake = -alpha * w``, ``b = (0, alpha * threshold)``, so on a
    unit embedding ``x`` the logits are ``(0, alpha * (threshold - cos(w, x)))``. Idempotent.
    """
    weight, bias = classifier.weight, classifier.bias
    direction = weight[1] - weight[0]
    norm = direction.norm()
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("the head's FAKE and REAL rows are equal (or not finite): no centre direction")
    weight[1].copy_(alpha * direction / norm)
    weight[0].zero_()
    if bias is not None:
        bias.copy_(torch.tensor([0.0, alpha * threshold], dtype=bias.dtype, device=bias.device))


def build_loss(
    loss: str, options: Mapping[str, Any] | None = None, class_weights: torch.Tensor | None = None
) -> nn.Module:
    """The loss module of ``TrainConfig.loss`` / ``loss_options``; ``class_weights`` (real, fake) or ``None``."""
    settings = loss_options(loss, options)
    if loss == "ocsoftmax":
        return OCSoftmaxLoss(**settings, weight=class_weights)
    return WeightedCrossEntropy(class_weights)


def prepare_model_for_loss(model: nn.Module, config: Any, criterion: nn.Module) -> Any:
    """Make a detector's network and config fit ``criterion`` before training; returns the config.

    For OC-softmax the head gets a unit-norm embedding (``head_normalize_embedding``) and its
    linear layer is projected onto the OC form (its current FAKE-minus-REAL direction is the
    starting centre); its bias stays fixed. Cross-entropy changes nothing.
    """
    if not isinstance(criterion, OCSoftmaxLoss):
        return config
    head = getattr(model, "head", None)
    if head is None or not hasattr(head, "normalize_embedding"):
        raise ConfigError("loss='ocsoftmax' needs a transformer detector's CNN head (kind='transformer')")
    head.normalize_embedding = True
    criterion.constrain(head.classifier)
    head.classifier.bias.requires_grad_(False)
    return config.replace(head_normalize_embedding=True)


def loss_param_groups(criterion: nn.Module, model: nn.Module, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Optimizer parameter groups adjusted for ``criterion``; ``groups`` as ``torch.optim`` takes them.

    OC-softmax: the head's linear weight (the centre, held at length ``alpha``) gets its own group
    at ``alpha`` times its learning rate and no weight decay (its length is fixed anyway). Adam's
    steps do not depend on the gradient's scale, so at the head's rate a centre of length 20 would
    turn 20 times slower than the unit centre of the paper and barely move in a short run.
    Cross-entropy: unchanged.
    """
    if not isinstance(criterion, OCSoftmaxLoss):
        return groups
    center = model.head.classifier.weight
    out = []
    for group in groups:
        params = [p for p in group["params"] if p is not center]
        if len(params) != len(group["params"]):
            out.append({**group, "params": [center], "lr": group["lr"] * criterion.alpha, "weight_decay": 0.0})
        if params:
            out.append({**group, "params": params})
    return out
