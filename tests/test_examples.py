"""Every script in examples/ runs as written, in a fresh process, with a tiny detector (issue 26, item 9)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _servers import free_port

from wavguard import Detector
from wavguard.testing import chirp, tiny_detector

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: each example and the test below that runs it
COVERED = {"quickstart.py", "space/app.py"}


def test_every_example_is_run_here():
    assert {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.py")} == COVERED


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", **extra}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_detector("wav2vec2", window_seconds=1.0).save_pretrained(tmp_path_factory.mktemp("examples") / "tiny")


def _quickstart(tmp_path, env) -> dict[str, list[tuple[str, float, str]]]:
    """Run examples/quickstart.py; its Python and CLI results as (file name, score, label)."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    python = re.findall(r"^  (\S+)\s+score=([0-9.]+) label=(real|fake)", result.stdout, flags=re.M)
    cli = re.findall(r"^([0-9.]+)\t(real|fake)\t(.+)$", result.stdout, flags=re.M)
    return {
        "python": [(name, float(score), label) for name, score, label in python],
        "cli": [(Path(path).name, float(score), label) for score, label, path in cli],
    }


def test_quickstart_runs_as_written(tmp_path):
    """No detector named: a tiny random one, three clips scored from Python and from the CLI."""
    env = _env()
    env.pop("WAVGUARD_MODEL", None)
    out = _quickstart(tmp_path, env)
    names = ["clip.wav", "clip.mp3", "stereo_44k.flac"]
    assert [name for name, _, _ in out["python"]] == names and [name for name, _, _ in out["cli"]] == names
    for (_, python_score, python_label), (_, cli_score, cli_label) in zip(out["python"], out["cli"]):
        assert 0.0 <= python_score <= 1.0 and abs(python_score - cli_score) <= 6e-4 and python_label == cli_label


@pytest.mark.slow  # a second run of the same script (half a minute on 2 cores); CI runs slow tests
def test_quickstart_takes_the_detector_from_WAVGUARD_MODEL(tmp_path, model_dir):
    out = _quickstart(tmp_path, _env(WAVGUARD_MODEL=str(model_dir)))
    detector = Detector.from_pretrained(model_dir)
    assert len(out["python"]) == len(out["cli"]) == 3
    wav = [score for name, score, _ in out["cli"] if name == "clip.wav"]
    rng = np.random.default_rng(0)  # the clip the example writes
    expected = detector.predict(chirp(3.0) + 0.02 * rng.standard_normal(48000).astype(np.float32), sample_rate=16000)
    assert wav == [pytest.approx(expected.score, abs=1e-4)]


def test_space_app_scores_an_upload(tmp_path, model_dir):
    """``WAVGUARD_MODEL=DIR python app.py``, as examples/space/README.md runs it, then an upload through
    the page's own API (what the browser's file input calls)."""
    pytest.importorskip("gradio", reason="the Space needs gradio: pip install 'wavguard-detector[demo]'")
    from gradio_client import Client, handle_file

    clip = tmp_path / "clip.wav"
    sf.write(clip, chirp(2.5), 16000)
    port = free_port()
    env = _env(WAVGUARD_MODEL=str(model_dir), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=EXAMPLES / "space",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        import httpx

        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(url).status_code == 200:
                    break
            except httpx.TransportError:
                if proc.poll() is not None or time.time() > deadline:
                    proc.kill()
                    raise RuntimeError(f"the Space did not start:\n{proc.stdout.read()[-3000:]}") from None
                time.sleep(0.5)
        verdict, _timeline, _error = Client(url, verbose=False).predict(
            handle_file(str(clip)), api_name="/score_upload"
        )
    finally:
        proc.kill()
        proc.wait(timeout=30)
    expected = Detector.from_pretrained(model_dir).predict(str(clip))
    assert 'id="wg-verdict"' in verdict and f'data-label="{expected.label}"' in verdict
    assert float(re.search(r'data-score="([0-9.e-]+)"', verdict).group(1)) == pytest.approx(expected.score, abs=1e-6)
