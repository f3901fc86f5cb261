"""One training epoch and one evaluation pass, written once for every device setup (accelerate)."""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..metrics import compute_eer
from .checkpoint import TrainState
from .losses import WeightedCrossEntropy
from .sam import sharpness_aware_backward
from .writes import writing

__all__ = ["TrainingModule", "train_epoch", "evaluate", "MetricsLog", "EXIT_AFTER_STEP_ENV"]

logger = logging.getLogger(__name__)

#: Test hook: the process exits abruptly (``os._exit``) right after this optimizer step.
EXIT_AFTER_STEP_ENV = "WAVGUARD_TRAIN_EXIT_AFTER_STEP"


class TrainingModule(nn.Module):
    """One ``forward(batch)`` for both batch kinds, so DDP wraps a single entry point.

    Batches with ``states``/``mask`` (cached features, and a fused detector's cached ``aasist``
    embeddings) go through the head only, as do batches of cached ``aasist`` embeddings alone (a
    frozen AASIST detector); cached ``aasist_maps`` (an AASIST encoder's output, its graph part
    training) go through AASIST's graph part first; batches with ``waveforms``/``lengths`` through
    the whole network (with ``aasist_waveforms``/``aasist_lengths``, AASIST sees those). Returns
    logits (B, 2).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "aasist_maps" in batch:
            embeddings = self.model.aasist.embed_maps(batch["aasist_maps"], batch["aasist_frames"])
            batch = {**batch, "aasist": embeddings}
        if "states" in batch:
            return self.model.classify(batch["states"], batch["mask"], batch.get("aasist"))
        if "aasist" in batch:
            return self.model.classify(batch["aasist"])
        if "aasist_waveforms" in batch:  # a fused detector's AASIST branch with its own input
            return self.model(batch["waveforms"], batch["lengths"], batch["aasist_waveforms"], batch["aasist_lengths"])
        return self.model(batch["waveforms"], batch["lengths"])


class MetricsLog:
    """Append-only JSON lines (``metrics.jsonl``) written by the main process."""

    def __init__(self, path: str | os.PathLike, enabled: bool):
        self.path = Path(path)
        self.enabled = enabled

    def num_lines(self) -> int:
        if not self.path.is_file():
            return 0
        return len(self.path.read_text().splitlines())

    def truncate(self, num_lines: int) -> None:
        """Keep the first ``num_lines`` records (on resume: drop what the lost steps wrote)."""
        if self.enabled and self.path.is_file():
            lines = self.path.read_text().splitlines()[:num_lines]
            with writing(self.path, "the metrics log"):
                self.path.write_text("".join(line + "\n" for line in lines))

    def write(self, record: dict[str, Any]) -> None:
        """Append one record; :class:`~wavguard.errors.OutputWriteError` on a full disk or a read-only folder."""
        if not self.enabled:
            return
        with writing(self.path, "the metrics log"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")


def _inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in batch.items() if k not in ("labels", "indices", "view_of")}


def _batch_loss(
    module: nn.Module, criterion: nn.Module, batch: dict[str, torch.Tensor], consistency=None
) -> torch.Tensor:
    logits = module(_inputs(batch))
    if getattr(criterion, "takes_indices", False):  # a paired loss looks up each row's group
        loss = criterion(logits, batch["labels"], batch["indices"])
    else:
        loss = criterion(logits, batch["labels"])
    if consistency is not None:  # the copies' rows follow the clips' (wavguard.training.consistency)
        loss = loss + consistency.penalty(logits, batch["view_of"])
    return loss


def train_epoch(
    accelerator,
    module: nn.Module,
    loader,
    optimizer,
    scheduler,
    state: TrainState,
    *,
    class_weights: torch.Tensor | None,
    max_grad_norm: float | None,
    log_every_steps: int,
    metrics: MetricsLog,
    on_step: Callable[[TrainState, bool], None],
    loss_fn: nn.Module | None = None,
    adversary: Callable[[nn.Module, dict, int], dict] | None = None,
    sam: dict[str, Any] | None = None,
    consistency: Any = None,
    progress: bool = True,
) -> None:
    """Run the rest of ``state.epoch`` (from ``state.batches_done``), updating ``state`` in place.

    Args:
        on_step: called after every optimizer step with (state, last_batch_of_epoch); saves
            periodic checkpoints.
        loss_fn: ``loss_fn(logits, labels)`` (:mod:`wavguard.training.losses`); default the
            cross-entropy weighted by ``class_weights``. A loss with a ``constrain_model(model)``
            method gets it called after every optimizer step (OC-softmax holds its head there).
        adversary: ``adversary(model, batch, seed_step) -> batch``, perturbs waveform batches
            against the unwrapped model before the forward pass
            (:class:`~wavguard.training.adversarial.AdversarialTraining`).
        sam: sharpness-aware minimisation settings (``TrainConfig.sam``; ``None``: off): each step
            backpropagates a second pass at the ascended weights (:mod:`wavguard.training.sam`).
        consistency: ``consistency(batch, position) -> batch`` with channel copies of some clips
            appended after the adversary, and ``consistency.penalty(logits, view_of)`` added to the
            loss (:class:`~wavguard.training.consistency.ConsistencyTraining`).
        progress: draw the epoch's tqdm bar (main process only).
    """
    from tqdm.auto import tqdm

    exit_after = int(os.environ.get(EXIT_AFTER_STEP_ENV, "0") or 0)
    total = len(loader) + state.batches_done
    module.train()
    criterion = loss_fn if loss_fn is not None else WeightedCrossEntropy(class_weights)
    constrain = getattr(criterion, "constrain_model", None)
    # a context: the bar is closed (and, leave=False, cleared) when a step raises, so the CLI's
    # one-line error starts on a line of its own
    with tqdm(
        total=total,
        initial=state.batches_done,
        desc=f"epoch {state.epoch + 1}",
        unit="batch",
        disable=not (progress and accelerator.is_local_main_process),
        leave=False,
    ) as bar:
        for batch in loader:
            with accelerator.accumulate(module):
                # seeded by position, not by step: resumable, and distinct across accumulated batches
                position = state.epoch * 1_000_000 + state.batches_done
                if adversary is not None:
                    batch = adversary(accelerator.unwrap_model(module).model, batch, position)
                if consistency is not None:
                    batch = consistency(batch, position)
                batch_loss = functools.partial(_batch_loss, module, criterion, batch, consistency)
                loss = batch_loss()
                accelerator.backward(loss)
                if sam is not None:  # the gradient at w + e replaces it (wavguard.training.sam)
                    sharpness_aware_backward(accelerator, module, batch_loss, optimizer, sam)
                if accelerator.sync_gradients and max_grad_norm is not None:
                    accelerator.clip_grad_norm_(module.parameters(), max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                if accelerator.sync_gradients and constrain is not None:
                    constrain(accelerator.unwrap_model(module).model)
            state.batches_done += 1
            value = float(accelerator.gather(loss.detach()[None]).mean())
            state.loss_sum += value
            state.loss_count += 1
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}")
            if accelerator.sync_gradients:
                state.global_step += 1
                if state.global_step % log_every_steps == 0:
                    metrics.write(
                        {
                            "epoch": state.epoch + 1,
                            "step": state.global_step,
                            "train_loss": value,
                            "lr": [float(g["lr"]) for g in optimizer.param_groups],
                        }
                    )
                on_step(state, state.batches_done >= total)
                if exit_after and state.global_step == exit_after:
                    os._exit(3)


@torch.no_grad()
def evaluate(accelerator, module: nn.Module, loader) -> dict[str, Any]:
    """Scores and metrics on a (prepared) loader, gathered from every process.

    Returns:
        {"eer", "eer_threshold", "loss", "accuracy", "num_clips", "scores" (N,), "labels" (N,)};
        ``eer`` is NaN when only one class is present.
    """

    was_training = module.training
    module.eval()
    all_logits, all_labels = [], []
    for batch in loader:
        logits = module(_inputs(batch)).float()
        logits, labels = accelerator.gather_for_metrics((logits, batch["labels"]))
        all_logits.append(logits.cpu())
        all_labels.append(labels.cpu())
    module.train(was_training)
    logits = torch.cat(all_logits)
    labels = torch.cat(all_labels)
    scores = torch.softmax(logits, dim=1)[:, 1].numpy().astype(np.float64)
    labels_np = labels.numpy()
    eer, threshold = (math.nan, math.nan)
    if (labels_np == 0).any() and (labels_np == 1).any():
        eer, threshold = compute_eer(labels_np, scores)
    return {
        "eer": float(eer),
        "eer_threshold": float(threshold),
        "loss": float(F.cross_entropy(logits, labels)),
        "accuracy": float(((scores >= 0.5).astype(int) == labels_np).mean()),
        "num_clips": int(labels_np.size),
        "scores": scores,
        "labels": labels_np,
    }
