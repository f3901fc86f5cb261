"""Atomic file writes (a crash never leaves a half-written file where a good one was), and where
wavguard's cache lives (:func:`cache_root`).

Every file wavguard writes into a detector directory gets the permissions the umask gives a
plain ``open()``: temporary files (``mkstemp``: 0600) and files that libraries write through their
own temporary files (safetensors, via transformers' and peft's ``save_pretrained``) are
normalised with :func:`apply_umask`, so another user can load a saved detector.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write_text", "atomic_write", "apply_umask", "umask_mode", "cache_root"]


def cache_root() -> Path:
    """wavguard's cache folder (converted backbones, feature caches, the built-in detector's int8
    graph): ``$WAVGUARD_CACHE``, else ``$XDG_CACHE_HOME/wavguard``, else ``~/.cache/wavguard``."""
    root = os.environ.get("WAVGUARD_CACHE")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wavguard"
    return Path(root).expanduser()


def umask_mode(directory: bool = False) -> int:
    """The mode a new file (0o666) or directory (0o777) gets under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def apply_umask(path: str | os.PathLike) -> Path:
    """Give ``path`` and, for a directory, everything under it the umask's permissions (files
    0o666 & ~umask, directories 0o777 & ~umask). Returns ``path``."""
    path = Path(path)
    file_mode, dir_mode = umask_mode(), umask_mode(directory=True)
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(root, name), dir_mode)
            for name in files:
                os.chmod(os.path.join(root, name), file_mode)
        os.chmod(path, dir_mode)
    else:
        os.chmod(path, file_mode)
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file in the same directory, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, umask_mode())  # mkstemp makes 0600; saved models must be readable like any file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    def _write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    return atomic_write(path, _write)
