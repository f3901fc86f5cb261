"""Sharpness-aware minimisation: the ascent step's exact values, the gradient it leaves for the
optimizer, BatchNorm statistics, the settings, and a tiny training run that learns with it."""

from __future__ import annotations

import math

import pytest
import torch
from _train_fixtures import make_folder, tiny_config
from torch import nn

from wavguard.errors import ConfigError
from wavguard.training.sam import ASAM_ETA, SamConfig, ascend, frozen_batch_norm_stats, restore


def _param(values, grad):
    p = nn.Parameter(torch.tensor(values, dtype=torch.float64))
    p.grad = torch.tensor(grad, dtype=torch.float64)
    return p


def test_sam_ascent_moves_rho_along_the_normalised_gradient_and_restores_exactly():
    a, b = _param([3.0, 4.0], [3.0, 0.0]), _param([1.0], [4.0])  # ||g|| over both = 5
    frozen = nn.Parameter(torch.tensor([7.0], dtype=torch.float64))  # no gradient: not moved
    saved = ascend([a, b, frozen], rho=0.5)
    assert a.tolist() == pytest.approx([3.3, 4.0], abs=1e-12)
    assert b.tolist() == pytest.approx([1.4], abs=1e-12)
    assert frozen.tolist() == [7.0] and len(saved) == 2
    restore(saved)
    assert a.tolist() == [3.0, 4.0] and b.tolist() == [1.0]  # copied back, not subtracted


def test_asam_ascent_scales_each_weight_by_its_size():
    p = _param([1.0, -2.0], [1.0, 1.0])
    t = [1.0 + ASAM_ETA, 2.0 + ASAM_ETA]  # T = |w| + eta
    norm = math.hypot(t[0] * 1.0, t[1] * 1.0)  # ||T g||
    ascend([p], rho=0.2, adaptive=True)
    assert p.tolist() == pytest.approx([1.0 + 0.2 * t[0] ** 2 / norm, -2.0 + 0.2 * t[1] ** 2 / norm], abs=1e-12)


def test_a_zero_or_non_finite_gradient_moves_nothing():
    p = _param([1.0, 2.0], [0.0, 0.0])
    assert ascend([p], rho=0.05) == [] and p.tolist() == [1.0, 2.0]
    q = _param([1.0], [math.nan])
    assert ascend([q], rho=0.05) == [] and q.tolist() == [1.0]


def test_the_optimizer_steps_with_the_gradient_at_the_ascended_weights():
    from accelerate import Accelerator

    from wavguard.training.sam import sharpness_aware_backward

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    model.train()

    def loss_of(m):
        return ((m(x) - y) ** 2).mean()

    # by hand: g at w, w + e, the gradient there
    reference = [p.detach().clone() for p in model.parameters()]
    loss_of(model).backward()
    grads = [p.grad.detach().clone() for p in model.parameters()]
    norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
    moved = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    moved.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p, g in zip(moved.parameters(), grads):
            p.add_(g * (0.1 / norm))
    moved.train()
    loss_of(moved).backward()
    expected = [p.grad.detach().clone() for p in moved.parameters()]

    stats = model[1].running_mean.clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    sharpness_aware_backward(Accelerator(cpu=True), model, lambda: loss_of(model), optimizer, {"rho": 0.1})
    for p, w, g in zip(model.parameters(), reference, expected):
        assert torch.equal(p.detach(), w)  # back at w exactly
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)
    assert torch.equal(model[1].running_mean, stats)  # the second pass leaves BatchNorm's statistics alone
    assert model[1].momentum == 0.1  # and gives its momentum back


def test_frozen_batch_norm_stats_restores_momentum_after_an_error():
    bn = nn.BatchNorm1d(2, momentum=None)
    with pytest.raises(RuntimeError, match="boom"), frozen_batch_norm_stats(bn):
        assert bn.momentum == 0.0
        raise RuntimeError("boom")
    assert bn.momentum is None


def test_sam_settings_are_checked():
    from wavguard.training import TrainConfig

    assert TrainConfig(train_data="x", backbone="b", sam=True).sam == {"rho": 0.05, "adaptive": False}
    assert TrainConfig(train_data="x", backbone="b", sam={"rho": "0.5", "adaptive": True}).sam == {
        "rho": 0.5,
        "adaptive": True,
    }
    assert SamConfig.from_value(None) is None
    for bad, match in [
        ({"rho": 0}, "sam.rho must be a positive number"),
        ({"rho": "wide"}, "sam.rho must be a positive number"),
        ({"rh": 0.1}, r"sam: unknown keys \['rh'\]"),
        ({"adaptive": "yes"}, "sam.adaptive must be true or false"),
        ("on", "sam must be null, true or a mapping"),
    ]:
        with pytest.raises(ConfigError, match=match):
            TrainConfig(train_data="x", backbone="b", sam=bad)
    with pytest.raises(ConfigError, match="gradient_accumulation_steps=2 splits a step"):
        TrainConfig(train_data="x", backbone="b", sam=True, gradient_accumulation_steps=2)


def test_training_with_sam_learns(tmp_path, monkeypatch):
    import wavguard.training.loop as loop
    from wavguard.testing import tiny_backbone_dir
    from wavguard.training import Trainer

    calls = []
    original = loop.sharpness_aware_backward
    monkeypatch.setattr(loop, "sharpness_aware_backward", lambda *a, **k: calls.append(1) or original(*a, **k))
    data = make_folder(tmp_path / "data", per_class=12)
    cfg = tiny_config(
        data,
        data,
        tiny_backbone_dir("wav2vec2", tmp_path / "backbone"),
        tmp_path / "run",
        tmp_path / "cache",
        cache_features=False,
        epochs=6,
        sam={"rho": 0.05},
    )
    result = Trainer(cfg).fit()
    assert len(calls) == 6 * 3  # every step of every epoch (24 clips in batches of 8)
    assert result.best_eer <= 0.25, result.history
    import yaml

    recorded = yaml.safe_load((tmp_path / "run" / "train_config.yaml").read_text())
    assert recorded["sam"] == {"rho": 0.05, "adaptive": False}
