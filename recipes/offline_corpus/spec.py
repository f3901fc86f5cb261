"""One clip of the corpus plan (:class:`ClipSpec`), its seed, and the build configuration it is planned from.

These are the plan's inputs and units, kept apart from :mod:`plan`'s decisions so that the
generators (:mod:`families`, :mod:`generate`) can name a clip without importing the planner.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wavguard.errors import ConfigError

__all__ = ["DEFAULTS_PATH", "ClipSpec", "allocate", "clip_seed", "load_config", "split_variants"]

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to make one output clip (picklable, JSON-able).

    Attributes:
        clip_id: unique, also the file stem.
        split, label: ``train``/``validation``/``test``; ``real``/``fake``.
        family: generator family (``bonafide`` for real clips); attack: ``family/variant``.
        speaker: the real speaker key (real and copy-synthesis clips) or ``engine:voice`` (TTS).
        language: language spoken; text: what is said ("" when the source has no transcript).
        source_id, source_path: the real clip it comes from: the copy-synthesis input, or for
            TTS the paired clip whose speech duration and channel are matched.
        variant: generator setting name; params: extra numeric settings (speed, pitch, scales).
        seed: the clip's own seed (generator noise and post-processing).
        channel: the channel of the real clip (:data:`readers.CHANNELS`); a fake carries its paired
            real clip's channel and goes through it before the shared chain.
        source: the Debian package of the real clip (of the paired clip, for a fake).
        speaker_reliability: of the real speaker key (:data:`readers.RELIABILITY`); "" for TTS.
        text_id: the real clip whose transcript a TTS fake reads ("" otherwise).
    """

    clip_id: str
    split: str
    label: str
    family: str
    attack: str
    speaker: str
    language: str
    text: str
    source_id: str
    source_path: str
    variant: str
    seed: int
    params: dict = field(default_factory=dict)
    channel: str = ""
    source: str = ""
    speaker_reliability: str = ""
    text_id: str = ""

    @property
    def rel_path(self) -> str:
        return f"wav/{self.split}/{self.label}/{self.clip_id}.wav"


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """The defaults (``defaults.yaml``) merged key by key with the YAML at ``path``; ``splits`` is replaced whole."""
    import yaml

    config = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        extra = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(extra, dict):
            raise ConfigError(f"{path}: must hold a YAML mapping")
        splits = extra.pop("splits", None)
        config = _merge(config, extra)
        if splits is not None:
            config["splits"] = splits
    return config


def allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` into integer counts proportional to ``weights`` (largest remainder; ties by name).

    >>> allocate(10, {"a": 0.5, "b": 0.3, "c": 0.2})
    {'a': 5, 'b': 3, 'c': 2}
    """
    names = sorted(k for k, w in weights.items() if w > 0)
    if total <= 0 or not names:
        return {k: 0 for k in names}
    norm = sum(weights[k] for k in names)
    exact = {k: total * weights[k] / norm for k in names}
    counts = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(counts.values())
    for k in sorted(names, key=lambda k: (-(exact[k] - counts[k]), k))[:left]:
        counts[k] += 1
    return counts


def clip_seed(seed: int, clip_id: str) -> int:
    """A 32-bit seed for one clip, independent of build order and worker."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{clip_id}".encode()).digest()[:4], "little")


def split_variants(config: dict, split: dict, family: str) -> Any:
    """The variants of ``family`` in one split: ``splits.X.variants.FAMILY`` when given, else ``variants.FAMILY``."""
    own = (split.get("variants") or {}).get(family)
    return own if own is not None else config["variants"].get(family)
