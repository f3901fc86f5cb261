"""AASIST's hyper-parameters (:class:`AasistConfig`, the official ``AASIST.conf`` by default) and
what follows from them: the node counts, the embedding size, the shortest input.

The network itself is :class:`wavguard.models.aasist.Aasist`.

Example:
    >>> config = AasistConfig()
    >>> config.spectral_nodes, config.embedding_dim, min_input_samples(config)
    (23, 160, 2315)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError

__all__ = ["AasistConfig", "min_input_samples", "FREQUENCY_POOL", "BLOCK_TIME_POOL"]

#: The front end's max pool: 3 filters x 3 samples.
FREQUENCY_POOL = 3
#: Each residual block divides the frame count by 3.
BLOCK_TIME_POOL = 3


@dataclass(frozen=True)
class AasistConfig:
    """AASIST hyper-parameters; the defaults are the official ``AASIST.conf`` model config.

    Attributes:
        sample_rate_hz: the rate the sinc filters are designed for.
        sinc_filters: number of band-pass filters of the front end (official ``filts[0]``).
        sinc_kernel_taps: filter length in samples (``first_conv``); an even value is rounded up
            to the next odd one, as in the original.
        encoder_channels: ``(in, out)`` channels of the six residual blocks (``filts[1:]``, with the
            last pair repeated as the original does).
        graph_dims: output sizes of the first (spectral/temporal) and the heterogeneous graph
            layers (``gat_dims``).
        pool_ratio_spectral, pool_ratio_temporal, pool_ratio_heterogeneous: share of nodes kept
            by each top-k graph pool (``pool_ratios[0:3]``; the original ignores ``pool_ratios[3]``).
        temperature_spectral, temperature_temporal, temperature_heterogeneous: attention softmax
            temperatures (``temperatures[0:3]``; the original ignores ``temperatures[3]``).
        graph_input_dropout, pool_dropout, readout_dropout, embedding_dropout: dropout
            probabilities (training only) before graph attention, in graph pools, on the branch
            outputs and on the embedding before the output layer.
        training_input_samples: the crop length the weights were trained on (``nb_samp``), 4.04 s.
    """

    sample_rate_hz: int = 16_000
    sinc_filters: int = 70
    sinc_kernel_taps: int = 128
    encoder_channels: tuple[tuple[int, int], ...] = ((1, 32), (32, 32), (32, 64), (64, 64), (64, 64), (64, 64))
    graph_dims: tuple[int, int] = (64, 32)
    pool_ratio_spectral: float = 0.5
    pool_ratio_temporal: float = 0.7
    pool_ratio_heterogeneous: float = 0.5
    temperature_spectral: float = 2.0
    temperature_temporal: float = 2.0
    temperature_heterogeneous: float = 100.0
    graph_input_dropout: float = 0.2
    pool_dropout: float = 0.3
    readout_dropout: float = 0.2
    embedding_dropout: float = 0.5
    training_input_samples: int = 64_600

    def __post_init__(self):
        object.__setattr__(
            self, "encoder_channels", tuple(tuple(int(c) for c in pair) for pair in self.encoder_channels)
        )
        object.__setattr__(self, "graph_dims", tuple(int(d) for d in self.graph_dims))
        if self.sample_rate_hz <= 0 or self.sinc_kernel_taps < 1 or self.training_input_samples < 1:
            raise ConfigError("sample_rate_hz, sinc_kernel_taps and training_input_samples must be positive")
        if self.sinc_filters < FREQUENCY_POOL:
            raise ConfigError(f"sinc_filters must be at least {FREQUENCY_POOL}, got {self.sinc_filters}")
        channels = self.encoder_channels
        if not channels or any(len(pair) != 2 or min(pair) < 1 for pair in channels):
            raise ConfigError(f"encoder_channels must be non-empty (in, out) pairs of positive sizes, got {channels}")
        if channels[0][0] != 1 or any(a[1] != b[0] for a, b in zip(channels, channels[1:])):
            raise ConfigError(f"encoder_channels must start at 1 channel and chain in -> out, got {channels}")
        if len(self.graph_dims) != 2 or min(self.graph_dims) < 1:
            raise ConfigError(f"graph_dims must be two positive sizes, got {self.graph_dims}")
        ratios = (self.pool_ratio_spectral, self.pool_ratio_temporal, self.pool_ratio_heterogeneous)
        if not all(0.0 < r <= 1.0 for r in ratios):
            raise ConfigError(f"pool ratios must lie in (0, 1], got {ratios}")
        temperatures = (self.temperature_spectral, self.temperature_temporal, self.temperature_heterogeneous)
        if not all(t > 0.0 for t in temperatures):
            raise ConfigError(f"temperatures must be positive, got {temperatures}")
        dropouts = (self.graph_input_dropout, self.pool_dropout, self.readout_dropout, self.embedding_dropout)
        if not all(0.0 <= p < 1.0 for p in dropouts):
            raise ConfigError(f"dropout probabilities must lie in [0, 1), got {dropouts}")

    @property
    def applied_kernel_taps(self) -> int:
        """The sinc filter length actually used: ``sinc_kernel_taps`` rounded up to odd."""
        return self.sinc_kernel_taps | 1

    @property
    def spectral_nodes(self) -> int:
        """Number of spectral graph nodes: sinc filters after the front end's max pool (23)."""
        return self.sinc_filters // FREQUENCY_POOL

    @property
    def embedding_dim(self) -> int:
        """Size of the embedding: 5 readouts of ``graph_dims[1]`` (160)."""
        return 5 * self.graph_dims[1]

    @classmethod
    def from_official(cls, model_config: dict[str, Any]) -> AasistConfig:
        """Build from the original repository's ``model_config`` dict (``filts``, ``gat_dims``, ...)."""
        filts = model_config["filts"]
        blocks = [filts[1], filts[2], filts[3], filts[4], filts[4], filts[4]]
        return cls(
            sinc_filters=int(filts[0]),
            sinc_kernel_taps=int(model_config["first_conv"]),
            encoder_channels=tuple(tuple(pair) for pair in blocks),
            graph_dims=tuple(model_config["gat_dims"]),
            pool_ratio_spectral=model_config["pool_ratios"][0],
            pool_ratio_temporal=model_config["pool_ratios"][1],
            pool_ratio_heterogeneous=model_config["pool_ratios"][2],
            temperature_spectral=model_config["temperatures"][0],
            temperature_temporal=model_config["temperatures"][1],
            temperature_heterogeneous=model_config["temperatures"][2],
            training_input_samples=int(model_config.get("nb_samp", 64_600)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AasistConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown AASIST config keys: {sorted(unknown)}")
        return cls(**values)


def min_input_samples(config: AasistConfig) -> int:
    """Shortest waveform (samples) the network accepts: 2,315 for the official config.

    The front end keeps ``samples - taps + 1`` outputs and pools them by 3; each residual block
    pools by 3 again and needs at least one frame left at the end.
    """
    frames_needed = BLOCK_TIME_POOL ** len(config.encoder_channels)
    return FREQUENCY_POOL * frames_needed + config.applied_kernel_taps - 1
