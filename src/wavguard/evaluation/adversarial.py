"""Adversarial evaluation: score each clip after a white-box FGSM / PGD attack at a given SNR.

Each clip is decoded at the model's rate and perturbed against the detector being evaluated
(white-box: its own gradients) so as to push its score the wrong way: real clips towards FAKE,
fake clips towards REAL. The attack differentiates the whole scoring path of a clip: the
detector's windows (``window_seconds`` every ``hop_seconds``), the network, the window
aggregation (mean / max / top-k of logits) and the calibration; the loss it raises is the binary
cross-entropy of the calibrated log-odds of FAKE against the clip's label. The perturbation's L2
norm is ``snr_db`` below the clip's (:mod:`wavguard.models.adversarial`): FGSM hits the SNR exactly,
PGD stays within it. PGD is the default: one FGSM step relies on the loss being nearly linear
within the budget, which fails for non-smooth front ends (the spectrogram baseline's floored log
spectrum: FGSM there moves real and fake clips the same way, PGD moves each the wrong way). The perturbed clip is then scored by the ordinary ``Detector.predict`` path,
so the attacked scores mean what clean scores mean (probability of FAKE, higher = more fake).

A configured noise reduction (``config.denoise``) is not differentiated: the attack treats it as
the identity (exact when, as by default, it is off).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..audio.windows import window_spans
from ..data import decode_audio
from ..detector import Detector
from ..errors import ConfigError, WavguardError
from ..models.adversarial import ATTACKS, attack, snr_db_of
from ..scoring.datasets import ScoredRow, cell_input, rename_error, score_inputs

__all__ = ["attack_clip", "score_dataset_adversarial", "check_attack"]


def check_attack(detector: Any, snr_db: float, method: str, steps: int) -> None:
    """Fail early on an attack that cannot run (before any scoring)."""
    if not isinstance(detector, Detector):
        raise ConfigError(f"adversarial evaluation differentiates a PyTorch Detector; got {type(detector).__name__}")
    if method not in ATTACKS:
        raise ConfigError(f"adversarial method must be one of {ATTACKS}, got {method!r}")
    if not isinstance(snr_db, (int, float)) or not math.isfinite(snr_db):
        raise ConfigError(f"adversarial SNR must be a finite number of dB, got {snr_db!r}")
    if int(steps) < 1:
        raise ConfigError(f"adversarial steps must be at least 1, got {steps}")


def _clip_log_odds(detector: Detector, samples: torch.Tensor) -> torch.Tensor:
    """Calibrated log-odds of FAKE of one clip (1, S), differentiable: windows -> logits ->
    aggregation -> calibration, as ``Detector.predict`` computes them."""
    cfg = detector.config
    model = detector.model
    spans = window_spans(samples.shape[1], cfg.window_samples, cfg.hop_samples, model.min_samples)
    width = max(e - s for s, e in spans)
    batch = torch.stack([F.pad(samples[0, s:e], (0, width - (e - s))) for s, e in spans])
    lengths = torch.tensor([e - s for s, e in spans], dtype=torch.long, device=samples.device)
    logits = model(batch, lengths).float()
    margins = logits[:, 1] - logits[:, 0]
    if cfg.aggregation == "mean":
        margin = margins.mean()
    else:
        k = 1 if cfg.aggregation == "max" else min(cfg.top_k, margins.shape[0])
        order = torch.argsort(-margins.detach(), stable=True)[:k]  # the windows predict picks
        margin = margins[order].mean()
    return cfg.calibration_scale * margin + cfg.calibration_bias


def attack_clip(
    detector: Detector, samples: np.ndarray, label: int, snr_db: float, method: str = "pgd", steps: int = 3
) -> np.ndarray:
    """The clip (S,) perturbed against ``detector`` to score it as the other class.

    Args:
        samples: float32 mono samples at ``detector.config.sample_rate_hz``.
        label: 1 = fake (pushed towards REAL), 0 = real (pushed towards FAKE).
        snr_db: the budget: clip power over perturbation power, in dB.
        method: ``"fgsm"`` or ``"pgd"``; steps: PGD's steps.

    Returns:
        float32 (S,), the perturbed clip.
    """
    model = detector.model
    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None].to(device)
    target = torch.tensor([float(label)], device=device)
    was_training = model.training
    model.eval()
    try:

        def loss_fn(w: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(_clip_log_odds(detector, w)[None], target)

        adversarial = attack(loss_fn, x, None, method=method, snr_db=snr_db, steps=steps)
    finally:
        model.train(was_training)
    return adversarial[0].cpu().numpy().astype(np.float32)


def score_dataset_adversarial(
    detector: Detector,
    dataset,
    labels: Sequence[int],
    snr_db: float,
    *,
    method: str = "pgd",
    steps: int = 3,
    batch_size: int = 8,
    audio_column: str = "audio",
    progress: bool = False,
) -> tuple[list[ScoredRow], list[float]]:
    """Attack and score every row of ``dataset`` (one process).

    Args:
        labels: the label of each row (1 = fake, 0 = real): the attack needs it.
        other arguments: see :func:`attack_clip` and ``evaluate_detector``.

    Returns:
        (one :class:`~wavguard.scoring.datasets.ScoredRow` per row in row order, the achieved SNR
        in dB of each attacked clip).
    """
    check_attack(detector, snr_db, method, steps)
    if audio_column not in dataset.column_names:
        raise ConfigError(f"the data set has no {audio_column!r} column (columns: {', '.join(dataset.column_names)})")
    rate = detector.sample_rate_hz
    rows: Any = range(len(dataset))
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc=f"attacking ({method}, {snr_db:g} dB)", unit="clip")
    cells = dataset.select_columns([audio_column])
    out: list[ScoredRow] = []
    achieved: list[float] = []
    for row in rows:
        item, name, problem = cell_input(cells[row][audio_column], row)
        try:
            if item is None:
                raise ConfigError(f"the {audio_column!r} cell: {problem}")
            clean = decode_audio(item, rate)
            if clean.shape[0] < detector.model.min_samples or not np.any(clean):
                attacked = clean  # predict reports why it cannot be scored
            else:
                attacked = attack_clip(detector, clean, int(labels[row]), snr_db, method, steps)
                achieved.append(
                    float(snr_db_of(torch.from_numpy(clean)[None], torch.from_numpy(attacked - clean)[None])[0])
                )
        except WavguardError as exc:
            out.append(ScoredRow(row, math.nan, math.nan, math.nan, 0.0, name, rename_error(str(exc), name, item)))
            continue
        scored = score_inputs(detector, [attacked], sample_rate=rate, batch_size=batch_size)
        err = scored.errors[0]
        out.append(
            ScoredRow(
                row,
                float(scored.margins[0]),
                float(scored.scores[0]),
                float(scored.log_odds[0]),
                float(scored.durations_seconds[0]),
                name,
                None if err is None else f"{name}: {err}",
            )
        )
    return out, achieved
