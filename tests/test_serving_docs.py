"""docs/serving.md's curl and Python ``requests`` examples, run as written against a live server
(issue 26, item 9): the server is started with the page's own ``wavguard serve`` command, on a tiny
detector, and every block marked ``<!-- tested -->`` is run with only the port changed."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from _servers import free_port

from wavguard.testing import chirp, sine, tiny_detector

DOC = Path(__file__).resolve().parents[1] / "docs" / "serving.md"
PLACEHOLDER = "http://localhost:8000"


def _tested_blocks(language: str) -> list[str]:
    return re.findall(rf"<!-- tested -->\n```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def _serve_command() -> list[str]:
    """The page's first ``wavguard serve`` line, as arguments after ``wavguard``."""
    (line,) = re.findall(r"^wavguard serve my-detector/ .*$", DOC.read_text(), flags=re.M)[:1]
    return shlex.split(line)[1:]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``wavguard serve`` as the page starts it (a tiny detector for ``my-detector/``, loopback, a free
    port, no browser page), in a folder with the page's ``clip.wav`` and ``other.flac``."""
    pytest.importorskip("fastapi")
    folder = tmp_path_factory.mktemp("serving_docs")
    tiny_detector("wav2vec2", window_seconds=1.0).save_pretrained(folder / "my-detector")
    rng = np.random.default_rng(0)
    sf.write(folder / "clip.wav", chirp(2.5) + 0.02 * rng.standard_normal(40000).astype(np.float32), 16000)
    sf.write(folder / "other.flac", np.stack([chirp(1.5, 44100), sine(1.5, 44100)], axis=1), 44100)
    port = free_port()
    argv = [{"0.0.0.0": "127.0.0.1", "8000": str(port)}.get(arg, arg) for arg in _serve_command()]
    assert argv[:2] == ["serve", "my-detector/"] and "--api-key" in argv and "--log-db" in argv
    proc = subprocess.Popen(
        [sys.executable, "-m", "wavguard.cli", *argv, "--no-ui"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode()[-3000:]) from None
                if time.time() > deadline:
                    raise RuntimeError("the server did not start within 120 s") from None
                time.sleep(0.2)
        yield {"url": base, "folder": folder}
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _check_prediction(body: dict, threshold: float = 0.5) -> None:
    assert 0.0 <= body["score"] <= 1.0 and body["label"] in ("real", "fake"), body
    assert body["threshold"] == threshold and body["source"] == "clip.wav" and len(body["id"]) == 32
    assert [s["end_seconds"] for s in body["segments"]] == [1.0, 2.0, 2.5]


#: what each endpoint's curl example must print (the last URL of the block decides)
CURL_CHECKS = {
    "/healthz": lambda body: body["status"] == "ok",
    "/readyz": lambda body: body["status"] == "ready" and body["checks"] == {"batcher": "ok", "log": "ok"},
    "/v1/predict": lambda body: _check_prediction(body) is None,
    "/v1/predict?threshold=0.3": lambda body: _check_prediction(body, 0.3) is None,
    "/v1/predict/batch": lambda body: (
        [(r["status"], r["source"]) for r in body["results"]] == [(200, "clip.wav"), (200, "other.flac")]
        and all(0 <= r["score"] <= 1 for r in body["results"])
    ),
    "/v1/model": lambda body: (
        body["config"]["window_seconds"] == 1.0 and body["score"] == "probability that the audio is fake"
    ),
    "/v1/feedback": lambda body: isinstance(body["id"], int) and body["stored_audio"] is False,
}


def test_the_page_marks_its_examples():
    assert len(_tested_blocks("bash")) == len(CURL_CHECKS)
    assert len(_tested_blocks("python")) >= 3
    assert all(PLACEHOLDER in block for block in _tested_blocks("bash") + _tested_blocks("python")[:1])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (scripts/install.sh installs it)")
@pytest.mark.parametrize(
    "block", _tested_blocks("bash"), ids=lambda b: re.findall(r"localhost:8000(\S*?)[\"\s]", b)[-1]
)
def test_curl_example(server, block):
    endpoint = re.findall(r"localhost:8000(\S*?)[\"\s]", block)[-1]
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.replace(PLACEHOLDER, server["url"])],
        cwd=server["folder"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)  # one JSON answer per block
    assert CURL_CHECKS[endpoint](body), body


def test_requests_examples(server, monkeypatch, capsys):
    pytest.importorskip("requests")
    monkeypatch.chdir(server["folder"])
    namespace: dict = {}
    for block in _tested_blocks("python"):
        exec(compile(block.replace(PLACEHOLDER, server["url"]), str(DOC), "exec"), namespace)
    _check_prediction(namespace["pred"])
    assert [r["status"] for r in namespace["results"]] == [200, 200]
    assert namespace["as_json"]["score"] == pytest.approx(namespace["pred"]["score"], abs=1e-6)
    assert namespace["feedback"].status_code == 200 and namespace["info"]["config"]["window_seconds"] == 1.0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{namespace['pred']['score']} {namespace['pred']['label']}" and out[-1] == "ready"
