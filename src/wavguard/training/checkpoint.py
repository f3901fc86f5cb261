"""Checkpoints: accelerate's ``save_state`` (model, optimizer, scheduler, RNG states) plus the
position in the data (epoch, batches consumed) and the early-stopping bookkeeping.

Layout: ``OUTPUT_DIR/checkpoints/step-00000042/`` holding accelerate's files, ``files.json``
(each file's size) and ``trainer_state.json``; the newest intact one is what ``resume`` continues
from. A checkpoint whose files are missing, truncated or unreadable is skipped with a warning
naming it and why, so a damaged newest checkpoint falls back to an older one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..errors import ConfigError

__all__ = [
    "TrainState",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "checkpoints_newest_first",
    "checkpoint_problem",
    "check_output_dir",
    "resume_candidates",
    "no_checkpoint",
    "data_record",
    "warn_if_changed",
    "STATE_NAME",
    "FILES_NAME",
]

logger = logging.getLogger(__name__)

STATE_NAME = "trainer_state.json"
#: ``{relative path: size in bytes}`` of a checkpoint's files, written before ``trainer_state.json``.
FILES_NAME = "files.json"
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


def _step(path: Path) -> int:
    try:
        return int(path.name.split("-")[1])
    except (IndexError, ValueError):
        return -1


def checkpoints_newest_first(output_dir: str | Path) -> list[Path]:
    """Every ``step-*`` folder under ``output_dir/checkpoints``, newest first (intact or not)."""
    root = _checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and _step(p) >= 0), key=_step, reverse=True)


def checkpoint_problem(path: str | Path) -> str | None:
    """Why the checkpoint folder ``path`` cannot be resumed from, or ``None`` when it looks intact.

    Checks, without loading any tensor: ``trainer_state.json`` exists and parses; every file
    listed in ``files.json`` has its recorded size; ``*.safetensors`` headers fit in their files;
    zip-format PyTorch files (``*.bin``, ``*.pt``, ``*.pth``) have their central directory.
    """
    path = Path(path)
    try:
        TrainState.from_json((path / STATE_NAME).read_text())
    except FileNotFoundError:
        return f"no {STATE_NAME} (the save did not finish)"
    except (OSError, ValueError, TypeError) as exc:
        return f"{STATE_NAME} cannot be read ({exc})"
    try:
        recorded = json.loads((path / FILES_NAME).read_text()) if (path / FILES_NAME).is_file() else {}
        for name, size in recorded.items():
            actual = (path / name).stat().st_size if (path / name).is_file() else None
            if actual is None:
                return f"{name} is missing"
            if actual != size:
                return f"{name} is truncated or changed ({actual} bytes; {size} were written)"
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            problem = _file_problem(file)
            if problem:
                return f"{file.relative_to(path)} {problem}"
    except (OSError, ValueError, TypeError) as exc:
        return f"cannot be checked ({exc})"
    return None


def _file_problem(file: Path) -> str | None:
    size = file.stat().st_size
    if file.suffix == ".safetensors":
        with open(file, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return "is truncated (no safetensors header)"
            length = int.from_bytes(head, "little")
            if 8 + length > size:
                return "is truncated (its safetensors header is cut off)"
            header = json.loads(fh.read(length))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + length + end > size:
            return f"is truncated ({size} bytes; its header declares {8 + length + end})"
    elif file.suffix in (".bin", ".pt", ".pth"):
        with open(file, "rb") as fh:
            zipped = fh.read(2) == b"PK"
        if zipped and not zipfile.is_zipfile(file):
            return "is truncated (its zip archive has no central directory)"
    return None


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest intact checkpoint folder, or ``None``; each newer damaged one is skipped with a
    warning naming it and why (:func:`checkpoint_problem`)."""
    for path in checkpoints_newest_first(output_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        logger.warning("skipping checkpoint %s: %s", path, problem)
    return None


def resume_candidates(output_dir: str | Path, start_if_missing: bool) -> list[Path]:
    """Intact checkpoints, newest first; each damaged one is skipped with a warning saying why.

    Raises:
        ConfigError: there is no intact checkpoint and not ``start_if_missing``.
    """
    intact = []
    found = checkpoints_newest_first(output_dir)
    for path in found:
        problem = checkpoint_problem(path)
        if problem is None:
            intact.append(path)
        else:
            logger.warning("skipping checkpoint %s: %s", path, problem)
    if not intact:
        no_checkpoint(output_dir, start_if_missing, "none is complete" if found else "there is none")
    return intact


def no_checkpoint(output_dir: str | Path, start_if_missing: bool, why: str) -> None:
    """Refuse a resume without a checkpoint (ConfigError), or warn that training starts from scratch."""
    where = _checkpoint_root(output_dir)
    if not start_if_missing:
        raise ConfigError(
            f"--resume: no checkpoint to resume from in {where} ({why}); pass --resume-or-start to start "
            "from scratch in that case, or drop --resume"
        )
    logger.warning("no checkpoint to resume from in %s (%s); starting from scratch (--resume-or-start)", where, why)


def data_record(source: Any, data: Any) -> dict[str, Any]:
    """The training data as a checkpoint records it: its source, size, fake clips and a digest of
    its file names and sizes, so that resuming on other data can warn."""
    digest = hashlib.sha256()
    try:
        cells = data.data.column("audio").combine_chunks()
        for path, blob in zip(cells.field("path").to_pylist(), cells.field("bytes").to_pylist()):
            digest.update(f"{path}|{len(blob) if blob is not None else -1}\n".encode())
    except Exception:  # noqa: BLE001 - another layout: the size and classes still tell
        digest.update(b"?")
    labels = [int(x) for x in data["label"]] if "label" in getattr(data, "column_names", ()) else []
    digest.update(json.dumps(labels).encode())
    return {"train_data": json.loads(json.dumps(source, default=str)), "train_clips": len(data),
            "train_fake_clips": sum(labels), "train_digest": digest.hexdigest()[:16]}


def warn_if_changed(recorded: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """Warn when a resumed run's settings differ from what its checkpoint recorded; returns the changes."""
    current = json.loads(json.dumps(current, default=str))
    changed = [f"{key} {recorded[key]!r} -> {value!r}" for key, value in current.items()
               if recorded and key in recorded and recorded[key] != value]
    if changed:
        logger.warning(
            "resuming with other settings than the checkpoint recorded: %s; training continues, but the data "
            "order and schedule differ from the interrupted run", "; ".join(changed),
        )
    return changed


def check_output_dir(output_dir: str | Path) -> Path:
    """Make sure ``output_dir`` is (or can become) a writable directory, before any training runs.

    Creates it if missing and writes and removes a probe file.

    Raises:
        ConfigError: naming the path, when it is a file, lies under a file, or cannot be written.
    """
    path = Path(output_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output_dir={str(path)!r} is a file, not a directory; choose another output_dir")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"output_dir={str(path)!r} lies under {str(parent)!r}, which is a file; choose another output_dir")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".wavguard-write-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"output_dir={str(path)!r} cannot be written ({exc.strerror or exc}); choose a writable output_dir"
        ) from None
    return path


def save_checkpoint(accelerator, output_dir: str | Path, state: TrainState, keep: int) -> Path:
    """Save everything needed to resume; keeps only the ``keep`` newest checkpoints.

    ``trainer_state.json`` is written last, so a folder without it (a crash mid-save) is ignored.
    """
    path = _checkpoint_root(output_dir) / f"step-{state.global_step:08d}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        sizes = {str(p.relative_to(path)): p.stat().st_size for p in sorted(path.rglob("*")) if p.is_file() and p.name not in (STATE_NAME, FILES_NAME)}
        atomic_write_text(path / FILES_NAME, json.dumps(sizes, indent=2, sort_keys=True))
        atomic_write_text(path / STATE_NAME, state.to_json())
        older = sorted(
            (p for p in _checkpoint_root(output_dir).iterdir() if p.is_dir() and p.name.startswith("step-") and p != path),
            key=_step,
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
