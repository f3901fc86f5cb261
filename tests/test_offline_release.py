"""The release recipe and the quickstart of recipes/offline_corpus."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
#: train.yaml overrides that make the release recipe a seconds-long run on a tiny backbone (2 epochs)
TINY_RECIPE = (
    "num_layers=null",
    "epochs=2",
    "batch_size=4",
    "crop_seconds=0.5",
    "detector.window_seconds=0.5",
    "detector.head_channels=[8]",
    "lora_rank=2",
    "augment=null",
)


def _manifest(tmp: Path) -> Path:
    """A corpus-shaped manifest: three splits of sines (real) and noise (fake)."""
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    rows = []
    for split, lang in (("train", "ru"), ("validation", "cs"), ("test", "nl")):
        for i in range(4):
            for label, family in (("real", "bonafide"), ("fake", "griffinlim" if i % 2 else "piper")):
                path = tmp / split / f"{label}_{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                wave = (
                    0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t)
                    if label == "real"
                    else 0.3 * rng.standard_normal(16000)
                )
                sf.write(path, wave.astype(np.float32), 16000)
                rows.append(
                    {
                        "path": str(path.relative_to(tmp)),
                        "label": label,
                        "split": split,
                        "speaker": f"s_{lang}",
                        "attack": "bonafide" if label == "real" else f"{family}/v1",
                        "family": family,
                        "language": lang,
                        "source_id": f"{split}_{i}",  # fake i is a copy of real i (paired copy-synthesis)
                    }
                )
    manifest = tmp / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def test_release_trains_evaluates_and_stages_a_hub_folder(tmp_path):
    from huggingface_hub.repocard import metadata_load
    from recipes.offline_corpus.release import release

    from wavguard import Detector
    from wavguard.testing import tiny_backbone_dir

    backbone = tiny_backbone_dir("whisper", tmp_path / "bb")
    overrides = [
        f"backbone={backbone}",
        *TINY_RECIPE,
        "max_eval_clips=6",  # the recipe's pairing stays on: the manifest pairs each fake with a real clip
    ]
    bench = tmp_path / "results.jsonl"
    bench.write_text(
        "".join(
            json.dumps(
                {
                    "type": "run",
                    "system": "a",
                    "seed": seed,
                    "eer": eer,
                    "eer_seen": eer / 2,
                    "eer_unseen": 2 * eer,
                    "roc_auc": 1 - eer,
                    "per_family": {"world": 3 * eer},
                    "per_language": {"nl": eer},
                    "per_channel": {"game": eer},
                }
            )
            + "\n"
            for seed, eer in ((0, 0.10), (1, 0.20))
        )
    )
    folder = release(
        str(_manifest(tmp_path / "corpus")),
        str(tmp_path / "out"),
        overrides,
        "me/offline-detector",
        channels=("noise_snr10",),
        benchmark=str(bench),
    )
    assert {p.name for p in folder.iterdir()} >= {
        "README.md",
        "config.json",
        "model.safetensors",
        "backbone",
        "adapter",
    }
    metrics = Detector.from_pretrained(folder).config.metrics
    assert {
        "eer",
        "roc_auc",
        "eer_family_griffinlim",
        "eer_family_piper",
        "eer_language_nl",
        "eer_channel_noise_snr10",
    } <= set(metrics)
    meta = metadata_load(folder / "README.md")
    assert meta["library_name"] == "wavguard"
    assert meta["model-index"][0]["results"][0]["metrics"][0]["type"] == "eer"
    assert meta["model-index"][0]["results"][0]["dataset"]["type"] == "wavguard-offline-corpus"
    assert "base_model" not in meta  # a local test backbone; offline:whisper-base names openai/whisper-base
    card = (folder / "README.md").read_text()
    assert "## Benchmark (several seeds, same protocol)" in card
    assert "| 15.0 ± 5.0 | 7.5 ± 2.5 | 30.0 ± 10.0 | 0.850 |" in card  # pooled, seen, unseen over 2 seeds
    assert "| world | 45.0 ± 15.0 |" in card and "| game | 15.0 ± 5.0 |" in card
    assert "treat its score as evidence, not proof" in card
    assert "measured the numbers above (a seeded 6 of its 8 clips)." in card
    assert (
        "train: 8 clips, 4 real (1 speaker, languages: ru), 4 fake (families: griffinlim, piper); "
        "validation: 8 clips, 4 real (1 speaker, languages: cs)"
    ) in card


def test_an_interrupted_release_resumes_and_trains_only_what_is_left(tmp_path, monkeypatch):
    """--resume continues OUT/train from its epoch-end checkpoint: the second call trains epoch 2 only."""
    from recipes.offline_corpus.release import main

    import wavguard.training.trainer as trainer_module
    from wavguard.testing import tiny_backbone_dir

    backbone = tiny_backbone_dir("whisper", tmp_path / "bb")
    argv = [
        "--corpus",
        str(_manifest(tmp_path / "corpus")),
        "--out",
        str(tmp_path / "out"),
        f"backbone={backbone}",
        *TINY_RECIPE,
    ]
    real_train_epoch, epochs_trained = trainer_module.train_epoch, []

    def interrupted(*args, **kwargs):
        if epochs_trained:
            raise KeyboardInterrupt  # the machine goes away during epoch 2
        epochs_trained.append(1)
        return real_train_epoch(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    assert not (tmp_path / "out" / "hub").exists()

    def counted(*args, **kwargs):
        epochs_trained.append(2)
        return real_train_epoch(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "train_epoch", counted)
    assert main([*argv, "--resume"]) == 0
    assert epochs_trained == [1, 2]  # epoch 1 was not trained again
    epochs = [
        json.loads(line)["epoch"] for line in (tmp_path / "out" / "train" / "metrics.jsonl").read_text().splitlines()
    ]
    assert sorted(set(epochs)) == [1, 2]
    assert (tmp_path / "out" / "hub" / "model.safetensors").is_file()
    with pytest.raises(SystemExit):  # --resume continues this script's training; --trained stages another run
        main([*argv, "--resume", "--trained", str(tmp_path / "out" / "train" / "best")])


def test_offline_backbones_are_named_on_the_card():
    from recipes.offline_corpus.release import _backbone_card

    assert _backbone_card("offline:whisper-base")["base_model"] == "openai/whisper-base"
    assert _backbone_card("/some/local/dir") == {}


def test_release_evaluation_subsets_are_the_clips_training_drew():
    """validation/test capped by max_eval_clips: the same seeded draw as training's, all when fewer."""
    import datasets

    from wavguard.training.data import load_sources, seeded_subset

    data = datasets.Dataset.from_dict({"audio": [f"c{i}.wav" for i in range(10)], "label": [i % 2 for i in range(10)]})
    drawn = seeded_subset(data, 4, seed=3)
    assert drawn["audio"] == load_sources(data, None, limit=4, seed=3)["audio"]
    assert len(set(drawn["audio"])) == 4 and drawn["audio"] != data["audio"][:4]
    assert seeded_subset(data, 4, seed=4)["audio"] != drawn["audio"]
    assert seeded_subset(data, None, seed=3) is data and seeded_subset(data, 10, seed=3) is data


