"""The v3 corpus plan on synthetic reader clips: no packages, no audio, no engines.

Speaker-disjoint splits from key patterns, even allocation with caps, bona fide vs vocoder-source
roles, language balance, TTS pairing and texts, per-split families and variants, determinism.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from recipes.offline_corpus import layout, plan, report
from recipes.offline_corpus.readers import Clip

from wavguard.errors import ConfigError

SPLITS = ("train", "validation", "test")

#: (reader family, speaker key, language, channel, clips, has text, has text_en, seconds)
SOURCES = [
    ("festvox_ru", "festvox_ru:msu", "ru", "studio_16k", 40, True, False, 8.0),
    ("fillets", "fillets_cs:big_fish", "cs", "game_vorbis_22k", 40, True, True, 3.0),
    ("fillets", "fillets_cs:viking1", "cs", "game_vorbis_22k", 6, True, True, 2.0),
    ("fillets", "fillets_cs:statue", "cs", "game_vorbis_44k", 5, True, True, 2.5),
    ("fillets", "fillets_cs:parrot", "cs", "game_vorbis_22k", 1, True, True, 1.5),
    ("fillets", "fillets_nl:small_fish", "nl", "game_vorbis_22k", 30, True, True, 2.5),
    ("queen", "queen:P", "en", "mp3_16kbps_11k", 60, False, False, 2.0),
    ("queen", "queen:1", "en", "mp3_16kbps_11k", 12, False, False, 2.2),
    ("queen", "queen:J", "en", "mp3_16kbps_11k", 30, False, False, 2.4),
    ("queen", "queen:7", "en", "mp3_16kbps_11k", 10, False, False, 2.6),
    ("sky", "sky:unknown", "en", "pcm8_11k", 50, False, False, 1.9),
    ("asterisk", "asterisk:allison", "en", "telephone_8k", 20, True, True, 2.5),
    ("asterisk", "asterisk:allison", "es", "telephone_8k", 20, True, False, 2.8),
    ("asterisk", "asterisk:june", "fr", "telephone_8k", 20, True, False, 2.5),
    ("asterisk", "asterisk:ivrvoiceru", "ru", "telephone_8k", 20, True, False, 2.4),
    ("ktuberling", "ktuberling:de", "de", "words_vorbis", 14, False, False, 1.0),
    ("ktuberling", "ktuberling:da", "da", "words_pcm", 9, False, False, 1.1),
    ("ktuberling", "ktuberling:uk", "uk", "words_opus", 12, False, False, 0.9),
    ("ktuberling", "ktuberling:ro", "ro", "words_vorbis", 8, False, False, 1.0),
    ("codec2_talkers", "codec2:forig", "en", "codec_test_8k", 1, False, False, 1.6),
    ("codec2_talkers", "codec2:morig", "en", "codec_test_8k", 1, False, False, 2.0),
    ("codec2_talkers", "codec2:vk5qi", "en", "radio_8k", 1, False, False, 13.5),
]


def synthetic_clips() -> dict[str, list[Clip]]:
    out: dict[str, list[Clip]] = {}
    for family, key, lang, channel, n, text, text_en, seconds in SOURCES:
        name = key.split(":", 1)[1]
        for i in range(n):
            rate = 16000
            out.setdefault(family, []).append(
                Clip(
                    f"{key.split(':')[0]}/{lang}/{name}-{i:03d}",
                    f"pkg-{family}-{lang}",
                    f"/src/{key}/{lang}/{i}.wav",
                    key,
                    "game code",
                    lang,
                    channel,
                    f"{lang} line {key} {i}" if text else "",
                    f"en line {key} {i}" if text_en else "",
                    rate,
                    int(rate * seconds * (1 + 0.1 * (i % 5))),
                )
            )
    return out


def synthetic_config() -> dict:
    config = plan.load_config()
    config["splits"] = {
        "train": {
            "speakers": [
                "festvox_ru:*",
                "fillets_cs:big_fish",
                "queen:P",
                "queen:[1-4]",
                "asterisk:allison",
                "ktuberling:de",
                "ktuberling:da",
                "codec2:forig",
            ],
            "families": {"griffinlim": 0.3, "lpc": 0.3, "espeak-ng": 0.2, "piper": 0.2},
        },
        "validation": {
            "speakers": ["fillets_cs:*", "queen:J", "asterisk:june", "ktuberling:uk", "codec2:morig"],
            "exclude": ["fillets_cs:big_fish"],
            "families": {"griffinlim": 0.2, "lpc": 0.2, "espeak-ng": 0.2, "piper": 0.2, "festival": 0.2},
        },
        "test": {
            "speakers": [
                "fillets_nl:*",
                "queen:[7890SEK_]",
                "sky:*",
                "asterisk:ivrvoiceru",
                "ktuberling:ro",
                "codec2:vk5qi",
            ],
            "families": {"griffinlim": 0.2, "lpc": 0.1, "world": 0.2, "espeak-ng": 0.1, "piper": 0.2, "flite": 0.2},
            "variants": {"griffinlim": ["mel80-it32-m0.99-random-fft1024"]},
        },
    }
    return config


def _by_split(specs, label=None):
    return {s: [x for x in specs if x.split == s and (label is None or x.label == label)] for s in SPLITS}


@pytest.fixture(scope="module")
def specs():
    return plan.make_plan(synthetic_config(), synthetic_clips(), 60, seed=7)


# ---------------------------------------------------------------- layout


def test_spread_is_even_capped_and_redistributes():
    rng = np.random.default_rng(0)
    assert layout.spread(10, {"a": 2, "b": 100, "c": 100}, rng) == {"a": 2, "b": 4, "c": 4}
    assert layout.spread(9, {"a": 1, "b": 1, "c": 1}, rng) == {"a": 1, "b": 1, "c": 1}  # capped: 3 of 9
    counts = layout.spread(7, {"a": 5, "b": 5, "c": 5}, rng)
    assert sorted(counts.values()) == [2, 2, 3] and sum(counts.values()) == 7
    assert layout.spread(0, {"a": 3}, rng) == {"a": 0}


def test_allocate_reals_even_over_families_then_keys():
    caps = {
        "queen": {"queen:P": 100, "queen:1": 100, "queen:2": 3},
        "festvox_ru": {"festvox_ru:msu": 100},
        "codec2_talkers": {"codec2:a": 1, "codec2:b": 1},
    }
    out = layout.allocate_reals(60, caps, np.random.default_rng(1))
    # codec2 capped at 2: its 18 spare go to the others (29 each); queen's 29 spread with queen:2 capped at 3
    assert out["codec2:a"] == out["codec2:b"] == 1
    assert out["festvox_ru:msu"] == 29
    assert out["queen:2"] == 3 and out["queen:P"] + out["queen:1"] == 26 and abs(out["queen:P"] - out["queen:1"]) <= 1


def test_partition_keeps_sources_out_of_bona_fide():
    clips = list(range(10))
    roles = layout.partition(clips, copy_share=1.0, wanted=None, rng=np.random.default_rng(3))
    assert len(roles.bonafide) == 5 and len(roles.sources) == 5 and sorted(roles.bonafide + roles.sources) == clips
    assert layout.partition(clips, 0.5, wanted=2, rng=np.random.default_rng(3)).bonafide.__len__() == 2
    assert (
        layout.source_reserve(1, 1.0) == 0
        and layout.source_reserve(2, 1.0) == 1
        and layout.source_reserve(10, 0.0) == 0
    )


def test_assign_splits_rejects_overlap_and_patterns_that_match_nothing():
    keys = ["queen:1", "queen:P", "sky:unknown"]
    assert layout.assign_splits(
        {"a": {"speakers": ["queen:*"], "exclude": ["queen:P"]}, "b": {"speakers": ["sky:*"]}}, keys
    ) == {"a": ["queen:1"], "b": ["sky:unknown"]}
    with pytest.raises(ConfigError, match="speaker-disjoint"):
        layout.assign_splits({"a": {"speakers": ["queen:*"]}, "b": {"speakers": ["queen:P"]}}, keys)
    with pytest.raises(ConfigError, match="matches no speaker key"):
        layout.assign_splits({"a": {"speakers": ["queen:Z"]}}, keys)


def test_default_splits_are_disjoint_and_match_the_readers_keys():
    """defaults.yaml against the speaker keys the readers give (README's Sources table)."""
    keys = (
        [
            "festvox_ru:msu_ru_nsh",
            "fillets_cs:big_fish",
            "fillets_cs:viking1",
            "fillets_cs:white@briefcase",
            "fillets_nl:small_fish",
            "sky:unknown",
            "asterisk:allison",
            "asterisk:june",
            "asterisk:ivrvoiceru",
        ]
        + [f"queen:{c}" for c in "0123456789JPSEK_"]
        + [
            f"ktuberling:{lang}"
            for lang in [
                "ca",
                "da",
                "de",
                "el",
                "en",
                "es",
                "fi",
                "fr",
                "ga",
                "gl",
                "it",
                "lt",
                "nds",
                "nl",
                "nn",
                "pt",
                "ro",
                "ru",
                "sl",
                "sr",
                "sv",
                "uk",
                "wa",
            ]
        ]
        + [
            f"codec2:{n}"
            for n in [
                "big_dog",
                "cq_ref",
                "cross",
                "forig",
                "g3plx",
                "hts",
                "kristoff",
                "mmt1",
                "morig",
                "speech_orig_16k",
                "ve9qrp",
                "vk5qi",
                "wia_16kHz",
            ]
        ]
    )
    assignment = layout.assign_splits(plan.load_config()["splits"], keys)
    assert sorted(k for ks in assignment.values() for k in ks) == sorted(keys)  # every key used, once
    assert "fillets_cs:big_fish" in assignment["train"] and "fillets_cs:viking1" in assignment["validation"]
    assert {"queen:J", "queen:5", "queen:6"} <= set(assignment["validation"])
    assert {"queen:7", "queen:0", "queen:S", "queen:_", "sky:unknown"} <= set(assignment["test"])


# ---------------------------------------------------------------- plan


def test_plan_is_speaker_disjoint_with_several_speakers_languages_channels(specs):
    reals = _by_split(specs, "real")
    speakers = {s: {x.speaker for x in reals[s]} for s in SPLITS}
    assert not (speakers["train"] & speakers["validation"]) and not (speakers["train"] & speakers["test"])
    assert not (speakers["validation"] & speakers["test"])
    for split in SPLITS:
        assert len(speakers[split]) >= 2 and len({x.language for x in reals[split]}) >= 2
        assert len({x.channel for x in reals[split]}) >= 2
        assert all(x.source and x.channel and x.speaker_reliability for x in reals[split])
    copy = [x for x in specs if x.family in plan.COPY_FAMILIES]
    assert all(x.speaker in speakers[x.split] for x in copy)  # copy-synthesis keeps a speaker of its own split
    assert "fillets_cs:parrot" in speakers["validation"]  # a one-clip key still gets its clip


def test_copy_synthesis_sources_are_never_bona_fide(specs):
    for split, items in _by_split(specs).items():
        bona = {x.source_id for x in items if x.label == "real"}
        copy = [x for x in items if x.family in plan.COPY_FAMILIES]
        assert copy and not any(x.source_id in bona for x in copy), split
        real_ids = {c.clip_id.replace("/", "-") for cs in synthetic_clips().values() for c in cs}
        assert all(x.source_id in real_ids for x in copy)
    for split, items in _by_split(plan.make_plan(synthetic_config(), synthetic_clips(), None, seed=7)).items():
        bona = {x.source_id for x in items if x.label == "real"}
        assert not any(x.source_id in bona for x in items if x.family in plan.COPY_FAMILIES), split


def test_full_plan_uses_every_usable_clip_in_one_role():
    specs = plan.make_plan(synthetic_config(), synthetic_clips(), None, seed=7)
    usable = {
        c.clip_id.replace("/", "-")
        for cs in synthetic_clips().values()
        for c in cs
        if c.duration_seconds >= plan.load_config()["size"]["usable_min_seconds"]
    }
    bona = {x.source_id for x in specs if x.label == "real"}
    sources = {x.source_id for x in specs if x.family in plan.COPY_FAMILIES}
    assert not bona & sources and bona | sources <= usable
    assert len(bona | sources) >= 0.95 * len(usable)


def test_language_balance_and_fakes_carry_their_paired_channel(specs):
    rows = [{"split": x.split, "label": x.label, "language": x.language} for x in specs]
    assert report.balance_problems(rows, 5.0) == []
    counts = Counter((x.split, x.label) for x in specs)
    for split in SPLITS:
        assert counts[(split, "real")] == counts[(split, "fake")] > 0
    by_id = {c.clip_id.replace("/", "-"): c for cs in synthetic_clips().values() for c in cs}
    for x in specs:
        src = by_id[x.source_id]
        assert (x.channel, x.source, x.language) == (src.channel, src.source, src.language), x
        assert x.rel_path == f"wav/{x.split}/{x.label}/{x.clip_id}.wav" and "/" not in x.clip_id


def test_tts_pairing_reads_same_language_texts_of_the_split(specs):
    clips = {c.clip_id: c for cs in synthetic_clips().values() for c in cs}
    by_uid = {c.clip_id.replace("/", "-"): c for c in clips.values()}
    split_keys = {s: {x.speaker for x in specs if x.split == s and x.label == "real"} for s in SPLITS}
    tts = [x for x in specs if x.family in plan.TTS_FAMILIES]
    assert {x.language for x in tts} >= {"en", "cs", "ru", "nl", "fr", "es"}
    for x in tts:
        text_clip = clips[x.text_id]
        assert text_clip.speaker in split_keys[x.split], x
        if text_clip.language == x.language:
            assert x.text == text_clip.text
        else:  # English read from another language's English line
            assert x.language == "en" and x.text == text_clip.text_en
        paired = by_uid[x.source_id]
        assert paired.language == x.language and paired.speaker in split_keys[x.split]
        if paired.text:
            assert x.text_id == paired.clip_id  # the paired clip's own text first
    # languages without any text in the split get copy-synthesis only
    for x in specs:
        if x.language in {"de", "da", "uk", "ro"} and x.label == "fake":
            assert x.family in plan.COPY_FAMILIES
    # queen (en, no text) is paired with TTS reading another English text of its split
    assert any(x.speaker.startswith(("espeak-ng", "piper")) and "queen" in x.source_id for x in tts)


def test_families_and_variants_per_split(specs):
    fakes = _by_split(specs, "fake")
    families = {s: {x.family for x in fakes[s]} for s in SPLITS}
    assert families["train"] == {"griffinlim", "lpc", "espeak-ng", "piper"}
    assert families["validation"] - families["train"] == {"festival"}
    assert families["test"] - families["train"] - families["validation"] == {"world", "flite"}
    assert {x.variant for x in fakes["test"] if x.family == "griffinlim"} == {"mel80-it32-m0.99-random-fft1024"}
    assert len({x.variant for x in fakes["train"] if x.family == "griffinlim"}) > 1
    assert {x.language for x in fakes["test"] if x.family == "flite"} == {"en"}
    assert {x.variant for x in fakes["validation"] if x.family == "festival" and x.language == "en"} <= {
        "kal_diphone",
        "ked_diphone",
    }


def test_plan_is_deterministic_and_seeded(specs):
    assert plan.make_plan(synthetic_config(), synthetic_clips(), 60, seed=7) == specs
    assert plan.make_plan(synthetic_config(), synthetic_clips(), 60, seed=8) != specs
    assert len({x.clip_id for x in specs}) == len(specs) and len({x.seed for x in specs}) == len(specs)


def test_plan_rejects_unknown_families_and_variants():
    config = synthetic_config()
    config["splits"]["train"]["families"]["wavenet"] = 0.1
    with pytest.raises(ConfigError, match="unknown family"):
        plan.make_plan(config, synthetic_clips(), 10, seed=0)
    config = synthetic_config()
    config["splits"]["test"]["speakers"].append("queen:P")
    with pytest.raises(ConfigError, match="speaker-disjoint"):
        plan.make_plan(config, synthetic_clips(), 10, seed=0)


def test_every_reader_channel_has_a_source_channel():
    """Fakes carry their paired clip's channel: the channel step must know every name a reader gives."""
    from recipes.offline_corpus import readers, source_channel

    assert set(readers.CHANNELS) <= set(source_channel.CHANNELS)
    rng = np.random.default_rng(0)
    t = np.arange(22050) / 22050
    x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    for channel in readers.CHANNELS:
        y, rate = source_channel.apply_source_channel(x, 22050, channel, np.random.default_rng(1))
        assert y.dtype == np.float32 and np.isfinite(y).all() and len(y) > 0.9 * len(x) * rate / 22050, channel
    y, rate = source_channel.apply_source_channel(x, 22050, "words_pcm", rng)
    assert rate == 22050  # KTuberling channels keep the (paired clip's) rate
    y, rate = source_channel.apply_source_channel(x, 22050, "radio_8k", rng)
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / rate)
    assert rate == 8000 and spectrum[freqs > 3500].sum() < 0.01 * spectrum.sum()


