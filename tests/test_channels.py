"""Degradation channels: measured spectra, SNRs and decays, determinism, name parsing."""

import numpy as np
import pytest

from wavguard.channels import DEFAULT_CHANNELS, Channel, apply_channel, parse_channel, parse_channels
from wavguard.errors import ConfigError, InvalidAudioError

RATE = 16000


def white_noise(seconds=1.0, rate=RATE, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)


def band_fraction(x, rate, lo_hz, hi_hz):
    """Fraction of the energy of ``x`` between lo_hz (inclusive) and hi_hz (exclusive)."""
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / rate)
    return float(power[(freqs >= lo_hz) & (freqs < hi_hz)].sum() / power.sum())


def snr_db(clean, degraded):
    noise = degraded.astype(np.float64) - clean
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise**2))


def test_mp3_24k_removes_energy_above_6khz():
    x = white_noise()
    y = apply_channel("mp3_24k", x, RATE)
    assert y.shape == x.shape and y.dtype == np.float32
    assert band_fraction(x, RATE, 6000, 8001) > 0.2  # white noise: a quarter of its energy is up there
    assert band_fraction(y, RATE, 6000, 8001) < 1e-4
    # the speech band survives: at least half the input's 0-4 kHz energy is still there
    kept = band_fraction(y, RATE, 0, 4000) * np.sum(y.astype(np.float64) ** 2)
    assert kept > 0.5 * band_fraction(x, RATE, 0, 4000) * np.sum(x.astype(np.float64) ** 2)


@pytest.mark.parametrize("rate", [16000, 22050])
def test_telephone_keeps_only_the_300_3400_hz_band(rate):
    x = white_noise(rate=rate)
    y = apply_channel("telephone", x, rate)
    assert y.shape == x.shape
    assert band_fraction(y, rate, 0, 200) < 1e-3
    assert band_fraction(y, rate, 4000, rate) < 1e-3
    # the pass band keeps most of its energy (mu-law adds ~ -38 dB of noise, the filters lose little)
    energy = lambda s: band_fraction(s, rate, 500, 3000) * np.sum(s.astype(np.float64) ** 2)  # noqa: E731
    assert 0.8 < energy(y) / energy(x) < 1.1


def test_telephone_needs_a_rate_above_the_band():
    with pytest.raises(ConfigError, match="above 6800 Hz"):
        apply_channel("telephone", white_noise(rate=6000), 6000)


@pytest.mark.parametrize("name,target_db", [("noise_snr20", 20.0), ("noise_snr10", 10.0), ("noise_snr5", 5.0), ("pink_snr-5", -5.0), ("white_snr2.5", 2.5)])
def test_noise_channel_hits_its_snr(name, target_db):
    t = np.arange(RATE) / RATE
    clean = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1250 * t)).astype(np.float32)
    for index in range(4):
        assert abs(snr_db(clean, apply_channel(name, clean, RATE, seed=3, index=index)) - target_db) < 0.5


def test_noise_colour_is_drawn_per_clip_and_fixed_by_name():
    clean = np.zeros(RATE, np.float32)
    clean[::100] = 0.5  # a click train: non-zero RMS, so the noise has a level

    def tilt(y):
        # low band (50-1000 Hz) over high band (4-8 kHz) energy: 0.24 for white, well above for pink
        return band_fraction(y - clean, RATE, 50, 1000) / band_fraction(y - clean, RATE, 4000, 8001)

    white = [tilt(apply_channel("white_snr10", clean, RATE, index=i)) for i in range(4)]
    pink = [tilt(apply_channel("pink_snr10", clean, RATE, index=i)) for i in range(4)]
    assert all(0.15 < w < 0.35 for w in white), white
    assert all(p > 0.6 for p in pink), pink
    mixed = [tilt(apply_channel("noise_snr10", clean, RATE, index=i)) for i in range(16)]
    assert sum(m < 0.35 for m in mixed) >= 3 and sum(m > 0.6 for m in mixed) >= 3, mixed


def decay_time_seconds(y, start, rate, drop_db=20.0):
    """Seconds after ``start`` until the energy still to come falls ``drop_db`` below its total."""
    remaining = np.cumsum((y[start:].astype(np.float64) ** 2)[::-1])[::-1]
    below = np.nonzero(remaining < remaining[0] * 10 ** (-drop_db / 10))[0]
    return below[0] / rate


