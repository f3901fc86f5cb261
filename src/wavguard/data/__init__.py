"""Data sets for training and evaluation, as Hugging Face ``datasets``; audio is never decoded to load.

Columns: ``audio`` (``Audio(decode=False)``: {"path", "bytes"}, decoded by :func:`decode_audio`,
never by ``datasets``), ``label`` (``ClassLabel(names=["real", "fake"])``: 0 real, 1 fake), and
where known ``speaker``, ``attack`` ("bonafide" for real), ``language``, ``duration_seconds`` and
corpus conditions (``codec``, ``transmission``, ...). See docs/data.md.

Importing this package does not import ``datasets``; the names below load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._schema import AUDIO_EXTENSIONS, LABEL_NAMES, audio_files, check_label_mapping, parse_label
from .processing import decode_audio

_EXPORTS = {
    "load_any": "loading",
    "load_corpus": "loading",
    "to_streaming": "loading",
    "load_folder": "folders",
    "load_manifest": "manifest",
    "manifest_paths": "manifest",
    "from_dataset": "manifest",
    "load_hub_dataset": "hub_data",
    "from_iterable": "hub_data",
    "materialize": "hub_data",
    "load_asvspoof2019_la": "asvspoof",
    "load_asvspoof2021": "asvspoof",
    "load_in_the_wild": "corpora",
    "load_wavefake": "corpora",
    "load_fake_or_real": "corpora",
    "detect_corpus": "corpora",
    "CORPORA": "corpora",
    "split_by_group": "splits",
    "speaker_disjoint_split": "splits",
    "attack_disjoint_split": "splits",
    "hold_out_attacks": "splits",
    "oversample": "balance",
    "undersample": "balance",
    "class_weights": "balance",
    "BalanceReport": "balance",
    "map_audio": "processing",
    "config_hash": "processing",
    "scan_dataset": "validate",
    "drop_bad": "validate",
    "ScanReport": "validate",
    "BadFile": "validate",
}

__all__ = [
    "decode_audio",
    "parse_label",
    "check_label_mapping",
    "audio_files",
    "AUDIO_EXTENSIONS",
    "LABEL_NAMES",
    *_EXPORTS,
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wavguard.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
