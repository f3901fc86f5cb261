"""AASIST: a raw-waveform anti-spoofing network with spectro-temporal graph attention.

Jung et al., "AASIST: Audio Anti-Spoofing using Integrated Spectro-Temporal Graph Attention
Networks", ICASSP 2022. Written here from the paper and the names and shapes of the official
weights (clovaai/aasist, MIT), so that those weights load with ``strict=True``; the pipeline:

1. front end: 70 fixed mel-spaced sinc band-pass filters over the waveform, ``|.|``, a 3 x 3 max
   pool over (filter, time), batch norm, SELU -> a (1, 23, frames) "spectrogram";
2. encoder: six 2-D residual blocks, each dividing the frame count by 3 -> (64, 23, nodes_t);
3. graphs: 23 spectral nodes (max over time) and ``nodes_t`` temporal nodes (max over frequency),
   each through a graph attention layer and a top-k graph pool;
4. two parallel branches of two heterogeneous graph attention layers over both node types plus a
   learned master node; the branches are merged by an element-wise max;
5. readout: max of ``|.|`` and mean over each node type, plus the master node -> a 160-d
   embedding -> 2 logits.

Logits: column 0 = spoof, column 1 = bona fide (the original's training labels). The original
scores a clip with ``logits[:, 1]`` (higher = more likely bona fide, i.e. real speech); wavguard's
"higher = more likely fake" convention is ``logits[:, 0] - logits[:, 1]``. Checked with the
official weights on 4 s crops: a real recording (``beckett.wav``) gives ``logits[:, 1] - logits[:, 0]``
of +4.7 and +6.8, espeak-ng, Flite and Festival speech -13.4, -6.5 and -3.9.

Input: float32 waveforms at 16 kHz, raw (no normalisation), of any length of at least
:func:`~wavguard.models.aasist_config.min_input_samples` (2,315 samples, 0.14 s). The original was
trained and evaluated on 64,600-sample crops (about 4 s; shorter clips tiled by repetition, longer
ones truncated); other lengths run, but the weights never saw them. The hyper-parameters are
:class:`~wavguard.models.aasist_config.AasistConfig`.

Weight names (``GAT_layer_S``, ``HtrgGAT_layer_ST11``, ``encoder.0.0.conv1``, ...) are kept
exactly as in the official checkpoint. Quirks of the original reproduced on purpose, because
the weights were trained with them:

* residual blocks 2-6 hold a batch norm ``bn1`` whose output the original computes and then
  discards (its first convolution reads the block input); here ``bn1`` is kept for loading and
  never applied;
* the official config sets 128 sinc taps (``first_conv``), which the original rounds up to an
  odd 129;
* the sinc filters are computed with a float32 argument (:func:`mel_sinc_filters`).

Example:
    >>> from wavguard.models.aasist_weights import load_pretrained_aasist
    >>> model = load_pretrained_aasist()  # doctest: +SKIP
    >>> embedding, logits = model(torch.randn(1, 64_600) * 0.1)  # doctest: +SKIP
    >>> p_bona_fide = logits.softmax(-1)[:, 1]  # doctest: +SKIP
"""

from __future__ import annotations

from fractions import Fraction

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import AudioTooShortError
from .aasist_config import BLOCK_TIME_POOL, FREQUENCY_POOL, AasistConfig, min_input_samples

__all__ = [
    "Aasist",
    "BONA_FIDE_INDEX",
    "SPOOF_INDEX",
    "mel_sinc_filters",
]

#: Logit columns of the original network.
SPOOF_INDEX = 0
BONA_FIDE_INDEX = 1


