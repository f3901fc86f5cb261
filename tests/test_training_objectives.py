"""Training objectives on a tiny overfit task (chirps = real, noise = fake): cross-entropy and
OC-softmax both separate the classes, adversarial training still learns, OC detectors save and load
with identical scores, crop length and window aggregation are per-run settings, and
``wavguard evaluate --adversarial`` reports an attacked EER no lower than the clean one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _train_fixtures import tiny_config

pytest.importorskip("accelerate")

RATE_HZ = 16000


def _make_clips(root: Path, per_class: int, seed: int) -> Path:
    """``root/real``: chirps of varying range; ``root/fake``: white noise (1 s each)."""
    import soundfile as sf

    from wavguard.testing import chirp

    rng = np.random.default_rng(seed)
    for name in ("real", "fake"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(per_class):
        f0, f1 = rng.uniform(100, 400), rng.uniform(1500, 5000)
        sf.write(
            root / "real" / f"r{i:02d}.wav", chirp(1.0, f0_hz=f0, f1_hz=f1, amplitude=rng.uniform(0.1, 0.4)), RATE_HZ
        )
        sf.write(
            root / "fake" / f"f{i:02d}.wav",
            (rng.uniform(0.03, 0.12) * rng.standard_normal(RATE_HZ)).astype(np.float32),
            RATE_HZ,
        )
    return root


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    from wavguard.testing import tiny_backbone_dir

    tmp = tmp_path_factory.mktemp("objectives")
    return {
        "tmp": tmp,
        "train": _make_clips(tmp / "train", 16, seed=0),
        "val": _make_clips(tmp / "val", 8, seed=1),
        "backbone": tiny_backbone_dir("wav2vec2", tmp / "backbone"),
    }


def _config(task, name, **kw):
    return tiny_config(
        task["train"], task["val"], task["backbone"], task["tmp"] / name, task["tmp"] / "cache", log_every_steps=1, **kw
    )


def _files(folder: Path):
    files = sorted(str(p) for p in folder.rglob("*.wav"))
    return files, np.array([1 if "/fake/" in f else 0 for f in files])


@pytest.mark.parametrize("loss", ["ce", "ocsoftmax"])
def test_each_loss_separates_the_classes_and_reloads_identically(task, loss):
    from wavguard import Detector
    from wavguard.metrics import compute_eer
    from wavguard.training import Trainer

    trainer = Trainer(_config(task, f"run-{loss}", loss=loss))
    result = trainer.fit()
    assert result.best_eer <= 0.0625, result.history  # at most one of 8 clips per class misplaced
    losses = [h["train_epoch_loss"] for h in result.history]
    assert losses[-1] < 0.7 * losses[0], losses

    saved = json.loads((result.best_dir / "config.json").read_text())
    assert saved["extra"]["training"]["loss"] == loss
    # a cross-entropy detector's config.json is as before; an OC one carries its cosine head
    assert saved.get("head_normalize_embedding", False) == (loss == "ocsoftmax")
    files, labels = _files(task["val"])
    reloaded = Detector.from_pretrained(result.best_dir)
    scores = np.array([p.score for p in reloaded.predict(files)])
    assert compute_eer(labels, scores)[0] <= 0.0625
    # save -> load round trip: the same scores as the trained model saved again
    again_dir = trainer.save_detector(task["tmp"] / f"again-{loss}")
    again = Detector.from_pretrained(again_dir)
    in_memory = trainer.detector.predict(files)
    np.testing.assert_allclose([p.score for p in again.predict(files)], [p.score for p in in_memory], rtol=0, atol=1e-6)
    if loss == "ocsoftmax":
        # the head is in OC form: logits (0, alpha (t - cos)); the score points towards FAKE
        classifier = reloaded.model.head.classifier
        assert float(classifier.weight[0].detach().abs().max()) == 0.0
        assert float(classifier.weight[1].detach().norm()) == pytest.approx(20.0, rel=1e-5)
        assert classifier.bias.tolist() == pytest.approx([0.0, 20.0 * 0.55])
        assert np.mean(scores[labels == 1]) > np.mean(scores[labels == 0])


def test_adversarial_training_runs_and_still_learns(task):
    from wavguard.training import Trainer

    # FGSM keeps it quick; PGD runs through the same path (tests/test_adversarial.py)
    cfg = _config(
        task,
        "run-adv",
        cache_features=False,
        epochs=4,
        adversarial={"method": "fgsm", "snr_db": 30, "probability": 0.5},
    )
    result = Trainer(cfg).fit()
    assert result.best_eer <= 0.0625, result.history
    saved = json.loads((result.best_dir / "config.json").read_text())
    assert saved["extra"]["training"]["adversarial"]["method"] == "fgsm"


def test_crop_length_and_window_aggregation_are_per_run(task):
    from wavguard.training import Trainer

    cfg = _config(
        task,
        "run-crop",
        crop_seconds=0.5,
        epochs=1,
        cache_features=False,
        detector={"head_channels": [16], "window_seconds": 0.5, "hop_seconds": 0.25, "aggregation": "topk", "top_k": 2},
    )
    trainer = Trainer(cfg).setup()
    assert trainer.train_dataset[0]["waveform"].shape == (8000,)  # 1 s clips cropped to 0.5 s
    result = trainer.fit()
    saved = json.loads((result.best_dir / "config.json").read_text())
    assert (saved["aggregation"], saved["top_k"], saved["window_seconds"], saved["hop_seconds"]) == (
        "topk",
        2,
        0.5,
        0.25,
    )
    assert saved["extra"]["training"]["crop_seconds"] == 0.5
    cfg = cfg.with_overrides(["detector.aggregation=max", "crop_seconds=2.0"])
    assert cfg.detector["aggregation"] == "max" and cfg.crop_seconds == 2.0


def test_evaluate_adversarial_reports_attacked_eer_within_budget(task, tmp_path, capsys):
    from wavguard import Detector
    from wavguard.cli import main
    from wavguard.data import load_any
    from wavguard.evaluation.evaluate import evaluate_detector

    best = task["tmp"] / "run-ce" / "best"
    if not (best / "config.json").is_file():
        pytest.skip("needs the cross-entropy run of test_each_loss_separates_the_classes_and_reloads_identically")
    detector = Detector.from_pretrained(best)
    small = _make_clips(tmp_path / "small", 4, seed=2)  # 4 real, 4 fake: attacks are a few gradients per clip
    data = load_any(str(small))
    result = evaluate_detector(
        detector, data, adversarial_snr_db=20.0, adversarial_steps=2, bootstrap_resamples=0
    )  # PGD by default
    summary = result.adversarial_summary()
    assert summary["eer"] >= summary["clean_eer"]
    assert summary["roc_auc"] <= summary["clean_roc_auc"]
    assert summary["achieved_snr_db_min"] >= 20.0 - 1e-3 and summary["method"] == "pgd"

    out = tmp_path / "report"
    status = main(
        [
            "evaluate",
            str(best),
            "--data",
            str(small),
            "-o",
            str(out),
            "--adversarial",
            "10",
            "--adversarial-method",
            "fgsm",
            "--bootstrap",
            "0",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "adversarial fgsm at 10 dB: EER" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    adv = metrics["adversarial"]
    assert adv["snr_db"] == 10.0 and abs(adv["achieved_snr_db_min"] - 10.0) < 0.01  # FGSM: exactly the budget
    assert adv["eer"] >= adv["clean_eer"] == metrics["metrics"]["eer"]
    assert "higher = more fake" in adv["scores"]
    assert "## Adversarial robustness" in (out / "report.md").read_text()


def test_killed_oc_adversarial_consistency_run_resumes_to_identical_weights(tmp_path):
    """The OC centre's projection, the adversarial draws and the consistency copies (clips, rooms,
    noise) are functions of (seed, epoch, batch): a run killed mid-epoch and resumed ends with the
    weights of an uninterrupted one."""
    from _train_fixtures import make_folder
    from safetensors.numpy import load_file
    from test_training_resume import _records, _train, _train_here

    from wavguard.testing import tiny_backbone_dir

    data = make_folder(tmp_path / "data", per_class=8, seconds=1.5)
    backbone = tiny_backbone_dir("wav2vec2", tmp_path / "bb")
    (tmp_path / "recipe.yaml").write_text(
        f"train_data: {data}\nbackbone: {backbone}\nmode: lora\nepochs: 2\nbatch_size: 4\ncrop_seconds: 1.0\n"
        "checkpoint_every_steps: 2\nkeep_checkpoints: 3\nlog_every_steps: 1\nhead_learning_rate: 0.005\n"
        "backbone_learning_rate: 0.001\nloss: ocsoftmax\nadversarial: {method: pgd, snr_db: 25, steps: 2, probability: 0.5}\n"
        "consistency: {channels: [reverb, noise_snr10], weight: 1.0, probability: 0.5}\n"
        "detector: {head_channels: [8], head_dropout: 0.3, window_seconds: 1.0, hop_seconds: 1.0}\n"
    )
    _train_here(tmp_path / "recipe.yaml", tmp_path / "straight")  # on one thread, the subprocesses' kernels
    killed = _train(tmp_path, tmp_path / "resumed", exit_after=7)
    assert killed.returncode == 3, killed.stderr[-3000:]
    resumed = _train(tmp_path, tmp_path / "resumed", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = load_file(str(tmp_path / "straight" / "best" / "model.safetensors"))
    again = load_file(str(tmp_path / "resumed" / "best" / "model.safetensors"))
    assert all(np.array_equal(straight[k], again[k]) for k in straight)
    assert _records(tmp_path / "straight") == _records(tmp_path / "resumed")
