"""Config bounds (issue 27, item 3): a config is input, and what it may ask for is bounded.

* ``head_channels: [100000, 100000]`` (about 200 GB of weights) and every other size past its
  ``MAX_*`` bound is a ConfigError naming the setting, before any model is built;
* a ``config.json`` nested deeper than Python's recursion limit is a ModelLoadError, not a raw
  RecursionError, from Python and from the CLI (exit 1 as for invalid JSON, no traceback); a deep
  recipe is a ConfigError.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from wavguard import Detector
from wavguard import config as config_mod
from wavguard.cli import main
from wavguard.config import DetectorConfig
from wavguard.detector import build_baseline_detector
from wavguard.errors import ConfigError, ModelLoadError
from wavguard.training import TrainConfig

#: (changes, words the message must hold)
TOO_LARGE = [
    ({"head_channels": [100000, 100000]}, "head_channels[0] = 100,000 is more than the 4,096"),
    ({"head_channels": [8] * 17}, "len(head_channels) = 17 is more than the 16"),
    ({"head_kernel_size": 65}, "head_kernel_size = 65 is more than the 63"),
    ({"head_channels": [4096, 4096], "head_kernel_size": 63}, "the head's conv weights"),
    ({"num_layers": 10**9}, "num_layers = 1,000,000,000 is more than the 128"),
    ({"window_seconds": 86400.0}, "window_seconds = 86,400 s is more than the 600 s"),
    ({"sample_rate_hz": 10**9}, "sample_rate_hz must be in 1000-768000 Hz"),
    ({"kind": "spectrogram", "spectrogram": {"channels": [100000, 100000]}}, "spectrogram.channels[0] = 100,000"),
    ({"kind": "spectrogram", "spectrogram": {"channels": [16] * 20}}, "len(spectrogram.channels) = 20"),
    (
        {"kind": "spectrogram", "spectrogram": {"channels": [2048, 2048, 2048], "kernel_size": 31}},
        "the spectrogram CNN's conv weights",
    ),
    ({"kind": "spectrogram", "spectrogram": {"kernel_size": 101}}, "spectrogram.kernel_size = 101"),
    ({"kind": "spectrogram", "spectrogram": {"n_filters": 100000}}, "spectrogram.n_filters = 100,000"),
    (
        {"kind": "spectrogram", "spectrogram": {"window_seconds": 10.0}},
        "spectrogram.window_seconds x sample_rate_hz = 160,000 samples is more than the 8,192 samples",
    ),
]


@pytest.fixture(autouse=True)
def no_model_is_built(monkeypatch):
    """A refused size must fail before a weight is allocated: building a conv layer here is a bug
    (and, were the bound gone, an attempt to allocate hundreds of GB)."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("a conv layer was built from a config past its bounds")

    for layer in (torch.nn.Conv1d, torch.nn.Conv2d):
        monkeypatch.setattr(layer, "__init__", refuse)


@pytest.mark.parametrize(
    "changes, words", TOO_LARGE, ids=[next(iter(c)) + str(i) for i, (c, _) in enumerate(TOO_LARGE)]
)
def test_sizes_past_their_bound_are_config_errors(changes, words):
    with pytest.raises(ConfigError) as info:
        DetectorConfig(**changes)
    assert words in str(info.value)
    if "more than" in words:
        assert "default" in str(info.value)


def test_the_bounds_leave_room_above_every_default():
    cfg = DetectorConfig(
        head_channels=(4096,), head_kernel_size=5, num_layers=48, window_seconds=600.0, sample_rate_hz=768_000
    )
    assert cfg.head_channels == (4096,)
    DetectorConfig(head_channels=(1024,) * 16, head_kernel_size=3)
    DetectorConfig(
        kind="spectrogram",
        spectrogram={"channels": [64, 128, 128, 256], "kernel_size": 5, "n_filters": 256, "window_seconds": 0.064},
    )
    assert config_mod.SAMPLE_RATE_RANGE_HZ == (1_000, 768_000)


def test_the_sample_rate_range_is_the_decoders():
    from wavguard.audio import decode

    assert config_mod.SAMPLE_RATE_RANGE_HZ == (decode.MIN_SAMPLE_RATE_HZ, decode.MAX_SAMPLE_RATE_HZ)


def test_deep_metadata_is_refused():
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(ConfigError, match="extra is nested more than 32 levels deep"):
        DetectorConfig(extra=deep)
    DetectorConfig(extra={"training": {"train_data": [{"source": "a", "split": "train"}]}})


@pytest.fixture(scope="module")
def saved_once(tmp_path_factory):
    """Built before the function-scoped guard above is in place."""
    return build_baseline_detector(window_seconds=1.0).save_pretrained(tmp_path_factory.mktemp("det") / "det")


@pytest.fixture()
def saved(saved_once, tmp_path):
    return Path(shutil.copytree(saved_once, tmp_path / "det"))


def _rewrite(directory: Path, text: str) -> Path:
    path = directory / "config.json"
    path.write_text(text)
    return path


def _with_deep_extra(directory: Path, depth: int) -> Path:
    data = json.loads((directory / "config.json").read_text())
    text = json.dumps({k: v for k, v in data.items() if k != "extra"})
    return _rewrite(directory, text[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}")


@pytest.mark.parametrize("depth", [100_000, 40])
def test_deeply_nested_config_json_is_a_model_load_error(saved, depth):
    path = _with_deep_extra(saved, depth)
    with pytest.raises(ModelLoadError, match=f"{path}: nested") as info:
        DetectorConfig.load(saved)
    assert "32 levels" in str(info.value)
    with pytest.raises(ModelLoadError):
        Detector.from_pretrained(saved)


def test_cli_reports_a_deep_config_json_as_a_load_error_without_traceback(saved, tmp_path, capsys):
    import soundfile as sf

    from wavguard.testing import chirp

    clip = tmp_path / "clip.wav"
    sf.write(clip, chirp(1.5), 16000)
    _with_deep_extra(saved, 100_000)
    assert main(["predict", str(saved), "--data", str(clip)]) == 1  # a ModelLoadError, as for invalid JSON
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and "RecursionError" not in err
    assert err.startswith("wavguard: error: ") and "nested too deeply" in err


def test_huge_head_channels_in_config_json_fail_before_any_allocation(saved, tmp_path, capsys):
    data = json.loads((saved / "config.json").read_text())
    data.update(kind="transformer", backbone="facebook/wav2vec2-base", head_channels=[100000, 100000])
    path = _rewrite(saved, json.dumps(data))
    with pytest.raises(ConfigError, match=r"head_channels\[0\] = 100,000") as info:
        Detector.from_pretrained(saved)
    assert str(path) in str(info.value)
    assert main(["predict", str(saved), "--data", str(tmp_path / "any.wav")]) == 2
    assert "head_channels[0] = 100,000" in capsys.readouterr().err


def test_deep_recipe_yaml_is_a_config_error(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("train_data: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        TrainConfig.from_yaml(recipe)
