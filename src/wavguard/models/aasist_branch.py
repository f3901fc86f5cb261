"""AASIST in a detector: alone (``kind="aasist"``) or as a raw-waveform branch fused with a backbone.

:class:`AasistBranch` runs AASIST over a padded batch, each row at its own length (rows of equal
length together, as ``DetectorModel.hidden_states`` runs the backbone), so padding never reaches
the network. :class:`AasistDetectorModel` is the whole detector of kind ``"aasist"``: the
branch's 160-d embedding -> a linear layer -> logits (REAL, FAKE). The fused detector
(``DetectorModel`` with ``config.aasist``) concatenates the embedding with its CNN head's pooled
embedding before the head's linear layer.

Settings come from ``DetectorConfig.aasist`` (validated there): ``weights``, ``train`` and, alone,
``head``. ``train`` is ``"frozen"`` (nothing in AASIST trains), ``"graph"`` (the sinc front end and
the convolutional encoder stay frozen, the graph-attention part trains: the encoder's maps can be
cached, so this trains on a CPU) or ``"full"``. Whether a saved folder names the weights or stores them is decided by
:func:`references_official_weights`; the loader tells which from the folder's tensors.

Shapes: B = batch, S = samples, E = 160 (the embedding); encoder maps (64, 23, T), T frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..config import AASIST_TRAIN_MODES
from ..errors import ConfigError
from .aasist import BONA_FIDE_INDEX, SPOOF_INDEX, Aasist
from .aasist_weights import AASIST_OFFLINE_NAME, load_pretrained_aasist

__all__ = [
    "AasistBranch",
    "AasistDetectorModel",
    "AASIST_WEIGHT_PREFIX",
    "build_aasist_network",
    "references_official_weights",
]

#: state-dict prefix of the AASIST network's own weights in both detector networks
AASIST_WEIGHT_PREFIX = "aasist.network."
#: the network's parts that ``train="graph"`` keeps frozen: the sinc front end's batch norm and
#: the convolutional encoder (the sinc filters are fixed buffers in every mode)
_ENCODER_PREFIXES = ("first_bn.", "encoder.")


def build_aasist_network(weights: str | None) -> Aasist:
    """The AASIST network: pretrained from ``weights`` (``"offline:aasist"`` or a state-dict
    path, see :func:`~wavguard.models.aasist_weights.load_pretrained_aasist`) or, for ``None``,
    randomly initialised (a detector folder that stores its AASIST weights loads them into it)."""
    return Aasist() if weights is None else load_pretrained_aasist(weights)


class AasistBranch(nn.Module):
    """AASIST embeddings of a padded batch.

    Args:
        network: the AASIST network.
        train: ``"frozen"`` (no gradients, always in eval mode: no dropout, fixed batch-norm
            statistics), ``"graph"`` (the front end and the encoder as frozen, the graph part
            trains) or ``"full"`` (every weight trains).
        is_reference: the weights are those of the name they were loaded from (they have not
            trained since); a save may then name them instead of storing them.

    Shapes:
        forward: waveforms (B, S) zero-padded, lengths (B,) or ``None`` (every row full) ->
        embeddings (B, 160), after AASIST's embedding dropout (identity unless the graph part
        trains). :meth:`encoder_maps` and :meth:`embed_maps` split it at the encoder's output.
    """

    def __init__(self, network: Aasist, train: str = "frozen", *, is_reference: bool = False):
        super().__init__()
        self.network = network
        self.is_reference = bool(is_reference)
        self.set_trainable(train)

    def set_trainable(self, train: str) -> None:
        """``"frozen"``, ``"graph"`` or ``"full"`` (see the class docstring); training any weight
        ends ``is_reference``."""
        if train not in AASIST_TRAIN_MODES:
            raise ConfigError(f"aasist train must be one of {AASIST_TRAIN_MODES}, got {train!r}")
        for name, param in self.network.named_parameters():
            param.requires_grad_(train == "full" or (train == "graph" and not name.startswith(_ENCODER_PREFIXES)))
        self.train_mode = train
        if train != "frozen":
            self.is_reference = False
        self.train(self.training)

    @property
    def frozen(self) -> bool:
        """No AASIST weight trains."""
        return self.train_mode == "frozen"

    @property
    def encoder_frozen(self) -> bool:
        """The front end and the encoder do not train (``"frozen"`` or ``"graph"``): their maps
        of a fixed crop never change, so a feature cache may hold them."""
        return self.train_mode != "full"

    @property
    def caches_maps(self) -> bool:
        """A feature cache holds this branch's encoder maps (its graph part trains), not its embeddings."""
        return self.train_mode == "graph"

    @property
    def min_samples(self) -> int:
        """Shortest input AASIST accepts (2,315 samples)."""
        return self.network.min_input_samples

    @property
    def embedding_dim(self) -> int:
        return self.network.config.embedding_dim

    def train(self, mode: bool = True) -> AasistBranch:
        super().train(mode)
        if self.frozen:
            self.network.eval()  # frozen: no dropout, and batch-norm statistics never move
        elif self.train_mode == "graph":
            self.network.first_bn.eval()  # the frozen encoder's batch-norm statistics never move
            self.network.encoder.eval()
        return self

    def _encode(self, waveforms: torch.Tensor) -> torch.Tensor:
        # a frozen encoder builds no graph, unless the input wants its gradient (adversarial attacks)
        with torch.set_grad_enabled(torch.is_grad_enabled() and (not self.encoder_frozen or waveforms.requires_grad)):
            return self.network.encode(waveforms)

    def _embed(self, maps: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and (not self.frozen or maps.requires_grad)):
            return self.network.embed(maps)

    def encoder_maps(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's maps of each row at its own length: a list of B tensors (64, 23, T_b)."""
        maps: list[torch.Tensor] = [torch.empty(0)] * waveforms.shape[0]
        for length, group in _rows_by_length(lengths).items():
            for row, row_maps in zip(group, self._encode(waveforms[group, :length])):
                maps[row] = row_maps
        return maps

    def embed_maps(self, maps: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Embeddings from encoder maps zero-padded along time: maps (B, 64, 23, T_max), frames
        (B,) -> (B, 160), after the embedding dropout; rows of equal ``frames`` run together."""
        groups = _rows_by_length(frames)
        return self._in_row_order(groups, [self._embed(maps[group, :, :, :n]) for n, group in groups.items()])

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:  # every row full: one call (what the ONNX export traces)
            return self.network.embedding_drop(self._embed(self._encode(waveforms)))
        groups = _rows_by_length(lengths)
        parts = [self._embed(self._encode(waveforms[group, :length])) for length, group in groups.items()]
        return self._in_row_order(groups, parts)

    def _in_row_order(self, groups: dict[int, list[int]], parts: list[torch.Tensor]) -> torch.Tensor:
        """Per-group embeddings (one part per group of :func:`_rows_by_length`) back in row order,
        after the embedding dropout."""
        rows = torch.tensor([row for group in groups.values() for row in group], device=parts[0].device)
        return self.network.embedding_drop(torch.cat(parts)[torch.argsort(rows)])


def _rows_by_length(lengths: torch.Tensor) -> dict[int, list[int]]:
    """Row indices grouped by their length, groups in order of first appearance."""
    groups: dict[int, list[int]] = {}
    for row, length in enumerate(lengths.to("cpu", torch.long).tolist()):
        groups.setdefault(int(length), []).append(row)
    return groups


class AasistDetectorModel(nn.Module):
    """The network of a ``kind="aasist"`` detector: AASIST -> linear layer -> logits (REAL, FAKE).

    Args:
        network: the AASIST network (pretrained or random, see :func:`build_aasist_network`).
        settings: ``DetectorConfig.aasist`` (``train``, ``head``).
        is_reference: ``network`` holds the weights ``settings["weights"]`` names, unchanged.

    With ``head="published"`` the linear layer starts as AASIST's own output layer with its rows
    swapped (AASIST's column 1 is bona fide, wavguard's column 0 is REAL), so FAKE - REAL is
    AASIST's spoof - bona fide logit; ``"linear"`` starts a new layer (seed it before building).

    Shapes:
        forward: waveforms (B, S), lengths (B,) -> logits (B, 2); :meth:`classify`: embeddings
        (B, 160) -> logits (B, 2).
    """

    def __init__(self, network: Aasist, settings: Mapping[str, Any], *, is_reference: bool = False):
        super().__init__()
        self.aasist = AasistBranch(network, settings["train"], is_reference=is_reference)
        self.head = nn.Linear(self.aasist.embedding_dim, 2)
        if settings["head"] == "published":
            order = [BONA_FIDE_INDEX, SPOOF_INDEX]  # wavguard's (REAL, FAKE)
            with torch.no_grad():
                self.head.weight.copy_(network.out_layer.weight[order])
                self.head.bias.copy_(network.out_layer.bias[order])

    @property
    def min_samples(self) -> int:
        return self.aasist.min_samples

    def set_trainable(self, train: str) -> None:
        """The head always trains; ``train`` (``"frozen"`` / ``"full"``) decides for AASIST."""
        self.aasist.set_trainable(train)

    def classify(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.head(embeddings)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.classify(self.aasist(waveforms, lengths))


def references_official_weights(settings: Mapping[str, Any] | None, branch: AasistBranch | None) -> bool:
    """Whether a saved folder may name the AASIST weights (``"offline:aasist"``) instead of storing
    them in ``model.safetensors``: the branch holds the official weights, unchanged. Weights from
    a local file, random or fine-tuned ones are stored, so the folder loads anywhere."""
    return bool(settings) and branch is not None and branch.is_reference and settings["weights"] == AASIST_OFFLINE_NAME
