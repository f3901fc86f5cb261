"""System (j) of the offline benchmark: transformers' audio-classification example
(benchmarks/hf_example.py), on a tiny random Whisper in the Hub layout and a tiny corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_benchmark_offline import _tiny_corpus

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    from transformers import WhisperFeatureExtractor

    from wavguard.testing import tiny_backbone_dir

    directory = tiny_backbone_dir("whisper", tmp_path_factory.mktemp("whisper"))
    WhisperFeatureExtractor().save_pretrained(str(directory))  # a Hub Whisper folder carries its preprocessor
    return directory


def _split(manifest, split):
    import csv

    with open(manifest, encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == split]
    return [str(manifest.parent / r["path"]) for r in rows], [int(r["label"] == "fake") for r in rows]


def test_the_settings_are_the_examples_and_unknown_ones_are_refused(tmp_path):
    from benchmarks import hf_example

    assert hf_example.EXAMPLE_SETTINGS == {
        "learning_rate": 3e-5,
        "warmup_ratio": 0.1,
        "num_train_epochs": 5,
        "per_device_train_batch_size": 32,
        "gradient_accumulation_steps": 4,
        "per_device_eval_batch_size": 32,
        "max_length_seconds": 20.0,
    }
    assert hf_example.LABELS.index("fake") == 1  # wavguard's label for fake
    with pytest.raises(ValueError, match="unknown example settings \\['epochs'\\]"):
        hf_example.train_example(([], []), ([], []), tmp_path, tmp_path / "out", 0, {"epochs": 3})


def test_training_clips_are_cut_to_a_random_window_and_every_clip_padded_to_30_s(tmp_path):
    import soundfile as sf
    from benchmarks.hf_example import ClipDataset
    from transformers import WhisperFeatureExtractor

    x = (0.1 * np.random.default_rng(0).standard_normal(3 * 16000)).astype(np.float32)
    sf.write(tmp_path / "clip.wav", x, 16000, subtype="FLOAT")  # read back as written
    fe = WhisperFeatureExtractor()
    cut = ClipDataset([str(tmp_path / "clip.wav")], [1], fe, max_length_seconds=1.0, seed=7)[0]
    start = int(np.random.default_rng(7).integers(0, len(x) - 16000))  # the same draw as the dataset's
    expected = fe(x[start : start + 16000], sampling_rate=16000, return_tensors="np").input_features[0]
    assert cut["labels"] == 1 and cut["input_features"].shape == (80, 3000)
    np.testing.assert_allclose(cut["input_features"], expected, atol=1e-4)
    whole = ClipDataset([str(tmp_path / "clip.wav")], [0], fe)[0]["input_features"]
    np.testing.assert_allclose(whole, fe(x, sampling_rate=16000, return_tensors="np").input_features[0], atol=1e-4)


def test_run_example_trains_saves_the_best_epoch_scores_and_resumes(whisper_dir, tmp_path):
    from benchmarks.hf_example import run_example, score_clips
    from transformers import WhisperFeatureExtractor, WhisperForAudioClassification

    from wavguard.metrics import compute_eer

    manifest = _tiny_corpus(tmp_path / "corpus")
    train, validation, test = (_split(manifest, s) for s in ("train", "validation", "test"))
    settings = {"num_train_epochs": 2, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1}
    settings |= {"per_device_eval_batch_size": 4, "learning_rate": 1e-3, "max_length_seconds": 0.25}
    fit = run_example(train, validation, test[0], whisper_dir, tmp_path / "run", 0, settings)
    assert fit["scores"].shape == (8,) and ((fit["scores"] >= 0) & (fit["scores"] <= 1)).all()
    assert [e["epoch"] for e in fit["history"]] == [1, 2] and fit["best_epoch"] in (1, 2)
    assert fit["resumed_from"] is None and fit["params"] == fit["trainable"] > 0
    assert fit["config"]["learning_rate"] == 1e-3 and fit["speed"] > 0
    # the best epoch's checkpoint, loaded again, gives the same test scores
    model = WhisperForAudioClassification.from_pretrained(fit["best_checkpoint"]).eval()
    again, _ = score_clips(model, WhisperFeatureExtractor.from_pretrained(str(whisper_dir)), test[0], 4)
    np.testing.assert_allclose(again, fit["scores"], atol=1e-5)
    val_scores, _ = score_clips(model, WhisperFeatureExtractor.from_pretrained(str(whisper_dir)), validation[0], 4)
    assert fit["val_eer"] == pytest.approx(compute_eer(np.array(validation[1]), val_scores)[0], abs=1e-9)
    # asked for a third epoch, the run continues from its epoch-2 checkpoint
    more = run_example(
        train, validation, test[0], whisper_dir, tmp_path / "run", 0, {**settings, "num_train_epochs": 3}
    )
    assert more["resumed_from"].endswith("checkpoint-4")
    assert [e["epoch"] for e in more["history"]] == [1, 2, 3]


def test_the_benchmark_runs_system_j_and_reports_it(whisper_dir, tmp_path):
    from benchmarks import offline_benchmark

    manifest = _tiny_corpus(tmp_path / "corpus")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"backbone: {whisper_dir}\nepochs: 1\n")
    out = tmp_path / "out"
    offline_benchmark.main(
        ["--manifest", str(manifest), "--out", str(out), "--recipe", str(recipe), "--systems", "j", "--seeds", "0"]
    )
    run = json.loads((out / "results.jsonl").read_text().splitlines()[1])
    assert (run["system"], run["train_clips"], run["validation_clips"], len(run["scores"])) == ("j", 8, 8, 8)
    assert run["config"]["num_train_epochs"] == 5 and len(run["history"]) == 5  # the example's settings as they are
    assert 0.0 <= run["eer"] <= 1.0 and set(run["per_family"]) == {"griffinlim", "hifigan"}
    offline_benchmark.main(["--out", str(out), "--report"])
    assert "| (j) transformers' audio-classification example" in (out / "report.md").read_text()
