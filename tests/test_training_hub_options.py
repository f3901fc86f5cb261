"""The training options of transformers' audio-classification example (issue 26, item 7), on the
spectrogram CNN (no backbone: fast):

* ``audio_column``, ``label_column`` and ``label_mapping`` read a data set with its own column names
  and label values (here ``speech`` and ``is_spoof`` holding "bonafide"/"spoof"); training,
  validation and the test sources read it the same way, from a recipe or ``key=value`` overrides;
* a label value the mapping leaves out is an error naming the column and the values seen, before
  any training;
* ``push_to_hub`` publishes the best detector with its model card at the end of training (the Hub
  is mocked); without ``hub_model_id`` it is refused before training;
* ``train_config.yaml`` records the mixed precision actually used (see also
  ``test_training_accelerate.py``: bf16 from accelerate's environment).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from _train_fixtures import make_hub_folder

pytest.importorskip("accelerate")

from wavguard.cli import main  # noqa: E402
from wavguard.detector import Detector, build_baseline_detector  # noqa: E402
from wavguard.errors import ConfigError, WavguardError  # noqa: E402
from wavguard.testing import chirp  # noqa: E402
from wavguard.training import TrainConfig, train  # noqa: E402
from wavguard.training.data import load_sources  # noqa: E402
from wavguard.training.finish import push_best  # noqa: E402

MAPPING = {"bonafide": 0, "spoof": 1}
COLUMNS = {"audio_column": "speech", "label_column": "is_spoof", "label_mapping": MAPPING}


@pytest.fixture(scope="module")
def speech_data(tmp_path_factory) -> Path:
    """A folder in the Hub layout (train and test splits, 4 clips a class each) whose audio column is
    ``speech`` and whose labels are the strings "bonafide"/"spoof" in ``is_spoof``."""
    root = tmp_path_factory.mktemp("columns") / "speech_data"
    return make_hub_folder(root, audio_column="speech", label_column="is_spoof", label_values=("bonafide", "spoof"))


def _settings(data: Path, out: Path, **extra) -> dict:
    return {
        "train_data": {"source": str(data), "split": "train"},
        "validation_data": {"source": str(data), "split": "test"},
        "kind": "spectrogram",
        "mode": "full",
        "epochs": 1,
        "batch_size": 4,
        "crop_seconds": 0.5,
        "detector": {"window_seconds": 0.5},
        "warmup_ratio": 0.0,
        "early_stopping_patience": None,
        "mixed_precision": None,
        "output_dir": str(out),
        **extra,
    }


def test_the_mapping_decides_the_labels(speech_data):
    """The mapping, not the usual label names, says which value is fake: a reversed mapping reverses the labels."""
    spec = {"source": str(speech_data), "split": "train"}
    labels = np.asarray(load_sources(spec, None, **COLUMNS)["label"])
    assert sorted(labels.tolist()) == [0, 0, 0, 0, 1, 1, 1, 1]
    reversed_labels = load_sources(
        spec, None, audio_column="speech", label_column="is_spoof", label_mapping={"bonafide": "fake", "spoof": "real"}
    )["label"]
    np.testing.assert_array_equal(np.asarray(reversed_labels), 1 - labels)


def test_named_columns_train_validate_and_test_through_cli_overrides(speech_data, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    settings = _settings(speech_data, tmp_path / "run", test_data={"source": str(speech_data), "split": "test"})
    recipe.write_text(yaml.safe_dump(settings))
    overrides = ["audio_column=speech", "label_column=is_spoof", "label_mapping={bonafide: 0, spoof: 1}"]
    assert main(["train", str(recipe), *overrides]) == 0
    assert "test " in capsys.readouterr().out
    out = tmp_path / "run"
    saved = yaml.safe_load((out / "train_config.yaml").read_text())
    assert {k: saved[k] for k in COLUMNS} == COLUMNS
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("val_eer" in r for r in records)
    tested = [r for r in records if "test" in r]
    assert len(tested) == 1 and tested[0]["num_clips"] == 8
    assert any(key.startswith("test_eer[") for key in Detector.from_pretrained(out / "best").config.metrics)


def test_a_value_the_mapping_leaves_out_is_refused_before_training(speech_data, tmp_path, capsys):
    cfg = TrainConfig(
        **_settings(speech_data, tmp_path / "run"),
        audio_column="speech",
        label_column="is_spoof",
        label_mapping={"bonafide": 0},
    )
    with pytest.raises(ConfigError, match=r"'is_spoof'") as caught:
        train(cfg, progress=False)
    message = str(caught.value)
    assert "'spoof'" in message and "'bonafide'" in message and "label_mapping" in message
    assert not (tmp_path / "run" / "best").exists()
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_settings(speech_data, tmp_path / "cli")))
    assert (
        main(["train", str(recipe), "audio_column=speech", "label_column=is_spoof", "label_mapping={bonafide: 0}"]) == 2
    )
    err = capsys.readouterr().err
    assert "is_spoof" in err and "spoof" in err and "Traceback" not in err


def test_a_wrong_column_name_is_named(speech_data, tmp_path):
    cfg = TrainConfig(**_settings(speech_data, tmp_path / "run"), audio_column="speech", label_column="label_typo")
    with pytest.raises(ConfigError, match=r"label_typo.*is_spoof"):
        train(cfg, progress=False)


@pytest.mark.parametrize(
    "mapping, problem",
    [
        ({"bonafide": 0, "spoof": 2}, "spoof"),
        ({"bonafide": "maybe"}, "maybe"),
        ({}, "empty"),
    ],
)
def test_label_mapping_targets_are_checked_when_the_config_is_built(speech_data, tmp_path, mapping, problem):
    with pytest.raises(ConfigError, match="label_mapping") as caught:
        TrainConfig(**_settings(speech_data, tmp_path / "run"), label_mapping=mapping)
    assert problem in str(caught.value)


def _mock_hub(monkeypatch, tmp_path: Path, fail: bool = False) -> dict:
    """HfApi.create_repo and upload_folder replaced: the upload copies the staged folder to ``tmp_path/uploaded``."""
    import huggingface_hub

    calls: dict = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create"] = (repo_id, kwargs)

    def upload_folder(self, *, repo_id, folder_path, commit_message, revision, repo_type, delete_patterns):
        if fail:
            raise OSError("the Hub is unreachable")
        shutil.copytree(folder_path, tmp_path / "uploaded")
        calls["upload"] = (repo_id, repo_type)
        return "commit-info"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    return calls


def test_push_to_hub_publishes_the_best_detector_at_the_end(speech_data, tmp_path, monkeypatch, capsys):
    calls = _mock_hub(monkeypatch, tmp_path)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_settings(speech_data, tmp_path / "run", **COLUMNS)))
    assert (
        main(
            ["train", str(recipe), "--json", "push_to_hub=true", "hub_model_id=alice/tiny-detector", "hub_private=true"]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["hub_model_id"] == "alice/tiny-detector"
    assert calls["create"] == ("alice/tiny-detector", {"private": True, "exist_ok": True, "repo_type": "model"})
    assert calls["upload"] == ("alice/tiny-detector", "model")
    uploaded = tmp_path / "uploaded"
    assert "alice/tiny-detector" in (uploaded / "README.md").read_text()
    clips = [chirp(1.0), 0.1 * np.random.default_rng(0).standard_normal(12000).astype(np.float32)]
    published = Detector.from_pretrained(uploaded).predict(clips, sample_rate=16000)
    local = Detector.from_pretrained(result["best_dir"]).predict(clips, sample_rate=16000)
    assert [p.score for p in published] == [p.score for p in local]
    # the precision accelerate chose is recorded, not the unset setting
    assert yaml.safe_load((tmp_path / "run" / "train_config.yaml").read_text())["mixed_precision"] == "no"


def test_push_to_hub_without_a_repository_is_refused_before_training(speech_data, tmp_path, capsys):
    with pytest.raises(ConfigError, match="hub_model_id"):
        TrainConfig(**_settings(speech_data, tmp_path / "run"), push_to_hub=True)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_settings(speech_data, tmp_path / "cli")))
    assert main(["train", str(recipe), "push_to_hub=true", "hub_model_id=not a/valid/id"]) == 2
    assert "hub_model_id" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()


def test_a_failed_upload_says_where_the_detector_is(tmp_path, monkeypatch):
    _mock_hub(monkeypatch, tmp_path, fail=True)
    best = build_baseline_detector(window_seconds=0.5).save_pretrained(tmp_path / "best")
    cfg = TrainConfig(train_data="unused/", kind="spectrogram", mode="full", push_to_hub=True, hub_model_id="alice/x")
    with pytest.raises(WavguardError, match="alice/x") as caught:
        push_best(Path(best), cfg)
    assert str(tmp_path / "best") in str(caught.value) and "unreachable" in str(caught.value)
