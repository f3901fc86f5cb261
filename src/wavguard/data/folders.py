"""Folder layouts: ``ROOT/{real,fake}/**`` or ``ROOT/{train,validation,test}/{real,fake}/**``.

Class folders may be spelled real/fake, bonafide/spoof or bona-fide (any case); split folders
train/training, validation/val/dev, test/testing/eval (any case). Files directly under ``fake/``
have no known attack; files under ``fake/NAME/...`` get ``attack = NAME``; real files get
``attack = "bonafide"``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import ConfigError
from ._schema import BONAFIDE, audio_files, build_dataset, canonical_split, select_split

__all__ = ["load_folder", "is_class_folder", "class_folders", "split_folders"]

logger = logging.getLogger("wavguard.data")

CLASS_FOLDERS = {"real": 0, "bonafide": 0, "bona-fide": 0, "bona_fide": 0, "fake": 1, "spoof": 1}


def class_folders(root: Path) -> dict[int, list[Path]]:
    """The class sub-folders of ``root``: {0: [real folders], 1: [fake folders]}."""
    found: dict[int, list[Path]] = {}
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        label = CLASS_FOLDERS.get(child.name.lower())
        if label is not None and child.is_dir():
            found.setdefault(label, []).append(child)
    return found


def split_folders(root: Path) -> dict[str, Path]:
    """The split sub-folders of ``root`` that themselves hold class folders: {"train": path, ...}."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        name = canonical_split(child.name)
        if name is None or not child.is_dir() or not class_folders(child):
            continue
        if name in found:
            raise ConfigError(
                f"{root}: both {found[name].name}/ and {child.name}/ are the {name} split; keep one of them"
            )
        found[name] = child
    return found


def is_class_folder(root: str | os.PathLike) -> bool:
    """True when ``root`` has real/fake class folders, directly or under split folders."""
    root = Path(root)
    return bool(class_folders(root) or split_folders(root))


def _load_classes(root: Path, with_duration: bool):
    paths: list[str] = []
    labels: list[int] = []
    attacks: list[str | None] = []
    for label, folders in sorted(class_folders(root).items()):
        for folder in folders:
            for path in audio_files(folder):
                paths.append(path)
                labels.append(label)
                if label == 0:
                    attacks.append(BONAFIDE)
                else:
                    parts = Path(path).relative_to(folder).parts
                    attacks.append(parts[0] if len(parts) > 1 else None)
    if not paths:
        raise ConfigError(f"{root}: found no audio files (.wav/.flac/.ogg/.mp3) under its real/ and fake/ sub-folders")
    if len(set(labels)) == 1:
        logger.warning("%s: holds only %s audio", root, "real" if labels[0] == 0 else "fake")
    return build_dataset(paths, labels, {"attack": attacks}, with_duration=with_duration)


def load_folder(root: str | os.PathLike, split: str | None = None, *, with_duration: bool = True):
    """Load a class-folder layout without decoding any audio.

    Args:
        root: ``ROOT/{real,fake}/**`` -> a ``Dataset``; ``ROOT/{train,...}/{real,fake}/**`` ->
            a ``DatasetDict`` keyed ``train``/``validation``/``test``.
        split: return only this split (any alias: "dev", "eval", ...).
        with_duration: add ``duration_seconds`` from each file's header.

    Returns:
        ``datasets.Dataset`` or ``DatasetDict`` with columns audio, label, attack,
        duration_seconds.

    Raises:
        ConfigError: no class folders, no audio, or both class and split folders at the top.
    """
    import datasets

    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory; pass a folder with real/ and fake/ sub-folders")
    classes, splits = class_folders(root), split_folders(root)
    if classes and splits:
        raise ConfigError(
            f"{root}: has both class folders ({', '.join(p.name for f in classes.values() for p in f)}) and "
            f"split folders ({', '.join(p.name for p in splits.values())}); use one layout"
        )
    if classes:
        return select_split(_load_classes(root, with_duration), split, str(root))
    if splits:
        if split is not None:
            name = canonical_split(split) or split
            if name not in splits:
                raise ConfigError(f"{root}: has no split {split!r}; it has {sorted(splits)}")
            return _load_classes(splits[name], with_duration)
        ordered = [name for name in ("train", "validation", "test") if name in splits]
        return datasets.DatasetDict({name: _load_classes(splits[name], with_duration) for name in ordered})
    raise ConfigError(
        f"{root}: expected sub-folders real/ and fake/ (or bonafide/ and spoof/), optionally under "
        "train/, validation/ and test/; found none"
    )
