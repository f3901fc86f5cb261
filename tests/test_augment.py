import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import soundfile as sf

from wavguard.audio.augment import (
    TRANSFORMS,
    build_augmenter,
    codec_round_trip,
    rawboost_convolutive,
    rawboost_impulsive,
    rawboost_stationary,
    synthetic_rir,
    telephone_band,
)
from wavguard.errors import ConfigError
from wavguard.testing import chirp, sine

RATE = 16000


def one(name, **params):
    return build_augmenter({"seed": 0, "transforms": [{"name": name, "p": 1.0, **params}]})


def rms_db(x):
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def noise(seconds=2.0, seed=0, scale=0.1):
    return (scale * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


def band_fraction(x, low_hz, high_hz=np.inf, rate=RATE):
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.shape[0], 1 / rate)
    return power[(freqs >= low_hz) & (freqs < high_hz)].sum() / power.sum()


def peak_hz(x, rate=RATE):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.shape[0]), 8 * x.shape[0]))
    return np.argmax(spectrum) * rate / (8 * x.shape[0])


def test_gain_changes_rms_by_exactly_the_gain():
    x = chirp(1.0)
    y = one("gain", min_gain_db=6.0, max_gain_db=6.0)(x, RATE)
    assert rms_db(y) - rms_db(x) == pytest.approx(6.0, abs=1e-3)
    y = one("gain", min_gain_db=-9.5, max_gain_db=-9.5)(x, RATE)
    assert rms_db(y) - rms_db(x) == pytest.approx(-9.5, abs=1e-3)


@pytest.mark.parametrize("name", ["gaussian_snr", "color_noise"])
@pytest.mark.parametrize("snr_db", [5.0, 20.0])
def test_added_noise_has_the_target_snr(name, snr_db):
    x = chirp(2.0)
    y = one(name, min_snr_db=snr_db, max_snr_db=snr_db)(x, RATE)
    measured = rms_db(x) - rms_db(y - x)
    assert measured == pytest.approx(snr_db, abs=1.0)


def test_background_noise_from_a_folder_at_target_snr(tmp_path):
    for i in range(2):
        sf.write(tmp_path / f"n{i}.wav", noise(3.0, seed=i, scale=0.05 * (i + 1)), RATE)
    x = chirp(2.0)
    y = one("background_noise", sounds_path=str(tmp_path), min_snr_db=10.0, max_snr_db=10.0)(x, RATE)
    assert rms_db(x) - rms_db(y - x) == pytest.approx(10.0, abs=1.0)


def test_background_noise_without_folder_is_a_config_error():
    with pytest.raises(ConfigError, match="sounds_path"):
        one("background_noise")


@pytest.mark.parametrize("semitones", [3.0, -2.0])
def test_pitch_shift_moves_a_sine_peak_by_the_semitone_ratio(semitones):
    x = sine(1.0, frequency_hz=440.0)
    y = one("pitch_shift", min_semitones=semitones, max_semitones=semitones)(x, RATE)
    expected = 440.0 * 2 ** (semitones / 12)
    assert peak_hz(y) == pytest.approx(expected, abs=3.0)
    assert abs(peak_hz(y) - 440.0) > 20


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_time_stretch_changes_length_by_the_rate(rate):
    x = chirp(2.0)
    y = one("time_stretch", min_rate=rate, max_rate=rate)(x, RATE)
    assert y.shape[0] == pytest.approx(x.shape[0] / rate, rel=0.01)


def test_telephone_band_removes_energy_above_4khz():
    x = noise()
    assert band_fraction(x, 4000) > 0.45
    for law in ("ulaw", "alaw"):
        y = telephone_band(x, RATE, law)
        assert y.shape == x.shape and y.dtype == np.float32
        assert band_fraction(y, 4000) < 1e-4
        # the narrow band survives: correlation with the input's 0-3.4 kHz part is high
        spec = np.fft.rfft(x)
        spec[np.fft.rfftfreq(x.shape[0], 1 / RATE) > 3400] = 0
        low = np.fft.irfft(spec, x.shape[0])
        assert np.corrcoef(low, y)[0, 1] > 0.95
    with pytest.raises(ConfigError):
        telephone_band(x, RATE, "gsm")


def test_telephone_transform_uses_g711():
    y = one("telephone", laws="ulaw")(noise(), RATE)
    assert band_fraction(y, 4000) < 1e-4


