import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from wavguard.audio.denoise import DENOISE_DEFAULTS, denoise_from_config, noise_power_spectrum, spectral_subtraction
from wavguard.config import DetectorConfig
from wavguard.errors import ConfigError
from wavguard.testing import chirp, sine

RATE = 16000


def snr_db(clean, x):
    return 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum((x - clean).astype(np.float64) ** 2))


def gated_sine(seconds=3):
    """A 1 kHz tone, on for the first half of each second: the off halves show the noise alone."""
    clean = sine(float(seconds), frequency_hz=1000.0)
    gate = (np.arange(clean.shape[0]) % RATE) < RATE // 2
    return clean * gate


def white(n, scale, seed=0):
    return (scale * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def test_snr_improves_by_at_least_6_db_on_a_noisy_gated_sine():
    clean = gated_sine()
    noisy = clean + white(clean.shape[0], 0.1)
    before = snr_db(clean, noisy)
    after = snr_db(clean, spectral_subtraction(noisy, RATE))
    assert before == pytest.approx(3.5, abs=0.5)
    assert after - before > 6.0  # measured: 8.3 dB


def test_over_subtraction_trades_more_noise_removal():
    clean = gated_sine()
    noisy = clean + white(clean.shape[0], 0.1)
    gains = [snr_db(clean, spectral_subtraction(noisy, RATE, over_subtraction=a)) for a in (1.0, 2.0, 4.0)]
    assert gains[0] < gains[1] < gains[2]


def test_snr_improves_on_a_chirp_with_a_separate_noise_clip():
    clean = chirp(2.0)
    noisy = clean + white(clean.shape[0], 0.1, seed=1)
    noise_only = white(RATE, 0.1, seed=2)  # another stretch of the same noise
    before = snr_db(clean, noisy)
    after = snr_db(clean, spectral_subtraction(noisy, RATE, noise=noise_only))
    assert after - before > 6.0  # measured: 9 dB


def test_no_subtraction_and_0db_floor_reconstructs_the_input():
    x = chirp(1.0)
    y = spectral_subtraction(x, RATE, over_subtraction=0.0, floor_db=0.0)
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_floor_limits_attenuation_of_pure_noise():
    noise = white(2 * RATE, 0.1)
    y = spectral_subtraction(noise, RATE, over_subtraction=10.0, floor_db=-20.0, noise_quantile=1.0)
    # every bin keeps exactly the floor: output power is -20 dB of the input's
    ratio_db = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert ratio_db == pytest.approx(-20.0, abs=0.5)


@pytest.mark.parametrize("n", [0, 1, 100, RATE])
def test_silence_and_short_input_stay_finite(n):
    y = spectral_subtraction(np.zeros(n, np.float32), RATE)
    assert y.shape == (n,) and y.dtype == np.float32
    assert np.all(y == 0.0)
    short = spectral_subtraction(white(n, 0.1), RATE)
    assert short.shape == (n,) and np.all(np.isfinite(short))


def test_noise_power_spectrum_of_white_noise_is_flat_at_its_variance():
    noise = white(4 * RATE, 0.1)
    power = noise_power_spectrum(noise, RATE)
    frame = round(0.032 * RATE)
    assert power.shape == (frame // 2 + 1,)
    # Hann-windowed periodogram of white noise: sigma^2 * sum(w^2) per bin
    expected = 0.01 * np.sum(np.hanning(frame + 1)[:-1] ** 2)
    assert np.median(power[5:-5]) == pytest.approx(expected, rel=0.1)


def test_config_round_trip_and_same_output(tmp_path):
    settings = {"method": "spectral_subtraction", "over_subtraction": 3.0, "floor_db": -15.0}
    cfg = DetectorConfig(denoise=settings)
    cfg.save(tmp_path)
    loaded = DetectorConfig.load(tmp_path)
    assert loaded.denoise == settings
    noisy = gated_sine(1) + white(RATE, 0.05)
    expected = spectral_subtraction(noisy, RATE, over_subtraction=3.0, floor_db=-15.0)
    np.testing.assert_array_equal(denoise_from_config(noisy, RATE, loaded.denoise), expected)
    np.testing.assert_array_equal(denoise_from_config(noisy, RATE, {}), spectral_subtraction(noisy, RATE))
    assert set(DENOISE_DEFAULTS) >= set(settings)


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({"method": "wiener"}, "method"),
        ({"overdrive": 2}, "unknown denoise settings"),
        ({"floor_db": 6.0}, "floor_db"),
        ({"over_subtraction": -1.0}, "over_subtraction"),
        ({"noise_quantile": 0.0}, "noise_quantile"),
        ({"frame_seconds": 0.01, "hop_seconds": 0.008}, "hop_seconds"),
        ({"block_seconds": 0}, "block_seconds"),
    ],
)
def test_bad_settings_are_config_errors(cfg, match):
    with pytest.raises(ConfigError, match=match):
        denoise_from_config(sine(0.5), RATE, cfg)


