"""A detector's ``model.safetensors`` read into its network: every tensor the config expects is
there with its shape, and every weight is a finite number."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ModelLoadError

__all__ = ["read_weights", "load_weights", "check_finite"]


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of ``model.safetensors``."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelLoadError(f"{path.parent}: no {path.name}; is this a wavguard detector directory?")
    try:
        return load_file(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot read the weights ({exc})") from None


def load_weights(
    model: torch.nn.Module, path: Path, strict_prefixes: tuple[str, ...], state: dict[str, torch.Tensor] | None = None
) -> None:
    """Load ``model.safetensors`` (or its tensors ``state``, already read) into ``model``; every
    parameter under ``strict_prefixes`` must be present."""
    if state is None:
        state = read_weights(path)
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k.startswith(strict_prefixes) and k not in state]
    if unexpected or missing:
        raise ModelLoadError(
            f"{path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    mismatched = [k for k in state if own[k].shape != state[k].shape]
    if mismatched:
        raise ModelLoadError(f"{path}: tensor shapes do not match the config for {mismatched[:5]}")
    model.load_state_dict(state, strict=False)


def check_finite(model: torch.nn.Module, directory: Path) -> None:
    """Every weight is a finite number (NaN or infinite weights would fail every input later, as if
    the audio were at fault).

    Raises:
        ModelLoadError: naming the first tensors that hold NaN or infinity.
    """
    bad = [
        name
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        raise ModelLoadError(
            f"{directory}: {len(bad)} weight tensor(s) hold NaN or infinite values (e.g. {bad[:3]}); "
            "the detector was saved from a diverged run or the file is damaged: save it again from a good checkpoint"
        )
