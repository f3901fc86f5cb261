"""A run killed mid-epoch and resumed ends with the same weights and metrics as an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _train_fixtures import make_folder

pytest.importorskip("accelerate")

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
RUNNER = (
    "import sys; sys.path[:0] = [{tests!r}, {src!r}]\nfrom wavguard.cli import main; sys.exit(main(sys.argv[1:]))\n"
)


def _train(tmp: Path, out: Path, *extra: str, exit_after: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(SRC)}
    env.pop("WAVGUARD_TRAIN_EXIT_AFTER_STEP", None)
    if exit_after is not None:
        env["WAVGUARD_TRAIN_EXIT_AFTER_STEP"] = str(exit_after)
    code = RUNNER.format(tests=str(TESTS), src=str(SRC))
    cmd = [sys.executable, "-c", code, "train", str(tmp / "recipe.yaml"), f"output_dir={out}", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)


def _train_here(recipe: Path, *outputs: Path) -> None:
    """``wavguard train recipe`` into each of ``outputs`` in this process, on one torch thread (the
    kernels of the one-thread subprocesses, the same order of float sums on every run)."""
    import torch

    from wavguard.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for out in outputs:
            assert main(["train", str(recipe), f"output_dir={out}"]) == 0
    finally:
        torch.set_num_threads(threads)


def _tensors(best: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    out = {f"head.{k}": v for k, v in load_file(str(best / "model.safetensors")).items()}
    out.update({f"backbone.{k}": v for k, v in load_file(str(best / "backbone" / "model.safetensors")).items()})
    return out


def _records(out: Path) -> list[dict]:
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("epoch_seconds", None)
    return rows


def test_killed_run_resumes_to_identical_weights(tmp_path):
    from wavguard.testing import tiny_backbone_dir

    data = make_folder(tmp_path / "data", per_class=8, seconds=1.5)
    backbone = tiny_backbone_dir("wav2vec2", tmp_path / "bb")
    # full fine-tuning: random crops, dropout and SpecAugment-style masking all draw randomness
    (tmp_path / "recipe.yaml").write_text(
        f"train_data: {data}\nbackbone: {backbone}\nmode: full\nfreeze_feature_encoder: false\n"
        "epochs: 2\nbatch_size: 4\ncrop_seconds: 1.0\ncheckpoint_every_steps: 2\nkeep_checkpoints: 3\n"
        "log_every_steps: 1\nhead_learning_rate: 0.005\nbackbone_learning_rate: 0.001\n"
        "detector: {head_channels: [8], head_dropout: 0.3, window_seconds: 1.0, hop_seconds: 1.0}\n"
    )
    # the uninterrupted run in this process, on one thread like the subprocesses (same kernels)
    _train_here(tmp_path / "recipe.yaml", tmp_path / "straight")

    # 16 clips / 4 = 4 steps per epoch; checkpoints at steps 2, 4 (epoch end) and 6; die after step 7
    killed = _train(tmp_path, tmp_path / "resumed", exit_after=7)
    assert killed.returncode == 3, killed.stderr[-3000:]
    checkpoints = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())
    assert checkpoints == ["step-00000002", "step-00000004", "step-00000006"]
    resumed = _train(tmp_path, tmp_path / "resumed", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr and "step-00000006" in resumed.stderr

    a, b = _tensors(tmp_path / "straight" / "best"), _tensors(tmp_path / "resumed" / "best")
    assert a.keys() == b.keys() and len(a) > 20
    worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    assert worst <= 1e-6, worst
    assert _records(tmp_path / "straight") == _records(tmp_path / "resumed")
    # and training really moved the weights away from the initial backbone
    from safetensors.numpy import load_file

    init = load_file(str(backbone / "model.safetensors"))
    moved = [k for k in init if f"backbone.{k}" in a and not np.allclose(init[k], a[f"backbone.{k}"])]
    assert len(moved) > 10


def test_two_runs_with_the_recipes_augmentation_train_identically(tmp_path):
    """The recipe's channel augmentation (gain, noise, MP3, telephone band, reverb) is drawn from the
    run's seed alone: the same settings trained twice in one process give the same losses and weights."""
    from wavguard.testing import tiny_backbone_dir

    data = make_folder(tmp_path / "data", per_class=8, seconds=1.5)
    backbone = tiny_backbone_dir("whisper", tmp_path / "bb")
    (tmp_path / "recipe.yaml").write_text(
        f"train_data: {data}\nbackbone: {backbone}\nmode: lora\nepochs: 2\nbatch_size: 4\ncrop_seconds: 1.0\n"
        "log_every_steps: 1\nhead_learning_rate: 0.005\n"
        "detector: {head_channels: [8], head_dropout: 0.3, window_seconds: 1.0, hop_seconds: 1.0}\n"
        "augment:\n  transforms:\n"
        "    - {name: gain, p: 0.5, min_gain_db: -6, max_gain_db: 6}\n"
        "    - {name: gaussian_snr, p: 0.5, min_snr_db: 10, max_snr_db: 40}\n"
        "    - {name: mp3, p: 0.5}\n    - {name: telephone, p: 0.5}\n    - {name: reverb, p: 0.5}\n"
    )
    _train_here(tmp_path / "recipe.yaml", tmp_path / "first", tmp_path / "second")
    first, second = _records(tmp_path / "first"), _records(tmp_path / "second")
    assert len(first) == 10 and first == second  # 8 logged steps and 2 epochs, every loss equal
    assert first[0]["train_loss"] != first[1]["train_loss"]
    from safetensors.numpy import load_file

    for name in ("model.safetensors", "adapter/adapter_model.safetensors"):  # the head, the LoRA weights
        a, b = (load_file(str(tmp_path / run / "best" / name)) for run in ("first", "second"))
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), name
