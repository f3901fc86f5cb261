"""Checkpoints: accelerate's ``save_state`` (model, optimizer, scheduler, RNG states) plus the
position in the data (epoch, batches consumed) and the early-stopping bookkeeping.

Layout: ``OUTPUT_DIR/checkpoints/step-00000042/`` holding accelerate's files and
``trainer_state.json``; the newest complete one is what ``resume`` continues from.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_text

__all__ = ["TrainState", "save_checkpoint", "load_checkpoint", "latest_checkpoint", "STATE_NAME"]

STATE_NAME = "trainer_state.json"
CHECKPOINTS = "checkpoints"


@dataclass
class TrainState:
    """Where training stands.

    Attributes:
        epoch: current epoch (0-based).
        batches_done: batches of ``epoch`` already consumed (per process).
        global_step: optimizer steps taken.
        loss_sum, loss_count: running training loss of the current epoch.
        best_eer: lowest validation EER so far (``inf`` before the first validation).
        best_epoch: epoch that reached it (-1: none).
        bad_epochs: validations since the last improvement.
        stopped_early: early stopping fired.
    """

    epoch: int = 0
    batches_done: int = 0
    global_step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    best_eer: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["best_eer"] = None if math.isinf(self.best_eer) else self.best_eer
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainState":
        data = json.loads(text)
        data["best_eer"] = math.inf if data.get("best_eer") is None else float(data["best_eer"])
        return cls(**data)


def _checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / CHECKPOINTS


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder (one holding ``trainer_state.json``), or ``None``."""
    root = _checkpoint_root(output_dir)
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and (p / STATE_NAME).is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1])) if done else None


def save_checkpoint(accelerator, output_dir: str | Path, state: TrainState, keep: int) -> Path:
    """Save everything needed to resume; keeps only the ``keep`` newest checkpoints.

    ``trainer_state.json`` is written last, so a folder without it (a crash mid-save) is ignored.
    """
    path = _checkpoint_root(output_dir) / f"step-{state.global_step:08d}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        atomic_write_text(path / STATE_NAME, state.to_json())
        older = sorted(
            (p for p in _checkpoint_root(output_dir).iterdir() if p.is_dir() and p.name.startswith("step-") and p != path),
            key=lambda p: int(p.name.split("-")[1]),
        )
        for stale in older[: max(0, len(older) - (keep - 1))]:
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def load_checkpoint(accelerator, path: str | Path) -> TrainState:
    """Restore model, optimizer, scheduler and RNG states; returns the saved :class:`TrainState`."""
    path = Path(path)
    accelerator.load_state(str(path))
    return TrainState.from_json((path / STATE_NAME).read_text())
