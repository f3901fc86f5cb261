"""The continuous-learning loop: feedback from the service's log -> fine-tune -> keep only if better.

The old detector learns sines (real) vs white noise (fake). A new kind of fake, brown noise, then
arrives: the old detector scores it as more real than the real sines. Clients label it through
``PredictionStore.add_feedback(..., audio=...)``, exactly as ``POST /v1/feedback`` stores it.
"""

from __future__ import annotations

import io
import json
import sqlite3

import numpy as np
import pytest
import soundfile as sf
from _train_fixtures import RATE_HZ, make_folder

pytest.importorskip("accelerate")

NUM_BROWN = 16
NUM_SINES = 8


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples.astype(np.float32), RATE_HZ, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _brown(rng: np.random.Generator) -> np.ndarray:
    x = np.cumsum(rng.standard_normal(RATE_HZ))
    x -= x.mean()
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _sine(frequency_hz: float) -> np.ndarray:
    t = np.arange(RATE_HZ) / RATE_HZ
    return (0.3 * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from wavguard.feedback.store import PredictionStore
    from wavguard.testing import tiny_backbone_dir
    from wavguard.training import TrainConfig, train

    tmp = tmp_path_factory.mktemp("update")
    data = make_folder(tmp / "data", per_class=12)
    cache = tmp / "cache"
    cfg = TrainConfig(
        train_data=str(data),
        backbone=str(tiny_backbone_dir("wav2vec2", tmp / "bb")),
        mode="frozen",
        epochs=4,
        batch_size=8,
        crop_seconds=1.0,
        detector={"head_channels": [16], "window_seconds": 1.0, "hop_seconds": 1.0},
        head_learning_rate=1e-2,
        warmup_ratio=0.0,
        calibration="none",
        output_dir=str(tmp / "run"),
        cache_dir=str(cache),
    )
    old_dir = train(cfg).best_dir

    rng = np.random.default_rng(1)
    store = PredictionStore(tmp / "log.db")
    brown = [_brown(rng) for _ in range(NUM_BROWN)]
    sines = [_sine(f) for f in rng.uniform(180, 600, NUM_SINES)]
    store.add_feedback("real", audio=_wav(brown[0]))  # superseded by the newer "fake" label below
    for clip in brown:
        store.add_feedback("fake", audio=_wav(clip), note="new vocoder")
    for clip in sines:
        store.add_feedback("real", audio=_wav(clip))
    store.add_feedback("fake", prediction_id="p-1", audio_sha256="ab" * 32)  # label only: not usable
    store.add_feedback("real", prediction_id="p-2")
    store.add_feedback("fake", audio=b"RIFF not really a wav file")  # undecodable: left out
    store.close()
    return {
        "tmp": tmp,
        "data": data,
        "old": old_dir,
        "db": tmp / "log.db",
        "cache": cache,
        "brown": brown,
        "sines": sines,
    }


def _cli(world, out, *extra):
    from wavguard.cli import main

    return main(
        [
            "update",
            str(world["old"]),
            "--feedback",
            str(world["db"]),
            "-o",
            str(out),
            "--replay",
            str(world["data"]),
            "--epochs",
            "6",
            "--bootstrap",
            "50",
            "head_learning_rate=0.01",
            "warmup_ratio=0",
            f"cache_dir={world['cache']}",
            *extra,
        ]
    )


def test_feedback_rows_with_audio_become_a_dataset(world):
    import datasets

    from wavguard.data import decode_audio
    from wavguard.feedback.data import load_feedback, read_feedback

    fb = read_feedback(world["db"])
    assert fb.counts() == {
        "rows": 28,
        "used": 24,
        "used_real": 8,
        "used_fake": 16,
        "without_audio": 2,
        "duplicates": 1,
        "unreadable": 1,
    }
    ds = fb.dataset
    assert isinstance(load_feedback(world["db"]), datasets.Dataset)  # as docs/continuous-learning.md promises
    assert load_feedback(world["db"])["feedback_id"] == ds["feedback_id"]
    assert type(ds.features["audio"]).__name__ == "Audio" and ds.features["audio"].decode is False
    assert ds.features["label"].names == ["real", "fake"]
    assert list(ds["label"]) == [1] * NUM_BROWN + [0] * NUM_SINES  # the duplicate keeps its newest label
    assert set(ds["source"]) == {"feedback"} and list(ds["feedback_id"])[:2] == [2, 3]
    assert ds[0]["duration_seconds"] == pytest.approx(1.0)
    np.testing.assert_allclose(decode_audio(ds[0]["audio"], RATE_HZ), world["brown"][0], atol=1 / 16384)


def test_update_starts_from_the_deployed_weights(world, tmp_path):
    from wavguard import Detector
    from wavguard.feedback.data import load_feedback
    from wavguard.training import TrainConfig, Trainer

    cfg = TrainConfig(
        train_data=load_feedback(world["db"]),
        init_from=str(world["old"]),
        epochs=1,
        batch_size=8,
        crop_seconds=1.0,
        output_dir=str(tmp_path / "run"),
        cache_dir=str(world["cache"]),
    )
    trainer = Trainer(cfg).setup()
    old = Detector.from_pretrained(world["old"])
    started = trainer.detector.model.state_dict()
    for name, tensor in old.model.state_dict().items():
        assert torch_equal(started[name], tensor), name
    assert trainer.detector.config.extra["training"]["init_from"] == str(world["old"])
    with pytest.raises(Exception, match="keeps that detector's architecture"):
        TrainConfig(train_data="x", init_from=str(world["old"]), backbone="facebook/wav2vec2-base")


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_init_from_in_lora_and_full_mode(world, tmp_path):
    from wavguard import Detector
    from wavguard.errors import ConfigError
    from wavguard.training import TrainConfig, Trainer, train
    from wavguard.training.trainer import _cache_settings

    def config(source, mode, name, epochs=1):
        return TrainConfig(
            train_data=str(world["data"]),
            init_from=str(source),
            mode=mode,
            epochs=epochs,
            batch_size=8,
            crop_seconds=1.0,
            output_dir=str(tmp_path / name),
            cache_dir=str(world["cache"]),
            calibration="none",
        )

    full = Trainer(config(world["old"], "full", "full")).setup()
    trainable = {n for n, p in full.detector.model.named_parameters() if p.requires_grad}
    assert any(n.startswith("backbone.") for n in trainable) and full.detector.config.freeze == "feature_encoder"

    lora_dir = train(config(world["old"], "lora", "lora")).best_dir  # new adapters on the deployed detector
    assert (lora_dir / "adapter" / "adapter_config.json").is_file()
    again = Trainer(config(lora_dir, "lora", "lora-again")).setup()  # the saved adapters train on
    trainable = {n for n, p in again.detector.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or not n.startswith("backbone.") for n in trainable)
    assert any("lora_" in n for n in trainable)
    saved = Detector.from_pretrained(lora_dir).model.state_dict()
    for name, tensor in again.detector.model.state_dict().items():
        assert torch_equal(tensor, saved[name]), name
    with pytest.raises(ConfigError, match="has LoRA adapters"):
        Trainer(config(lora_dir, "full", "bad")).setup()
    # frozen features of a LoRA detector differ from the reference backbone's: other cache keys
    dcfg = again.detector.config
    assert "init_from" in _cache_settings(config(lora_dir, "frozen", "x"), dcfg, 16000)
    assert "init_from" not in _cache_settings(config(world["old"], "frozen", "x"), dcfg, 16000)


def test_update_fixes_the_new_fake_and_writes_the_model(world, capsys):
    from wavguard import Detector

    out = world["tmp"] / "models" / "v2"
    assert _cli(world, out) == 0
    printed = capsys.readouterr().out
    assert "**ACCEPTED**" in printed and "feedback rows without audio (not used) | 2 |" in printed

    report = json.loads((out / "update_report" / "update.json").read_text())
    assert report["accepted"] is True
    assert report["new"]["eer"] < report["old"]["eer"] - 0.2, (report["old"]["eer"], report["new"]["eer"])
    assert report["old"]["groups"]["source"]["feedback"]["eer"] >= 0.5  # the old model misses the new fake
    assert report["new"]["groups"]["source"]["replay"]["eer"] == 0.0  # ... and the update did not forget
    assert (out / "update_report" / "report.md").is_file() and (out / "update_report" / "new" / "report.md").is_file()
    holdout = report["counts"]["holdout"]
    assert holdout["from"] == "split" and holdout["feedback"] > 0 and holdout["replay"] > 0
    assert report["counts"]["train"]["feedback"] + holdout["feedback"] == 24
    assert report["counts"]["train"]["replay"] + holdout["replay"] == 24  # replay_fraction 0.5: as many as feedback

    new = Detector.from_pretrained(out)
    entry = new.config.extra["updates"][-1]
    assert entry["feedback_count"] == 24 and entry["feedback_without_audio"] == 2
    assert entry["replay_count"] == report["counts"]["train"]["replay"]
    assert entry["old_eer"] == report["old"]["eer"] and entry["new_eer"] == report["new"]["eer"]
    assert entry["date"].startswith("20") and new.config.extra["training"]["train_data"] == str(world["data"])

    fresh = [_brown(np.random.default_rng(99 + i)) for i in range(4)]  # brown noise the training never saw
    old = Detector.from_pretrained(world["old"])
    old_scores = np.array([p.score for p in old.predict(fresh, RATE_HZ)])
    new_scores = np.array([p.score for p in new.predict(fresh, RATE_HZ)])
    assert (new_scores > old_scores).all()
    assert [p.label for p in new.predict(fresh, RATE_HZ)] == ["fake"] * 4
    assert not any(p.name.startswith(".v2.update-") for p in out.parent.iterdir())  # the work folder is gone


def test_update_that_is_not_better_is_refused(world, capsys):
    out = world["tmp"] / "models" / "refused"
    holdout = make_folder(world["tmp"] / "holdout", per_class=4, seed=7)
    assert _cli(world, out, "--min-improvement", "1.0", "--epochs", "1", "--holdout", str(holdout)) == 4
    printed = capsys.readouterr().out
    assert "**REFUSED**" in printed and "not written" in printed
    assert not out.exists()
    report = out.parent / "refused.update_report"
    data = json.loads((report / "update.json").read_text())
    assert data["accepted"] is False and data["reason"].startswith("refused: new hold-out EER")
    assert data["counts"]["holdout"] == {"total": 8, "real": 4, "fake": 4, "from": str(holdout)}
    assert data["counts"]["train"]["feedback"] == 24  # with a separate hold-out set, all feedback trains
    assert (report / "report.md").read_text().count("REFUSED") == 1
    assert not any(p.name.startswith(".refused.update-") for p in out.parent.iterdir())


def test_database_without_audio_is_a_clear_error(world, tmp_path, capsys):
    from wavguard.cli import main
    from wavguard.errors import ConfigError
    from wavguard.feedback.store import PredictionStore
    from wavguard.feedback.update import update_detector

    store = PredictionStore(tmp_path / "labels-only.db")
    store.add_feedback("fake", prediction_id="p-1")
    store.close()
    with pytest.raises(ConfigError, match="none of its 1 feedback rows carries usable audio.*--store-feedback-audio"):
        update_detector(world["old"], tmp_path / "labels-only.db", tmp_path / "new")
    assert (
        main(["update", str(world["old"]), "--feedback", str(tmp_path / "labels-only.db"), "-o", str(tmp_path / "new")])
        == 2
    )
    assert "--store-feedback-audio" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()

    with pytest.raises(ConfigError, match="no such feedback database"):
        update_detector(world["old"], tmp_path / "missing.db", tmp_path / "new")
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ConfigError, match="has no 'feedback' table"):
        update_detector(world["old"], tmp_path / "other.db", tmp_path / "new")
    one_class = PredictionStore(tmp_path / "fakes-only.db")
    one_class.add_feedback("fake", audio=_wav(world["brown"][0]))
    one_class.add_feedback("fake", audio=_wav(world["brown"][1]))
    one_class.close()
    with pytest.raises(
        ConfigError,
        match="0 real and .* fake clips; it needs both classes; add the original training data with --replay",
    ):
        update_detector(world["old"], tmp_path / "fakes-only.db", tmp_path / "new")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        update_detector(world["old"], world["db"], tmp_path / "taken")


