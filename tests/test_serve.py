"""The HTTP service, started for real on a loopback port and called over HTTP."""

import base64
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf
from _servers import ServerThread, free_port

from wavguard.serve import ServiceSettings, create_app
from wavguard.testing import chirp, sine, tiny_detector


def _wav_bytes(samples, rate=16000, fmt="WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def detector():
    return tiny_detector("wav2vec2", window_seconds=1.0)


@pytest.fixture(scope="module")
def clip():
    rng = np.random.default_rng(0)
    return chirp(2.5) + 0.02 * rng.standard_normal(40000).astype(np.float32)


@pytest.fixture(scope="module")
def url(detector, tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "log.sqlite"
    settings = ServiceSettings(max_upload_bytes=400_000, max_duration_seconds=10.0, log_db=str(db), max_wait_ms=20)
    with ServerThread(create_app(detector, settings)) as base:
        yield base


def test_health_model_and_docs(url):
    assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
    model = httpx.get(f"{url}/v1/model").json()
    assert model["config"]["window_seconds"] == 1.0 and model["score"] == "probability that the audio is fake"
    assert model["backbone"] == os.path.basename(model["config"]["backbone"])  # a local folder: its name, no path
    assert "/v1/predict" in httpx.get(f"{url}/openapi.json").json()["paths"]


def test_predict_multipart_and_json_equal_the_library(url, detector, clip):
    expected = detector.predict(clip, sample_rate=16000)
    data = _wav_bytes(clip)
    multipart = httpx.post(f"{url}/v1/predict", files={"file": ("clip.wav", data, "audio/wav")})
    assert multipart.status_code == 200, multipart.text
    body = multipart.json()
    assert body["score"] == pytest.approx(expected.score, abs=1e-5)
    assert body["label"] == expected.label and body["threshold"] == 0.5
    assert [s["end_seconds"] for s in body["segments"]] == [1.0, 2.0, 2.5]
    assert body["model"]["version"] and body["processing_ms"] > 0 and len(body["id"]) == 32
    assert body["model"]["backbone"] == os.path.basename(detector.config.backbone)
    as_json = httpx.post(f"{url}/v1/predict", json={"audio_base64": base64.b64encode(data).decode()})
    assert as_json.json()["score"] == pytest.approx(expected.score, abs=1e-5)
    stricter = httpx.post(f"{url}/v1/predict?threshold=0", files={"file": ("c.wav", data)})
    assert stricter.json()["label"] == "fake"


def test_batch_keeps_good_results_next_to_bad(url, detector, clip):
    files = [
        ("files", ("good.wav", _wav_bytes(clip))),
        ("files", ("bad.wav", b"not audio" * 40)),
        ("files", ("stereo.flac", _wav_bytes(np.stack([clip, clip], 1), 44100, "FLAC"))),
    ]
    results = httpx.post(f"{url}/v1/predict/batch", files=files).json()["results"]
    assert [r["status"] for r in results] == [200, 415, 200]
    assert results[1]["error"] == "AudioDecodeError" and "bad.wav" in results[1]["message"]
    assert results[0]["score"] == pytest.approx(detector.predict(clip, sample_rate=16000).score, abs=1e-5)


@pytest.mark.parametrize(
    "name, payload, status, error",
    [
        ("garbage.mp3", b"\x00garbage" * 100, 415, "AudioDecodeError"),
        ("empty.wav", b"", 422, "EmptyAudioError"),
        ("silent.wav", _wav_bytes(np.zeros(16000, dtype=np.float32)), 422, "SilentAudioError"),
        ("short.wav", _wav_bytes(sine(0.002)), 422, "AudioTooShortError"),
        ("huge.wav", _wav_bytes(np.zeros(300_000, dtype=np.float32) + 0.1), 413, "PayloadTooLarge"),
        ("long.wav", _wav_bytes((sine(12.0, 8000) * 32767).astype(np.int16), 8000), 413, "AudioTooLong"),
    ],
)
def test_bad_uploads_get_clear_http_errors(url, name, payload, status, error):
    response = httpx.post(f"{url}/v1/predict", files={"file": (name, payload)})
    assert response.status_code == status, response.text
    assert response.json()["detail"]["error"] == error
    assert httpx.get(f"{url}/healthz").status_code == 200  # still serving


def test_malformed_requests(url):
    assert httpx.post(f"{url}/v1/predict", content=b"raw", headers={"content-type": "text/plain"}).status_code == 415
    assert httpx.post(f"{url}/v1/predict", json={"audio_base64": "%%%"}).status_code == 422
    assert httpx.post(f"{url}/v1/predict", json={"nothing": 1}).status_code == 422
    assert httpx.post(f"{url}/v1/predict?threshold=7", json={"audio_base64": ""}).status_code == 422
    assert httpx.post(f"{url}/v1/predict", files={"other": (None, "text")}).status_code == 422


def test_concurrent_clients_share_batches(url, detector):
    rng = np.random.default_rng(1)
    clips = [0.1 * rng.standard_normal(16000 * (1 + i % 3)).astype(np.float32) for i in range(16)]
    expected = [detector.predict(c, sample_rate=16000).score for c in clips]

    def call(c):
        return httpx.post(f"{url}/v1/predict", files={"file": ("c.wav", _wav_bytes(c))}, timeout=60).json()["score"]

    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(call, clips))
    assert got == pytest.approx(expected, abs=1e-5)
    text = httpx.get(f"{url}/metrics").text
    single = float(
        next(l.split()[-1] for l in text.splitlines() if l.startswith('wavguard_batch_windows_bucket{le="1.0"}'))
    )
    total = float(next(l.split()[-1] for l in text.splitlines() if l.startswith("wavguard_batch_windows_count")))
    assert single < total  # some forward passes held windows from several requests
    assert 'wavguard_requests_total{endpoint="/v1/predict",status="200"}' in text


def test_metrics_label_routes_not_raw_paths(url):
    for path in ("/no/such/page-1", "/no/such/page-2", "/ui/assets/index-abc123.js", "/ui"):
        httpx.get(f"{url}{path}")
    text = httpx.get(f"{url}/metrics").text
    endpoints = {
        line.split('endpoint="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("wavguard_requests_total{")
    }
    assert "unmatched" in endpoints and "/ui" in endpoints
    assert not any("page-" in e or "index-abc123" in e for e in endpoints), endpoints


def test_feedback_is_stored(url, clip):
    pred = httpx.post(f"{url}/v1/predict", files={"file": ("c.wav", _wav_bytes(clip))}).json()
    ok = httpx.post(f"{url}/v1/feedback", json={"prediction_id": pred["id"], "label": "real", "note": "my own voice"})
    assert ok.status_code == 200 and ok.json()["stored_audio"] is False
    assert httpx.post(f"{url}/v1/feedback", json={"prediction_id": "nope", "label": "real"}).status_code == 404
    assert httpx.post(f"{url}/v1/feedback", json={"prediction_id": pred["id"], "label": "maybe"}).status_code == 422


def test_api_keys_and_timeouts(detector, clip):
    settings = ServiceSettings(api_keys=("s3cret",), request_timeout_seconds=1e-4)
    with ServerThread(create_app(detector, settings)) as base:
        files = {"file": ("c.wav", _wav_bytes(clip))}
        assert httpx.post(f"{base}/v1/predict", files=files).status_code == 401
        assert httpx.post(f"{base}/v1/predict", files=files, headers={"X-API-Key": "wrong"}).status_code == 403
        timed_out = httpx.post(f"{base}/v1/predict", files=files, headers={"Authorization": "Bearer s3cret"})
        assert timed_out.status_code == 504 and timed_out.json()["detail"]["error"] == "Timeout"
        assert httpx.get(f"{base}/healthz").status_code == 200  # health stays open
        assert (
            httpx.post(f"{base}/v1/feedback", json={"label": "real"}, headers={"X-API-Key": "s3cret"}).status_code
            == 503
        )


def test_websocket_stream_equals_offline(url, detector, clip):
    from websockets.sync.client import connect

    pcm = (np.clip(clip, -1, 1) * 32767).astype(np.int16)
    expected = detector.predict(pcm, sample_rate=16000)
    segments = []
    with connect(f"{url.replace('http', 'ws')}/v1/stream?sample_rate=16000&dtype=int16") as ws:
        for start in range(0, pcm.shape[0], 3000):
            ws.send(pcm[start : start + 3000].tobytes())
        ws.send("end")
        while True:
            message = json.loads(ws.recv())
            if "final" in message:
                final = message["final"]
                break
            segments.extend(message["segments"])
    assert len(segments) == 2 and len(final["segments"]) == 3
    assert final["score"] == pytest.approx(expected.score, abs=1e-5)


def test_cli_server_keeps_feedback_when_killed(detector, tmp_path, clip):
    model = detector.save_pretrained(tmp_path / "det")
    db = tmp_path / "feedback.sqlite"
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wavguard.cli",
            "serve",
            str(model),
            "--port",
            str(port),
            "--log-db",
            str(db),
            "--store-feedback-audio",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        proc.stderr.read().decode() if proc.poll() is not None else "no server"
                    ) from None
                time.sleep(0.2)
        audio = base64.b64encode(_wav_bytes(clip)).decode()
        assert httpx.post(f"{base}/v1/feedback", json={"label": "fake", "audio_base64": audio}).status_code == 200
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = sqlite3.connect(db).execute("SELECT true_label, length(audio) FROM feedback").fetchall()
    assert rows == [("fake", len(_wav_bytes(clip)))]
