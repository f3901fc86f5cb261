"""Checkpoints: accelerate's ``save_state`` (model, optimizer, scheduler, RNG states) plus the
position in the data (epoch, batches consumed) and the early-stopping bookkeeping.

Layout: ``OUTPUT_DIR/checkpoints/step-00000042/`` holding accelerate's files, ``trainer_state.json``
and ``manifest.json`` (the size and SHA-256 digest of every other file; :mod:`wavguard.training.integrity`),
written last and atomically, so its presence marks a complete checkpoint. The newest intact one is
what ``resume`` continues from. A checkpoint whose files are missing, truncated, changed (a digest
that no longer matches: flipped bytes of the same size) or unreadable is skipped with a warning
naming it, the file and why, so a damaged newest checkpoint falls back to an older one.

Checkpoints written before manifests (``files.json`` of sizes, no ``manifest.json``) still resume,
with a warning: their sizes and file formats are checked, but same-size damage cannot be seen.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..errors import ConfigError
from .integrity import MANIFEST_NAME, files_problem, write_manifest
from .writes import writing

__all__ = [
    "TrainState",
    "save_checkpoint",
    "load_checkpoint",
    "load_first_loadable",
    "resume_run",
    "fixed_settings",
    "latest_checkpoint",
    "checkpoints_newest_first",
    "checkpoint_problem",
    "intact_checkpoints",
    "check_output_dir",
    "resume_candidates",
    "no_checkpoint",
    "data_record",
    "read_state",
    "warn_if_changed",
    "refuse_changed_settings",
    "FIXED_ON_RESUME",
    "STATE_NAME",
]

logger = logging.getLogger(__name__)

STATE_NAME = "trainer_state.json"
CHECKPOINTS = "checkpoints"
#: ``TrainState.extra`` key saying which manifest the save writes after ``trainer_state.json``: a
#: checkpoint that has the key but not the file stopped mid-save (a legacy one has neither).
_MANIFEST_KEY = "manifest"

#: Run settings a resume must keep (:func:`refuse_changed_settings`). The optimizer and scheduler
#: states in a checkpoint were built from them: accelerate's ``load_state`` would bring the old
#: learning rates, weight decay and betas back without a word (the new values silently ignored), a
#: new schedule or warmup would bend the learning rate mid-run, and another mode, kind or loss
#: changes which parameters exist.
FIXED_ON_RESUME = (
    "mode",
    "kind",
    "loss",
    "head_learning_rate",
    "layer_weights_learning_rate",
    "backbone_learning_rate",
    "aasist_learning_rate",
    "weight_decay",
    "adam_betas",
    "adam_epsilon",
    "scheduler",
    "warmup_ratio",
)


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
    def from_json(cls, text: str) -> TrainState:
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
    return sorted(
        (p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and _step(p) >= 0),
        key=_step,
        reverse=True,
    )


def checkpoint_problem(path: str | Path) -> str | None:
    """Why the checkpoint folder ``path`` cannot be resumed from, or ``None`` when it is intact.

    Checks, without loading any tensor: ``trainer_state.json`` exists and parses; then the files
    against ``manifest.json`` (sizes and SHA-256 digests) and their formats
    (:func:`wavguard.training.integrity.files_problem`).
    """
    path = Path(path)
    try:
        state = read_state(path)
    except FileNotFoundError:
        return f"no {STATE_NAME} (the save did not finish)"
    except (OSError, ValueError, TypeError) as exc:
        return f"{STATE_NAME} cannot be read ({exc})"
    return files_problem(path, expects_manifest=bool(state.extra.get(_MANIFEST_KEY)))


def read_state(path: str | Path) -> TrainState:
    """The :class:`TrainState` saved in the checkpoint folder ``path`` (no integrity check)."""
    return TrainState.from_json((Path(path) / STATE_NAME).read_text())


def intact_checkpoints(output_dir: str | Path) -> Iterator[Path]:
    """Intact checkpoint folders, newest first, each verified only when it is reached (a digest
    check reads every byte): each damaged one is skipped with a warning naming it and why; one
    written before manifests is yielded with a warning that only its sizes and formats were checked."""
    for path in checkpoints_newest_first(output_dir):
        problem = checkpoint_problem(path)
        if problem is not None:
            logger.warning("skipping checkpoint %s: %s", path, problem)
            continue
        if not (path / MANIFEST_NAME).is_file():
            logger.warning(
                "checkpoint %s has no %s (written by a wavguard from before checkpoint digests): only its file "
                "sizes and formats were checked, so same-size damage would go unnoticed",
                path,
                MANIFEST_NAME,
            )
        yield path


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest intact checkpoint folder, or ``None``; each newer damaged one is skipped with a
    warning naming it and why (:func:`checkpoint_problem`)."""
    return next(intact_checkpoints(output_dir), None)