def test_reverb_lengthens_an_impulses_decay():
    impulse = np.zeros(2 * RATE, np.float32)
    impulse[1600] = 0.5
    assert decay_time_seconds(impulse, 1600, RATE) == 1 / RATE  # a bare impulse is over at once
    for index in range(3):
        y = apply_channel("reverb", impulse, RATE, seed=0, index=index)
        assert y.shape == impulse.shape
        assert np.abs(y[:1600]).max() < 1e-6  # causal: nothing before the direct sound
        # RT60 0.3-0.6 s: the -20 dB point of the exponential tail is at RT60 / 3 = 0.1-0.2 s
        # (earlier by the direct sound's share of the energy)
        assert 0.05 < decay_time_seconds(y, 1600, RATE) < 0.2
        # length and RMS are kept
        assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(impulse**2)), rel=1e-4)


@pytest.mark.parametrize("name", ["mp3_24k", "telephone", "noise_snr10", "reverb"])
def test_deterministic_per_channel_seed_and_index(name):
    x = white_noise(0.5, seed=1)
    first = apply_channel(name, x, RATE, seed=7, index=2)
    np.testing.assert_array_equal(first, apply_channel(name, x, RATE, seed=7, index=2))
    np.testing.assert_array_equal(first, parse_channel(name)(x, RATE, seed=7, index=2))
    if name in ("noise_snr10", "reverb"):  # the random channels differ across seeds and clips
        assert not np.allclose(first, apply_channel(name, x, RATE, seed=8, index=2))
        assert not np.allclose(first, apply_channel(name, x, RATE, seed=7, index=3))


def test_global_random_state_is_untouched():
    state = np.random.get_state()[1].copy()
    apply_channel("noise_snr10", white_noise(0.2), RATE, seed=0)
    np.testing.assert_array_equal(state, np.random.get_state()[1])


def test_unknown_channel_lists_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        parse_channel("gsm")
    message = str(info.value)
    assert "'gsm'" in message
    for name in ("mp3_24k", "telephone", "noise_snr20", "noise_snr10", "reverb", "noise_snr<N>"):
        assert name in message
    with pytest.raises(ConfigError, match="valid channels"):
        parse_channels(["telephone", "noise_snrX"])
    with pytest.raises(ConfigError, match="SNR must be"):
        parse_channel("noise_snr500")
    with pytest.raises(ConfigError, match="bitrate must be"):
        parse_channel("mp3_2k")
    with pytest.raises(ConfigError, match="no channels"):
        parse_channels([])


def test_parse_channels_names_and_forms():
    channels = parse_channels(["mp3_24k,telephone", "Noise_SNR10.0", "noise_snr10", "reverb", "pink_snr-5"])
    assert [c.name for c in channels] == ["mp3_24k", "telephone", "noise_snr10", "reverb", "pink_snr-5"]
    assert [c.name for c in parse_channels("mp3_24k telephone")] == ["mp3_24k", "telephone"]
    assert [c.name for c in parse_channels(DEFAULT_CHANNELS)] == list(DEFAULT_CHANNELS)
    assert parse_channel("mp3_32k").description == "MP3 round trip at 32 kb/s CBR"
    assert parse_channel("noise_snr10").description == "additive white or pink (per clip) noise at 10 dB SNR"
    custom = Channel("halve", "half the level", lambda x, rate, rng: 0.5 * x)
    assert parse_channels([custom, "reverb"])[0] is custom
    np.testing.assert_array_equal(custom(np.ones(4, np.float32), RATE), np.full(4, 0.5, np.float32))


def test_input_forms():
    ints = (np.arange(800) % 200 * 100).astype(np.int16)
    out = apply_channel("noise_snr20", ints, RATE)
    assert out.dtype == np.float32 and abs(snr_db(ints / 32768.0, out) - 20) < 0.5
    assert apply_channel("reverb", np.zeros(0, np.float32), RATE).shape == (0,)
    with pytest.raises(InvalidAudioError, match="mono"):
        apply_channel("reverb", np.zeros((2, 100), np.float32), RATE)