def test_mp3_low_bitrate_removes_high_frequencies_high_bitrate_keeps_the_waveform():
    x = noise()
    low = codec_round_trip(x, RATE, "mp3", bitrate_kbps=16)
    high = codec_round_trip(x, RATE, "mp3", bitrate_kbps=160)
    assert low.shape == high.shape == x.shape
    assert band_fraction(x, 5000) > 0.3
    assert band_fraction(low, 5000) < 0.05
    assert np.corrcoef(x, high)[0, 1] > 0.9  # aligned: encoder delay removed
    assert np.corrcoef(x, low)[0, 1] < np.corrcoef(x, high)[0, 1]


def test_mp3_at_44khz_is_aligned_with_the_input():
    t = np.arange(44100) / 44100
    x = (0.3 * np.sin(2 * np.pi * 1000 * t) * np.sin(2 * np.pi * 3 * t)).astype(np.float32)
    y = codec_round_trip(x, 44100, "mp3", bitrate_kbps=128)
    assert y.shape == x.shape
    assert np.corrcoef(x, y)[0, 1] > 0.999


def test_vorbis_quality_orders_fidelity():
    x = noise()
    worst = codec_round_trip(x, RATE, "vorbis", quality=0.0)
    best = codec_round_trip(x, RATE, "vorbis", quality=1.0)
    assert np.corrcoef(x, best)[0, 1] > 0.98
    assert np.corrcoef(x, worst)[0, 1] < np.corrcoef(x, best)[0, 1] - 0.05


def schroeder_rt60_seconds(h, rate):
    """RT60 by backward integration, from the -5 to -25 dB slope (T20 x 3)."""
    energy = np.cumsum(h[::-1].astype(np.float64) ** 2)[::-1]
    decay_db = 10 * np.log10(energy / energy[0])
    t5, t25 = np.argmax(decay_db <= -5), np.argmax(decay_db <= -25)
    return 3 * (t25 - t5) / rate


@pytest.mark.parametrize("rt60", [0.3, 0.8])
def test_synthetic_rir_decays_60db_in_rt60(rt60):
    h = synthetic_rir(rt60, RATE, np.random.default_rng(0))
    assert h.shape == (round(rt60 * RATE),)
    assert np.sum(h.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-5)
    assert schroeder_rt60_seconds(h, RATE) == pytest.approx(rt60, rel=0.15)


def direct_to_reverberant_db(y, start=0):
    """Energy of the direct sound (sample ``start``) over the energy of everything after it, in dB."""
    y = np.asarray(y, dtype=np.float64)
    return 10 * np.log10(y[start] ** 2 / np.sum(y[start + 1 :] ** 2))


def test_synthetic_rir_with_a_direct_to_reverberant_ratio():
    for drr_db in (-10.0, 0.0, 12.5):
        h = synthetic_rir(0.4, RATE, np.random.default_rng(3), drr_db=drr_db).astype(np.float64)
        assert direct_to_reverberant_db(h) == pytest.approx(drr_db, abs=1e-3)
        assert np.sum(h**2) == pytest.approx(1.0, rel=1e-5)
    # the tail is the same room whatever the ratio: only the direct path changes
    a, b = (synthetic_rir(0.4, RATE, np.random.default_rng(3), drr_db=d) for d in (0.0, 10.0))
    np.testing.assert_allclose(a[1:] / np.linalg.norm(a[1:]), b[1:] / np.linalg.norm(b[1:]), atol=1e-6)
    # in training: the ratio drawn per clip from min_drr_db..max_drr_db
    impulse = np.zeros(RATE, np.float32)
    impulse[800] = 0.5
    y = one("reverb", min_rt60_seconds=0.4, max_rt60_seconds=0.4, min_drr_db=5, max_drr_db=5)(impulse, RATE)
    assert direct_to_reverberant_db(y, 800) == pytest.approx(5.0, abs=1e-3)


def test_reverb_lengthens_the_decay_of_a_burst():
    x = np.zeros(RATE, np.float32)
    x[:1600] = noise(0.1)
    y = one("reverb", min_rt60_seconds=0.6, max_rt60_seconds=0.6)(x, RATE)
    assert y.shape == x.shape
    assert rms_db(y) == pytest.approx(rms_db(x), abs=1e-3)  # loudness kept
    tail = slice(1600 + 800, 1600 + 4000)  # 50-250 ms after the burst ends
    assert np.all(x[tail] == 0)
    assert rms_db(y[tail]) > rms_db(x[:1600]) - 30


def test_reverb_from_an_ir_folder(tmp_path):
    ir = np.zeros(200, np.float32)
    ir[100] = 1.0
    sf.write(tmp_path / "delay.wav", ir, RATE)
    x = chirp(0.5)
    y = one("reverb", ir_path=str(tmp_path))(x, RATE)
    # audiomentations rescales the convolved clip; the shape is the input delayed by 100 samples
    assert np.abs(y[:100]).max() < 1e-6
    assert np.corrcoef(y[100:], x[:-100])[0, 1] > 0.9999


