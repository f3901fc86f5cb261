"""Copy-synthesis families that live in their own modules, registered beside griffinlim, world and lpc.

Each :class:`CopyFamily` names its variants and makes one clip from a real clip's path. The plan
(``plan.COPY_FAMILIES``), the clip maker (``generate.generate_audio``) and the engine check
(``engines.missing_engines``) read :data:`FAMILIES`; adding a family is one entry here plus its
variant names under ``variants:`` in the config, and a weight in a split's ``families:``.
The vocoder modules load torch, onnxruntime and the weights only when a clip is made (once per process).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from wavguard.audio import load_audio, resample

from . import codec2_vocoder, neural_vocoders

__all__ = ["FAMILIES", "CopyFamily", "missing"]


@dataclass(frozen=True)
class CopyFamily:
    """A copy-synthesis family.

    Attributes:
        name: family name (``splits.*.families`` and ``variants`` keys; ``attack`` is ``name/variant``).
        variants: variant name -> settings object.
        make: ``(source_path, variant_name, seed) -> (float32 samples (time,), rate_hz)``.
        missing: ``(variant_names) -> [what to install, ...]``, empty when it can run here.
    """

    name: str
    variants: Mapping[str, Any]
    make: Callable[[str, str, int], tuple[np.ndarray, int]]
    missing: Callable[[list[str]], list[str]]


def _make_hifigan(source_path: str, variant_name: str, seed: int) -> tuple[np.ndarray, int]:  # noqa: ARG001 - deterministic
    """At the source's own rate when that is lower than the vocoder's: the generator invents a band
    above the source's Nyquist frequency (up to 11 kHz at 22.05 kHz) that the real clip lacks."""
    variant = neural_vocoders.HIFIGAN_VARIANTS[variant_name]
    x, native_rate = load_audio(source_path)
    out = neural_vocoders.hifigan(resample(x, native_rate, variant.rate_hz), variant.rate_hz, variant)
    if native_rate < variant.rate_hz:
        return resample(out, variant.rate_hz, native_rate), native_rate
    return out, variant.rate_hz


def _make_codec2(source_path: str, variant_name: str, seed: int) -> tuple[np.ndarray, int]:  # noqa: ARG001 - deterministic
    x, rate = load_audio(source_path)
    return codec2_vocoder.codec2(x, rate, codec2_vocoder.CODEC2_VARIANTS[variant_name]), codec2_vocoder.RATE_HZ


FAMILIES: dict[str, CopyFamily] = {
    "hifigan": CopyFamily("hifigan", neural_vocoders.HIFIGAN_VARIANTS, _make_hifigan, neural_vocoders.missing),
    "codec2": CopyFamily("codec2", codec2_vocoder.CODEC2_VARIANTS, _make_codec2, codec2_vocoder.missing),
}


def missing(variants_by_family: Mapping[str, list[str]]) -> list[str]:
    """What cannot run here for these registered families and their variants."""
    out: list[str] = []
    for family, names in sorted(variants_by_family.items()):
        if family in FAMILIES:
            out += FAMILIES[family].missing(list(names))
    return out
