"""TrainConfig: validation, YAML recipes and key=value overrides."""

from __future__ import annotations

import pytest

from wavguard.errors import ConfigError
from wavguard.training.config import TrainConfig
from wavguard.training.overrides import apply_overrides, resolve_callable

BASE = dict(train_data="data/", backbone="facebook/wav2vec2-base")


def test_defaults_and_overrides_are_typed():
    cfg = TrainConfig(**BASE).with_overrides(
        [
            "epochs=3",
            "head_learning_rate=1e-3",
            "mode=lora",
            "lora_target_modules=[q_proj, v_proj]",
            "detector.window_seconds=2",
            "class_weights=[1, 3]",
            "early_stopping_patience=null",
            "mixed_precision=no",
        ]
    )
    assert cfg.epochs == 3 and isinstance(cfg.epochs, int)
    assert cfg.head_learning_rate == 0.001 and isinstance(cfg.head_learning_rate, float)  # YAML reads 1e-3 as text
    assert cfg.lora_target_modules == ("q_proj", "v_proj")
    assert cfg.detector == {"window_seconds": 2}
    assert cfg.class_weights == (1.0, 3.0)
    assert cfg.early_stopping_patience is None and cfg.mixed_precision == "no"


def test_yaml_round_trip(tmp_path):
    cfg = TrainConfig(**BASE, mode="full", epochs=2, detector={"head_channels": [8, 8]})
    path = cfg.save(tmp_path / "r.yaml")
    again = TrainConfig.from_yaml(path, ["batch_size=4"])
    assert again.mode == "full" and again.epochs == 2 and again.batch_size == 4
    assert again.detector == {"head_channels": [8, 8]}
    assert TrainConfig.from_yaml(path) == cfg


@pytest.mark.parametrize(
    "change, message",
    [
        ({"mode": "partial"}, "mode must be one of"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"crop_seconds": 0}, "crop_seconds must be positive"),
        ({"balance": "undersample"}, "balance must be one of"),
        ({"warmup_ratio": 1.5}, "warmup_ratio must be in"),
        ({"layer_weights_learning_rate": 0.0}, "layer_weights_learning_rate must be positive"),
        ({"class_weights": (1.0, -1.0)}, "class_weights must be two positive"),
        ({"detector": {"freeze": "none"}}, "training-owned"),
        ({"detector": {"head_chanels": [8]}}, "unknown"),
        ({"train_data": None}, "train_data is required"),
        ({"backbone": ""}, "backbone is required"),
    ],
)
def test_invalid_settings_name_the_setting(change, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{**BASE, **change})


def test_bad_recipes_and_overrides(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("train_data: d\nbackbone: b\nepoch: 3\n")
    with pytest.raises(ConfigError, match=r"r\.yaml: unknown training settings \['epoch'\]"):
        TrainConfig.from_yaml(path)
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["epochs"])
    with pytest.raises(ConfigError, match="expected int"):
        TrainConfig(**BASE).with_overrides(["epochs=2.5"])
    with pytest.raises(ConfigError, match="not found"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")


def test_augment_resolves_import_paths():
    import math

    assert resolve_callable("math:sqrt") is math.sqrt
    assert resolve_callable("math.sqrt") is math.sqrt
    cfg = TrainConfig(**BASE, augment="math:sqrt")
    assert cfg.augment_fn is math.sqrt and not cfg.uses_feature_cache
    with pytest.raises(ConfigError, match="cannot import"):
        resolve_callable("math:nope")
