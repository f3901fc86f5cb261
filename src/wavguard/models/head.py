"""The classifier head: learned layer weighting and a small CNN over hidden states.

Independent of ``transformers``: every module here takes plain tensors, so it is tested on
random input. Shapes use B = batch, L = hidden-state layers, T = frames, D = feature size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import HEAD_POOLINGS

__all__ = ["WeightedLayerSum", "CNNHead", "AttentiveStatsPool", "masked_mean_std", "POOLINGS", "ACTIVATIONS"]

POOLINGS = HEAD_POOLINGS
#: the activation module of each name in :data:`~wavguard.config.HEAD_ACTIVATIONS`
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


class WeightedLayerSum(nn.Module):
    """Softmax-weighted sum of a backbone's hidden states.

    Args:
        num_layers: L, hidden states per input (transformer layers + 1 for the embeddings).
        layer_norm: normalise each layer over D (no parameters) before weighting, so layers whose
            activations are large do not dominate the sum regardless of their weight.

    Shapes:
        hidden_states (L, B, T, D) -> (B, T, D)
    """

    def __init__(self, num_layers: int, layer_norm: bool = True):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_layers))
        self.layer_norm = layer_norm

    @property
    def weights(self) -> torch.Tensor:
        """Softmax layer weights, shape (L,); they sum to 1."""
        return torch.softmax(self.logits, dim=0)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if hidden_states.shape[0] != self.logits.shape[0]:
            raise ValueError(f"expected {self.logits.shape[0]} hidden-state layers, got {hidden_states.shape[0]}")
        if self.layer_norm:
            hidden_states = F.layer_norm(hidden_states, hidden_states.shape[-1:])
        return torch.einsum("l,lbtd->btd", self.weights.to(hidden_states.dtype), hidden_states)


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mean and standard deviation over valid frames.

    Args:
        x: (B, C, T)
        mask: (B, T), 1 for valid frames; every row needs at least one valid frame.

    Returns:
        (B, 2C): mean then std.
    """
    m = mask.to(x.dtype).unsqueeze(1)
    count = m.sum(dim=2).clamp_min(1.0)
    mean = (x * m).sum(dim=2) / count
    var = (((x - mean.unsqueeze(2)) ** 2) * m).sum(dim=2) / count
    return torch.cat([mean, torch.sqrt(var + eps)], dim=1)


class AttentiveStatsPool(nn.Module):
    """Attentive statistics pooling (Okabe et al., 2018): weighted mean and std over valid frames.

    Shapes: x (B, C, T), mask (B, T) -> (B, 2C)
    """

    def __init__(self, channels: int, attention_channels: int = 64):
        super().__init__()
        self.attention = nn.Sequential(
            nn.Conv1d(channels, attention_channels, kernel_size=1),
            nn.Tanh(),
            nn.Conv1d(attention_channels, channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.attention(x)
        scores = scores.masked_fill(~mask.bool().unsqueeze(1), torch.finfo(scores.dtype).min)
        alpha = torch.softmax(scores, dim=2)
        mean = (alpha * x).sum(dim=2)
        var = (alpha * x * x).sum(dim=2) - mean * mean
        return torch.cat([mean, torch.sqrt(var.clamp_min(1e-5))], dim=1)


class CNNHead(nn.Module):
    """A lightweight 1-D CNN classifier over a (T x D) feature sequence.

    Conv1d -> BatchNorm -> activation -> dropout, ``len(channels)`` times, then pooling over valid
    frames, dropout and a linear layer to 2 logits (REAL, FAKE). Padded frames are zeroed after
    every block, so a padded sequence gives exactly the logits of the unpadded one (in eval mode).
    With ``normalize_embedding`` the pooled embedding is scaled to unit L2 norm before the linear
    layer (a cosine head: what one-class softmax training, ``wavguard.training.losses``, needs).
    With ``extra_dim`` the linear layer also sees a second embedding of that size per input,
    concatenated after the pooled one (a fused detector's AASIST embedding), before the scaling.

    Args:
        input_size: D.
        channels: output channels of each conv block.
        kernel_size: odd kernel size of every conv block.
        dropout: dropout probability after each block and before the linear layer.
        pooling: ``"stats"`` (mean + std) or ``"attentive"``.
        activation: ``"relu"`` or ``"gelu"``.
        normalize_embedding: L2-normalise the pooled embedding before the linear layer.
        extra_dim: size X of the extra embedding the linear layer sees (0: none).

    Shapes:
        features (B, T, D), mask (B, T) or None, extra (B, X) or None -> logits (B, 2);
        :meth:`embed` -> (B, 2 * channels[-1] + X)
    """

    def __init__(
        self,
        input_size: int,
        channels: tuple[int, ...] = (128, 128),
        kernel_size: int = 5,
        dropout: float = 0.2,
        pooling: str = "stats",
        activation: str = "gelu",
        normalize_embedding: bool = False,
        extra_dim: int = 0,
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so frames stay aligned, got {kernel_size}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        if not channels:
            raise ValueError("channels needs at least one conv block")
        blocks = []
        previous = input_size
        for width in channels:
            blocks.append(
                nn.Sequential(
                    nn.Conv1d(previous, width, kernel_size, padding=kernel_size // 2),
                    nn.BatchNorm1d(width),
                    ACTIVATIONS[activation](),
                    nn.Dropout(dropout),
                )
            )
            previous = width
        self.blocks = nn.ModuleList(blocks)
        self.pool = AttentiveStatsPool(previous) if pooling == "attentive" else None
        self.dropout = nn.Dropout(dropout)
        self.extra_dim = int(extra_dim)
        self.classifier = nn.Linear(2 * previous + self.extra_dim, 2)
        self.normalize_embedding = bool(normalize_embedding)

    def embed(
        self, features: torch.Tensor, mask: torch.Tensor | None = None, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The embedding the linear layer sees (B, E): pooled, after dropout, then ``extra``
        appended, unit-norm when ``normalize_embedding``."""
        if (extra is None) != (self.extra_dim == 0) or (extra is not None and extra.shape[-1] != self.extra_dim):
            got = "none" if extra is None else f"size {extra.shape[-1]}"
            raise ValueError(f"this head takes an extra embedding of size {self.extra_dim} (0: none), got {got}")
        x = features.transpose(1, 2)  # (B, D, T)
        if mask is None:
            mask = torch.ones(x.shape[0], x.shape[2], dtype=torch.bool, device=x.device)
        keep = mask.to(x.dtype).unsqueeze(1)
        x = x * keep
        for block in self.blocks:
            x = block(x) * keep
        pooled = self.dropout(self.pool(x, mask) if self.pool is not None else masked_mean_std(x, mask))
        if extra is not None:
            pooled = torch.cat([pooled, extra.to(pooled.dtype)], dim=1)
        return F.normalize(pooled, dim=1) if self.normalize_embedding else pooled

    def forward(
        self, features: torch.Tensor, mask: torch.Tensor | None = None, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.classifier(self.embed(features, mask, extra))
