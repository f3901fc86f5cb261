"""Each training mode learns a separable toy task, and its saved detector reloads with identical scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _train_fixtures import make_folder

pytest.importorskip("accelerate")
pytest.importorskip("peft")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from wavguard.testing import tiny_backbone_dir

    tmp = tmp_path_factory.mktemp("train")
    data = make_folder(tmp / "data", per_class=12)
    return {"tmp": tmp, "data": data, "backbone": tiny_backbone_dir("wav2vec2", tmp / "backbone")}


def _config(setup, mode, **kw):
    from wavguard.training import TrainConfig

    base = dict(
        train_data=str(setup["data"]),
        backbone=str(setup["backbone"]),
        mode=mode,
        epochs=4,
        batch_size=8,
        crop_seconds=1.0,
        detector={"head_channels": [16], "window_seconds": 1.0, "hop_seconds": 1.0},
        head_learning_rate=1e-2,
        backbone_learning_rate=1e-3,
        warmup_ratio=0.0,
        output_dir=str(setup["tmp"] / f"run-{mode}"),
        cache_dir=str(setup["tmp"] / "cache"),
        log_every_steps=1,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("mode", ["frozen", "lora", "full"])
def test_mode_learns_and_reloads_identically(setup, mode):
    from wavguard import Detector
    from wavguard.metrics import compute_eer
    from wavguard.training import Trainer

    trainer = Trainer(_config(setup, mode))
    result = trainer.fit()
    losses = [h["train_epoch_loss"] for h in result.history]
    assert len(losses) == 4
    assert losses[-1] < 0.8 * losses[0], losses

    best = result.best_dir
    assert (best / "config.json").is_file() and (best / "model.safetensors").is_file()
    assert (best / "backbone").is_dir() == (mode == "full")  # full fine-tuning bundles the backbone
    assert (best / "adapter" / "adapter_config.json").is_file() == (mode == "lora")
    saved = json.loads((best / "config.json").read_text())
    assert saved["freeze"] == {"frozen": "all", "lora": "all", "full": "feature_encoder"}[mode]
    assert saved["extra"]["training"]["mode"] == mode

    files = sorted(str(p) for p in setup["data"].rglob("*.wav"))
    labels = np.array([1 if "/fake/" in f else 0 for f in files])
    in_memory = np.array([p.score for p in trainer.detector.predict(files)])
    reloaded = Detector.from_pretrained(best)
    scores = np.array([p.score for p in reloaded.predict(files)])
    np.testing.assert_allclose(scores, in_memory, rtol=0, atol=1e-6)
    eer, _ = compute_eer(labels, scores)
    assert eer == 0.0

    records = [json.loads(line) for line in (best.parent / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "train_loss" in r] == list(range(1, 13))  # 3 batches x 4 epochs


def test_validation_early_stopping_and_best_epoch(setup):
    """With validation, the best epoch is the first with the lowest EER; patience stops the run."""
    from wavguard.training import train

    cfg = _config(
        setup,
        "frozen",
        epochs=6,
        validation_data=str(setup["data"]),
        early_stopping_patience=2,
        output_dir=str(setup["tmp"] / "run-early"),
    )
    result = train(cfg)
    eers = [h["val_eer"] for h in result.history]
    assert result.best_eer == min(eers) == 0.0
    assert result.best_epoch == eers.index(0.0) + 1
    # two validations without a lower EER after the best one end the run
    assert result.stopped_early and len(eers) == result.best_epoch + 2
    saved = json.loads((result.best_dir / "config.json").read_text())
    assert {k: saved["metrics"][k] for k in ("validation_eer", "epoch")} == {
        "validation_eer": 0.0,
        "epoch": result.best_epoch,
    }
    # the best detector is calibrated and thresholded on the validation data, and timed
    assert (saved["calibration_scale"], saved["calibration_bias"]) != (1.0, 0.0)
    assert 0.0 < saved["threshold"] < 1.0 and saved["threshold"] != 0.5
    assert 0.0 <= saved["metrics"]["validation_ece"] < 0.5
    assert saved["extra"]["training"]["training_seconds"] > 0


def test_class_weights_and_oversampling(setup):
    """Unbalanced data: class weights are inverse frequencies; oversampling balances batches."""
    from wavguard.training.data import EpochSampler, inverse_frequency_weights

    labels = np.array([0] * 30 + [1] * 10)
    np.testing.assert_allclose(inverse_frequency_weights(labels), [40 / 60, 40 / 20])
    weights = inverse_frequency_weights(labels)[labels]
    sampler = EpochSampler(len(labels), seed=3, weights=weights)
    drawn = np.concatenate([labels[list(sampler)] for sampler.epoch in range(50)])
    assert abs(drawn.mean() - 0.5) < 0.03  # 2000 draws: std of the mean ~0.011
    assert list(EpochSampler(5, seed=1)) == list(EpochSampler(5, seed=1))
    s = EpochSampler(50, seed=1)
    first = list(s)
    s.set_epoch(1)
    assert sorted(first) == list(range(50)) and list(s) != first


def test_random_crops_are_seeded_and_validation_crops_fixed(setup, tmp_path):
    import soundfile as sf

    from wavguard.training.data import ClipDataset

    path = tmp_path / "long.wav"
    sf.write(path, np.arange(48000, dtype=np.float32) / 48000, 16000)
    data = [{"audio": {"path": str(path), "bytes": None}, "label": 0}]
    train = ClipDataset(data, 16000, 16000, train=True, seed=5)
    starts = []
    for epoch in range(20):
        train.set_epoch(epoch)
        w = train[0]["waveform"].numpy()
        assert w.shape == (16000,)
        starts.append(int(round(w[0] * 48000)))
    assert len(set(starts)) > 10 and min(starts) >= 0 and max(starts) <= 32000
    train.set_epoch(3)
    again = int(round(train[0]["waveform"][0].item() * 48000))
    assert again == starts[3]
    val = ClipDataset(data, 16000, 16000, train=False)
    assert val[0]["waveform"][0].item() == 0.0


def test_augment_hook_runs_on_training_crops_only(setup, tmp_path):
    import soundfile as sf

    from wavguard.training.data import ClipDataset

    path = tmp_path / "a.wav"
    sf.write(path, np.full(8000, 0.25, np.float32), 16000)
    data = [{"audio": str(path), "label": 1}]
    calls = []

    def augment(samples, sample_rate_hz):
        calls.append(sample_rate_hz)
        return samples * 2 + np.random.uniform(0, 0.01)

    train = ClipDataset(data, 16000, 16000, train=True, augment=augment)
    a, b = train[0]["waveform"], train[0]["waveform"]
    assert calls == [16000, 16000]
    assert torch_allclose(a, b) and abs(float(a[0]) - 0.5) < 0.011  # seeded: same draw both times
    val = ClipDataset(data, 16000, 16000, train=False, augment=augment)
    assert float(val[0]["waveform"][0]) == 0.25 and len(calls) == 2


def torch_allclose(a, b):
    return bool((a == b).all())


def test_spectrogram_baseline_trains_with_the_same_trainer(setup):
    from wavguard import Detector
    from wavguard.metrics import compute_eer
    from wavguard.training import train

    cfg = _config(
        setup,
        "full",
        kind="spectrogram",
        epochs=6,
        detector={"window_seconds": 1.0},
        output_dir=str(setup["tmp"] / "run-baseline"),
    )
    result = train(cfg)
    detector = Detector.from_pretrained(result.best_dir)
    assert detector.config.kind == "spectrogram"
    files = sorted(str(p) for p in setup["data"].rglob("*.wav"))
    labels = np.array([1 if "/fake/" in f else 0 for f in files])
    assert compute_eer(labels, [p.score for p in detector.predict(files)])[0] == 0.0


def test_augment_config_builds_a_seeded_augmenter(setup, tmp_path):
    import soundfile as sf

    from wavguard.audio.augment import Augmenter
    from wavguard.training.data import ClipDataset

    cfg = _config(
        setup, "frozen", augment={"transforms": [{"name": "gain", "p": 1.0, "min_gain_db": -12, "max_gain_db": 12}]}
    )
    assert isinstance(cfg.augment_fn, Augmenter) and not cfg.uses_feature_cache
    path = tmp_path / "tone.wav"
    sf.write(path, np.full(16000, 0.1, np.float32), 16000)
    clips = ClipDataset([{"audio": str(path), "label": 0}], 16000, 16000, train=True, seed=1, augment=cfg.augment_fn)
    gains = []
    for epoch in (0, 1, 0):
        clips.set_epoch(epoch)
        gains.append(float(clips[0]["waveform"][0]) / 0.1)
    assert gains[0] == pytest.approx(gains[2]) and gains[0] != pytest.approx(gains[1])  # a function of (seed, epoch)
    assert all(10 ** (-12 / 20) - 1e-4 <= g <= 10 ** (12 / 20) + 1e-4 for g in gains)


def test_layer_weights_get_their_own_learning_rate(setup):
    """The softmax layer weights train at ``layer_weights_learning_rate``; the head keeps its rate."""
    from wavguard.training import Trainer

    def weight_spread(**kw):
        trainer = Trainer(_config(setup, "frozen", epochs=2, head_learning_rate=1e-3, **kw)).setup()
        lrs = sorted({g["lr"] for g in trainer.optimizer.param_groups})
        trainer.fit()
        logits = trainer.detector.model.layer_sum.logits.detach()
        return lrs, float(logits.max() - logits.min())

    default_lrs, default_spread = weight_spread(output_dir=str(setup["tmp"] / "run-lw-default"))
    fast_lrs, fast_spread = weight_spread(layer_weights_learning_rate=0.1, output_dir=str(setup["tmp"] / "run-lw-fast"))
    assert default_lrs == [1e-3]
    assert fast_lrs == [1e-3, 0.1]
    assert fast_spread > 10 * default_spread > 0