def resume_candidates(output_dir: str | Path, start_if_missing: bool) -> Iterator[Path]:
    """Intact checkpoints, newest first (:func:`intact_checkpoints`): the first is verified before
    this returns; older ones only when the caller reaches them (a fallback when loading fails).

    Raises:
        ConfigError: there is no intact checkpoint and not ``start_if_missing``.
    """
    intact = intact_checkpoints(output_dir)
    first = next(intact, None)
    if first is None:
        found = checkpoints_newest_first(output_dir)
        no_checkpoint(
            output_dir,
            start_if_missing,
            "none is complete and intact; see the warnings above" if found else "there is none",
        )
        return iter(())
    return itertools.chain([first], intact)


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
    its file names and sizes, so that resuming on other data can warn.

    The names are taken below the folder all the clips share, so the same files read from another
    place (a moved data folder, another checkout) digest the same.
    """
    digest = hashlib.sha256()
    try:
        cells = data.data.column("audio").combine_chunks()
        paths = [str(p or "") for p in cells.field("path").to_pylist()]
        root = os.path.commonpath(paths) if len(paths) > 1 and all(os.path.isabs(p) for p in paths) else ""
        for path, blob in zip(paths, cells.field("bytes").to_pylist()):
            name = os.path.relpath(path, root) if root else path
            digest.update(f"{name}|{len(blob) if blob is not None else -1}\n".encode())
    except Exception:  # noqa: BLE001 - another layout: the size and classes still tell
        digest.update(b"?")
    labels = [int(x) for x in data["label"]] if "label" in getattr(data, "column_names", ()) else []
    digest.update(json.dumps(labels).encode())
    return {
        "train_data": json.loads(json.dumps(source, default=str)),
        "train_clips": len(data),
        "train_fake_clips": sum(labels),
        "train_digest": digest.hexdigest()[:16],
    }


def warn_if_changed(recorded: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """Warn when a resumed run's settings differ from what its checkpoint recorded; returns the changes.

    The settings of :data:`FIXED_ON_RESUME` are not this function's: :func:`refuse_changed_settings`.
    """
    current = json.loads(json.dumps(current, default=str))
    changed = [
        f"{key} {recorded[key]!r} -> {value!r}"
        for key, value in current.items()
        if recorded and key in recorded and recorded[key] != value and key not in FIXED_ON_RESUME
    ]
    if changed:
        logger.warning(
            "resuming with other settings than the checkpoint recorded: %s; training continues, but the data "
            "order and schedule differ from the interrupted run",
            "; ".join(changed),
        )
    return changed


def refuse_changed_settings(recorded: dict[str, Any] | None, current: dict[str, Any], checkpoint: str | Path) -> None:
    """Refuse to resume when a setting of :data:`FIXED_ON_RESUME` differs from what ``checkpoint`` recorded.

    Settings the checkpoint did not record (one written by an older wavguard) are not compared.

    Raises:
        ConfigError: naming each changed setting with its old and new value, and what to do.
    """
    current = json.loads(json.dumps(current, default=str))
    changed = [
        (key, recorded[key], current[key])
        for key in FIXED_ON_RESUME
        if recorded and key in recorded and key in current and recorded[key] != current[key]
    ]
    if not changed:
        return
    what = "; ".join(f"{key} was {old!r}, now {new!r}" for key, old, new in changed)
    keep = " ".join(f"{key}={_plain(old)}" for key, old, _ in changed)
    raise ConfigError(
        f"--resume: {what} (checkpoint {checkpoint}). The checkpoint's optimizer and scheduler state were built with the old "
        f"value{'s' if len(changed) > 1 else ''}, and resuming would silently keep or mix them. Resume with {keep}, "
        "or start a new run in another output_dir (init_from=OUTPUT_DIR/best starts from the best detector so far)"
    )


def _plain(value: Any) -> str:
    """A recorded value as a ``key=value`` override writes it."""
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return "null" if value is None else str(value)


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
                raise ConfigError(
                    f"output_dir={str(path)!r} lies under {str(parent)!r}, which is a file; choose another output_dir"
                )
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

    Order: accelerate's files (every process), then ``trainer_state.json``, then ``manifest.json``
    (digests of all the others), each written atomically: a folder without the manifest (a crash
    mid-save) is never resumed from. A folder of the same step left by an earlier, interrupted run
    is removed first, so no stale file of it is taken into the new manifest. A full disk or a
    read-only folder raises :class:`~wavguard.errors.OutputWriteError`.
    """
    path = _checkpoint_root(output_dir) / f"step-{state.global_step:08d}"
    with writing(path, "the checkpoint"):  # a full disk or a read-only folder: one clear OutputWriteError
        if accelerator.is_main_process and path.exists():
            shutil.rmtree(path)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(path))
        accelerator.wait_for_everyone()  # every process's random_states_N.pkl is on disk before the digests
        if accelerator.is_main_process:
            marked = dataclasses.replace(state, extra={**state.extra, _MANIFEST_KEY: MANIFEST_NAME})
            atomic_write_text(path / STATE_NAME, marked.to_json())
            write_manifest(path)
        older = sorted(
            (
                p
                for p in _checkpoint_root(output_dir).iterdir()
                if p.is_dir() and p.name.startswith("step-") and p != path
            ),
            key=_step,
        )
        for stale in older[: max(0, len(older) - (keep - 1))]:
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def fixed_settings(config: Any, adam_betas: tuple[float, float], adam_epsilon: float) -> dict[str, Any]:
    """The :data:`FIXED_ON_RESUME` settings of a run: ``config``'s (a ``TrainConfig``) and AdamW's."""
    settings = {name: getattr(config, name) for name in FIXED_ON_RESUME if hasattr(config, name)}
    return {**settings, "adam_betas": list(adam_betas), "adam_epsilon": adam_epsilon}