def test_the_recipe_pairs_copies_and_the_quickstart_turns_pairs_off():
    """train.yaml trains the full paired build; the quickstart's small unpaired build trains the same
    recipe without pairs, with its own budget."""
    import yaml
    from recipes.offline_corpus import quickstart

    from wavguard.training import TrainConfig

    recipe = yaml.safe_load((ROOT / "recipes" / "offline_corpus" / "train.yaml").read_text())
    config = TrainConfig(**recipe, train_data="x.csv")
    assert config.pairing == {"column": "source_id", "margin_weight": 0.5, "margin": 1.0}
    small = TrainConfig(**quickstart.recipe_settings(Path("qs"), seed=1), train_data="x.csv")
    assert (config.epochs, config.max_eval_clips, config.checkpoint_every_steps) == (3, 1000, 200)  # the full build
    assert (small.pairing, small.seed, small.lora_rank) == (None, 1, config.lora_rank)
    # the small build's budget
    assert (small.epochs, small.max_eval_clips, small.checkpoint_every_steps) == (6, None, 0)
    assert small.output_dir == str(Path("qs") / "train")
    changed = TrainConfig(**quickstart.recipe_settings(Path("qs"), 0, epochs=1, mode="frozen"), train_data="x.csv")
    assert (changed.epochs, changed.mode) == (1, "frozen")


@pytest.mark.slow
@pytest.mark.e2e
def test_quickstart_runs_end_to_end(tmp_path):
    """The README's third command, on a very small corpus (needs the engines of install.sh)."""
    from recipes.offline_corpus import engines  # noqa: F401

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "recipes.offline_corpus.quickstart",
            "--out",
            str(tmp_path / "qs"),
            "--real-per-split",
            "8",
            "--epochs",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "test EER" in out.stdout and "done in" in out.stdout
    assert (tmp_path / "qs" / "report" / "report.md").is_file()
    assert (tmp_path / "qs" / "detector" / "config.json").is_file()


def test_a_trained_run_is_released_only_when_its_recipe_matches(tmp_path):
    import yaml
    from recipes.offline_corpus.release import check_same_recipe

    from wavguard.testing import tiny_backbone_dir

    backbone = tiny_backbone_dir("whisper", tmp_path / "bb")
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    (run / "train_config.yaml").write_text(
        yaml.safe_dump(
            {
                "backbone": str(backbone),
                "epochs": 6,
                "lora_rank": 8,
                "seed": 0,
                "output_dir": "elsewhere",
                "train_data": "<Dataset of 985 rows>",
            }
        )
    )
    recipe = {"backbone": str(backbone), "epochs": 6, "lora_rank": 8, "seed": 0, "output_dir": str(tmp_path / "out")}
    check_same_recipe(run / "best", recipe)  # where it wrote and what data object it held do not count
    named = {**recipe, "backbone": "offline:whisper-base"}  # a run that recorded the backbone's name, as train() does
    (run / "train_config.yaml").write_text(yaml.safe_dump(named))
    check_same_recipe(run / "best", named)
    (run / "train_config.yaml").write_text(yaml.safe_dump({**recipe, "lora_rank": 8}))
    with pytest.raises(
        SystemExit, match=r"not trained by this recipe .*lora_rank: recipe 16, run 8; seed: recipe 1, run 0"
    ):
        check_same_recipe(run / "best", {**recipe, "lora_rank": 16, "seed": 1})
    with pytest.raises(SystemExit, match="no train_config.yaml"):
        check_same_recipe(tmp_path / "bb", recipe)