def test_long_audio_is_denoised_in_fixed_blocks_each_with_its_own_noise_estimate():
    noisy = np.concatenate([gated_sine(3) + white(3 * RATE, 0.02), gated_sine(3) + white(3 * RATE, 0.2, seed=1)])
    out = denoise_from_config(noisy, RATE, {"block_seconds": 2.0})
    blocks = [spectral_subtraction(noisy[i : i + 2 * RATE], RATE) for i in range(0, 6 * RATE, 2 * RATE)]
    np.testing.assert_array_equal(out, np.concatenate(blocks))
    # the default block (5 s) covers a 1 s clip whole
    np.testing.assert_array_equal(denoise_from_config(noisy[:RATE], RATE, {}), spectral_subtraction(noisy[:RATE], RATE))


def test_block_denoiser_gives_the_same_samples_for_any_piece_sizes():
    from wavguard.audio.denoise import BlockDenoiser

    noisy = gated_sine(7) + white(7 * RATE, 0.05)
    whole = denoise_from_config(noisy, RATE, {"block_seconds": 2.5})
    rng = np.random.default_rng(3)
    cuts = np.sort(rng.choice(np.arange(1, noisy.shape[0]), size=40, replace=False))
    denoiser = BlockDenoiser(RATE, {"block_seconds": 2.5})
    pieces = [denoiser.push(piece) for piece in np.split(noisy, cuts)] + [denoiser.flush()]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    assert denoiser.flush().shape == (0,)


def test_detector_denoises_files_arrays_streams_and_training_clips_alike(tmp_path):
    """A 12 s file is decoded in 5 s blocks, a stream arrives in odd chunks, training takes the
    whole clip: the same denoised samples, so the same scores."""
    import soundfile as sf

    from wavguard.detector import build_baseline_detector

    det = build_baseline_detector("lfcc", window_seconds=1.0, denoise={"over_subtraction": 3.0, "block_seconds": 3.0})
    noisy = gated_sine(12) + white(12 * RATE, 0.05)
    sf.write(tmp_path / "noisy.wav", noisy, RATE, subtype="FLOAT")
    from_file = det.predict(str(tmp_path / "noisy.wav"))
    from_array = det.predict(noisy, sample_rate=RATE)
    stream = det.stream(sample_rate=RATE)
    for piece in np.array_split(noisy, 37):
        stream.push(piece)
    from_stream = stream.close()
    windows = [w.score for w in from_array.segments]
    assert len(windows) == 12
    np.testing.assert_allclose([w.score for w in from_file.segments], windows, atol=1e-6)
    np.testing.assert_allclose([w.score for w in from_stream.segments], windows, atol=1e-6)
    # training's whole-clip preprocessing: the same samples as the block-wise inference path
    np.testing.assert_array_equal(det.pipeline.preprocess(noisy), denoise_from_config(noisy, RATE, det.config.denoise))
