"""Shared helpers of the corpus loaders: bounded directory search and missing-file policy."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError
from ._schema import offenders_message

logger = logging.getLogger("wavguard.data")

#: Folders that hold only audio: never searched for protocol files.
_AUDIO_FOLDERS = {"flac", "wav", "wavs"}
MISSING_POLICIES = ("error", "skip")


def walk_limited(root: Path, max_depth: int = 3) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``os.walk`` down to ``max_depth`` levels below ``root``, not descending into flac/ wav/ wavs/.

    Yields:
        (folder, its sub-folder names (audio folders included), its file names).
    """
    root = Path(root)
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        depth = len(here.parts) - base_depth
        names = sorted(d for d in dirnames if not d.startswith("."))
        dirnames[:] = [] if depth >= max_depth else [d for d in names if d.lower() not in _AUDIO_FOLDERS]
        yield here, names, filenames


def find_files(root: Path, name: str, max_depth: int = 3) -> list[Path]:
    """Files called ``name`` (case-insensitive) within ``max_depth`` levels of ``root``, sorted."""
    lowered = name.lower()
    return sorted(here / f for here, _, files in walk_limited(root, max_depth) for f in files if f.lower() == lowered)


def find_dirs(root: Path, predicate, max_depth: int = 3) -> list[Path]:
    """Folders (``root`` included) within ``max_depth`` levels whose name satisfies ``predicate``."""
    found = [root] if predicate(root.name) else []
    for here, dirs, _ in walk_limited(root, max_depth):
        found.extend(here / d for d in dirs if predicate(d))
    return sorted(set(found))


def check_missing(missing: list[str], total: int, source: str, policy: str, fix: str) -> None:
    """Raise (policy "error") or log (policy "skip") the files a protocol lists but that do not exist."""
    if policy not in MISSING_POLICIES:
        raise ConfigError(f"missing must be one of {MISSING_POLICIES}, got {policy!r}")
    if not missing:
        return
    if policy == "error":
        raise ConfigError(
            f"{source}: "
            + offenders_message(
                f"of {total} listed audio files do not exist",
                missing,
                len(missing),
                fix + " Or pass missing='skip' to drop them.",
            )
        )
    logger.warning(
        "%s: skipped %d of %d listed audio files that do not exist (first: %s)", source, len(missing), total, missing[0]
    )


def require_dir(root: str | os.PathLike, what: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory; pass the root folder of {what}")
    return root
