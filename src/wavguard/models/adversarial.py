"""White-box adversarial perturbations of waveforms at a signal-to-noise ratio: FGSM and PGD (L2).

The budget is an SNR in dB relative to each clip: the perturbation ``delta`` of a clip ``x`` has
L2 norm ``eps = ||x||_2 / 10 ** (snr_db / 20)``, so ``20 * log10(||x|| / ||delta||) = snr_db``.
Norms count only each row's valid samples (``lengths``); padding is never perturbed.

* FGSM (the L2 "fast gradient method"; Goodfellow et al. 2015, Miyato et al. 2017): one step of
  length ``eps`` along the normalised gradient: the SNR is exactly ``snr_db``.
* PGD (Madry et al. 2018), L2: ``steps`` steps of ``step_fraction * eps`` along the normalised
  gradient, each followed by projection onto the L2 ball of radius ``eps``: the SNR is at least
  ``snr_db``.

Both maximise a loss given as a closure ``loss_fn(waveforms) -> scalar`` (summed over the batch, so
rows do not interact when the model runs in eval mode). Rows whose gradient is zero are left
unperturbed. Samples are not clipped to [-1, 1]: that would change the SNR.

Example:
    >>> import torch
    >>> x = torch.ones(1, 100)
    >>> adv = fgsm(lambda w: (w ** 2).sum(), x, torch.tensor([100]), snr_db=20.0)
    >>> round(float(snr_db_of(x, adv - x, torch.tensor([100]))[0]), 4)
    20.0
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["ATTACKS", "perturbation_budget", "snr_db_of", "fgsm", "pgd", "attack"]

#: Attack methods.
ATTACKS = ("fgsm", "pgd")

LossFn = Callable[[torch.Tensor], torch.Tensor]


def _valid(waveforms: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """(B, S) mask of valid samples."""
    batch, samples = waveforms.shape
    if lengths is None:
        return torch.ones(batch, samples, dtype=torch.bool, device=waveforms.device)
    return torch.arange(samples, device=waveforms.device)[None, :] < lengths.to(waveforms.device)[:, None]


def _row_norms(x: torch.Tensor) -> torch.Tensor:
    return x.double().pow(2).sum(dim=1).sqrt()


def perturbation_budget(waveforms: torch.Tensor, lengths: torch.Tensor | None, snr_db: float) -> torch.Tensor:
    """L2 norm (B,) a perturbation may have for each clip to sit ``snr_db`` dB below it."""
    clean = waveforms * _valid(waveforms, lengths)
    return _row_norms(clean) / 10.0 ** (float(snr_db) / 20.0)


def snr_db_of(waveforms: torch.Tensor, perturbation: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """SNR (B,) in dB of each clip over its perturbation (valid samples only; ``inf`` for none)."""
    mask = _valid(waveforms, lengths)
    return 20.0 * torch.log10(_row_norms(waveforms * mask) / _row_norms(perturbation * mask))


def _gradient(loss_fn: LossFn, waveforms: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    x = waveforms.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(x)
        (grad,) = torch.autograd.grad(loss, x)
    return grad * mask


def _unit_rows(grad: torch.Tensor) -> torch.Tensor:
    norms = _row_norms(grad).to(grad.dtype)[:, None]
    return torch.where(norms > 0, grad / norms.clamp_min(torch.finfo(grad.dtype).tiny), torch.zeros_like(grad))


def fgsm(loss_fn: LossFn, waveforms: torch.Tensor, lengths: torch.Tensor | None, snr_db: float) -> torch.Tensor:
    """One L2 gradient step of norm ``eps`` (the SNR budget): returns the perturbed batch (B, S)."""
    mask = _valid(waveforms, lengths)
    eps = perturbation_budget(waveforms, lengths, snr_db).to(waveforms.dtype)[:, None]
    direction = _unit_rows(_gradient(loss_fn, waveforms, mask))
    return (waveforms + eps * direction).detach()


def pgd(
    loss_fn: LossFn,
    waveforms: torch.Tensor,
    lengths: torch.Tensor | None,
    snr_db: float,
    steps: int = 3,
    step_fraction: float | None = None,
) -> torch.Tensor:
    """Projected gradient ascent in the L2 ball of the SNR budget: returns the perturbed batch (B, S).

    Args:
        steps: gradient steps.
        step_fraction: each step's length as a fraction of ``eps`` (default ``2.5 / steps``, Madry et al.).
    """
    if steps < 1:
        raise ValueError(f"PGD needs at least 1 step, got {steps}")
    mask = _valid(waveforms, lengths)
    eps = perturbation_budget(waveforms, lengths, snr_db).to(waveforms.dtype)[:, None]
    step = eps * (2.5 / steps if step_fraction is None else float(step_fraction))
    delta = torch.zeros_like(waveforms)
    for _ in range(int(steps)):
        delta = delta + step * _unit_rows(_gradient(loss_fn, waveforms + delta, mask))
        norms = _row_norms(delta).to(delta.dtype)[:, None]
        delta = delta * torch.clamp(eps / norms.clamp_min(torch.finfo(delta.dtype).tiny), max=1.0)
    return (waveforms + delta * mask).detach()


def attack(
    loss_fn: LossFn,
    waveforms: torch.Tensor,
    lengths: torch.Tensor | None,
    *,
    method: str,
    snr_db: float,
    steps: int = 3,
) -> torch.Tensor:
    """:func:`fgsm` or :func:`pgd` by name (``steps`` is PGD's)."""
    if method == "fgsm":
        return fgsm(loss_fn, waveforms, lengths, snr_db)
    if method == "pgd":
        return pgd(loss_fn, waveforms, lengths, snr_db, steps)
    raise ValueError(f"method must be one of {ATTACKS}, got {method!r}")
