"""``wavguard train``: packaged recipes by name, --list, --data without a recipe, --progress
(issue 26, items 3 and 5). The wheel install is tested in test_packaging.py."""

import json
from pathlib import Path

import pytest
from _train_fixtures import make_folder

from wavguard.cli import main

PACKAGED = Path(__file__).resolve().parents[1] / "src" / "wavguard" / "recipes"
NAMES = ["asvspoof2019_la", "custom_folder", "custom_folder_baseline", "in_the_wild", "wavefake"]


def test_list_names_every_packaged_recipe(capsys):
    assert main(["train", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    assert "real/ and fake/" in lines[1]  # each with its description
    assert main(["train", "--list", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == NAMES and all(r["description"] for r in records)


@pytest.fixture
def recorded(monkeypatch):
    """Replaces training: returns what TrainConfig.from_yaml and train were given."""
    import wavguard.training
    from wavguard.training import TrainResult

    seen = {}
    real = wavguard.training.TrainConfig.from_yaml

    def from_yaml(path, overrides=()):
        seen["recipe"], seen["overrides"] = Path(path), list(overrides)
        seen["config"] = real(path, overrides)
        return seen["config"]

    def train(config, resume=False, *, start_if_missing=False, progress=True):
        seen["progress"] = progress
        return TrainResult(
            best_dir=Path(config.output_dir) / "best",
            best_eer=0.1,
            best_epoch=0,
            global_step=0,
            stopped_early=False,
            history=[{"val_eer": 0.1}],
        )

    monkeypatch.setattr(wavguard.training.TrainConfig, "from_yaml", from_yaml)
    monkeypatch.setattr(wavguard.training, "train", train)
    return seen


def test_a_recipe_by_name_is_the_packaged_file(recorded, capsys):
    assert main(["train", "wavefake", "train_data=/data/wf", "epochs=2"]) == 0
    assert recorded["recipe"].read_text() == (PACKAGED / "wavefake.yaml").read_text()
    assert recorded["overrides"] == ["train_data=/data/wf", "epochs=2"]
    assert recorded["config"].mode == "frozen" and recorded["config"].epochs == 2


def test_data_alone_trains_the_default_recipe(recorded, tmp_path, capsys):
    data = tmp_path / "my data: 1"  # a path YAML would misread unquoted
    assert main(["train", "--data", str(data), "epochs=3", "-o", str(tmp_path / "run")]) == 0
    assert recorded["recipe"].name == "custom_folder.yaml"
    config = recorded["config"]
    assert config.train_data == str(data) and config.epochs == 3 and config.output_dir == str(tmp_path / "run")
    assert config.backbone == "facebook/wav2vec2-base" and config.validation_fraction == 0.1
    assert f"best detector: {tmp_path / 'run' / 'best'}" in capsys.readouterr().out


def test_data_with_a_recipe_and_several_sources(recorded, capsys):
    assert main(["train", "custom_folder_baseline", "--data", "a", "--data", "b"]) == 0
    assert recorded["recipe"].name == "custom_folder_baseline.yaml" and recorded["config"].train_data == ["a", "b"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train"], "wavguard train needs a RECIPE"),
        (["train", "epochs=1"], "wavguard train needs a RECIPE"),
        (["train", "nosuch"], "no recipe named 'nosuch': the packaged recipes are asvspoof2019_la, custom_folder,"),
        (["train", "--data", "a", "train_data=b"], "the training data is given twice"),
        (["train", "missing.yaml"], "missing.yaml: recipe file not found"),
    ],
)
def test_train_usage_errors(argv, message, recorded, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, expected",
    [([], False), (["--progress"], True), (["--no-progress"], False), (["-q"], False), (["-q", "--progress"], True)],
)
def test_progress_follows_the_shared_rule(flags, expected, recorded, capsys):
    """Off when stderr is not a terminal (as under pytest) or with -q; --progress/--no-progress decide."""
    assert main(["train", "--data", "d", *flags]) == 0
    assert recorded["progress"] is expected


def test_progress_is_on_at_a_terminal(recorded, monkeypatch, capsys):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert main(["train", "--data", "d"]) == 0
    assert recorded["progress"] is True


def test_library_bars_are_off_for_the_run_and_back_on_after(monkeypatch, recorded, capsys):
    import datasets
    import huggingface_hub.utils as hub

    import wavguard.training
    from wavguard.training import TrainResult

    states = []
    monkeypatch.setattr(
        wavguard.training,
        "train",
        lambda config, **kw: (
            states.append((hub.are_progress_bars_disabled(), datasets.are_progress_bars_disabled()))
            or TrainResult(best_dir=Path("b"), best_eer=0.1, best_epoch=0, global_step=0, stopped_early=False)
        ),
    )
    assert main(["train", "--data", "d", "--no-progress"]) == 0
    assert states == [(True, True)]
    assert not hub.are_progress_bars_disabled() and not datasets.are_progress_bars_disabled()


# -- real runs ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("accelerate")
    pytest.importorskip("peft")
    from wavguard.testing import tiny_backbone_dir

    tmp = tmp_path_factory.mktemp("train-cli")
    return {
        "tmp": tmp,
        "data": make_folder(tmp / "data", per_class=4, seconds=0.6),
        "backbone": tiny_backbone_dir("wav2vec2", tmp / "bb"),
    }


DEBUG = [
    "epochs=1",
    "batch_size=4",
    "crop_seconds=0.5",
    "detector.window_seconds=0.5",
    "detector.hop_seconds=0.5",
    "mixed_precision=no",
    "num_workers=0",
    "validation_fraction=0.25",
]


def test_data_dir_trains_with_no_yaml_and_no_bars_by_default(tiny, capsys):
    out = tiny["tmp"] / "default"
    argv = [
        "train",
        "--data",
        str(tiny["data"]),
        "-o",
        str(out),
        f"backbone={tiny['backbone']}",
        "num_layers=null",
        "detector.head_channels=[8]",
        "lora_rank=2",
        f"cache_dir={tiny['tmp'] / 'cache'}",
        *DEBUG,
    ]
    assert main(argv) == 0
    printed, err = capsys.readouterr()
    assert f"best detector: {out / 'best'}" in printed
    assert "%|" not in err and "\r" not in err  # stderr is not a terminal: no tqdm bar
    from wavguard import Detector

    assert Detector.from_pretrained(out / "best").config.backbone_type == "wav2vec2"


def test_progress_draws_the_epoch_bar(tiny, capsys):
    out = tiny["tmp"] / "baseline"
    assert (
        main(["train", "custom_folder_baseline", "--data", str(tiny["data"]), "-o", str(out), "--progress", *DEBUG])
        == 0
    )
    assert "epoch 1" in capsys.readouterr().err
