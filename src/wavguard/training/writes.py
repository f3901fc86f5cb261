"""What a training run writes, and what the user reads when a write fails.

A run writes its checkpoints, ``metrics.jsonl``, ``train_config.yaml``, the best detector
(``best/``) and cached features. A disk that fills up or a folder that turns read-only mid-run
used to end in a raw traceback from deep inside torch, safetensors or accelerate. Each of those
writes runs inside :func:`writing`, which turns the failure into one
:class:`~wavguard.errors.OutputWriteError` that names the path, says what happened and what to
do (free space or make the folder writable, then ``--resume``); the CLI prints it as one line.

What happened is read from the exception where it says (an ``OSError`` and its errno, or the
OS's words inside a library's message: safetensors reports ``No space left on device (os error
28)``); where it does not (``torch.save`` on a full disk raises ``RuntimeError: ... unexpected
pos``), from the disk itself: read-only, not writable, or less than :data:`LOW_SPACE_BYTES` free.
Any other exception passes through unchanged.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..detector import Detector
from ..errors import OutputWriteError

__all__ = ["writing", "write_error", "save_detector", "LOW_SPACE_BYTES", "WRITE_ERRNOS"]

#: A disk with less free space than this after a failed write is taken to be full.
LOW_SPACE_BYTES = 16 * 1024 * 1024

_FULL = (errno.ENOSPC, errno.EDQUOT)
_LOCKED = (errno.EROFS, errno.EACCES, errno.EPERM)
#: The errnos a failed write is explained by: a full disk or quota, a read-only or forbidden folder.
WRITE_ERRNOS = _FULL + _LOCKED

_WHAT_HAPPENED = {
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (the folder is not writable)",
    errno.EPERM: "the operation is not permitted",
}


def _stated_errno(exc: BaseException) -> int | None:
    """The write errno ``exc`` (or what it was raised from) states, as an ``OSError`` or in words."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
            return exc.errno
        text = str(exc)
        for code in WRITE_ERRNOS:
            if os.strerror(code) in text or f"os error {code})" in text:
                return code
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _disk_errno(path: Path) -> int | None:
    """What the disk holding ``path`` says: read-only, not writable or (nearly) full; ``None`` if fine."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return None
    if stats.f_flag & os.ST_RDONLY:
        return errno.EROFS
    if not os.access(folder, os.W_OK):
        return errno.EACCES
    if stats.f_bavail * stats.f_frsize < LOW_SPACE_BYTES:
        return errno.ENOSPC
    return None


def write_error(
    exc: BaseException, path: str | os.PathLike, what: str, setting: str = "output_dir"
) -> OutputWriteError | None:
    """The :class:`OutputWriteError` that explains ``exc``, raised while writing ``what`` to
    ``path``; ``None`` when neither the exception nor the disk points to a full or locked disk.
    ``setting``: the setting that chose the folder, which the message suggests changing."""
    path = Path(path)
    code = _stated_errno(exc)
    diagnosed = code is None
    if diagnosed:
        code = _disk_errno(path)
        if code is None:
            return None
    todo = (
        f"free space on that disk (or set {setting} to a folder on another disk)"
        if code in _FULL
        else f"make the folder writable again (or set {setting} to another folder)"
    )
    detail = f" ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})" if diagnosed else ""
    return OutputWriteError(
        str(path),
        code,
        f"could not write {what} to {path}: {_WHAT_HAPPENED[code]}{detail}; {todo}, then continue the run from its "
        "last checkpoint with --resume (Trainer.fit(resume=True))",
    )


@contextmanager
def writing(path: str | os.PathLike, what: str, setting: str = "output_dir") -> Iterator[None]:
    """Run a write of ``what`` to ``path``; a full disk or a read-only folder becomes an
    :class:`OutputWriteError` (see the module's text), anything else passes through.
    ``setting``: the setting that chose the folder (``output_dir``, ``cache_dir``).

    Example:
        >>> with writing("run/metrics.jsonl", "the metrics log"):  # doctest: +SKIP
        ...     fh.write(line)
    """
    try:
        yield
    except OutputWriteError:
        raise
    except Exception as exc:
        error = write_error(exc, path, what, setting)
        if error is None:
            raise
        raise error from exc


def save_detector(
    accelerator, module, detector: Detector, directory: str | os.PathLike, metrics: dict[str, Any] | None = None
) -> Path:
    """Save the model being trained as a wavguard detector directory (LoRA adapters included).

    The main process writes; the others wait. ``module`` is the (wrapped) training module,
    ``detector`` the run's detector (its config and backbone reference).

    Raises:
        OutputWriteError: the disk is full or the folder not writable.
    """
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(module).model
        was_training = model.training
        config = detector.config.replace(metrics={k: v for k, v in (metrics or {}).items() if v is not None})
        with writing(directory, "the best detector"):
            Detector(model, config, backbone_is_reference=detector.backbone_is_reference).save_pretrained(directory)
        model.train(was_training)
    accelerator.wait_for_everyone()
    return Path(directory)