def _hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_sinc_filters(num_filters: int, kernel_taps: int, sample_rate_hz: int) -> torch.Tensor:
    """Fixed band-pass filters with band edges equally spaced on the mel scale, 0 Hz to Nyquist.

    Each filter is the difference of two ideal low-pass sinc kernels (upper minus lower band
    edge), times a symmetric Hamming window. The sinc argument is rounded to float32 as in the
    original: the pretrained weights saw those filters, and exact float64 filters move the
    logits by up to 1e-5 (this way they match the original's to 4e-8).

    Args:
        num_filters: number of adjacent bands.
        kernel_taps: filter length in samples; an even length is rounded up to odd.
        sample_rate_hz: the waveform's sample rate.

    Returns:
        (num_filters, kernel_taps | 1) float32 filters.
    """
    taps = kernel_taps | 1
    nyquist_mel = _hz_to_mel(torch.tensor(float(sample_rate_hz // 2), dtype=torch.float64))
    edges_hz = _mel_to_hz(torch.linspace(0.0, float(nyquist_mel), num_filters + 1, dtype=torch.float64))
    offsets = torch.arange(taps, dtype=torch.float32) - (taps - 1) / 2  # samples from the centre
    sinc = torch.sinc((2.0 * edges_hz).float()[:, None] * offsets / sample_rate_hz).double()
    low_pass = (2.0 * edges_hz / sample_rate_hz)[:, None] * sinc  # (num_filters + 1, taps)
    band_pass = (low_pass[1:] - low_pass[:-1]).float()
    return band_pass * torch.hamming_window(taps, periodic=False, dtype=torch.float64).float()


def _batch_norm_nodes(norm: nn.BatchNorm1d, nodes: torch.Tensor) -> torch.Tensor:
    """Batch norm over the feature axis of (B, N, D) nodes, every node a sample."""
    return norm(nodes.reshape(-1, nodes.shape[-1])).reshape(nodes.shape)


def _pair_features(nodes: torch.Tensor) -> torch.Tensor:
    """(B, N, D) nodes -> (B, N, N, D) element-wise products of every ordered pair."""
    return nodes.unsqueeze(2) * nodes.unsqueeze(1)


class ResidualBlock(nn.Module):
    """Two (2 x 3) convolutions with a skip connection, then a (1 x 3) max pool over time.

    Shapes: (B, C_in, F, T) -> (B, C_out, F, T // 3).
    """

    def __init__(self, in_channels: int, out_channels: int, first: bool):
        super().__init__()
        if not first:
            self.bn1 = nn.BatchNorm2d(in_channels)  # loaded, never applied (see the module docstring)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=(2, 3), padding=(0, 1))
        if in_channels != out_channels:
            self.conv_downsample = nn.Conv2d(in_channels, out_channels, kernel_size=(1, 3), padding=(0, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden = F.selu(self.bn2(self.conv1(features)))
        hidden = self.conv2(hidden)  # the (2 x 3) pair keeps F: +1 row from padding, -1 here
        skip = self.conv_downsample(features) if hasattr(self, "conv_downsample") else features
        return F.max_pool2d(hidden + skip, kernel_size=(1, BLOCK_TIME_POOL))


class GraphAttention(nn.Module):
    """Graph attention over a fully connected graph of one node type.

    Attention from node i to j: ``softmax_j(w . tanh(A (x_i * x_j)) / temperature)``; the output
    is ``P1 (attention-weighted sum) + P2 x``, batch-normed, SELU.

    Shapes: (B, N, in_dim) -> (B, N, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float, input_dropout: float):
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1)))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(input_dropout)
        self.temperature = float(temperature)

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        nodes = self.input_drop(nodes)
        scores = (torch.tanh(self.att_proj(_pair_features(nodes))) @ self.att_weight).squeeze(-1)
        attention = torch.softmax(scores / self.temperature, dim=-1)  # (B, N, N), rows sum to 1
        updated = self.proj_with_att(attention @ nodes) + self.proj_without_att(nodes)
        return F.selu(_batch_norm_nodes(self.bn, updated))


class HeterogeneousGraphAttention(nn.Module):
    """Graph attention over two node types and a master node (the paper's HS-GAL).

    The two types get their own input projections; pair scores use one attention vector within
    type 1 (``att_weight11``), one within type 2 (``att_weight22``) and one across
    (``att_weight12``). The master node attends to all nodes (``att_weightM``).

    Shapes: (B, N1, in_dim), (B, N2, in_dim), master (B, 1, in_dim) ->
    (B, N1, out_dim), (B, N2, out_dim), master (B, 1, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float, input_dropout: float):
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        for name in ("att_weight11", "att_weight22", "att_weight12", "att_weightM"):
            setattr(self, name, nn.Parameter(nn.init.xavier_normal_(torch.empty(out_dim, 1))))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(input_dropout)
        self.temperature = float(temperature)

    def _pair_scores(self, nodes: torch.Tensor, first_count: int) -> torch.Tensor:
        """(B, N, D) -> (B, N, N) attention logits, with the attention vector of each block."""
        hidden = torch.tanh(self.att_proj(_pair_features(nodes)))  # (B, N, N, out_dim)
        vectors = torch.cat([self.att_weight11, self.att_weight22, self.att_weight12], dim=1)
        per_vector = hidden @ vectors  # (B, N, N, 3)
        is_second = torch.arange(nodes.shape[1], device=nodes.device) >= first_count
        block = torch.where(is_second[:, None] == is_second[None, :], is_second[:, None].long(), 2)
        index = block.expand(nodes.shape[0], -1, -1).unsqueeze(-1)
        return per_vector.gather(-1, index).squeeze(-1)

    def _update_master(self, nodes: torch.Tensor, master: torch.Tensor) -> torch.Tensor:
        scores = torch.tanh(self.att_projM(nodes * master)) @ self.att_weightM  # (B, N, 1)
        attention = torch.softmax(scores / self.temperature, dim=1)
        return self.proj_with_attM(attention.transpose(1, 2) @ nodes) + self.proj_without_attM(master)

    def forward(
        self, first: torch.Tensor, second: torch.Tensor, master: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        first_count = first.shape[1]
        nodes = torch.cat([self.proj_type1(first), self.proj_type2(second)], dim=1)
        nodes = self.input_drop(nodes)
        attention = torch.softmax(self._pair_scores(nodes, first_count) / self.temperature, dim=-1)
        master = self._update_master(nodes, master)
        updated = self.proj_with_att(attention @ nodes) + self.proj_without_att(nodes)
        updated = F.selu(_batch_norm_nodes(self.bn, updated))
        return updated[:, :first_count], updated[:, first_count:], master


class GraphPool(nn.Module):
    """Keep the top ``ratio`` of nodes by a learned sigmoid score, each scaled by its score.

    The count kept is ``max(floor(N * ratio), 1)`` in exact integer arithmetic (the ratio as a
    fraction, 0.7 = 7/10), so an exported graph with a dynamic length computes the same count
    as PyTorch. The original's float product ``int(N * 0.7)`` keeps one node less for some
    multiples of 10 (N = 90, 170, 180, ...: inputs of 12 s and longer, which the weights never
    saw); below N = 90 the two agree.

    Shapes: (B, N, D) -> (B, max(floor(N * ratio), 1), D), in descending score order.
    """

    def __init__(self, dim: int, ratio: float, dropout: float):
        super().__init__()
        self.proj = nn.Linear(dim, 1)
        self.drop = nn.Dropout(dropout)
        self.ratio = float(ratio)
        fraction = Fraction(self.ratio).limit_denominator(1000)
        self._ratio_terms = (fraction.numerator, fraction.denominator)

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.proj(self.drop(nodes)))  # (B, N, 1)
        numerator, denominator = self._ratio_terms
        keep = torch.sym_max(nodes.shape[1] * numerator // denominator, 1)  # symbolic under torch.export
        order = torch.topk(scores, keep, dim=1).indices  # (B, keep, 1)
        return torch.gather(nodes * scores, 1, order.expand(-1, -1, nodes.shape[-1]))


class Aasist(nn.Module):
    """AASIST with the official parameter names; see the module docstring for the pipeline.

    Args:
        config: hyper-parameters (default: the official ones, which the pretrained weights need).

    Shapes:
        forward: waveform (B, input_samples) float32 at 16 kHz, ``input_samples >=``
        :func:`min_input_samples` -> embedding (B, 160), logits (B, 2) (column 1 = bona fide).
    """

    def __init__(self, config: AasistConfig | None = None):
        super().__init__()
        self.config = config = config if config is not None else AasistConfig()
        filters = mel_sinc_filters(config.sinc_filters, config.sinc_kernel_taps, config.sample_rate_hz)
        self.register_buffer("sinc_filters", filters.unsqueeze(1), persistent=False)  # (70, 1, 129)
        self.first_bn = nn.BatchNorm2d(1)
        self.encoder = nn.Sequential(
            *(
                nn.Sequential(ResidualBlock(c_in, c_out, first=i == 0))
                for i, (c_in, c_out) in enumerate(config.encoder_channels)
            )
        )
        encoder_dim = config.encoder_channels[-1][1]
        graph_dim, hetero_dim = config.graph_dims
        self.pos_S = nn.Parameter(torch.randn(1, config.spectral_nodes, encoder_dim))
        self.master1 = nn.Parameter(torch.randn(1, 1, graph_dim))
        self.master2 = nn.Parameter(torch.randn(1, 1, graph_dim))
        drop = config.graph_input_dropout
        self.GAT_layer_S = GraphAttention(encoder_dim, graph_dim, config.temperature_spectral, drop)
        self.GAT_layer_T = GraphAttention(encoder_dim, graph_dim, config.temperature_temporal, drop)
        hetero_t = config.temperature_heterogeneous
        self.HtrgGAT_layer_ST11 = HeterogeneousGraphAttention(graph_dim, hetero_dim, hetero_t, drop)
        self.HtrgGAT_layer_ST12 = HeterogeneousGraphAttention(hetero_dim, hetero_dim, hetero_t, drop)
        self.HtrgGAT_layer_ST21 = HeterogeneousGraphAttention(graph_dim, hetero_dim, hetero_t, drop)
        self.HtrgGAT_layer_ST22 = HeterogeneousGraphAttention(hetero_dim, hetero_dim, hetero_t, drop)
        pool_drop, hetero_ratio = config.pool_dropout, config.pool_ratio_heterogeneous
        self.pool_S = GraphPool(graph_dim, config.pool_ratio_spectral, pool_drop)
        self.pool_T = GraphPool(graph_dim, config.pool_ratio_temporal, pool_drop)
        self.pool_hS1 = GraphPool(hetero_dim, hetero_ratio, pool_drop)
        self.pool_hT1 = GraphPool(hetero_dim, hetero_ratio, pool_drop)
        self.pool_hS2 = GraphPool(hetero_dim, hetero_ratio, pool_drop)
        self.pool_hT2 = GraphPool(hetero_dim, hetero_ratio, pool_drop)
        self.readout_drop = nn.Dropout(config.readout_dropout)
        self.embedding_drop = nn.Dropout(config.embedding_dropout)
        self.out_layer = nn.Linear(config.embedding_dim, 2)

    @property
    def min_input_samples(self) -> int:
        """Shortest accepted waveform in samples (2,315 for the official config)."""
        return min_input_samples(self.config)

    def _check_input(self, waveform: torch.Tensor) -> None:
        if waveform.dim() != 2:
            raise ValueError(f"AASIST takes waveforms shaped (batch, samples), got shape {tuple(waveform.shape)}")
        if waveform.shape[1] < self.min_input_samples:
            seconds = self.min_input_samples / self.config.sample_rate_hz
            raise AudioTooShortError(
                "waveform",
                f"{waveform.shape[1]} samples; AASIST needs at least {self.min_input_samples} ({seconds:.3f} s at "
                f"{self.config.sample_rate_hz} Hz)",
            )

    def front_end(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, S) waveform -> (B, 1, 23, (S - 128) // 3) rectified, pooled sinc filter outputs."""
        bands = F.conv1d(waveform.unsqueeze(1), self.sinc_filters)  # (B, 70, S - 128)
        pooled = F.max_pool2d(bands.abs().unsqueeze(1), kernel_size=FREQUENCY_POOL)
        return F.selu(self.first_bn(pooled))

    def graph_nodes(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 64, 23, T) encoder output -> graph-attended, pooled spectral (B, 11, 64) and temporal
        (B, int(0.7 T), 64) nodes."""
        magnitude = features.abs()
        spectral = magnitude.amax(dim=3).transpose(1, 2) + self.pos_S  # (B, 23, C)
        temporal = magnitude.amax(dim=2).transpose(1, 2)  # (B, T, C)
        return self.pool_S(self.GAT_layer_S(spectral)), self.pool_T(self.GAT_layer_T(temporal))

    @staticmethod
    def _branch(
        temporal: torch.Tensor,
        spectral: torch.Tensor,
        master: torch.Tensor,
        layers: tuple[HeterogeneousGraphAttention, HeterogeneousGraphAttention],
        pools: tuple[GraphPool, GraphPool],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One inference branch: an HS-GAL, top-k pools (temporal, spectral), a residual HS-GAL.

        Shapes: (B, Nt, 64), (B, Ns, 64), master (1, 1, 64) -> (B, Nt', 32), (B, Ns', 32), (B, 1, 32).
        """
        temporal, spectral, master = layers[0](temporal, spectral, master.expand(temporal.shape[0], -1, -1))
        temporal, spectral = pools[0](temporal), pools[1](spectral)
        temporal_step, spectral_step, master_step = layers[1](temporal, spectral, master)
        return temporal + temporal_step, spectral + spectral_step, master + master_step

    def _branches(self, temporal: torch.Tensor, spectral: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Both branches, each with its own master node, layers and pools."""
        return [
            self._branch(temporal, spectral, master, layers, pools)
            for master, layers, pools in (
                (self.master1, (self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12), (self.pool_hT1, self.pool_hS1)),
                (self.master2, (self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22), (self.pool_hT2, self.pool_hS2)),
            )
        ]

    def encode(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, S) waveform at 16 kHz -> (B, 64, 23, T) encoder maps, T = ((S - 128) // 3) // 3**6
        (29 for the 64,600-sample crop): the convolutional part, before any graph."""
        self._check_input(waveform)
        return self.encoder(self.front_end(waveform))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 64, 23, T) encoder maps -> (B, 160) embedding: the graph part and the readouts (max of
        |x| and mean over the temporal nodes, the same over the spectral nodes, the master node;
        32 values each)."""
        spectral, temporal = self.graph_nodes(features)
        branches = [[self.readout_drop(x) for x in branch] for branch in self._branches(temporal, spectral)]
        temporal, spectral, master = (torch.maximum(a, b) for a, b in zip(*branches))
        readouts = [temporal.abs().amax(dim=1), temporal.mean(dim=1), spectral.abs().amax(dim=1), spectral.mean(dim=1)]
        return torch.cat([*readouts, master.squeeze(1)], dim=1)

    def forward_features(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, S) waveform at 16 kHz -> (B, 160) embedding: :meth:`embed` of :meth:`encode`.

        The embedding is taken before the output layer's dropout (the original returns it after;
        the two agree in eval mode).
        """
        return self.embed(self.encode(waveform))

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, 160) embedding -> (B, 2) logits (column 0 spoof, column 1 bona fide)."""
        return self.out_layer(self.embedding_drop(embedding))

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) float32 waveform at 16 kHz -> (embedding (B, 160), logits (B, 2))."""
        embedding = self.forward_features(waveform)
        return embedding, self.forward_head(embedding)
