"""Data sets for training and evaluation, as Hugging Face ``datasets``.

Columns: ``audio`` ({"path", "bytes"}, decoded by :func:`decode_audio`, never by ``datasets``),
``label`` (0 = real, 1 = fake), and where known ``speaker``, ``attack``, ``language``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import load_audio
from ..errors import ConfigError

__all__ = ["load_any", "decode_audio", "AUDIO_EXTENSIONS"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
_CLASS_DIRS = {"real": 0, "bonafide": 0, "bona-fide": 0, "fake": 1, "spoof": 1}


def decode_audio(audio: Any, sample_rate_hz: int) -> np.ndarray:
    """Decode one ``audio`` cell (dict with path/bytes, or a path) to mono float32 at ``sample_rate_hz``.

    Embedded bytes win over the path (after ``save_to_disk`` the path is only a base name).
    """
    if isinstance(audio, dict):
        source = audio.get("bytes") or audio.get("path")
    else:
        source = audio
    if source is None:
        raise ConfigError("an audio cell holds neither bytes nor a path")
    samples, _ = load_audio(source, sample_rate_hz)
    return samples


def load_any(source: str | os.PathLike, split: str | None = None):
    """A ``datasets.Dataset`` from a folder ``ROOT/{real,fake}/**`` (minimal loader).

    Args:
        source: the root folder.
        split: unused by the folder layout without split sub-folders.
    """
    import datasets

    root = Path(source)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory with real/ and fake/ sub-folders")
    paths, labels = [], []
    for child in sorted(root.iterdir()):
        label = _CLASS_DIRS.get(child.name.lower())
        if label is None or not child.is_dir():
            continue
        for f in sorted(child.rglob("*")):
            if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file():
                paths.append({"path": str(f), "bytes": None})
                labels.append(label)
    if not paths:
        raise ConfigError(f"{root}: found no audio under real/ or fake/ sub-folders")
    features = datasets.Features(
        {"audio": datasets.Audio(decode=False), "label": datasets.ClassLabel(names=["real", "fake"])}
    )
    return datasets.Dataset.from_dict({"audio": paths, "label": labels}, features=features)