def test_rawboost_convolutive_notches_the_drawn_band():
    x = noise()
    rng = np.random.default_rng(0)
    y = rawboost_convolutive(
        x, RATE, rng, bands=(1, 1), center_hz=(2000, 2000), bandwidth_hz=(1000, 1000), depth_db=(30, 30)
    )
    assert y.shape == x.shape
    assert np.abs(y).max() == pytest.approx(np.abs(x).max(), rel=1e-5)
    inside = band_fraction(y, 1800, 2200) / band_fraction(x, 1800, 2200)
    outside = band_fraction(y, 5000, 6000) / band_fraction(x, 5000, 6000)
    assert 10 * np.log10(outside / inside) > 20


def test_rawboost_impulsive_hits_the_drawn_fraction_and_clips():
    x = sine(2.0, amplitude=0.9)
    y = rawboost_impulsive(x, RATE, np.random.default_rng(0), fraction=(0.01, 0.01), level_db=(0.0, 0.0))
    changed = np.count_nonzero(y != x)
    assert changed == pytest.approx(0.01 * x.shape[0], rel=0.05)
    assert np.abs(y).max() <= 1.0
    assert np.abs(y).max() == 1.0  # 0 dB impulses on a 0.9 peak clip at full scale


def test_rawboost_stationary_adds_band_limited_noise_at_the_snr():
    x = chirp(2.0)
    y = rawboost_stationary(
        x, RATE, np.random.default_rng(0), snr_db=(15, 15), center_hz=(6000, 6000), bandwidth_hz=(1000, 1000)
    )
    added = y - x
    assert rms_db(x) - rms_db(added) == pytest.approx(15.0, abs=0.01)
    assert band_fraction(added, 5300, 6700) > 0.95


@pytest.mark.parametrize("name", sorted(set(TRANSFORMS) - {"background_noise"}))
def test_every_transform_is_seeded_finite_float32(name):
    aug = one(name)
    x = chirp(1.0)
    a, b, c = aug(x, RATE, seed=1), aug(x, RATE, seed=1), aug(x, RATE, seed=2)
    assert a.dtype == np.float32 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    if name not in ("telephone", "mp3", "vorbis"):  # deterministic codecs: the draw only picks a setting
        assert a.shape != c.shape or not np.array_equal(a, c)


def test_chain_is_reproducible_from_the_build_seed_and_advances():
    config = {
        "seed": 7,
        "transforms": {
            "gain": {"p": 0.5},
            "gaussian_snr": {"p": 0.5, "min_snr_db": 5, "max_snr_db": 30},
            "rawboost_impulsive": {"p": 0.5},
        },
    }
    x = chirp(1.0)
    first, second = build_augmenter(config), build_augmenter(config)
    run1 = [first(x, RATE) for _ in range(5)]
    run2 = [second(x, RATE) for _ in range(5)]
    for a, b in zip(run1, run2):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(run1[0], r) for r in run1[1:])


def test_probability_zero_and_one():
    x = chirp(1.0)
    never = build_augmenter({"transforms": [{"name": "gain", "p": 0.0}]})
    np.testing.assert_array_equal(never(x, RATE), x)
    half = build_augmenter({"seed": 0, "transforms": [{"name": "gain", "p": 0.5, "min_gain_db": 3, "max_gain_db": 3}]})
    applied = sum(not np.array_equal(half(x, RATE), x) for _ in range(400))
    assert 160 < applied < 240  # binomial(400, 0.5): mean 200, sd 10


def test_global_random_state_is_left_untouched():
    import random

    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    one("gaussian_snr")(chirp(0.5), RATE)
    assert np.random.rand() == expected_np and random.random() == expected_py


@pytest.mark.parametrize(
    "config, match",
    [
        ({"transforms": [{"name": "nope"}]}, "unknown augmentation"),
        ({"transforms": [{"name": "gain", "p": 1.5}]}, "probability"),
        ({"transforms": [{"name": "gain", "min_gain_db": 3, "max_gain_db": -3}]}, "greater than"),
        ({"transforms": [{"name": "gain", "gain": 3}]}, "unknown parameters"),
        ({"transforms": [], "sead": 1}, "unknown augmentation config keys"),
        ({"transforms": [{"name": "telephone", "laws": "gsm"}]}, "law"),
    ],
)
def test_bad_config_is_a_config_error(config, match):
    with pytest.raises(ConfigError, match=match):
        build_augmenter(config)
