"""AASIST in a detector: alone (``kind="aasist"``) or as a raw-waveform branch fused with a backbone.

:class:`AasistBranch` runs AASIST over a padded batch, each row at its own length (rows of equal
length together, as ``DetectorModel.hidden_states`` runs the backbone), so padding never reaches
the network. :class:`AasistDetectorModel` is the whole detector of kind ``"aasist"``: the
branch's 160-d embedding -> a linear layer -> logits (REAL, FAKE). The fused detector
(``DetectorModel`` with ``config.aasist``) concatenates the embedding with its CNN head's pooled
embedding before the head's linear layer.

Settings come from ``DetectorConfig.aasist`` (validated there): ``weights``, ``train`` and, alone,
``head``. Whether a saved folder names the weights or stores them is decided by
:func:`references_official_weights`; the loader tells which from the folder's tensors.

Shapes: B = batch, S = samples, E = 160 (the embedding).
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
            statistics) or ``"full"`` (every weight trains).
        is_reference: the weights are those of the name they were loaded from (they have not
            trained since); a save may then name them instead of storing them.

    Shapes:
        forward: waveforms (B, S) zero-padded, lengths (B,) or ``None`` (every row full) ->
        embeddings (B, 160), after AASIST's embedding dropout (identity unless training "full").
    """

    def __init__(self, network: Aasist, train: str = "frozen", *, is_reference: bool = False):
        super().__init__()
        self.network = network
        self.is_reference = bool(is_reference)
        self.set_trainable(train)

    def set_trainable(self, train: str) -> None:
        """``"frozen"`` or ``"full"`` (see the class docstring); "full" ends ``is_reference``."""
        if train not in AASIST_TRAIN_MODES:
            raise ConfigError(f"aasist train must be one of {AASIST_TRAIN_MODES}, got {train!r}")
        for param in self.network.parameters():
            param.requires_grad_(train == "full")
        self.train_mode = train
        if train == "full":
            self.is_reference = False
        self.train(self.training)

    @property
    def frozen(self) -> bool:
        return self.train_mode == "frozen"

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
        return self

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # a frozen network builds no graph, unless the input wants its gradient (adversarial attacks)
        with torch.set_grad_enabled(torch.is_grad_enabled() and (not self.frozen or waveforms.requires_grad)):
            if lengths is None:  # every row full: one call (what the ONNX export traces)
                return self.network.embedding_drop(self.network.forward_features(waveforms))
            groups: dict[int, list[int]] = {}
            for row, length in enumerate(lengths.to("cpu", torch.long).tolist()):
                groups.setdefault(int(length), []).append(row)
            rows = [row for group in groups.values() for row in group]
            parts = [self.network.forward_features(waveforms[group, :length]) for length, group in groups.items()]
            embeddings = torch.cat(parts)[torch.argsort(torch.tensor(rows, device=waveforms.device))]
            return self.network.embedding_drop(embeddings)


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
