import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import soundfile as sf

from wavguard.audio import resample
from wavguard.errors import ConfigError
from wavguard.evaluation.audit import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    audit_dataset,
    audit_features,
    file_features,
)

RATE = 16000
PER_CLASS = 30


def clip(rng, rate=RATE):
    """Noise or a chirp with random length, level and band: the same generator for both classes."""
    seconds = rng.uniform(0.6, 1.2)
    t = np.arange(int(seconds * rate)) / rate
    if rng.random() < 0.5:
        f0, f1 = rng.uniform(100, 1000), rng.uniform(1000, 4000)
        x = np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / seconds * t * t))
    else:
        x = rng.standard_normal(t.shape[0])
        x = np.convolve(x, np.ones(int(rng.integers(1, 6))) / 3, mode="same")
    return (rng.uniform(0.05, 0.5) * x / np.abs(x).max()).astype(np.float32)


def write_folder(root, shortcut=None, seed=0):
    rng = np.random.default_rng(seed)
    pairs = []
    for label, name in ((0, "real"), (1, "fake")):
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            x, rate = clip(rng), RATE
            if label == 1 and shortcut == "leading_silence":
                x = np.concatenate([np.zeros(RATE // 2, np.float32), x])
            if label == 1 and shortcut == "sample_rate":
                rate = 22050
                x = clip(rng, rate)
            path = root / name / f"{i:03d}.wav"
            sf.write(path, x, rate)
            pairs.append((str(path), label))
    return pairs


def test_file_features_measure_what_they_say(tmp_path):
    x = np.concatenate([np.zeros(8000), 0.5 * np.ones(16000), np.zeros(4000)]).astype(np.float32)
    sf.write(tmp_path / "a.flac", x, RATE, subtype="PCM_24")
    f = file_features(str(tmp_path / "a.flac"))
    assert set(f) == set(NUMERIC_FEATURES) | set(CATEGORICAL_FEATURES)
    assert f["duration_seconds"] == pytest.approx(28000 / RATE)
    assert f["leading_silence_seconds"] == pytest.approx(0.5)
    assert f["trailing_silence_seconds"] == pytest.approx(0.25)
    assert f["zero_fraction"] == pytest.approx(12000 / 28000)
    assert f["peak"] == pytest.approx(0.5, abs=1e-6)
    assert f["rms_db"] == pytest.approx(20 * np.log10(0.5 * np.sqrt(16000 / 28000)), abs=1e-3)
    assert f["native_sample_rate_hz"] == "16000"
    assert f["container_codec"] == "FLAC/PCM_24"
    assert 0 <= f["rolloff_hz"] <= RATE / 2 and f["bandwidth_hz"] >= 0
    # 20 ms frames: 37 of 87 are digital silence (floored at -120 dB), the rest at 20 log10(0.5) dB
    assert f["noise_floor_db"] == pytest.approx(-120 - 20 * np.log10(0.5), abs=1e-3)


def test_bandwidth_features_of_a_sine_and_of_white_noise(tmp_path):
    t = np.arange(2 * RATE) / RATE
    sf.write(tmp_path / "sine.wav", (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), RATE, subtype="FLOAT")
    sine = file_features(str(tmp_path / "sine.wav"))
    assert sine["rolloff95_hz"] == pytest.approx(1000, abs=2 * RATE / 2048)  # within two FFT bins
    assert sine["energy_above_4khz_fraction"] < 1e-6
    noise = (0.1 * np.random.default_rng(0).standard_normal(2 * RATE)).astype(np.float32)
    sf.write(tmp_path / "noise.wav", noise, RATE, subtype="FLOAT")
    white = file_features(str(tmp_path / "noise.wav"))
    assert white["energy_above_4khz_fraction"] == pytest.approx(0.5, abs=0.02)
    assert white["rolloff95_hz"] == pytest.approx(0.95 * RATE / 2, abs=100)
    assert white["noise_floor_db"] == pytest.approx(0.0, abs=1.5)  # stationary: no quiet frames
    sf.write(tmp_path / "phone.wav", noise[::2], 8000, subtype="FLOAT")  # native 8 kHz
    assert file_features(str(tmp_path / "phone.wav"))["energy_above_4khz_fraction"] < 1e-4


def test_noise_floor_is_the_10th_percentile_frame_energy_below_the_median(tmp_path):
    frame = 320  # 20 ms at 16 kHz
    sign = np.where(np.arange(frame) % 2 == 0, 1.0, -1.0)  # constant power within a frame
    levels = [0.5] * 14 + [0.005] * 6  # 6 of 20 frames 40 dB down
    x = np.concatenate([a * sign for a in levels]).astype(np.float32)
    sf.write(tmp_path / "f.wav", x, RATE, subtype="FLOAT")
    assert file_features(str(tmp_path / "f.wav"))["noise_floor_db"] == pytest.approx(-40.0, abs=1e-4)


def _band_limited_folder(root, planted):
    """Coloured noise for both classes; with ``planted``, every fake went through an 8 kHz channel."""
    rng = np.random.default_rng(1)
    pairs = []
    for label, name in ((0, "real"), (1, "fake")):
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            x = rng.standard_normal(int(rng.uniform(0.6, 1.2) * RATE))
            x = np.convolve(x, np.ones(int(rng.integers(1, 3))), mode="same")
            if label == 1 and planted:
                x = resample(resample(x.astype(np.float32), RATE, 8000), 8000, RATE)
            x = rng.uniform(0.05, 0.5) * x / np.abs(x).max()
            sf.write(root / name / f"{i:03d}.wav", x.astype(np.float32), RATE)
            pairs.append((str(root / name / f"{i:03d}.wav"), label))
    return pairs


def test_planted_band_limited_class_is_flagged(tmp_path):
    report = audit_dataset(_band_limited_folder(tmp_path / "planted", planted=True))
    assert report.flagged and report.combined_auc > 0.9
    assert report.feature_auc["energy_above_4khz_fraction"] > 0.9
    assert report.feature_auc["rolloff95_hz"] > 0.9
    clean = audit_dataset(_band_limited_folder(tmp_path / "clean", planted=False))
    assert clean.feature_auc["energy_above_4khz_fraction"] < 0.7 and not clean.flagged


def test_audit_features_of_precomputed_rows_equals_audit_dataset(tmp_path):
    pairs = write_folder(tmp_path, "leading_silence")
    rows = [file_features(p) for p, _ in pairs]
    direct = audit_features(rows, [label for _, label in pairs])
    assert direct.to_dict() == audit_dataset(pairs).to_dict()
    with pytest.raises(ConfigError, match="labels"):
        audit_features(rows, [0, 1])


def test_file_features_from_bytes_equal_from_path(tmp_path):
    x = (0.1 * np.random.default_rng(0).standard_normal(RATE)).astype(np.float32)
    sf.write(tmp_path / "n.wav", x, RATE)
    assert file_features((tmp_path / "n.wav").read_bytes()) == file_features(str(tmp_path / "n.wav"))


def test_planted_leading_silence_is_flagged(tmp_path):
    report = audit_dataset(write_folder(tmp_path, "leading_silence"))
    assert report.flagged
    assert report.combined_auc > 0.9
    assert report.feature_auc["leading_silence_seconds"] > 0.9
    assert report.suspicious_features[0] in ("leading_silence_seconds", "zero_fraction")
    assert report.class_means["leading_silence_seconds"][1] - report.class_means["leading_silence_seconds"][
        0
    ] == pytest.approx(0.5, abs=0.01)
    assert (report.num_real, report.num_fake) == (PER_CLASS, PER_CLASS)
    assert "WARNING" in report.format()


def test_planted_sample_rate_is_flagged(tmp_path):
    report = audit_dataset(write_folder(tmp_path, "sample_rate"))
    assert report.flagged and report.combined_auc > 0.9
    assert report.feature_auc["native_sample_rate_hz"] > 0.99
    assert report.class_values["native_sample_rate_hz"] == {"16000": (PER_CLASS, 0), "22050": (0, PER_CLASS)}


def test_clean_data_is_not_flagged(tmp_path):
    report = audit_dataset(write_folder(tmp_path))
    assert not report.flagged
    assert report.combined_auc < 0.7
    assert max(report.feature_auc.values()) < 0.7
    assert report.feature_auc["container_codec"] == 0.5  # every file is WAV/PCM_16
    assert report.format().splitlines()[-1].startswith("ok: no shortcut found")
    data = report.to_dict()
    assert json.loads(json.dumps(data))["combined_auc"] == pytest.approx(report.combined_auc)


def test_datasets_input_with_embedded_bytes(tmp_path):
    datasets = pytest.importorskip("datasets")
    pairs = write_folder(tmp_path, "leading_silence")
    audio = [{"path": os.path.basename(p), "bytes": Path(p).read_bytes()} for p, _ in pairs]
    # from_dict(features=Audio) would call Audio.encode_example, which needs torchcodec; cast instead
    ds = datasets.Dataset.from_dict({"audio": audio, "label": [l for _, l in pairs]}).cast_column(
        "audio", datasets.Audio(decode=False)
    )
    from_ds = audit_dataset(ds)
    from_pairs = audit_dataset(pairs)
    assert from_ds.combined_auc == pytest.approx(from_pairs.combined_auc)
    assert from_ds.flagged


def test_undecodable_files_are_skipped_and_reported(tmp_path):
    pairs = write_folder(tmp_path)
    bad = tmp_path / "real" / "broken.wav"
    bad.write_bytes(b"not audio at all")
    report = audit_dataset(pairs + [(str(bad), 0)])
    assert report.num_real == PER_CLASS
    assert report.skipped and report.skipped[0][0] == str(bad)


@pytest.mark.parametrize(
    "data, match",
    [
        ([("a.wav", 2)], "labels must be 0"),
        (["a.wav"], "pairs"),
    ],
)
def test_bad_input_is_a_config_error(data, match):
    with pytest.raises(ConfigError, match=match):
        audit_dataset(data)


def test_one_class_only_is_a_config_error(tmp_path):
    pairs = [p for p in write_folder(tmp_path) if p[1] == 0]
    with pytest.raises(ConfigError, match="2 decodable files per class"):
        audit_dataset(pairs)


def test_missing_column_is_named():
    datasets = pytest.importorskip("datasets")
    with pytest.raises(ConfigError, match="label"):
        audit_dataset(datasets.Dataset.from_dict({"audio": ["a.wav"]}))


@pytest.fixture
def load_any_calls(monkeypatch):
    """Record the sources the CLI hands to load_any."""
    import wavguard.data as data

    real, calls = data.load_any, []

    def load_any(source, split=None):
        calls.append(str(source))
        return real(source, split)

    monkeypatch.setattr(data, "load_any", load_any)
    return calls


def test_cli_exit_status_and_json(tmp_path, capsys, load_any_calls):
    from wavguard.cli import main

    clean, shortcut = tmp_path / "clean", tmp_path / "shortcut"
    write_folder(clean)
    write_folder(shortcut, "leading_silence")
    assert main(["audit", "--data", str(clean)]) == 0
    assert "ok: no shortcut found" in capsys.readouterr().out
    assert main(["audit", "--data", str(shortcut), "--json", "--sample-rate", "8000"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["flagged"] is True and report["combined_auc"] > 0.9
    assert load_any_calls == [str(clean), str(shortcut)]
    assert main(["audit", "--data", str(tmp_path / "missing")]) == 2  # ConfigError: usage
