"""DetectorConfig validates every field's type and range (issue 17, item 3): a bad value is a
ConfigError naming the field and the value, from a dict, from config.json on disk and in the CLI;
a score is never NaN."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from wavguard import Detector
from wavguard.cli import main
from wavguard.config import DetectorConfig
from wavguard.detector import build_baseline_detector
from wavguard.errors import ConfigError, InvalidAudioError
from wavguard.testing import chirp

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "release_0_1_0"

#: (field, bad value, words the message must hold besides the field name)
BAD_VALUES = [
    ("calibration_scale", math.nan, "finite"),
    ("calibration_scale", math.inf, "finite"),
    ("calibration_bias", -math.inf, "finite"),
    ("threshold", "0.5", "number"),
    ("threshold", math.nan, "finite"),
    ("threshold", 1.5, "[0, 1]"),
    ("threshold", None, "number"),
    ("sample_rate_hz", "16000", "whole number"),
    ("sample_rate_hz", 0, "positive"),
    ("sample_rate_hz", -16000, "positive"),
    ("sample_rate_hz", 16000.5, "whole number"),
    ("head_channels", "abc", "list"),
    ("head_channels", [-4], "positive"),
    ("head_channels", [], "at least one"),
    ("head_channels", [8, "x"], "whole numbers"),
    ("head_channels", [True], "whole numbers"),
    ("head_kernel_size", 4, "odd"),
    ("head_dropout", 1.0, "[0, 1)"),
    ("window_seconds", None, "number"),
    ("window_seconds", -1.0, "positive"),
    ("window_seconds", 0, "positive"),
    ("window_seconds", 1e-9, "one sample"),
    ("hop_seconds", -0.5, "hop_seconds"),
    ("hop_seconds", 5.0, "window_seconds"),
    ("hop_seconds", "1", "number"),
    ("aggregation", "median", "one of"),
    ("aggregation", None, "string"),
    ("top_k", 0, "at least 1"),
    ("top_k", 2.5, "whole number"),
    ("num_layers", 0, "at least 1"),
    ("layer_norm", "yes", "true or false"),
    ("normalize", 1, "true or false"),
    ("kind", "cnn", "one of"),
    ("freeze", "some", "one of"),
    ("head_pooling", "min", "one of"),
    ("head_activation", "tanh", "one of"),
    ("labels", ["fake", "real"], "index 1 is FAKE"),
    ("denoise", "on", "mapping"),
    ("metrics", None, "mapping"),
    ("backbone", 42, "string"),
]


@pytest.mark.parametrize("field,value,words", BAD_VALUES, ids=[f"{f}={v!r}" for f, v, _ in BAD_VALUES])
def test_from_dict_names_the_field_and_value(field, value, words):
    data = DetectorConfig().to_dict()
    data[field] = value
    with pytest.raises(ConfigError) as info:
        DetectorConfig.from_dict(data)
    message = str(info.value)
    assert field in message and words in message
    shown = repr(value) if not isinstance(value, list) else str(value)
    assert shown in message or str(value) in message


def test_valid_values_are_normalised():
    cfg = DetectorConfig.from_dict(
        {
            "sample_rate_hz": 16000.0,
            "window_seconds": 2,
            "head_channels": [np.int64(8), 4.0],
            "threshold": 1,
            "top_k": np.int32(2),
        }
    )
    assert cfg.sample_rate_hz == 16000 and type(cfg.sample_rate_hz) is int
    assert cfg.window_seconds == 2.0 and type(cfg.window_seconds) is float
    assert cfg.head_channels == (8, 4) and all(type(c) is int for c in cfg.head_channels)
    assert cfg.threshold == 1.0 and cfg.top_k == 2
    with pytest.raises(ConfigError, match="calibration_scale"):
        cfg.replace(calibration_scale=math.nan)


@pytest.mark.parametrize("name", ["spectrogram_lfcc", "wav2vec2", "wav2vec2_lora"])
def test_detectors_saved_by_0_1_0_still_validate(name):
    data = json.loads((FIXTURES / name / "config.json").read_text())
    assert DetectorConfig.from_dict(data).to_dict()["head_channels"] == data["head_channels"]


@pytest.fixture()
def saved(tmp_path):
    return build_baseline_detector(window_seconds=1.0).save_pretrained(tmp_path / "det")


def _edit(directory: Path, raw_text: str | None = None, **changes) -> Path:
    path = directory / "config.json"
    if raw_text is not None:
        path.write_text(raw_text)
        return path
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))  # json writes NaN/Infinity as Python's json reads them
    return path


@pytest.mark.parametrize(
    "changes",
    [
        {"calibration_scale": math.nan},
        {"threshold": "0.5"},
        {"sample_rate_hz": "16000"},
        {"window_seconds": None},
        {"head_channels": "abc"},
        {"aggregation": "median"},
        {"hop_seconds": -1},
    ],
    ids=lambda c: next(iter(c)),
)
def test_config_json_on_disk_names_the_file_and_field(saved, changes):
    path = _edit(saved, **changes)
    field = next(iter(changes))
    with pytest.raises(ConfigError) as info:
        Detector.from_pretrained(saved)
    assert str(path) in str(info.value) and field in str(info.value)


def test_unreadable_or_broken_config_json_is_a_model_load_error(saved):
    from wavguard.errors import ModelLoadError

    _edit(saved, raw_text="{not json")
    with pytest.raises(ModelLoadError, match="config.json: not valid JSON"):
        Detector.from_pretrained(saved)
    (saved / "config.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(ModelLoadError, match="config.json"):
        Detector.from_pretrained(saved)


def test_cli_reports_a_bad_config_with_exit_2_and_no_traceback(saved, tmp_path, capsys):
    import soundfile as sf

    clip = tmp_path / "clip.wav"
    sf.write(clip, chirp(1.5), 16000)
    _edit(saved, calibration_scale=math.nan)
    assert main(["predict", str(saved), "--data", str(clip)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.startswith("wavguard: error: ") and "calibration_scale must be a finite number, got nan" in err
    assert str(saved / "config.json") in err


def test_cli_never_prints_nan(saved, tmp_path, capsys):
    import soundfile as sf

    clip = tmp_path / "clip.wav"
    sf.write(clip, chirp(1.5), 16000)
    _edit(saved, calibration_scale=1e308, calibration_bias=-1e308)  # finite, extreme: saturates, never NaN
    assert main(["predict", str(saved), "--data", str(clip)]) == 0
    score, label, _ = capsys.readouterr().out.split("\t")
    assert float(score) in (0.0, 1.0) and label in ("real", "fake")


def test_predict_never_returns_a_nan_score():
    det = build_baseline_detector(window_seconds=1.0)
    good = chirp(1.5)
    huge = (good / np.abs(good).max() * 3e38).astype(np.float32)  # finite samples the network overflows on
    results = det.predict([good, huge, good], sample_rate=16000, on_error="return")
    assert results[0].ok and results[2].ok and results[0].score == pytest.approx(results[2].score)
    assert not results[1].ok and isinstance(results[1].error, InvalidAudioError)
    assert "far outside the [-1, 1] full scale" in str(results[1].error)  # refused when decoded (issue 27)
    assert all(math.isfinite(r.score) for r in results if r.ok)
    with pytest.raises(InvalidAudioError, match="scale float samples to"):
        det.predict(huge, sample_rate=16000)