@pytest.mark.parametrize(
    ("old", "new", "min_improvement", "accepted"),
    [
        ({"eer": 0.20, "roc_auc": 0.90}, {"eer": 0.10, "roc_auc": 0.95}, 0.0, True),
        ({"eer": 0.20, "roc_auc": 0.90}, {"eer": 0.25, "roc_auc": 0.99}, 0.0, False),
        ({"eer": 0.20, "roc_auc": 0.90}, {"eer": 0.15, "roc_auc": 0.95}, 0.10, False),
        ({"eer": 0.20, "roc_auc": 0.90}, {"eer": 0.20, "roc_auc": 0.90}, 0.0, True),  # tie, AUC not lower
        ({"eer": 0.20, "roc_auc": 0.90}, {"eer": 0.20, "roc_auc": 0.89}, 0.0, False),  # tie, AUC lower
        ({"eer": 0.30, "roc_auc": 0.90}, {"eer": 0.20, "roc_auc": 0.91}, 0.10, True),  # exactly at the bar
    ],
)
def test_decision_rule(old, new, min_improvement, accepted):
    from wavguard.feedback.update import decide

    keep, reason = decide(old, new, min_improvement)
    assert keep is accepted and reason.startswith("accepted" if accepted else "refused")


def test_holdout_split_and_replay_sample_are_stratified_and_seeded():
    from wavguard.feedback.update import replay_sample, stratified_holdout

    strata = ["feedback/1"] * 8 + ["feedback/0"] * 4 + ["replay/0"] * 6 + ["replay/1"] * 6 + ["replay/1-alone"]
    train, held = stratified_holdout(strata, 0.25, seed=3)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(25))
    assert [sum(strata[i] == s for i in held) for s in ("feedback/1", "feedback/0", "replay/0", "replay/1")] == [
        2,
        1,
        2,
        2,
    ]
    assert 24 in train  # a one-row stratum stays in training
    np.testing.assert_array_equal(held, stratified_holdout(strata, 0.25, seed=3)[1])
    assert not np.array_equal(held, stratified_holdout(strata, 0.25, seed=4)[1])

    labels = np.array([0] * 30 + [1] * 10)
    picked = replay_sample(labels, 20, seed=0)
    assert picked.size == 20 and np.unique(picked).size == 20 and labels[picked].sum() == 5
    np.testing.assert_array_equal(picked, replay_sample(labels, 20, seed=0))
    assert replay_sample(labels, 100, seed=0).size == 40 and replay_sample(labels, 0, seed=0).size == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"replay_fraction": 1.0}, r"replay_fraction must be in \[0, 1\), got 1.0"),
        ({"holdout_fraction": 0.0}, r"holdout_fraction must be in \(0, 1\), got 0.0"),
        ({"validation_fraction": -0.1}, r"validation_fraction must be in \[0, 1\)"),
        ({"min_improvement": float("nan")}, "min_improvement must be a finite number"),
        ({"epochs": 0}, "epochs must be a whole number >= 1, got 0"),
        ({"holdout_batch_size": 2.5}, "holdout_batch_size must be a whole number >= 1, got 2.5"),
        ({"bootstrap_resamples": -1}, "bootstrap_resamples must be a whole number >= 0"),
        ({"mode": "head"}, "mode must be one of frozen, lora, full"),
        ({"train_settings": ["lr=0.1"]}, "train_settings must be a mapping"),
    ],
)
def test_update_config_refuses_bad_values(settings, message):
    from wavguard.errors import ConfigError
    from wavguard.feedback.update import UpdateConfig

    with pytest.raises(ConfigError, match=message):
        UpdateConfig(**settings)


def test_update_config_is_frozen_and_reads_no_data_as_none(tmp_path, capsys):
    import dataclasses

    from wavguard.cli import main
    from wavguard.feedback.update import UpdateConfig

    config = UpdateConfig(replay=[], holdout="")
    assert config.replay is None and config.holdout is None and config.mode is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 2  # type: ignore[misc]
    # the CLI builds one before it reads anything: a bad value is a usage error
    assert (
        main(
            [
                "update",
                "M",
                "--feedback",
                str(tmp_path / "none.db"),
                "-o",
                str(tmp_path / "new"),
                "--replay-fraction",
                "1",
            ]
        )
        == 2
    )
    assert "replay_fraction must be in [0, 1)" in capsys.readouterr().err
