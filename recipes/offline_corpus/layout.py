"""Which real clips go where: speaker-key patterns -> splits, even allocation, bona fide vs vocoder sources.

Pure functions on :class:`readers.Clip` lists (no audio is read), so the plan tests feed them
synthetic clips. Every choice is deterministic given the seed and the (sorted) clip lists.

* :func:`assign_splits`: each split names its speaker keys by ``fnmatch`` patterns
  (``queen:[1-4]``, ``ktuberling:*``) with optional ``exclude`` patterns; a key claimed by two
  splits, or a pattern that matches nothing, is a :class:`ConfigError`.
* :func:`spread`: water-filling: an integer total split as evenly as the caps allow, leftovers
  of capped names redistributed to the others, the last odd units given in a seeded order.
* :func:`allocate_reals`: a split's real clips spread evenly over its source families, then evenly
  over the speaker keys within each family (capped by what each key can give).
* :func:`partition`: each speaker key's clips shuffled (seeded) and cut into bona fide examples and
  vocoder sources, so that no copy-synthesis fake is made from a clip that is itself bona fide.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from wavguard.errors import ConfigError

__all__ = ["Roles", "assign_splits", "partition", "spread", "allocate_reals", "seeded_rng", "source_reserve", "usable"]


def seeded_rng(seed: int, *names: str) -> np.random.Generator:
    """A generator keyed by the corpus seed and names (independent of call order)."""
    digest = hashlib.sha256("/".join([str(seed), *names]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def usable(clips: Iterable, min_seconds: float) -> list:
    """Clips long enough to survive the chain's minimum (by the file header: nothing is decoded)."""
    return [c for c in clips if c.duration_seconds >= min_seconds]


def assign_splits(splits: Mapping[str, Mapping], speaker_keys: Iterable[str]) -> dict[str, list[str]]:
    """split -> sorted speaker keys matched by its ``speakers`` patterns less its ``exclude`` patterns.

    Raises:
        ConfigError: a split lists no patterns, a pattern matches no key, or a key is in two splits.
    """
    keys = sorted(set(speaker_keys))
    out: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for name, split in splits.items():
        patterns = list(split.get("speakers") or [])
        if not patterns:
            raise ConfigError(f"splits.{name}.speakers: lists no speaker patterns")
        chosen: set[str] = set()
        for pattern in patterns:
            hits = fnmatch.filter(keys, pattern)
            if not hits:
                raise ConfigError(
                    f"splits.{name}.speakers: {pattern!r} matches no speaker key "
                    f"(keys look like {keys[:3]} ...; see readers/)"
                )
            chosen.update(hits)
        for pattern in split.get("exclude") or []:
            chosen -= set(fnmatch.filter(keys, pattern))
        for key in sorted(chosen):
            if key in owner:
                raise ConfigError(f"speaker {key} is in both {owner[key]} and {name}; splits must be speaker-disjoint")
            owner[key] = name
        out[name] = sorted(chosen)
    return out


def spread(total: int, caps: Mapping[str, int], rng: np.random.Generator) -> dict[str, int]:
    """Split ``total`` as evenly as possible over ``caps``' names, none above its cap.

    Whole shares first; what a capped name cannot take goes to the others; the last units (fewer
    than the names still open) go one each in a seeded order. Returns ``{name: count}`` for every
    name; the counts sum to ``min(total, sum(caps))``.

    >>> spread(10, {"a": 2, "b": 100, "c": 100}, np.random.default_rng(0))
    {'a': 2, 'b': 4, 'c': 4}
    """
    names = sorted(caps)
    counts = {k: 0 for k in names}
    order = [names[i] for i in rng.permutation(len(names))]
    left = min(int(total), sum(max(0, int(caps[k])) for k in names))
    while left > 0:
        open_ = [k for k in order if counts[k] < caps[k]]
        share = left // len(open_)
        if share == 0:
            for k in open_[:left]:
                counts[k] += 1
            break
        for k in open_:
            add = min(share, caps[k] - counts[k])
            counts[k] += add
            left -= add
    return counts


def allocate_reals(total: int, caps: Mapping[str, Mapping[str, int]], rng: np.random.Generator) -> dict[str, int]:
    """Real clips per speaker key: evenly over source families, then evenly over keys in a family.

    Args:
        total: real clips wanted in the split.
        caps: family -> speaker key -> most bona fide clips that key can give.

    Returns:
        speaker key -> count (every key present, 0 allowed).
    """
    family_caps = {family: sum(keys.values()) for family, keys in caps.items()}
    per_family = spread(total, family_caps, rng)
    out: dict[str, int] = {}
    for family in sorted(caps):
        out.update(spread(per_family[family], caps[family], rng))
    return out


@dataclass(frozen=True)
class Roles:
    """One speaker key's clips in a split, cut in two roles.

    Attributes:
        bonafide: clips used as real examples.
        sources: the others, in the order copy-synthesis should use them (never bona fide).
        cap: the most bona fide clips this key may give (the rest stay vocoder sources).
    """

    bonafide: list
    sources: list
    cap: int


def source_reserve(n_clips: int, copy_share: float) -> int:
    """Clips of a key kept back as vocoder sources: ``copy_share / (1 + copy_share)`` of them, floored.

    With one fake per real clip and a share ``c`` of a language's fakes made by copy-synthesis, a
    key whose clips are all used (``--full``) then has about ``c`` source clips per bona fide one.
    """
    if copy_share <= 0 or n_clips <= 1:
        return 0
    return min(n_clips - 1, math.floor(n_clips * copy_share / (1.0 + copy_share)))


def partition(clips: list, copy_share: float, wanted: int | None, rng: np.random.Generator) -> Roles:
    """Shuffle one key's clips (seeded) and cut them into bona fide and vocoder-source roles.

    Args:
        clips: the key's usable clips, sorted by id.
        copy_share: share of its language's fakes that copy-synthesis makes (0-1).
        wanted: bona fide clips wanted (capped); ``None`` takes the cap (``--full``).
    """
    shuffled = [clips[i] for i in rng.permutation(len(clips))]
    cap = len(clips) - source_reserve(len(clips), copy_share)
    n = cap if wanted is None else min(int(wanted), cap)
    return Roles(shuffled[:n], shuffled[n:], cap)
