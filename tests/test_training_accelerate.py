"""accelerate's own settings win: mixed precision and gradient accumulation from its environment
(``accelerate launch --mixed_precision bf16``, ``ACCELERATE_GRADIENT_ACCUMULATION_STEPS``) are used
unless the recipe names them explicitly, and the learning-rate schedule counts the accelerator's
actual accumulation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from _train_fixtures import make_folder, make_hub_folder

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
    return {
        "tmp": tmp,
        "data": make_folder(tmp / "data", per_class=8),
        "backbone": tiny_backbone_dir("wav2vec2", tmp / "backbone"),
    }


def _config(setup, name, **kw):
    from wavguard.training import TrainConfig

    base = dict(
        train_data=str(setup["data"]),
        backbone=str(setup["backbone"]),
        mode="lora",
        lora_rank=2,
        epochs=1,
        batch_size=4,
        crop_seconds=0.5,
        detector={"head_channels": [8], "window_seconds": 0.5, "hop_seconds": 0.5},
        warmup_ratio=0.0,
        scheduler="linear",
        output_dir=str(setup["tmp"] / name),
        log_every_steps=1,
        early_stopping_patience=None,
    )
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
    from wavguard.training import TrainConfig, Trainer

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
    # the run's settings record the precision accelerate chose, not the unset (null) setting
    saved = yaml.safe_load((Path(cfg.output_dir) / "train_config.yaml").read_text())
    assert saved["mixed_precision"] == "bf16"
    assert TrainConfig.from_dict(saved).mixed_precision == "bf16"  # and read back as a recipe


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


LAUNCHED = """
import json, sys, torch
from wavguard.training import TrainConfig, Trainer

hub, backbone, out = sys.argv[1:4]
cfg = TrainConfig(train_data=hub, train_split="train", backbone=backbone, mode="lora", lora_rank=2, epochs=1,
                  batch_size=4, crop_seconds=0.5, detector={"head_channels": [8], "window_seconds": 0.5, "hop_seconds": 0.5},
                  warmup_ratio=0.0, scheduler="linear", early_stopping_patience=None, calibration="none", output_dir=out)
trainer = Trainer(cfg).setup()
seen = []
trainer.detector.model.head.register_forward_hook(
    lambda m, a, o: seen.append([str(o.dtype), torch.is_autocast_enabled("cpu")]) if m.training else None)
result = trainer.fit()
acc = trainer.accelerator
with open(out + "/launched.json", "w") as fh:
    json.dump({"mixed_precision": acc.mixed_precision, "accumulation": acc.gradient_accumulation_steps,
               "num_processes": acc.num_processes, "total_steps": trainer.total_steps, "steps": result.global_step,
               "last_lr": trainer.scheduler.get_last_lr()[0], "seen": seen}, fh)
"""


def test_accelerate_launch_mixed_precision_bf16_trains_on_hub_layout_data(setup, tmp_path):
    """`ACCELERATE_GRADIENT_ACCUMULATION_STEPS=2 accelerate launch --cpu --mixed_precision bf16` on data
    in the Hub layout: forward passes under bf16 autocast, the schedule sized for 2 accumulated passes.
    (accelerate launch's own --gradient_accumulation_steps flag is passed on for DeepSpeed only.)"""
    hub = make_hub_folder(tmp_path / "hub")  # 8 training rows
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(LAUNCHED))
    out = tmp_path / "run"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}
    env.update(
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(Path(__file__).parents[1] / "src"),
        ACCELERATE_GRADIENT_ACCUMULATION_STEPS="2",
    )
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--cpu",
        "--num_processes",
        "1",
        "--num_machines",
        "1",
        "--mixed_precision",
        "bf16",
        "--dynamo_backend",
        "no",
        str(script),
        str(hub),
        str(setup["backbone"]),
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((out / "launched.json").read_text())
    assert got["mixed_precision"] == "bf16" and got["accumulation"] == 2 and got["num_processes"] == 1
    assert got["total_steps"] == 1 and got["steps"] == 1 and got["last_lr"] == 0.0  # 2 batches of 4 -> 1 step
    assert got["seen"] == [["torch.bfloat16", True]] * 2
