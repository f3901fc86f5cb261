"""Degradation channels (measured spectra, SNRs and decays, determinism, name parsing) and the
robustness evaluation, report and command line built on them."""

import json
import os

import numpy as np
import pytest
import soundfile as sf
from evaluation_data import make_dataset, write_clips

from wavguard import metrics as M
from wavguard.audio.channels import DEFAULT_CHANNELS, Channel, apply_channel, parse_channel, parse_channels
from wavguard.data import decode_audio
from wavguard.errors import ConfigError, InvalidAudioError
from wavguard.evaluation.evaluate import evaluate_channels, evaluate_detector, evaluate_scores
from wavguard.evaluation.report import format_ratio, write_report
from wavguard.evaluation.results import eer_ratio
from wavguard.testing import chirp, sine, tiny_detector

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RATE = 16000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    def energy(s):
        return band_fraction(s, rate, 500, 3000) * np.sum(s.astype(np.float64) ** 2)

    assert 0.8 < energy(y) / energy(x) < 1.1


def test_telephone_needs_a_rate_above_the_band():
    with pytest.raises(ConfigError, match="above 6800 Hz"):
        apply_channel("telephone", white_noise(rate=6000), 6000)


@pytest.mark.parametrize(
    "name,target_db",
    [("noise_snr20", 20.0), ("noise_snr10", 10.0), ("noise_snr5", 5.0), ("pink_snr-5", -5.0), ("white_snr2.5", 2.5)],
)
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


def test_reverb_drr_sets_the_rooms_direct_to_reverberant_ratio():
    from test_augment import direct_to_reverberant_db

    impulse = np.zeros(2 * RATE, np.float32)
    impulse[1600] = 0.5
    for index in range(3):
        # the plain reverb channel is a distant talker: the direct sound 10-14 dB under the room
        assert -15 < direct_to_reverberant_db(apply_channel("reverb", impulse, RATE, index=index), 1600) < -9
        for drr_db in (-5.0, 0.0, 10.0):
            y = apply_channel(f"reverb_drr{drr_db:g}", impulse, RATE, index=index)
            assert direct_to_reverberant_db(y, 1600) == pytest.approx(drr_db, abs=1e-3)
            assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(impulse**2)), rel=1e-4)
    channel = parse_channel("Reverb_DRR10.0")
    assert channel.name == "reverb_drr10"
    assert channel.description == "synthetic room impulse response, RT60 0.3-0.6 s, direct-to-reverberant ratio 10 dB"
    with pytest.raises(ConfigError, match="the direct-to-reverberant ratio must be -20 to 30 dB"):
        parse_channel("reverb_drr40")


@pytest.mark.parametrize("name", ["mp3_24k", "telephone", "noise_snr10", "reverb", "reverb_drr0"])
def test_deterministic_per_channel_seed_and_index(name):
    x = white_noise(0.5, seed=1)
    first = apply_channel(name, x, RATE, seed=7, index=2)
    np.testing.assert_array_equal(first, apply_channel(name, x, RATE, seed=7, index=2))
    np.testing.assert_array_equal(first, parse_channel(name)(x, RATE, seed=7, index=2))
    if name in ("noise_snr10", "reverb", "reverb_drr0"):  # the random channels differ across seeds and clips
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


# --- evaluation, report and command line under channels ---------------------------------------


@pytest.fixture(scope="module")
def detector():
    return tiny_detector("wav2vec2", seed=0, window_seconds=0.5)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return write_clips(tmp_path_factory.mktemp("clips"))  # 16 clips, some at 22.05 kHz


def expected_scores(detector, paths, name, seed, batch_size):
    """What Detector.predict says about each clip decoded at 16 kHz and sent through the channel."""
    channel = parse_channel(name)
    arrays = [channel(decode_audio(p, RATE), RATE, seed=seed, index=i) for i, p in enumerate(paths)]
    return np.array([p.score for p in detector.predict(arrays, sample_rate=RATE, batch_size=batch_size)])


