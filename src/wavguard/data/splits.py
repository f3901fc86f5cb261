"""Seeded group-disjoint splits: speaker-disjoint, attack-disjoint, and held-out attacks.

A speaker (or attack) never appears in two splits, so validation and test measure
generalisation to unseen speakers (or unseen generators). The same seed always gives the same
split; fractions count *groups*, not rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import ConfigError
from ._schema import BONAFIDE, label_counts

__all__ = ["split_by_group", "speaker_disjoint_split", "attack_disjoint_split", "hold_out_attacks", "SPLIT_NAMES"]

logger = logging.getLogger("wavguard.data")

SPLIT_NAMES = ("train", "validation", "test")


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6 or fractions[0] <= 0:
        raise ConfigError(
            f"fractions must be (train, validation, test), non-negative, summing to 1 with train > 0; got {tuple(fractions)}"
        )
    return tuple(float(f) for f in fractions)  # type: ignore[return-value]


def _allocate(groups: Sequence[str], fractions: Sequence[float], seed: int) -> dict[str, int]:
    """Shuffle the unique groups with ``seed`` and give each split its share (largest remainder).

    Every split with a non-zero fraction gets at least one group.

    Returns:
        group -> split index (0 train, 1 validation, 2 test).
    """
    unique = sorted(set(groups))
    wanted = sum(1 for f in fractions if f > 0)
    if len(unique) < wanted:
        raise ConfigError(f"{len(unique)} groups cannot fill {wanted} splits; lower the number of splits or add data")
    raw = np.asarray(fractions) * len(unique)
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: len(unique) - counts.sum()]:
        counts[i] += 1
    for i, f in enumerate(fractions):  # an empty split that was asked for takes a group from the largest
        if f > 0 and counts[i] == 0:
            counts[int(np.argmax(counts))] -= 1
            counts[i] = 1
    order = np.random.default_rng(seed).permutation(len(unique))
    bounds = np.cumsum(counts)
    return {unique[j]: int(np.searchsorted(bounds, rank, side="right")) for rank, j in enumerate(order)}


def _to_dict(ds, assignment: Sequence[int], fractions: Sequence[float]):
    import datasets

    assignment = np.asarray(assignment)
    parts = {}
    for i, name in enumerate(SPLIT_NAMES):
        if fractions[i] > 0:
            parts[name] = ds.select(np.flatnonzero(assignment == i))
    for name, part in parts.items():
        logger.info("%s: %d rows %s", name, len(part), label_counts(part["label"]))
    return datasets.DatasetDict(parts)


def _column(ds, column: str) -> list:
    if column not in ds.column_names:
        raise ConfigError(
            f"the dataset has no {column!r} column (columns: {ds.column_names}); load a source that has it"
        )
    values = list(ds[column])
    empty = [i for i, v in enumerate(values) if v is None or v == ""]
    if empty:
        raise ConfigError(
            f"{len(empty)} rows have no {column!r} (first rows: {empty[:5]}); fill or drop them before splitting"
        )
    return values


def split_by_group(ds, column: str, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0):
    """Split ``ds`` so that no value of ``column`` appears in two splits.

    Args:
        ds: a ``Dataset``.
        column: the group column ("speaker", "attack", ...); every row needs a value.
        fractions: (train, validation, test) shares of the groups; zero drops that split.
        seed: the shuffle seed; the same seed gives the same split.

    Returns:
        ``DatasetDict`` with "train", "validation", "test" (those with a non-zero fraction).
    """
    fractions = _check_fractions(fractions)
    groups = _column(ds, column)
    where = _allocate(groups, fractions, seed)
    return _to_dict(ds, [where[g] for g in groups], fractions)


def speaker_disjoint_split(ds, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0):
    """:func:`split_by_group` on the ``speaker`` column."""
    return split_by_group(ds, "speaker", fractions, seed)


def attack_disjoint_split(
    ds,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    *,
    real_group_column: str | None = None,
):
    """Split the fake rows by attack (no attack in two splits) and the real rows alongside.

    Real rows carry no attack; they are split at the same fractions, row by row (seeded), or
    by ``real_group_column`` (e.g. "speaker") to keep real speakers disjoint too.

    Returns:
        ``DatasetDict`` with "train", "validation", "test".
    """
    fractions = _check_fractions(fractions)
    labels = np.asarray(ds["label"])
    attacks = _column(ds.select(np.flatnonzero(labels == 1)), "attack") if (labels == 1).any() else []
    where = _allocate(attacks, fractions, seed)
    assignment = np.zeros(len(ds), dtype=int)
    assignment[labels == 1] = [where[a] for a in attacks]
    real_rows = np.flatnonzero(labels == 0)
    if real_rows.size:
        if real_group_column is None:
            keys = [str(i) for i in real_rows]
        else:
            keys = _column(ds.select(real_rows), real_group_column)
        real_where = _allocate(keys, fractions, seed + 1)
        assignment[real_rows] = [real_where[k] for k in keys]
    return _to_dict(ds, assignment, fractions)


def hold_out_attacks(ds, attacks: Iterable[str], *, real_test_fraction: float = 0.2, seed: int = 0):
    """An unseen-attack split: the named attacks go only to "test", every other attack to "train".

    A seeded ``real_test_fraction`` of the real rows also goes to "test" so it can be scored
    (EER needs both classes); the rest of the real rows stay in "train".

    Raises:
        ConfigError: an attack name the dataset does not have (the message lists those it has).
    """
    import datasets

    held = set(attacks)
    if not held:
        raise ConfigError("hold_out_attacks needs at least one attack name")
    if not 0.0 <= real_test_fraction < 1.0:
        raise ConfigError(f"real_test_fraction must be in [0, 1), got {real_test_fraction}")
    labels = np.asarray(ds["label"])
    values = _column(ds.select(np.flatnonzero(labels == 1)), "attack") if (labels == 1).any() else []
    known = sorted(set(values))
    unknown = sorted(held - set(known) - {BONAFIDE})
    if unknown:
        raise ConfigError(f"attacks {unknown} are not in the dataset; it has {known}")
    if BONAFIDE in held:
        raise ConfigError("'bonafide' is real audio, not an attack; use real_test_fraction for the real rows")
    to_test = np.zeros(len(ds), dtype=bool)
    to_test[np.flatnonzero(labels == 1)] = [a in held for a in values]
    real_rows = np.flatnonzero(labels == 0)
    n_test = int(round(real_test_fraction * real_rows.size))
    to_test[np.random.default_rng(seed).choice(real_rows, size=n_test, replace=False)] = True
    result = datasets.DatasetDict(
        {"train": ds.select(np.flatnonzero(~to_test)), "test": ds.select(np.flatnonzero(to_test))}
    )
    for name, part in result.items():
        logger.info("%s: %d rows %s", name, len(part), label_counts(part["label"]))
    return result
