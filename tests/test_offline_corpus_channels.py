"""The offline corpus' channel-matching step (recipes/offline_corpus/source_channel.py) and its hook.

Synthetic signals only, no engines or Debian packages: fast and offline.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from recipes.offline_corpus import families, generate, plan
from recipes.offline_corpus.plan import ClipSpec
from recipes.offline_corpus.readers import Clip
from recipes.offline_corpus.source_channel import (
    CHANNELS,
    MP3_CBR_16KBPS_COMPRESSION,
    apply_source_channel,
    band_limit,
    mulaw_decode,
    mulaw_encode,
)

from wavguard.audio import resample

RATE = 16000
#: "No energy above the band": at most this fraction of the clip's energy, once resampled to the
#: chain's 16 kHz (measured: about 1e-6 for 8 kHz channels, under 1e-5 for 11,025 Hz ones).
BAND_LEAK_MAX = 1e-4


def _noise(rate_hz: int = RATE, seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """Wideband white noise: the worst case for band limits."""
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * rate_hz))).astype(np.float32)


def _fraction_above(x: np.ndarray, rate_hz: int, cutoff_hz: float) -> float:
    """Fraction of the energy above ``cutoff_hz`` after resampling to 16 kHz, as the shared chain does."""
    y = resample(np.asarray(x, np.float32), rate_hz, RATE).astype(np.float64)
    power = np.abs(np.fft.rfft(y)) ** 2
    return float(power[np.fft.rfftfreq(len(y), 1.0 / RATE) > cutoff_hz].sum() / power.sum())


@pytest.mark.parametrize("channel", ["telephone_8k", "codec_test_8k"])
@pytest.mark.parametrize("rate_hz", [16000, 22050])
def test_8khz_channels_leave_no_energy_above_4khz(channel, rate_hz):
    x = _noise(rate_hz)
    assert _fraction_above(x, rate_hz, 4000.0) > 0.4  # the input is wideband
    y, rate = apply_source_channel(x, rate_hz, channel, np.random.default_rng(0))
    assert rate == 8000 and y.dtype == np.float32
    assert _fraction_above(y, rate, 4000.0) < BAND_LEAK_MAX


@pytest.mark.parametrize("channel", ["pcm8_11k", "mp3_16kbps_11k"])
@pytest.mark.parametrize("rate_hz", [16000, 22050])
def test_11khz_channels_leave_nothing_above_5_5khz(channel, rate_hz):
    y, rate = apply_source_channel(_noise(rate_hz), rate_hz, channel, np.random.default_rng(0))
    assert rate == 11025
    assert _fraction_above(y, rate, 5600.0) < BAND_LEAK_MAX
    assert _fraction_above(y, rate, 4000.0) > 0.05  # but it is not an 8 kHz channel


def test_pcm8_has_at_most_256_levels_of_an_unsigned_byte():
    t = np.arange(RATE) / RATE
    x = (0.7 * np.sin(2 * np.pi * 220 * t) + 0.01 * _noise(seconds=1.0)).astype(np.float32)
    y, rate = apply_source_channel(x, RATE, "pcm8_11k", np.random.default_rng(0))
    levels = np.unique(y)
    assert len(levels) <= 256
    codes = levels * 128.0 + 128.0  # back to the unsigned byte
    np.testing.assert_array_equal(codes, np.round(codes))
    assert codes.min() >= 0 and codes.max() <= 255
    assert len(levels) > 100  # a loud clip uses most of them


def test_mulaw_known_values_exact():
    pcm = np.array([0, 1000, -1000, 100, 32767, -32768], dtype=np.int16)
    codes = mulaw_encode(pcm)
    np.testing.assert_array_equal(codes, np.array([0xFF, 0xCE, 0x4E, 0xF2, 0x80, 0x00], dtype=np.uint8))
    # decoding gives the middle of the quantisation step; the largest magnitude is 32,124
    np.testing.assert_array_equal(mulaw_decode(codes), np.array([0, 988, -988, 104, 32124, -32124], dtype=np.int16))


def test_mulaw_codes_round_trip():
    codes = np.arange(256, dtype=np.uint8)
    again = mulaw_encode(mulaw_decode(codes))
    # every code decodes to a value that encodes back to it, except "negative zero" (0x7F -> 0 -> 0xFF)
    np.testing.assert_array_equal(np.flatnonzero(again != codes), [0x7F])
    assert again[0x7F] == 0xFF


def test_telephone_channel_is_mulaw_at_8khz():
    y, rate = apply_source_channel(_noise(), RATE, "telephone_8k", np.random.default_rng(0))
    pcm = np.round(y * 32768.0).astype(np.int16)
    np.testing.assert_array_equal(pcm / 32768.0, y)  # exactly on 16-bit values
    assert len(np.unique(pcm)) <= 255
    np.testing.assert_array_equal(mulaw_decode(mulaw_encode(pcm)), pcm)  # already on the mu-law grid


def test_studio_is_identity_exact():
    x = _noise()
    y, rate = apply_source_channel(x, RATE, "studio_16k", np.random.default_rng(0))
    assert y is x and rate == RATE
    x22 = _noise(22050)
    assert apply_source_channel(x22, 22050, "studio_16k", np.random.default_rng(0)) == (x22, 22050)


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_same_seed_same_output(channel):
    x = _noise(22050, seconds=1.0)
    a, rate_a = apply_source_channel(x, 22050, channel, np.random.default_rng(7))
    b, rate_b = apply_source_channel(x, 22050, channel, np.random.default_rng(7))
    assert rate_a == rate_b
    np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(a)) and 0.0 < np.max(np.abs(a)) <= 1.0


def test_game_channel_reverberates_and_codes_at_22khz():
    rate = 22050
    x = np.zeros(int(0.8 * rate), np.float32)
    x[: int(0.2 * rate)] = _noise(rate, seconds=0.2)  # a burst, then silence

    def level_db(y, start_seconds, end_seconds):
        part = y[int(start_seconds * rate) : int(end_seconds * rate)].astype(np.float64)
        return 10 * np.log10(np.mean(part**2) + 1e-20)

    y, got_rate = apply_source_channel(x, rate, "game_vorbis_22k", np.random.default_rng(0))
    assert got_rate == rate and len(y) >= len(x)
    # a reverb tail 30-80 ms after the burst, within 40 dB of it (measured: -30 dB; Vorbis alone leaves digital zeros)
    assert level_db(y, 0.23, 0.28) - level_db(y, 0.0, 0.2) > -40.0


def test_mp3_channel_is_mpeg25_layer3_at_16kbps():
    buf = io.BytesIO()
    try:
        sf.write(
            buf,
            _noise(11025),
            11025,
            format="MP3",
            subtype="MPEG_LAYER_III",
            compression_level=MP3_CBR_16KBPS_COMPRESSION,
            bitrate_mode="CONSTANT",
        )
    except (sf.LibsndfileError, ValueError, TypeError) as exc:
        pytest.skip(f"this libsndfile cannot write MP3 with a bit-rate mode: {exc}")
    data = buf.getvalue()
    i = next(k for k in range(len(data) - 3) if data[k] == 0xFF and data[k + 1] & 0xE0 == 0xE0)
    version, layer = (data[i + 1] >> 3) & 0b11, (data[i + 1] >> 1) & 0b11
    bitrate_index, rate_index = data[i + 2] >> 4, (data[i + 2] >> 2) & 0b11
    assert (version, layer) == (0b00, 0b01)  # MPEG-2.5, Layer III
    assert (bitrate_index, rate_index) == (2, 0)  # 16 kb/s, 11,025 Hz


def test_unknown_channel_is_refused():
    with pytest.raises(ValueError, match="unknown source channel"):
        apply_source_channel(_noise(), RATE, "vinyl_33rpm", np.random.default_rng(0))


def test_band_limit_only_lowers_the_rate():
    x = _noise()
    assert band_limit(x, RATE, "game_vorbis_22k") == (x, RATE)
    assert band_limit(x, RATE, "studio_16k") == (x, RATE)
    y, rate = band_limit(x, RATE, "telephone_8k")
    assert rate == 8000 and _fraction_above(y, rate, 4000.0) < BAND_LEAK_MAX


# ---------------------------------------------------------------- the plan and the generation hook


def _clips(tmp_path: Path) -> dict[str, list[Clip]]:
    """Eight made-up reader clips for each of three keys, on three channels."""
    keys = {
        "festvox_ru": ("festvox_ru:msu_ru_nsh", "ru", "studio_16k"),
        "asterisk": ("asterisk:june", "fr", "telephone_8k"),
        "queen": ("queen:J", "en", "mp3_16kbps_11k"),
    }
    return {
        family: [
            Clip(
                f"{family}/{i:03d}",
                f"pkg-{family}",
                str(tmp_path / f"{family}-{i}.wav"),
                key,
                "voice",
                lang,
                channel,
                f"text {i}",
                "",
                16000,
                48000,
            )
            for i in range(8)
        ]
        for family, (key, lang, channel) in keys.items()
    }


def test_plan_clip_records_carry_their_source_channel(tmp_path):
    config = plan.load_config()
    config["splits"] = {"train": {"speakers": ["*"], "families": {"griffinlim": 0.5, "espeak-ng": 0.5}}}
    specs = plan.make_plan(config, _clips(tmp_path), 6, 1234)
    assert {s.speaker: s.channel for s in specs if s.label == "real"} == {
        "festvox_ru:msu_ru_nsh": "studio_16k",
        "asterisk:june": "telephone_8k",
        "queen:J": "mp3_16kbps_11k",
    }
    channel_of = {c.clip_id.replace("/", "-"): c.channel for cs in _clips(tmp_path).values() for c in cs}
    fakes = [s for s in specs if s.label == "fake"]
    assert fakes and all(s.channel == channel_of[s.source_id] for s in fakes)


def _tts_spec(source: Path, channel: str, channel_match: float = 0.0) -> ClipSpec:
    return ClipSpec(
        "test-espeak-ng-00001--x",
        "test",
        "fake",
        "espeak-ng",
        "espeak-ng/en",
        "espeak-ng:en",
        "en",
        "hello",
        "x",
        str(source),
        "en",
        42,
        {"duration_ratio": 1.0, "channel_match": channel_match},
        channel,
    )


@pytest.fixture
def wideband_tts(monkeypatch):
    """A TTS engine stand-in, registered as espeak-ng: 1 s of white noise at 22,050 Hz, whatever it is asked."""
    stand_in = dataclasses.replace(
        families.FAMILIES["espeak-ng"], speak=lambda spec, stretch: (_noise(22050, seconds=1.0, seed=1), 22050)
    )
    monkeypatch.setitem(families.FAMILIES, "espeak-ng", stand_in)


@pytest.mark.parametrize("channel_match", [0.0, 1.0])
def test_tts_fake_paired_with_an_8khz_source_has_no_energy_above_4khz(tmp_path, wideband_tts, channel_match):
    source = tmp_path / "real8k.wav"
    sf.write(source, resample(_noise(seconds=1.0, seed=2), RATE, 8000), 8000, subtype="PCM_16")
    audio, rate = generate.generate_audio(_tts_spec(source, "telephone_8k", channel_match))
    assert rate == 8000
    assert _fraction_above(audio, rate, 4000.0) < BAND_LEAK_MAX
    again, _ = generate.generate_audio(_tts_spec(source, "telephone_8k", channel_match))
    np.testing.assert_array_equal(audio, again)  # seeded by the clip


def test_tts_without_a_channel_is_left_wideband(tmp_path, wideband_tts):
    source = tmp_path / "real8k.wav"
    sf.write(source, resample(_noise(seconds=1.0, seed=2), RATE, 8000), 8000, subtype="PCM_16")
    audio, rate = generate.generate_audio(_tts_spec(source, ""))
    assert rate == 22050 and _fraction_above(audio, rate, 4000.0) > 0.4


# ---------------------------------------------------------------- the builder's shortcut check


def _labelled_files(root: Path) -> tuple[list[str], list[int], list[str]]:
    """Two splits; in "b" every fake went through an 8 kHz channel (a planted bandwidth shortcut)."""
    rng = np.random.default_rng(3)
    paths, labels, splits = [], [], []
    for split in ("a", "b"):
        for label in (0, 1):
            for i in range(10):
                x = _noise(seconds=float(rng.uniform(0.6, 1.0)), seed=int(rng.integers(1 << 30)))
                if split == "b" and label == 1:
                    x = resample(resample(x, RATE, 8000), 8000, RATE)
                path = root / f"{split}-{label}-{i}.wav"
                sf.write(path, x * float(rng.uniform(0.2, 1.0)), RATE)
                paths.append(str(path))
                labels.append(label)
                splits.append(split)
    return paths, labels, splits


def test_shortcut_check_reports_pooled_and_per_split_with_bandwidth_features(tmp_path):
    from recipes.offline_corpus import shortcut

    result = shortcut.shortcut_check(*_labelled_files(tmp_path), folds=5, seed=0)
    assert result["engine"] == "wavguard.evaluation.audit"
    assert set(result["per_split"]) == {"a", "b"} == set(result["per_split_feature_auc"])
    assert result["per_split_feature_auc"]["b"]["energy_above_4khz_fraction"] > 0.9
    assert result["per_split"]["b"] > 0.9
    for name in ("rolloff95_hz", "energy_above_4khz_fraction", "noise_floor_db"):
        assert name in result["feature_auc"]
