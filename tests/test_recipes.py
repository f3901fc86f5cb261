"""Every packaged recipe (src/wavguard/recipes/*.yaml, what `wavguard train NAME` finds) loads,
validates and trains end to end on tiny fixture data.

The corpus folders the recipes name (ASVspoof, In-the-Wild, WaveFake) are replaced by generated
real/fake class folders through overrides, plus debug overrides (tiny backbone, one epoch).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _train_fixtures import make_folder

pytest.importorskip("accelerate")
pytest.importorskip("peft")

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "src" / "wavguard" / "recipes"
#: every packaged training recipe, by the name `wavguard train NAME` takes
NAMES = sorted(p.stem for p in RECIPES.glob("*.yaml"))


def test_every_recipe_is_listed_and_documented():
    from wavguard.cli._recipes import recipe_names

    assert NAMES == ["asvspoof2019_la", "custom_folder", "custom_folder_baseline", "in_the_wild", "wavefake"]
    assert recipe_names() == NAMES
    for name in NAMES:  # each corpus folder in recipes/ explains its recipes and points to the packaged file
        readme = (ROOT / "recipes" / name.removesuffix("_baseline") / "README.md").read_text()
        assert f"wavguard train {name}" in readme and f"src/wavguard/recipes/{name}.yaml" in readme, name
    # one source of truth: no training YAML left in the repository's recipes/ (the offline corpus keeps its own)
    assert [p for p in (ROOT / "recipes").glob("*/*.yaml") if p.parent.name != "offline_corpus"] == []


@pytest.mark.parametrize("name", NAMES)
def test_recipe_validates_as_written(name):
    from wavguard.training import TrainConfig

    cfg = TrainConfig.from_yaml(RECIPES / f"{name}.yaml")
    assert cfg.output_dir == f"runs/{name}"
    assert cfg.crop_seconds == 4.0 and cfg.epochs >= 10


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory):
    from wavguard.testing import tiny_backbone_dir

    tmp = tmp_path_factory.mktemp("recipes")
    return {
        "tmp": tmp,
        "data": make_folder(tmp / "data", per_class=4, seconds=0.6),
        "backbone": tiny_backbone_dir("wav2vec2", tmp / "bb"),
    }


@pytest.mark.parametrize("name", NAMES)
def test_recipe_smoke_run_through_cli(name, fixture_data, capsys):
    from wavguard import Detector
    from wavguard.cli import main
    from wavguard.training import TrainConfig

    data = str(fixture_data["data"])
    path = RECIPES / f"{name}.yaml"
    out = fixture_data["tmp"] / f"out-{name}"
    recipe = TrainConfig.from_yaml(path)
    overrides = [
        f"train_data={data}",
        f"backbone={fixture_data['backbone']}",
        "num_layers=null",
        "epochs=1",
        "batch_size=4",
        "crop_seconds=0.5",
        "detector.window_seconds=0.5",
        "detector.hop_seconds=0.5",
        "detector.head_channels=[8]",
        "mixed_precision=no",
        "num_workers=0",
        "lora_rank=2",
        f"output_dir={out}",
        f"cache_dir={fixture_data['tmp'] / 'cache'}",
    ]
    if recipe.validation_data:
        overrides.append(f"validation_data={data}")
    else:
        overrides.append("validation_fraction=0.25")
    if recipe.test_data:
        overrides.append(f"test_data={data}")
    if recipe.kind == "spectrogram":
        overrides = [o for o in overrides if not o.startswith(("backbone=", "detector.head_channels"))]
    assert main(["train", name, *overrides]) == 0  # by name, as after pip install
    printed = capsys.readouterr().out
    assert f"best detector: {out / 'best'}" in printed
    det = Detector.from_pretrained(out / "best")
    assert det.config.backbone_type == ("" if recipe.kind == "spectrogram" else "wav2vec2")
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("val_eer" in r for r in records)
    if recipe.test_data:
        assert "test " in printed and any("test" in r for r in records)
        assert any(k.startswith("test_eer[") for k in det.config.metrics)


def test_cli_reports_bad_recipe(tmp_path, capsys):
    from wavguard.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("train_data: x\nbackbone: y\nmode: sideways\n")
    assert main(["train", str(bad)]) == 2  # a ConfigError is a usage error
    assert "mode must be one of" in capsys.readouterr().err
