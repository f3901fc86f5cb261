"""Paired batches: a real clip and the fakes made from it, in the same batch.

Copy-synthesis fakes (Griffin-Lim, HiFi-GAN, WORLD ...) keep the real speaker, words and channel;
only the generator differs. Putting a real clip and its copies in one batch shows the detector
that difference side by side, and :func:`pair_margin_loss` can ask for it directly: each fake's
FAKE-minus-REAL margin should exceed its own real source's by ``margin``.

A pair group is the value of a data column (the offline corpus's ``source_id``: a fake records the
real clip it was made from; a real clip's own id is its group). Rows whose group has no partner
are singletons and fill the batches' free places.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Sampler

from ..errors import ConfigError
from .overrides import settings_mapping

__all__ = ["PairingConfig", "PairedLoss", "PairedSampler", "group_ids", "pair_groups", "pair_margin_loss"]


def group_ids(keys: Sequence[object]) -> np.ndarray:
    """Integer group ids (N,) for ``keys`` (N,): equal keys share an id; empty/None keys are each their own group."""
    ids = np.empty(len(keys), dtype=np.int64)
    seen: dict[object, int] = {}
    for i, key in enumerate(keys):
        if key is None or key == "":
            ids[i] = len(seen) + i + 1_000_000_000  # unique: never shared
            continue
        ids[i] = seen.setdefault(key, len(seen))
    return ids


class PairedSampler(Sampler[int]):
    """Indices in an order where every ``batch_size`` consecutive ones hold whole pair groups.

    Groups are shuffled, packed into batches (first fit, largest first; a group larger than a
    batch is split across consecutive batches), and the batches shuffled: a pure function of
    ``(seed, epoch)``, like :class:`~wavguard.training.data.EpochSampler`, so a resumed run sees
    the same batches. The DataLoader must use the same ``batch_size`` and ``drop_last=False``.

    Args:
        groups: (N,) group id of each row (:func:`group_ids`).
        batch_size: rows per batch.
        seed: base seed.
    """

    def __init__(self, groups: np.ndarray, batch_size: int, seed: int = 0):
        if batch_size < 2:
            raise ConfigError(f"paired batches need batch_size >= 2 (a real clip and a copy), got {batch_size}")
        self.groups = np.asarray(groups, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self.groups.shape[0])

    def batches(self) -> list[list[int]]:
        """This epoch's batches (each at most ``batch_size`` row indices)."""
        rng = np.random.default_rng(self.seed * 100_003 + self.epoch)
        members: dict[int, list[int]] = {}
        for row in rng.permutation(len(self.groups)):
            members.setdefault(int(self.groups[row]), []).append(int(row))
        chunks = []
        for rows in members.values():
            chunks += [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        order = rng.permutation(len(chunks))
        chunks = sorted((chunks[i] for i in order), key=len, reverse=True)  # stable: shuffled within a size
        batches: list[list[int]] = []
        free: list[int] = []  # free places per batch
        for chunk in chunks:
            for b, room in enumerate(free):
                if room >= len(chunk):
                    batches[b] += chunk
                    free[b] -= len(chunk)
                    break
            else:
                batches.append(list(chunk))
                free.append(self.batch_size - len(chunk))
        full = [b for b, room in zip(batches, free) if room == 0]
        partial = [b for b, room in zip(batches, free) if room > 0]
        # only the last batch may be short, else the DataLoader's consecutive cut would split groups:
        # partial batches are merged at the end, where their groups may straddle one boundary
        tail = [row for b in partial for row in b]
        out = [full[i] for i in rng.permutation(len(full))]
        out += [tail[i : i + self.batch_size] for i in range(0, len(tail), self.batch_size)]
        return out

    def __iter__(self) -> Iterator[int]:
        return iter([row for batch in self.batches() for row in batch])


def pair_groups(dataset: Any, pairing: Mapping[str, Any]) -> np.ndarray:
    """(N,) group ids of a training data set's rows, from ``pairing["column"]``.

    Raises:
        ConfigError: the data set has no such column.
    """
    column = pairing["column"]
    names = getattr(dataset, "column_names", None) or []
    if column not in names:
        raise ConfigError(
            f"pairing.column {column!r} is not a column of the training data (columns: {', '.join(names)}); "
            "a manifest with source_id (the offline corpus writes one) pairs each fake with its real source"
        )
    return group_ids(list(dataset[column]))


def pair_margin_loss(
    logits: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """Mean hinge over (real, fake) pairs of the same group in the batch.

    For a real clip r and a fake f of its group: ``relu(margin - (m_f - m_r))``, where ``m`` is the
    FAKE-minus-REAL logit margin (higher = more fake). Zero when the batch holds no such pair.

    Shapes: logits (B, 2), labels (B,) (1 = fake), groups (B,) -> a scalar.
    """
    margins = logits[:, 1] - logits[:, 0]
    same = groups[:, None] == groups[None, :]
    pairs = same & (labels[:, None] == 0) & (labels[None, :] == 1)  # [r, f]: r real, f fake, same group
    if not bool(pairs.any()):
        return logits.sum() * 0.0  # keeps the graph (and DDP's used-parameter bookkeeping) intact
    gaps = margins[None, :] - margins[:, None]  # [r, f] = m_f - m_r
    return torch.relu(margin - gaps[pairs]).mean()


@dataclass(frozen=True)
class PairingConfig:
    """``pairing:`` in a training recipe.

    Attributes:
        column: the data column whose equal values form a group (the offline corpus: ``source_id``).
        margin_weight: weight of :func:`pair_margin_loss` added to the training loss (0: paired
            batches only).
        margin: the hinge's margin, in logit units.
    """

    column: str = "source_id"
    margin_weight: float = 0.0
    margin: float = 1.0

    @classmethod
    def from_value(cls, value: Mapping[str, Any] | bool) -> PairingConfig:
        """From a mapping (``{column, margin_weight, margin}``) or ``true`` (the defaults)."""
        fields = ("column", "margin_weight", "margin")
        config = cls(**settings_mapping("pairing", value, fields, "{column: source_id, margin_weight: 0.5}"))
        if not isinstance(config.column, str) or not config.column:
            raise ConfigError(f"pairing.column must name a data column, got {config.column!r}")
        for name in ("margin_weight", "margin"):
            number = getattr(config, name)
            if (
                isinstance(number, bool)
                or not isinstance(number, (int, float))
                or not np.isfinite(number)
                or number < 0
            ):
                raise ConfigError(f"pairing.{name} must be a number >= 0, got {number!r}")
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PairedLoss(nn.Module):
    """The training loss plus ``margin_weight`` times :func:`pair_margin_loss` over the batch's groups.

    Args:
        loss: the base loss, ``loss(logits, labels)``.
        groups: (N,) group id of each training row; a batch's ``indices`` pick its rows.
        margin_weight, margin: see :class:`PairingConfig`.
    """

    takes_indices = True

    def __init__(self, loss: nn.Module, groups: np.ndarray, margin_weight: float, margin: float):
        super().__init__()
        self.loss = loss
        self.register_buffer("groups", torch.as_tensor(np.asarray(groups, dtype=np.int64)), persistent=False)
        self.margin_weight = float(margin_weight)
        self.margin = float(margin)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        base = self.loss(logits, labels)
        if self.margin_weight == 0.0:
            return base
        groups = self.groups[indices.to(self.groups.device)].to(logits.device)
        return base + self.margin_weight * pair_margin_loss(logits, labels, groups, self.margin)

    def constrain_model(self, model: nn.Module) -> None:
        """What the base loss keeps true of the model (OC-softmax's unit-length classifier)."""
        constrain = getattr(self.loss, "constrain_model", None)
        if constrain is not None:
            constrain(model)
