"""``python -m wavguard`` runs the CLI (issue 16, item 6's first habit)."""

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _run(*args):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "wavguard", *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_python_dash_m_wavguard_runs_the_cli(tmp_path):
    version = _run("--version")
    assert version.returncode == 0 and version.stdout.startswith("wavguard ")
    usage = _run()
    assert usage.returncode == 2 and "usage:" in usage.stdout + usage.stderr
    missing = _run("predict", str(tmp_path / "no-such-detector"), "--data", str(tmp_path / "clip.wav"))
    assert missing.returncode != 0 and "no-such-detector" in missing.stderr and "Traceback" not in missing.stderr