def test_paired_copy_sources_add_each_source_once_as_bona_fide(specs):
    config = synthetic_config()
    config["pair_copy_sources"] = ["train"]
    paired = plan.make_plan(config, synthetic_clips(), 60, seed=7)
    old_ids = {x.clip_id for x in specs}
    assert [x for x in paired if x.clip_id in old_ids] == specs  # the plan without pairs is unchanged
    added = [x for x in paired if x.clip_id not in old_ids]
    copies = [x for x in specs if x.split == "train" and x.family in plan.COPY_FAMILIES]
    assert added and {x.clip_id for x in added} == {x.source_id for x in copies}
    assert len(added) == len({x.source_id for x in copies})  # a cycled source gives one clip
    first_copy = {}
    for x in copies:
        first_copy.setdefault(x.source_id, x)
    for real in added:
        copy = first_copy[real.clip_id]
        assert (real.split, real.label, real.family, real.attack) == ("train", "real", "bonafide", "bonafide")
        assert real.source_id == real.clip_id and real.source_path == copy.source_path
        assert (real.speaker, real.language, real.channel, real.source) == (
            copy.speaker,
            copy.language,
            copy.channel,
            copy.source,
        )
        assert real.seed == copy.seed  # its first copy's seed: the chain's first draws agree
    bona = {x.clip_id for x in specs if x.label == "real"}
    assert not bona & {x.clip_id for x in added}  # sources were never bona fide before
    with pytest.raises(ConfigError, match="pair_copy_sources: unknown split"):
        plan.make_plan({**config, "pair_copy_sources": ["dev"]}, synthetic_clips(), 60, seed=7)
