"""Two CPU processes train one detector (DDP over gloo), launched with ``torchrun``.

(``accelerate launch --cpu --num_processes 2`` starts a single process with accelerate 1.15
unless an MPI launcher is configured; ``torchrun`` + ``ACCELERATE_USE_CPU=1`` gives the same
MULTI_CPU setup the Accelerator sees under any launcher.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from _train_fixtures import make_folder

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["frozen", "lora"])
def test_accelerate_launch_two_cpu_processes(tmp_path, mode):
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun not installed")
    from wavguard.testing import tiny_backbone_dir

    data = make_folder(tmp_path / "data", per_class=8)
    backbone = tiny_backbone_dir("wav2vec2", tmp_path / "bb")
    (tmp_path / "recipe.yaml").write_text(
        f"train_data: {data}\nvalidation_data: {data}\nbackbone: {backbone}\nmode: {mode}\nepochs: 2\n"
        f"batch_size: 4\ncrop_seconds: 1.0\noutput_dir: {tmp_path / 'out'}\ncache_dir: {tmp_path / 'cache'}\n"
        "detector: {head_channels: [8], window_seconds: 1.0, hop_seconds: 1.0}\n"
    )
    runner = tmp_path / "runner.py"
    runner.write_text(
        f"import sys; sys.path[:0] = [{str(TESTS)!r}, {str(SRC)!r}]\n"
        "from wavguard.cli import main; sys.exit(main(sys.argv[1:]))\n"
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(SRC),
        "ACCELERATE_USE_CPU": "1",
    }
    cmd = ["torchrun", "--nproc_per_node", "2", str(runner), "train", str(tmp_path / "recipe.yaml")]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    records = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if "val_eer" in r]
    assert len(epochs) == 2  # written once, by the main process
    # 16 clips, 4 per batch per process, 2 processes -> 2 optimizer steps per epoch
    assert [r["step"] for r in epochs] == [2, 4]
    from wavguard import Detector

    det = Detector.from_pretrained(tmp_path / "out" / "best")
    best = min(range(2), key=lambda i: epochs[i]["val_eer"])
    assert {k: det.config.metrics[k] for k in ("validation_eer", "epoch")} == {
        "validation_eer": epochs[best]["val_eer"],
        "epoch": best + 1,
    }
    assert "validation_ece" in det.config.metrics  # calibrated on the main process after training
