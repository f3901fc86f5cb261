"""Adversarial perturbations: the SNR budget, the loss they raise, and their training/evaluation settings."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

from wavguard.errors import ConfigError
from wavguard.models.adversarial import attack, fgsm, perturbation_budget, pgd, snr_db_of
from wavguard.training.adversarial import AdversarialConfig, AdversarialTraining

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny():
    from wavguard.testing import chirp, tiny_detector

    det = tiny_detector("wav2vec2", window_seconds=0.5)
    rng = np.random.default_rng(0)
    clips = [chirp(0.5, f0_hz=200 + 50 * i) for i in range(3)] + [
        (0.1 * rng.standard_normal(8000 - 1000 * i)).astype(np.float32) for i in range(3)
    ]
    lengths = torch.tensor([c.shape[0] for c in clips])
    batch = torch.zeros(len(clips), int(lengths.max()))
    for i, c in enumerate(clips):
        batch[i, : c.shape[0]] = torch.from_numpy(c)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    return det, batch, lengths, labels


def _loss_fn(model, lengths, labels):
    return lambda x: torch.nn.functional.cross_entropy(model(x, lengths), labels, reduction="sum")


def test_budget_and_snr_are_exact_on_hand_made_signals():
    x = torch.tensor([[3.0, 4.0, 0.0], [1.0, 0.0, 0.0]])
    lengths = torch.tensor([3, 1])
    # ||x|| = 5 and 1; 20 dB below: norms 0.5 and 0.1
    assert perturbation_budget(x, lengths, 20.0).tolist() == pytest.approx([0.5, 0.1])
    delta = torch.tensor([[0.0, 0.0, 0.5], [0.1, 9.0, 9.0]])  # row 1's padding does not count
    assert snr_db_of(x, delta, lengths).tolist() == pytest.approx([20.0, 20.0])


@pytest.mark.parametrize("snr", [10.0, 30.0, 47.5])
def test_fgsm_has_the_requested_snr_and_raises_the_loss(tiny, snr):
    det, batch, lengths, labels = tiny
    model = det.model.eval()
    loss_fn = _loss_fn(model, lengths, labels)
    adv = fgsm(loss_fn, batch, lengths, snr)
    achieved = snr_db_of(batch, adv - batch, lengths)
    assert torch.all((achieved - snr).abs() < 0.01), achieved
    # padding untouched
    for i, n in enumerate(lengths.tolist()):
        assert torch.equal(adv[i, n:], batch[i, n:])
    with torch.no_grad():
        clean_losses = torch.nn.functional.cross_entropy(model(batch, lengths), labels, reduction="none")
        adv_losses = torch.nn.functional.cross_entropy(model(adv, lengths), labels, reduction="none")
    assert torch.all(adv_losses > clean_losses), (clean_losses, adv_losses)


def test_pgd_stays_in_the_budget_and_beats_fgsm(tiny):
    det, batch, lengths, labels = tiny
    model = det.model.eval()
    loss_fn = _loss_fn(model, lengths, labels)
    adv = pgd(loss_fn, batch, lengths, 20.0, steps=5)
    achieved = snr_db_of(batch, adv - batch, lengths)
    assert torch.all(achieved >= 20.0 - 1e-3), achieved
    with torch.no_grad():
        clean = float(loss_fn(batch))
        after_pgd = float(loss_fn(adv))
        after_fgsm = float(loss_fn(attack(loss_fn, batch, lengths, method="fgsm", snr_db=20.0)))
    assert after_pgd > clean and after_pgd >= 0.99 * after_fgsm
    with pytest.raises(ValueError, match="method"):
        attack(loss_fn, batch, lengths, method="cw", snr_db=20.0)


def test_training_perturber_replaces_a_seeded_share_and_leaves_the_model_as_it_was(tiny):
    from wavguard.training.losses import WeightedCrossEntropy

    det, batch, lengths, labels = tiny
    model = det.model.train()
    running = model.head.blocks[0][1].running_mean.clone()
    perturber = AdversarialTraining(AdversarialConfig("fgsm", 30.0, probability=0.5), WeightedCrossEntropy(), seed=1)
    data = {"waveforms": batch, "lengths": lengths, "labels": labels}
    out = perturber(model, data, step=7)
    again = perturber(model, data, step=7)
    torch.testing.assert_close(out["waveforms"], again["waveforms"])  # seeded by (seed, step)
    changed = [not torch.equal(out["waveforms"][i], batch[i]) for i in range(len(labels))]
    assert 0 < sum(changed) < len(labels)
    assert model.training and torch.equal(model.head.blocks[0][1].running_mean, running)  # no BatchNorm update
    every = AdversarialTraining(AdversarialConfig("pgd", 30.0, steps=2, probability=1.0), WeightedCrossEntropy())(
        model, data, 0
    )
    assert all(not torch.equal(every["waveforms"][i], batch[i]) for i in range(len(labels)))
    with pytest.raises(ConfigError, match="cached features"):
        perturber(model, {"states": torch.zeros(1), "labels": labels}, 0)


def test_adversarial_settings_are_validated():
    from wavguard.training import TrainConfig

    cfg = AdversarialConfig.from_value({"method": "pgd", "snr_db": "25", "steps": 4})
    assert dataclasses.asdict(cfg) == {"method": "pgd", "snr_db": 25.0, "steps": 4, "probability": 0.5}
    assert AdversarialConfig.from_value(None) is None
    for bad, match in [
        ({"method": "cw"}, "method"),
        ({"snr_db": "loud"}, "adversarial"),
        ({"steps": 0}, "steps"),
        ({"probability": 0}, "probability"),
        ({"eps": 0.1}, "unknown"),
        ("fgsm", "mapping"),
    ]:
        with pytest.raises(ConfigError, match=match):
            AdversarialConfig.from_value(bad)
    base = dict(train_data="data/", backbone="b", adversarial={"method": "fgsm", "snr_db": 30})
    with pytest.raises(ConfigError, match="cache_features=false"):
        TrainConfig(**base)  # frozen mode trains on cached clean features
    assert TrainConfig(**base, cache_features=False).adversarial["snr_db"] == 30.0
    assert TrainConfig(**base, mode="lora").adversarial == {
        "method": "fgsm",
        "snr_db": 30.0,
        "steps": 3,
        "probability": 0.5,
    }
    cfg = TrainConfig(train_data="data/", backbone="b", mode="full").with_overrides(
        ["adversarial.method=pgd", "adversarial.snr_db=20"]
    )
    assert cfg.adversarial["method"] == "pgd" and cfg.adversarial["snr_db"] == 20.0


def test_offline_recipe_accepts_the_new_keys():
    from pathlib import Path

    import yaml

    from wavguard.training import TrainConfig
    from wavguard.training.overrides import apply_overrides

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "offline_corpus" / "train.yaml"
    settings = {**yaml.safe_load(recipe.read_text()), "backbone": "b", "train_data": "data/"}
    cfg = TrainConfig.from_dict(settings)
    assert (cfg.loss, cfg.loss_options, cfg.adversarial) == ("ce", {}, None)  # today's choices, until the study
    study = TrainConfig.from_dict(
        apply_overrides(
            settings,
            [
                "loss=ocsoftmax",
                "loss_options.alpha=10",
                "adversarial.method=pgd",
                "adversarial.snr_db=25",
                "crop_seconds=8",
                "detector.aggregation=topk",
            ],
        )
    )
    assert study.loss == "ocsoftmax" and study.loss_options == {"alpha": 10}
    assert study.adversarial == {"method": "pgd", "snr_db": 25.0, "steps": 3, "probability": 0.5}
    assert study.crop_seconds == 8.0 and study.detector["aggregation"] == "topk"
    with pytest.raises(ConfigError, match="loss must be one of"):
        TrainConfig.from_dict({**settings, "loss": "focal"})
    with pytest.raises(ConfigError, match="spectrogram"):
        TrainConfig(train_data="d", kind="spectrogram", mode="full", loss="ocsoftmax")


def test_clip_attack_pushes_each_class_the_wrong_way_through_the_whole_scoring_path():
    """attack_clip differentiates windows, aggregation and calibration: on a spectrogram baseline
    (a non-smooth front end) PGD raises a real clip's FAKE margin and lowers a fake clip's."""
    from wavguard.detector import build_baseline_detector
    from wavguard.evaluation.adversarial import attack_clip
    from wavguard.testing import chirp

    det = build_baseline_detector("lfcc", window_seconds=1.0, aggregation="max")
    x = chirp(1.7)  # two windows, the second partial
    margin = lambda a: det.predict(a, sample_rate=16000).logit_margin  # noqa: E731
    clean = margin(x)
    as_real, as_fake = attack_clip(det, x, 0, 40.0, "pgd", 3), attack_clip(det, x, 1, 40.0, "pgd", 3)
    assert margin(as_real) > clean > margin(as_fake)
    for adv in (as_real, as_fake):
        snr = float(snr_db_of(torch.from_numpy(x)[None], torch.from_numpy(adv - x)[None])[0])
        assert snr >= 40.0 - 1e-3
