"""Consistency training: one score for a training crop and its copy through a channel.

``TrainConfig.consistency`` (``None``: off) is a mapping such as
``{channels: [reverb], weight: 1.0, probability: 0.5}``. Before every forward pass, each clip of a
waveform batch is, with ``probability``, copied through one of ``channels`` (the names of
``wavguard evaluate --channels``: ``reverb``, ``reverb_drr0``, ``telephone``, ``noise_snr10`` ...;
:mod:`wavguard.audio.channels`); the copies join the batch as extra rows with the same label. The
loss is the training loss over every row (originals and copies) plus ``weight`` times the mean
squared difference of the FAKE-minus-REAL log-odds of each clip and its copy, so the detector is
asked for the same score whatever the room or line, not only for the right class through it.

Each copy's channel and its draw (room, noise) are a function of the run's seed, the batch's
position in training and the row: a resumed run makes the same copies. A fused detector's AASIST
input (``aasist_waveforms``) goes through the same channel with the same draw. Frozen-feature-cache
training cannot do this (the cache holds features of the clean crops):
:class:`~wavguard.training.config.TrainConfig` refuses the combination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..audio.channels import Channel, parse_channels
from ..errors import ConfigError
from .overrides import settings_mapping

__all__ = ["ConsistencyConfig", "ConsistencyTraining", "consistency_from_config", "log_odds_gap"]

#: Rows per batch position in the channel seeds (a batch never holds more rows than this).
_ROWS_PER_POSITION = 1 << 20


@dataclass(frozen=True)
class ConsistencyConfig:
    """Settings of consistency training.

    Attributes:
        channels: channel names; each copy goes through one of them, drawn uniformly.
        weight: weight of the mean squared log-odds difference added to the training loss (0: the
            copies are plain augmentation).
        probability: chance that a training clip gets a copy (1: every clip; the batch doubles).
    """

    channels: tuple[str, ...] = ("reverb",)
    weight: float = 1.0
    probability: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.channels, str) or not self.channels:
            raise ConfigError(f"consistency.channels must be a list of channel names, got {self.channels!r}")
        parsed = parse_channels(list(self.channels))  # ConfigError names the valid forms
        object.__setattr__(self, "channels", tuple(channel.name for channel in parsed))
        for name in ("weight", "probability"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ConfigError(f"consistency.{name} must be a number, got {value!r}")
        if self.weight < 0:
            raise ConfigError(f"consistency.weight must be >= 0, got {self.weight!r}")
        if not 0.0 < self.probability <= 1.0:
            raise ConfigError(f"consistency.probability must be in (0, 1], got {self.probability!r}")

    @classmethod
    def from_value(cls, value: Any) -> ConsistencyConfig | None:
        """``None`` -> ``None``; ``True`` -> the defaults; a mapping of the fields -> a config."""
        if value is None or isinstance(value, cls):
            return value
        data = settings_mapping("consistency", value, ("channels", "weight", "probability"), "{channels: [reverb]}")
        channels = data.get("channels")
        if isinstance(channels, str):  # a single name, or "reverb,telephone" from the command line
            channels = [part for part in channels.split(",") if part.strip()]
        if isinstance(channels, (list, tuple)):
            data["channels"] = tuple(str(name) for name in channels)
        for key in ("weight", "probability"):
            if isinstance(data.get(key), str):
                try:
                    data[key] = float(data[key])
                except ValueError:
                    raise ConfigError(f"consistency.{key} must be a number, got {data[key]!r}") from None
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "weight": float(self.weight), "probability": float(self.probability)}


def log_odds_gap(logits: torch.Tensor, view_of: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the FAKE-minus-REAL log-odds of each copy and its clip.

    Args:
        logits: (B + M, 2): the batch's B clips, then M copies.
        view_of: (M,) the row (in 0..B-1) each copy was made from.

    Returns:
        a scalar; 0 when M is 0.
    """
    if view_of.numel() == 0:
        return logits.sum() * 0.0
    log_odds = logits[:, 1] - logits[:, 0]
    copies = log_odds[logits.shape[0] - view_of.numel() :]
    return torch.mean((copies - log_odds[view_of]) ** 2)


class ConsistencyTraining:
    """Adds channel copies to waveform batches, and their consistency term to the loss.

    Args:
        config: the settings.
        sample_rate_hz: the rate of the batch's waveforms (the detector's).
        seed: with the batch position, seeds which clips get a copy and each copy's channel draw.
    """

    def __init__(self, config: ConsistencyConfig, sample_rate_hz: int, seed: int = 0):
        self.config = config
        self.sample_rate_hz = int(sample_rate_hz)
        self.seed = int(seed)
        self._channels: list[Channel] = parse_channels(list(config.channels))

    def _copy(self, waveforms: torch.Tensor, lengths: torch.Tensor, rows: list[int], draws: list[tuple[int, int]]):
        copies = torch.zeros((len(rows), waveforms.shape[1]), dtype=waveforms.dtype)
        for k, (row, (which, index)) in enumerate(zip(rows, draws)):
            n = int(lengths[row])
            clip = waveforms[row, :n].detach().cpu().float().numpy()
            degraded = self._channels[which](clip, self.sample_rate_hz, seed=self.seed, index=index)
            copies[k, :n] = torch.from_numpy(degraded[:n])
        return copies.to(waveforms.device)

    def __call__(self, batch: dict[str, torch.Tensor], position: int) -> dict[str, torch.Tensor]:
        """``batch`` with copies appended (a new dict) and ``"view_of"`` (M,): each copy's source row.

        Args:
            batch: ``{"waveforms" (B, S), "lengths" (B,), "labels" (B,), ...}``; every (B, ...) entry
                is extended to (B + M, ...), the copies' rows repeating their sources' except for
                the waveforms.
            position: the batch's position in training (epoch and batch), with ``seed`` picking the
                clips and the channel draws.
        """
        if "waveforms" not in batch:
            raise ConfigError(
                "consistency training copies waveforms through a channel; this batch holds cached features"
            )
        waveforms = batch["waveforms"]
        size = int(waveforms.shape[0])
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(position) + 7)
        chosen = (torch.rand(size, generator=generator) < self.config.probability).nonzero().flatten().tolist()
        which = torch.randint(len(self._channels), (size,), generator=generator).tolist()
        draws = [(which[row], int(position) * _ROWS_PER_POSITION + row) for row in chosen]
        out = dict(batch)
        rows = torch.tensor(chosen, dtype=torch.long, device=waveforms.device)
        for key, value in batch.items():
            if key in ("waveforms", "aasist_waveforms"):
                continue
            if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == size:
                out[key] = torch.cat([value, value.index_select(0, rows.to(value.device))])
        out["waveforms"] = torch.cat([waveforms, self._copy(waveforms, batch["lengths"], chosen, draws)])
        if "aasist_waveforms" in batch:
            aasist = self._copy(batch["aasist_waveforms"], batch["aasist_lengths"], chosen, draws)
            out["aasist_waveforms"] = torch.cat([batch["aasist_waveforms"], aasist])
        out["view_of"] = rows
        return out

    def penalty(self, logits: torch.Tensor, view_of: torch.Tensor) -> torch.Tensor:
        """``weight`` times :func:`log_odds_gap`."""
        return self.config.weight * log_odds_gap(logits, view_of)


def consistency_from_config(value: Any, sample_rate_hz: int, seed: int = 0) -> ConsistencyTraining | None:
    """The batch copier of ``TrainConfig.consistency`` (``None`` when off)."""
    config = ConsistencyConfig.from_value(value)
    return None if config is None else ConsistencyTraining(config, sample_rate_hz, seed)
