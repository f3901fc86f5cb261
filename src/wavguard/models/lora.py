"""LoRA adapters on a detector's backbone, through ``peft``.

The adapters wrap the backbone's Hugging Face model (``model.backbone.model``) in a
``peft.PeftModel``; the head stays outside and is always fully trained. A detector directory
stores them in peft's own format under ``adapter/`` (``adapter_config.json`` +
``adapter_model.safetensors``); ``Detector.from_pretrained`` loads them back with
:func:`load_adapter`. :func:`merge_lora` folds them into the backbone weights for export.

Example:
    >>> from wavguard.models.lora import apply_lora, lora_config
    >>> model = apply_lora(detector.model, lora_config(rank=8))     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from torch import nn

from .._io import apply_umask
from ..errors import ConfigError, ModelLoadError
from ..layout import ADAPTER_DIR

__all__ = [
    "lora_config",
    "apply_lora",
    "save_adapter",
    "load_adapter",
    "merge_lora",
    "has_adapter",
    "has_lora",
    "ADAPTER_DIR",
]

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")

#: What to tell a user whose environment lacks peft. peft is a dependency of the plain install
#: (``pip install wavguard-detector``); an install with ``--no-deps`` or a trimmed image can still miss it.
PEFT_MISSING = (
    "this detector has LoRA adapters, which need the peft package: pip install 'peft>=0.13' "
    "(a dependency of wavguard-detector; reinstall it without --no-deps)"
)


def _import_peft_model():
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise ModelLoadError(f"{PEFT_MISSING} ({type(exc).__name__}: {exc})") from None
    return PeftModel


def lora_config(
    rank: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.05,
    target_modules: tuple[str, ...] | list[str] = DEFAULT_TARGETS,
):
    """A ``peft.LoraConfig`` for the attention projections of a speech transformer."""
    from peft import LoraConfig

    if rank < 1:
        raise ConfigError(f"LoRA rank must be at least 1, got {rank}")
    return LoraConfig(
        r=int(rank),
        lora_alpha=float(alpha),
        lora_dropout=float(dropout),
        target_modules=list(target_modules),
        bias="none",
    )


def has_lora(model: nn.Module) -> bool:
    """Whether ``model`` holds LoRA weights (by parameter name; no ``peft`` import needed)."""
    return any("lora_" in name for name, _ in model.named_parameters())


def has_adapter(model: nn.Module) -> bool:
    """Whether ``model.backbone.model`` is wrapped by peft (``False`` when peft is not installed)."""
    if not has_lora(model):
        return False
    return isinstance(model.backbone.model, _import_peft_model())


def apply_lora(model: nn.Module, lora_cfg: Any = None) -> nn.Module:
    """Inject trainable LoRA adapters into the backbone; every base backbone weight is frozen.

    Args:
        model: a ``DetectorModel``.
        lora_cfg: a ``peft.LoraConfig``, a dict of :func:`lora_config` arguments, or ``None`` (defaults).

    Returns:
        the same ``model``, its ``backbone.model`` now a ``peft.PeftModel``.

    Raises:
        ConfigError: no module of the backbone matches ``target_modules``.
    """
    from peft import LoraConfig, get_peft_model

    if has_adapter(model):
        raise ConfigError("the backbone already has LoRA adapters")
    if lora_cfg is None:
        lora_cfg = lora_config()
    elif isinstance(lora_cfg, dict):
        lora_cfg = lora_config(**lora_cfg)
    elif not isinstance(lora_cfg, LoraConfig):
        raise ConfigError(f"lora_cfg must be a peft.LoraConfig or a dict, got {type(lora_cfg).__name__}")
    try:
        model.backbone.model = get_peft_model(model.backbone.model, lora_cfg)
    except ValueError as exc:
        raise ConfigError(f"cannot apply LoRA to the {model.backbone.model_type} backbone: {exc}") from None
    model.set_trainable("lora")
    return model


def save_adapter(model: nn.Module, directory: str | os.PathLike, *, base_model: str | None = None) -> Path:
    """Save the adapters with peft's ``save_pretrained`` (typically ``DETECTOR_DIR/adapter``).

    peft's template model card (``README.md``, "More Information Needed" and the local base model)
    is removed: the detector's own card is the one that describes it.

    Args:
        base_model: written as ``base_model_name_or_path`` in ``adapter_config.json``: a Hub id,
            or ``""`` for ``null`` (the base model is bundled). ``None`` keeps peft's own value
            (the backbone's path on this machine), as a non-portable save does.
    """
    if not has_adapter(model):
        raise ConfigError("the model has no LoRA adapters to save")
    directory = Path(directory)
    model.backbone.model.save_pretrained(str(directory), safe_serialization=True)
    (directory / "README.md").unlink(missing_ok=True)
    if base_model is not None:
        path = directory / "adapter_config.json"
        data = json.loads(path.read_text())
        data["base_model_name_or_path"] = base_model or None
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return apply_umask(directory)  # safetensors writes 0600 files: others could not load the detector


def load_adapter(model: nn.Module, directory: str | os.PathLike, *, trainable: bool = False) -> nn.Module:
    """Wrap ``model.backbone.model`` with the adapters saved in ``directory``.

    Args:
        model: a ``DetectorModel`` whose backbone is the adapters' base model.
        directory: a folder written by :func:`save_adapter`.
        trainable: keep the adapters trainable (to continue training).

    Returns:
        the same ``model``.
    """
    directory = Path(directory)
    PeftModel = _import_peft_model()
    if not (directory / "adapter_config.json").is_file():
        raise ModelLoadError(f"{directory}: no adapter_config.json; is this a LoRA adapter folder?")
    if has_adapter(model):
        raise ModelLoadError(f"{directory}: the model already has LoRA adapters")
    try:
        with warnings.catch_warnings():  # peft asks transformers a deprecated question; not the user's concern
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model.backbone.model = PeftModel.from_pretrained(
                model.backbone.model, str(directory), is_trainable=trainable
            )
    except Exception as exc:
        raise ModelLoadError(f"{directory}: cannot load the LoRA adapter ({type(exc).__name__}: {exc})") from None
    if trainable:
        model.set_trainable("lora")
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold the adapters into the backbone weights (``merge_and_unload``) for export.

    The result has a plain backbone; save it with ``backbone_is_reference = False`` so the merged
    weights are bundled.
    """
    if not has_adapter(model):
        raise ConfigError("the model has no LoRA adapters to merge")
    model.backbone.model = model.backbone.model.merge_and_unload()
    model.set_trainable("all")
    return model
