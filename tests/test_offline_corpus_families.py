"""The one registry of generator families: every family of the corpus plan resolves through it.

No engine runs here: a stand-in family registered for a test proves that the plan, the clip
maker and the engine check take families from the registry and from nowhere else.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from recipes.offline_corpus import families, generate, plan
from recipes.offline_corpus.families import FAMILIES, CopyFamily, TtsFamily
from recipes.offline_corpus.readers import Clip

from wavguard.errors import ConfigError


def _clips(n: int = 40) -> dict[str, list[Clip]]:
    """Two English speaker keys with transcripts (every TTS family reads English), 2-3 s each."""
    out = []
    for key in ("queen:P", "queen:J"):
        for i in range(n):
            out.append(
                Clip(
                    f"queen/en/{key[-1]}-{i:03d}",
                    "flight-of-the-amazon-queen",
                    f"/src/{key}/{i}.mp3",
                    key,
                    "game code",
                    "en",
                    "mp3_16kbps_11k",
                    f"line {i} of {key}",
                    "",
                    16000,
                    16000 * (2 + i % 2),
                )
            )
    return {"queen": out}


def _every_family_config() -> dict:
    config = plan.load_config()
    config["splits"] = {"train": {"speakers": ["queen:*"], "families": {name: 1.0 for name in FAMILIES}}}
    return config


def test_every_family_of_the_default_config_is_registered():
    config = plan.load_config()
    named = set(config["variants"]) | {f for split in config["splits"].values() for f in split["families"]}
    assert named <= set(FAMILIES)
    for name in named:
        entry = families.family(name)
        assert entry.name == name
        if isinstance(entry, CopyFamily):  # the config names only variants the family has
            for split in config["splits"].values():
                assert set(plan.split_variants(config, split, name)) <= set(entry.variants)


def test_plan_views_are_the_registry():
    assert set(plan.COPY_FAMILIES) | set(plan.TTS_FAMILIES) == set(FAMILIES)
    assert not set(plan.COPY_FAMILIES) & set(plan.TTS_FAMILIES)
    assert all(isinstance(FAMILIES[n], CopyFamily) for n in plan.COPY_FAMILIES)
    assert {n: set(FAMILIES[n].languages) for n in plan.TTS_FAMILIES} == plan.TTS_LANGUAGES


def test_every_family_in_a_plan_resolves_through_the_registry():
    config = _every_family_config()
    specs = plan.make_plan(config, _clips(), 30, seed=5)
    fakes = [s for s in specs if s.label == "fake"]
    assert {s.family for s in fakes} == set(FAMILIES)  # each registered family made some
    reals = {s.source_id for s in specs if s.label == "real"}
    for s in fakes:
        entry = families.family(s.family)
        if isinstance(entry, CopyFamily):
            assert s.variant in entry.variants and s.source_id not in reals
        else:
            assert isinstance(entry, TtsFamily) and s.language in entry.languages
            voices = entry.voices(s.language, config["variants"].get(s.family))
            assert voices == [""] or s.variant in voices


def test_an_unknown_family_is_refused_by_the_plan_and_the_clip_maker():
    config = _every_family_config()
    config["splits"]["train"]["families"] = {"waveglow": 1.0}
    with pytest.raises(ConfigError, match="waveglow"):
        plan.make_plan(config, _clips(), 4, seed=0)
    spec = plan.ClipSpec("c", "train", "fake", "waveglow", "waveglow/x", "s", "en", "", "r", "/x.wav", "x", 0)
    with pytest.raises(ValueError, match="waveglow"):
        generate.generate_audio(spec)


def test_a_family_is_one_registry_entry(monkeypatch, tmp_path):
    """A copy and a TTS family added to the registry alone are planned, made and checked."""
    made: list[tuple] = []

    def make(source_path, variant, seed, analysis_rate_hz):
        made.append((source_path, variant, analysis_rate_hz))
        return np.full(800, 0.1, np.float32), 8000

    def draw(language, k, variants, rng):
        return "v1", "toy:v1", {"loud": int(rng.integers(0, 10))}

    def speak(spec, stretch):
        return np.full(1600, 0.2, np.float32), 16000

    monkeypatch.setitem(
        FAMILIES,
        "toycopy",
        CopyFamily("toycopy", {"a": None, "b": None}, make, lambda names: ["toycopy (install toy)"]),
    )
    monkeypatch.setitem(
        FAMILIES,
        "toytts",
        TtsFamily("toytts", frozenset({"en"}), lambda lang, v: ["v1"], draw, speak, lambda names: []),
    )
    config = _every_family_config()
    config["variants"]["toycopy"] = ["a", "b"]
    config["splits"]["train"]["families"] = {"toycopy": 0.5, "toytts": 0.5}
    specs = plan.make_plan(config, _clips(), 6, seed=1)
    fakes = [s for s in specs if s.label == "fake"]
    assert {s.family for s in fakes} == {"toycopy", "toytts"}
    for s in fakes:
        if s.family == "toytts":  # no paired file to match: the voice as it speaks
            s = dataclasses.replace(s, source_path="")
        audio, rate = generate.generate_audio(s, analysis_rate_hz=16000)
        assert (rate, len(audio)) == ((8000, 800) if s.family == "toycopy" else (16000, 1600))
    assert made and all(rate == 16000 for _, _, rate in made)
    assert "toycopy (install toy)" in families.missing_engines({"toycopy", "toytts", "bonafide"})
    config["variants"]["toycopy"] = ["c"]
    with pytest.raises(ConfigError, match="unknown toycopy variant"):
        plan.make_plan(config, _clips(), 6, seed=1)