def resume_run(
    accelerator, output_dir: str | Path, fixed: dict[str, Any], setup: Callable[[], Any], start_if_missing: bool
) -> tuple[TrainState, Path | None]:
    """Continue a run: verify the newest checkpoint and refuse changed :data:`FIXED_ON_RESUME`
    settings, then call ``setup()`` (which builds data, model and optimizer: the slow part, done
    only once the resume is known to go ahead), then load the first candidate that loads.

    Returns:
        the restored state and its checkpoint; ``(TrainState(), None)`` when there is none and
        ``start_if_missing``.

    Raises:
        ConfigError: no intact checkpoint (unless ``start_if_missing``), a changed fixed setting,
            or every candidate failed to load.
    """
    candidates = resume_candidates(output_dir, start_if_missing)
    newest = next(candidates, None)
    if newest is not None:
        refuse_changed_settings(read_state(newest).extra.get("run"), fixed, newest)
    setup()
    if newest is None:
        return TrainState(), None
    return load_first_loadable(accelerator, output_dir, itertools.chain([newest], candidates), fixed)


def load_first_loadable(
    accelerator, output_dir: str | Path, candidates: Iterable[Path], fixed: dict[str, Any]
) -> tuple[TrainState, Path]:
    """Load the first of ``candidates`` that loads; each that fails is skipped with a warning.

    Args:
        accelerator: the prepared ``accelerate.Accelerator``.
        output_dir: the run's folder (for messages).
        candidates: intact checkpoints, newest first (:func:`resume_candidates`).
        fixed: the run's :data:`FIXED_ON_RESUME` settings, compared with each candidate's.

    Raises:
        ConfigError: a candidate recorded another fixed setting (:func:`refuse_changed_settings`),
            or every candidate failed to load (a failed load may have changed the weights: the run
            never starts over on them).
    """
    tried = 0
    for path in candidates:
        refuse_changed_settings(read_state(path).extra.get("run"), fixed, path)
        tried += 1
        try:
            return load_checkpoint(accelerator, path), path
        except Exception as exc:  # noqa: BLE001 - any failure to load means: try the next older one
            logger.warning("skipping checkpoint %s: it cannot be loaded (%s)", path, exc)
    raise ConfigError(
        f"--resume: {'every checkpoint' if tried else 'no checkpoint'} in {_checkpoint_root(output_dir)} "
        "failed to load (see the warnings above); remove them to start over, or choose another output_dir"
    )


def load_checkpoint(accelerator, path: str | Path) -> TrainState:
    """Restore model, optimizer, scheduler and RNG states; returns the saved :class:`TrainState`."""
    path = Path(path)
    accelerator.load_state(str(path))
    state = read_state(path)
    state.extra.pop(_MANIFEST_KEY, None)
    return state