def test_channel_scores_are_predict_on_degraded_clips(detector, clips):
    ds = make_dataset(clips)
    result = evaluate_detector(
        detector, ds, batch_size=4, bootstrap_resamples=0, channels=["noise_snr10", "telephone"], channel_seed=5
    )
    labels = np.array([r["label"] for r in clips])
    assert list(result.channels) == ["noise_snr10", "telephone"]
    rows = result.robustness()
    for row, (name, degraded) in zip(rows, result.channels.items()):
        expected = expected_scores(detector, [r["audio"] for r in clips], name, 5, 4)
        np.testing.assert_allclose(degraded.scores, expected, rtol=0, atol=1e-12)
        # degradation changed the scores, so this is not the clean pass again
        assert np.abs(degraded.scores - result.scores).max() > 1e-4
        eer = M.compute_eer(labels, expected)[0]
        assert degraded.metrics["eer"] == eer and degraded.rows.tolist() == list(range(16))
        assert list(degraded.groups) == ["attack", "speaker"]
        assert (degraded.channel, degraded.channel_seed) == (name, 5)
        assert row["channel"] == name and row["eer"] == eer and row["clean_eer"] == result.metrics["eer"]
        assert row["eer_ratio"] == pytest.approx(eer / result.metrics["eer"])
        assert row["roc_auc"] == pytest.approx(M.roc_auc(labels, expected))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["channels"]["telephone"]["metrics"]["eer"] == result.channels["telephone"].metrics["eer"]
    assert data["channels"]["telephone"]["channel_description"].startswith("300-3400 Hz")
    assert [r["channel"] for r in data["robustness"]] == ["noise_snr10", "telephone"]
    # the same seed gives the same degraded data set; another seed other noise
    again = evaluate_channels(detector, ds, ["noise_snr10"], channel_seed=5, batch_size=4, bootstrap_resamples=0)
    np.testing.assert_array_equal(again["noise_snr10"].scores, result.channels["noise_snr10"].scores)
    other = evaluate_channels(detector, ds, ["noise_snr10"], channel_seed=6, batch_size=4, bootstrap_resamples=0)
    assert np.abs(other["noise_snr10"].scores - result.channels["noise_snr10"].scores).max() > 1e-4


