"""The corpus plan: which clips to make, from which source, with which generator and seed.

The plan is a pure function of the configuration, the seed and the (sorted) source lists, so
two builds with the same seed make the same clips, and a resumed build knows what is left.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wavguard.errors import ConfigError

from .copy_families import FAMILIES as _REGISTERED_COPY_FAMILIES
from .sources import SPEAKERS, Utterance

__all__ = ["ClipSpec", "COPY_FAMILIES", "TTS_LANGUAGES", "load_config", "allocate", "clip_seed", "make_plan",
           "plan_fingerprint"]

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")

#: Vocoder families: fakes made from a real clip of the same split (the last ones from copy_families.py).
COPY_FAMILIES = ("griffinlim", "world", "lpc", *_REGISTERED_COPY_FAMILIES)
#: Languages each text-to-speech family can read (English-only engines read only ``en``).
TTS_LANGUAGES = {"espeak-ng": {"cs", "nl", "ru", "en"}, "piper": {"cs", "nl", "ru"}, "festival": {"cs", "en"},
                 "flite": {"en"}}


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to make one output clip (picklable, JSON-able).

    Attributes:
        clip_id: unique, also the file stem.
        split, label: ``train``/``validation``/``test``; ``real``/``fake``.
        family: generator family (``bonafide`` for real clips); attack: ``family/variant``.
        speaker: the real speaker (real and copy-synthesis clips) or ``engine:voice`` (TTS).
        language: language spoken; text: what is said.
        source_id, source_path: the real clip it comes from: the copy-synthesis input, or for
            TTS the clip whose transcript is read and whose speech duration is matched.
        variant: generator setting name; params: extra numeric settings (speed, pitch, scales).
        seed: the clip's own seed (generator noise and post-processing).
        channel: the channel of the real source clip (:data:`source_channel.CHANNELS`); TTS output
            goes through it before the shared chain ("" = none).
    """

    clip_id: str
    split: str
    label: str
    family: str
    attack: str
    speaker: str
    language: str
    text: str
    source_id: str
    source_path: str
    variant: str
    seed: int
    params: dict = field(default_factory=dict)
    channel: str = ""

    @property
    def rel_path(self) -> str:
        return f"wav/{self.split}/{self.label}/{self.clip_id}.wav"


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """The defaults (``defaults.yaml``) merged key by key with the YAML at ``path``; ``splits`` is replaced whole."""
    import yaml

    config = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        extra = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(extra, dict):
            raise ConfigError(f"{path}: must hold a YAML mapping")
        splits = extra.pop("splits", None)
        config = _merge(config, extra)
        if splits is not None:
            config["splits"] = splits
    return config


def allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` into integer counts proportional to ``weights`` (largest remainder; ties by name).

    >>> allocate(10, {"a": 0.5, "b": 0.3, "c": 0.2})
    {'a': 5, 'b': 3, 'c': 2}
    """
    names = sorted(k for k, w in weights.items() if w > 0)
    if total <= 0 or not names:
        return {k: 0 for k in names}
    norm = sum(weights[k] for k in names)
    exact = {k: total * weights[k] / norm for k in names}
    counts = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(counts.values())
    for k in sorted(names, key=lambda k: (-(exact[k] - counts[k]), k))[:left]:
        counts[k] += 1
    return counts


def clip_seed(seed: int, clip_id: str) -> int:
    """A 32-bit seed for one clip, independent of build order and worker."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{clip_id}".encode()).digest()[:4], "little")


def _rng(seed: int, *names: str) -> np.random.Generator:
    return np.random.default_rng(clip_seed(seed, "/".join(names)))


def _shuffled(items: list, rng: np.random.Generator) -> list:
    return [items[i] for i in rng.permutation(len(items))]


def _tts(family: str, language: str, k: int, config: dict, rng: np.random.Generator,
         voices: list[str] | None = None) -> tuple[str, str, dict]:
    """(variant, speaker, params) of the k-th clip of a TTS family in one split and language.

    ``params["duration_ratio"]``: the clip's speech lasts this times its source real clip's speech;
    ``params["channel_match"]``: fraction of the source clip's long-term spectrum imposed on it.
    """
    jitter = config.get("tts_duration_ratio", [1.0, 1.0])
    match = config.get("tts_channel_match", [0.0, 0.0])
    ratio = {"duration_ratio": round(float(rng.uniform(*jitter)), 3),
             "channel_match": round(float(rng.uniform(*match)), 3)}
    spec = config["variants"].get(family, {})
    if family == "espeak-ng":
        suffixes = spec.get("voices", [""])
        voice = language + suffixes[k % len(suffixes)]
        params = {"speed_wpm": int(rng.integers(spec["speed_wpm"][0], spec["speed_wpm"][1] + 1)),
                  "pitch": int(rng.integers(spec["pitch"][0], spec["pitch"][1] + 1))}
        return voice, f"espeak-ng:{voice}", {**params, **ratio}
    if family == "piper":
        params = {name: round(float(rng.uniform(*spec[name])), 3) for name in ("noise_scale", "length_scale", "noise_w_scale")}
        return f"joe-ipa-{language}", "piper:joe", {**params, **ratio}
    choices = voices or spec.get(language) or []
    if not choices:
        raise ConfigError(f"variants.{family}.{language}: no voices listed for {family} in {language}")
    voice = choices[k % len(choices)]
    return voice, f"{family}:{voice}", ratio


def _channel(u: Utterance) -> str:
    """The recording channel of a real clip: its own if the reader set one, else its speaker's."""
    return getattr(u, "channel", "") or SPEAKERS[u.speaker].channel


def _check_split(name: str, split: dict, config: dict) -> None:
    for speaker in split.get("speakers", []):
        if speaker not in SPEAKERS:
            raise ConfigError(f"splits.{name}.speakers: unknown speaker {speaker!r}; choose from {sorted(SPEAKERS)}")
    for family in split.get("families", {}):
        if family not in COPY_FAMILIES and family not in TTS_LANGUAGES:
            raise ConfigError(f"splits.{name}.families: unknown family {family!r}; choose from "
                              f"{sorted(COPY_FAMILIES + tuple(TTS_LANGUAGES))}")
        if family in COPY_FAMILIES and not config["variants"].get(family):
            raise ConfigError(f"variants.{family}: lists no variants")
        if family in _REGISTERED_COPY_FAMILIES:
            known = _REGISTERED_COPY_FAMILIES[family].variants
            unknown = [v for v in config["variants"][family] if v not in known]
            if unknown:
                raise ConfigError(f"variants.{family}: unknown variant(s) {unknown}; choose from {sorted(known)}")


def make_plan(config: dict, utterances: dict[str, list[Utterance]], real_per_split: int | None,
              seed: int) -> list[ClipSpec]:
    """All clips of the corpus, in a fixed order.

    Args:
        config: as returned by :func:`load_config`.
        utterances: speaker -> its clips (from :func:`sources.list_utterances`).
        real_per_split: real clips per split (spread evenly over the split's speakers);
            ``None`` takes every clip.
        seed: the corpus seed.

    Returns:
        real clips, then fakes, split by split. Per split and language, fakes number
        ``fakes_per_real`` times the real clips, less the English share.
    """
    specs: list[ClipSpec] = []
    seen_speakers: dict[str, str] = {}
    for split_name, split in config["splits"].items():
        _check_split(split_name, split, config)
        speakers = list(split.get("speakers", []))
        for speaker in speakers:
            if speaker in seen_speakers:
                raise ConfigError(f"speaker {speaker} is in both {seen_speakers[speaker]} and {split_name}; splits must be speaker-disjoint")
            seen_speakers[speaker] = split_name
        if not speakers:
            raise ConfigError(f"splits.{split_name}: lists no speakers")
        even = {s: 1.0 for s in speakers}
        wanted = allocate(real_per_split, even) if real_per_split is not None else {s: len(utterances[s]) for s in speakers}
        reals: list[Utterance] = []
        for speaker in speakers:
            pool = _shuffled(utterances[speaker], _rng(seed, "real", speaker))
            reals += pool[: wanted[speaker]]
        for u in reals:
            specs.append(ClipSpec(u.uid, split_name, "real", "bonafide", "bonafide", u.speaker, u.language, u.text,
                                  u.uid, str(u.path), "", clip_seed(seed, u.uid), channel=_channel(u)))
        n_fakes = round(len(reals) * float(config["size"]["fakes_per_real"]))
        english_voices = split.get("english") or {}
        english_pool = [u for u in reals if u.text_en]
        n_english = math.floor(float(config.get("english_share", 0.0)) * n_fakes) if english_voices and english_pool else 0
        by_language: dict[str, list[Utterance]] = {}
        for u in reals:
            by_language.setdefault(u.language, []).append(u)
        per_language = allocate(n_fakes - n_english, {k: len(v) for k, v in by_language.items()})
        counter = 0
        for language, count in per_language.items():
            weights = {f: w for f, w in split["families"].items() if f in COPY_FAMILIES or language in TTS_LANGUAGES[f]}
            if count and not weights:
                raise ConfigError(f"splits.{split_name}: no family can make {language} fakes")
            pool = by_language[language]
            texts = [u for u in pool if u.text]
            for family, n in allocate(count, weights).items():
                rng = _rng(seed, split_name, language, family)
                sources = _shuffled(pool if family in COPY_FAMILIES else texts, rng)
                if n and not sources:
                    raise ConfigError(f"splits.{split_name}: no {language} transcripts for {family}")
                variants = _shuffled(list(config["variants"][family]), rng) if family in COPY_FAMILIES else None
                for k in range(n):
                    src = sources[k % len(sources)]
                    counter += 1
                    clip_id = f"{split_name}-{family}-{counter:05d}--{src.uid}"
                    if variants is not None:
                        variant, speaker, params, path = variants[k % len(variants)], src.speaker, {}, str(src.path)
                    else:
                        variant, speaker, params = _tts(family, language, k, config, rng)
                        path = str(src.path)
                    specs.append(ClipSpec(clip_id, split_name, "fake", family, f"{family}/{variant}", speaker, language,
                                          src.text, src.uid, path, variant, clip_seed(seed, clip_id), params,
                                          _channel(src)))
        english_counts = allocate(n_english, {f: 1.0 for f in english_voices})
        for family, n in english_counts.items():
            rng = _rng(seed, split_name, "en", family)
            sources = _shuffled(english_pool, rng)
            for k in range(n):
                src = sources[k % len(sources)]
                counter += 1
                clip_id = f"{split_name}-{family}-{counter:05d}--{src.uid}-en"
                variant, speaker, params = _tts(family, "en", k, config, rng, voices=list(english_voices[family]))
                specs.append(ClipSpec(clip_id, split_name, "fake", family, f"{family}/{variant}", speaker, "en",
                                      src.text_en, src.uid, str(src.path), variant, clip_seed(seed, clip_id), params,
                                      _channel(src)))
    return specs


def plan_fingerprint(specs: list[ClipSpec], chain: dict) -> str:
    """A hash of the plan and the chain settings; a resumed build must match it."""
    digest = hashlib.sha256()
    for spec in specs:
        digest.update(repr(sorted(asdict(spec).items())).encode())
    digest.update(repr(sorted(chain.items())).encode())
    return digest.hexdigest()[:16]
