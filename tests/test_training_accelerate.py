"""accelerate's own settings win: mixed precision and gradient accumulation from its environment
(what ``accelerate launch --mixed_precision bf16 --gradient_accumulation_steps N`` sets) are used
unless the recipe names them explicitly, and the learning-rate schedule counts the accelerator's
actual accumulation."""

from __future__ import annotations

import pytest
import torch
from _train_fixtures import make_folder

pytest.importorskip("accelerate")


@pytest.fixture()
def fresh_accelerate_state():
    """accelerate keeps one process-wide state; each test here builds its own."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from wavguard.testing import tiny_backbone_dir

    tmp = tmp_path_factory.mktemp("accel")
    return {"tmp": tmp, "data": make_folder(tmp / "data", per_class=8),
            "backbone": tiny_backbone_dir("wav2vec2", tmp / "backbone")}


def _config(setup, name, **kw):
    from wavguard.training import TrainConfig

    base = dict(train_data=str(setup["data"]), backbone=str(setup["backbone"]), mode="lora", lora_rank=2, epochs=1,
                batch_size=4, crop_seconds=0.5, detector={"head_channels": [8], "window_seconds": 0.5, "hop_seconds": 0.5},
                warmup_ratio=0.0, scheduler="linear", output_dir=str(setup["tmp"] / name), log_every_steps=1,
                early_stopping_patience=None)
    base.update(kw)
    return TrainConfig(**base)


def _record_head(trainer):
    """Hook the head: the dtype of its input hidden states and whether CPU autocast is on, per forward."""
    seen = []

    def hook(module, args, output):
        if module.training:
            seen.append((args[0].dtype, output.dtype, torch.is_autocast_enabled("cpu")))

    trainer.detector.model.head.register_forward_hook(hook)
    return seen


def test_env_mixed_precision_and_accumulation_win_over_defaults(setup, monkeypatch, fresh_accelerate_state):
    from wavguard.training import Trainer

    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "2")
    cfg = _config(setup, "env-bf16")
    assert cfg.mixed_precision is None and cfg.gradient_accumulation_steps is None
    trainer = Trainer(cfg)
    assert trainer.accelerator.mixed_precision == "bf16"
    assert trainer.accelerator.gradient_accumulation_steps == 2
    trainer.setup()
    seen = _record_head(trainer)
    result = trainer.fit()

    # 16 clips / batch 4 = 4 forward passes, 2 per optimizer step -> 2 steps; the schedule was sized for them
    assert trainer.total_steps == 2 and result.global_step == 2
    assert trainer.scheduler.get_last_lr()[0] == 0.0  # linear decay reached its end exactly
    assert len(seen) == 4
    assert all(autocast for _, _, autocast in seen), seen
    assert all(out_dtype == torch.bfloat16 for _, out_dtype, _ in seen), seen


def test_explicit_recipe_values_override_accelerate(setup, monkeypatch, fresh_accelerate_state):
    from wavguard.training import TrainConfig, Trainer

    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    trainer = Trainer(_config(setup, "explicit-no", mixed_precision="no", gradient_accumulation_steps=2))
    assert trainer.accelerator.mixed_precision == "no"
    trainer.setup()
    seen = _record_head(trainer)
    trainer.fit()
    assert trainer.total_steps == 2
    assert seen and all(out_dtype == torch.float32 and not autocast for _, out_dtype, autocast in seen), seen
    # YAML's `mixed_precision: no` (read as false) stays an explicit "no"; null leaves it to accelerate
    assert TrainConfig.from_dict(_config(setup, "x").to_dict() | {"mixed_precision": False}).mixed_precision == "no"
    assert TrainConfig.from_dict(_config(setup, "x").to_dict() | {"mixed_precision": None}).mixed_precision is None


def test_without_settings_accelerate_defaults_apply(setup, monkeypatch, fresh_accelerate_state):
    from wavguard.training import Trainer

    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    monkeypatch.delenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", raising=False)
    trainer = Trainer(_config(setup, "defaults"))
    assert trainer.accelerator.mixed_precision == "no" and trainer.accelerator.gradient_accumulation_steps == 1