def test_failures_under_channels_and_bad_names(detector, clips, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really audio")
    rows = clips[:3] + [{"audio": str(broken), "label": 1, "attack": "A1", "speaker": "s0"}] + clips[-3:]
    result = evaluate_detector(detector, make_dataset(rows), bootstrap_resamples=0, channels="reverb")
    assert [f["row"] for f in result.failures] == [3]
    failure = result.channels["reverb"].failures
    assert [f["row"] for f in failure] == [3] and str(broken) in failure[0]["error"]
    assert result.channels["reverb"].labels.size == 6
    with pytest.raises(ConfigError, match="unknown channel 'gsm'.*mp3_24k, telephone"):
        evaluate_detector(detector, make_dataset(rows), channels=["telephone", "gsm"])


def test_eer_ratio():
    assert eer_ratio(0.3, 0.1) == pytest.approx(3.0)
    assert eer_ratio(0.0, 0.0) == 1.0 and eer_ratio(0.1, 0.0) == float("inf")
    assert eer_ratio(None, 0.1) is None and eer_ratio(0.1, None) is None


@pytest.fixture(scope="module")
def synthetic():
    """A clean result with two channel results, from made-up scores (no model)."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], [100, 100])

    def scored(separation, name=None):
        scores = 1 / (1 + np.exp(-(rng.normal(0.0, 1.0, 200) + separation * (2 * labels - 1))))
        result = evaluate_scores(labels, scores, name="synthetic", bootstrap_resamples=0)
        if name:
            channel = parse_channel(name)
            result.channel, result.channel_description, result.channel_seed = channel.name, channel.description, 0
        return result

    clean = scored(2.0)
    clean.channels = {"mp3_24k": scored(1.0, "mp3_24k"), "noise_snr10": scored(0.3, "noise_snr10")}
    return clean


def test_report_robustness_table_chart_and_json(synthetic, tmp_path):
    from matplotlib.image import imread

    text = write_report(synthetic, tmp_path).read_text()
    assert "## Robustness" in text and "![EER per channel](eer_per_channel.png)" in text
    clean_eer = synthetic.metrics["eer"]
    mp3 = synthetic.channels["mp3_24k"].metrics
    assert f"| clean | no degradation | {100 * clean_eer:.2f}% |" in text
    assert f"| mp3_24k | MP3 round trip at 24 kb/s CBR | {100 * mp3['eer']:.2f}% | {mp3['roc_auc']:.4g} |" in text
    assert f"| {mp3['eer'] / clean_eer:.2f} | 200 | 0 |" in text
    image = imread(tmp_path / "eer_per_channel.png")
    assert (tmp_path / "eer_per_channel.png").read_bytes()[:8] == PNG_SIGNATURE and image.shape[1] >= 300
    assert (image[..., :3].mean(axis=-1) < 0.3).mean() > 0.003  # axes and text drawn
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["channels"]["noise_snr10"]["metrics"]["eer"] == synthetic.channels["noise_snr10"].metrics["eer"]
    assert data["robustness"][0]["eer_ratio"] == pytest.approx(mp3["eer"] / clean_eer)
    # the noisier the channel, the worse: 0.3 separation is harder than 1.0, which is harder than 2.0
    assert clean_eer < mp3["eer"] < synthetic.channels["noise_snr10"].metrics["eer"]


def test_report_without_channels_has_no_robustness(tmp_path):
    plain = evaluate_scores([0, 1, 0, 1], [0.2, 0.7, 0.4, 0.9], bootstrap_resamples=0)
    text = write_report(plain, tmp_path).read_text()
    assert "Robustness" not in text and not (tmp_path / "eer_per_channel.png").exists()
    assert "channels" not in json.loads((tmp_path / "metrics.json").read_text())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """ROOT/real/*.wav (tones) and ROOT/fake/*.wav (chirps)."""
    root = tmp_path_factory.mktemp("data")
    (root / "real").mkdir()
    (root / "fake").mkdir()
    for i in range(5):
        sf.write(root / "real" / f"r{i}.wav", sine(0.5, frequency_hz=200 + 90 * i), RATE)
        sf.write(root / "fake" / f"f{i}.wav", chirp(0.5, f0_hz=150 + 40 * i), RATE)
    return root


def test_cli_evaluate_with_channels(detector, folder, tmp_path, capsys):
    from wavguard.cli import main
    from wavguard.data import load_any

    model = str(detector.save_pretrained(tmp_path / "model"))
    out = tmp_path / "report"
    argv = [
        "evaluate",
        model,
        "--data",
        str(folder),
        "--out",
        str(out),
        "--bootstrap",
        "0",
        "--batch-size",
        "4",
        "--channels",
        "mp3_24k",
        "telephone",
        "noise_snr10",
        "reverb",
        "--channel-seed",
        "3",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    data = json.loads((out / "metrics.json").read_text())
    clean = data["metrics"]["eer"]
    lines = [line for line in printed if ": EER " in line]
    assert [line.split(":")[0] for line in lines] == ["mp3_24k", "telephone", "noise_snr10", "reverb"]
    for line, row in zip(lines, data["robustness"]):
        ratio = format_ratio(eer_ratio(row["eer"], clean))
        assert line == f"{row['channel']}: EER {100 * row['eer']:.2f}% (clean {100 * clean:.2f}%, ratio {ratio})"
    # the telephone numbers are those of predict on the degraded clips, in the data set's row order
    paths = [cell["path"] for cell in load_any(str(folder))["audio"]]
    labels = np.array(load_any(str(folder))["label"])
    expected = expected_scores(detector, paths, "telephone", 3, 4)
    assert data["channels"]["telephone"]["metrics"]["eer"] == M.compute_eer(labels, expected)[0]
    assert (out / "eer_per_channel.png").is_file() and "## Robustness" in (out / "report.md").read_text()


def test_cli_unknown_channel_fails_before_loading_the_model(folder, tmp_path, capsys):
    from wavguard.cli import main

    code = main(
        [
            "evaluate",
            str(tmp_path / "no-model"),
            "--data",
            str(folder),
            "-o",
            str(tmp_path / "r"),
            "--channels",
            "telephone",
            "radio",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "unknown channel 'radio'" in err and "noise_snr10" in err and "no-model" not in err
