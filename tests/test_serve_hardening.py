"""The service under hostile input (issue 17): header checks before decoding, stream caps,
websocket close codes and keys, redacted logs, /metrics auth, the feedback schema, JSON 500s."""

import json
import logging
import time
import tracemalloc

import httpx
import numpy as np
import pytest
from _bad_audio import encoded, flac_with, int16_wav
from _servers import ServerThread
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from wavguard.audio import decode
from wavguard.serve import ServiceSettings, create_app
from wavguard.serve.logs import RedactSecrets, redact
from wavguard.testing import chirp, tiny_detector

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def detector():
    return tiny_detector("wav2vec2", window_seconds=1.0)


@pytest.fixture(scope="module")
def clip():
    return chirp(2.5) + 0.02 * np.random.default_rng(0).standard_normal(40000).astype(np.float32)


@pytest.fixture(scope="module")
def url(detector, tmp_path_factory):
    settings = ServiceSettings(
        max_upload_bytes=400_000,
        max_duration_seconds=10.0,
        max_stream_seconds=2.0,
        max_stream_frame_bytes=16_384,
        log_db=str(tmp_path_factory.mktemp("db") / "log.sqlite"),
    )
    with ServerThread(create_app(detector, settings, ui=False)) as base:
        yield base


@pytest.fixture(scope="module")
def keyed_url(detector):
    with ServerThread(create_app(detector, ServiceSettings(api_keys=(KEY,)), ui=False), log_level="info") as base:
        yield base


def ws_session(url, query="", frames=(), text=None, **kwargs):
    """(JSON messages received, close code, close reason) of one /v1/stream session."""
    messages, sent = [], False
    with connect(f"{url.replace('http', 'ws')}/v1/stream{query}", open_timeout=10, **kwargs) as ws:
        try:
            for frame in frames:
                ws.send(frame)
            if text is not None:
                ws.send(text)
            sent = True
        except ConnectionClosed:
            pass  # refused before every frame went out: read what the server said
        try:
            while True:
                messages.append(json.loads(ws.recv(timeout=30)))
        except ConnectionClosed as exc:
            return messages, exc.rcvd.code if exc.rcvd else None, (exc.rcvd.reason if exc.rcvd else ""), sent
    raise AssertionError("the server never closed the stream")


# -- item 1: a tiny upload must not blow up memory -------------------------------------------------
def test_a_20_kb_wav_claiming_1_hz_is_refused_fast_without_decoding(url, monkeypatch):
    """The report: 20 KB at 1 Hz raised the server's peak memory by 0.64 GB (resampling 10,000 s)."""
    reads = []
    real_read = decode._read
    monkeypatch.setattr(decode, "_read", lambda *a, **k: reads.append(a[2]) or real_read(*a, **k))
    data = int16_wav(1, 20_000)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        start = time.perf_counter()
        response = httpx.post(f"{url}/v1/predict", files={"file": ("one-hertz.wav", data, "audio/wav")}, timeout=30)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["error"] == "SampleRateError" and "one-hertz.wav" in detail["message"] and "1 Hz" in detail["message"]
    assert elapsed < 2.0
    assert reads == []  # refused from the header: not one sample decoded
    assert peak - before < 20 * 2**20  # was 640 MB; the request itself is a few hundred KB


def test_over_long_audio_is_refused_from_the_header_before_decoding(url, clip, monkeypatch):
    reads = []
    real_read = decode._read
    monkeypatch.setattr(decode, "_read", lambda *a, **k: reads.append(a[2]) or real_read(*a, **k))
    lying = flac_with(clip, header_frames=(1 << 36) - 1)  # STREAMINFO claims 49 days at 16 kHz
    honest = int16_wav(1000, 30_000)  # 15 s at 1 kHz, the lowest rate accepted; the limit is 10 s
    for name, data in (("lying.flac", lying), ("long.wav", honest)):
        response = httpx.post(f"{url}/v1/predict", files={"file": (name, data)})
        assert response.status_code == 413, response.text
        assert (
            response.json()["detail"]["error"] == "AudioTooLong"
            and "header declares" in response.json()["detail"]["message"]
        )
    assert reads == []


def test_uploads_are_decoded_in_blocks_and_score_like_the_library(url, detector, clip, monkeypatch):
    calls = []
    real = decode.iter_file_blocks
    monkeypatch.setattr(decode, "iter_file_blocks", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(decode, "load_audio", lambda *a, **k: pytest.fail("the service decoded a whole clip at once"))
    stereo = encoded(np.stack([chirp(2.5, 44100), chirp(2.5, 44100)[::-1]], axis=1), 44100, "FLAC")
    response = httpx.post(f"{url}/v1/predict", files={"file": ("stereo.flac", stereo)})
    assert response.status_code == 200, response.text
    assert calls and response.json()["score"] == pytest.approx(detector.predict(stereo).score, abs=1e-6)


def test_a_file_that_decodes_longer_than_the_limit_is_stopped_while_decoding(detector, monkeypatch):
    """A header can understate the length (mp3 estimates, hand-made files): decoding stops at the limit."""
    monkeypatch.setattr("wavguard.serve.predictions.audio_info", lambda data, name=None: (16000, 16000, 1))  # "1 s"
    with ServerThread(create_app(detector, ServiceSettings(max_duration_seconds=3.0), ui=False)) as base:
        response = httpx.post(f"{base}/v1/predict", files={"file": ("long.wav", encoded(chirp(8.0)))})
    assert response.status_code == 413 and "decodes to more than" in response.json()["detail"]["message"]


# -- item 1 and 7: the websocket stream --------------------------------------------------------------
def test_an_8_kb_frame_at_1_hz_is_refused(url):
    start = time.perf_counter()
    messages, code, reason, _ = ws_session(url, "?sample_rate=1&dtype=int16", frames=[b"\x01\x02" * 4096])
    assert time.perf_counter() - start < 5.0  # it kept the server busy for over a minute
    assert code == 1008 and "sample_rate" in reason and "1 Hz" in reason
    assert messages == [{"error": "InvalidStreamParameters", "message": messages[0]["message"]}]


@pytest.mark.parametrize(
    "query, words",
    [
        ("?sample_rate=2000000", "2000000 Hz"),
        ("?sample_rate=abc", "abc"),
        ("?channels=0", "channels"),
        ("?channels=64", "channels"),
        ("?dtype=int8", "dtype"),
    ],
)
def test_invalid_parameters_close_with_1008_and_a_reason_not_a_403(url, query, words):
    messages, code, reason, _ = ws_session(url, query)
    assert code == 1008 and words in reason and messages[0]["error"] == "InvalidStreamParameters"


def test_frames_and_streams_over_the_caps_are_closed(url):
    _, code, reason, _ = ws_session(url, "?dtype=int16", frames=[b"\x00\x01" * 10_000])  # 20 KB > 16 KB
    assert code == 1009 and "FrameTooLarge" in reason
    one_second = (chirp(1.0) * 32767).astype(np.int16).tobytes()  # 32 KB: sent as 4 frames of 8 KB
    frames = [one_second[i : i + 8000] for i in range(0, len(one_second), 8000)] * 3  # 3 s > 2 s
    messages, code, reason, _ = ws_session(url, "?dtype=int16", frames=frames)
    assert code == 1008 and "StreamTooLong" in reason and messages[-1]["error"] == "StreamTooLong"
    assert any("segments" in m for m in messages)  # what came before the cap was scored


def test_an_odd_length_int16_frame_closes_with_1003_and_a_reason(url):
    messages, code, reason, _ = ws_session(url, "?dtype=int16", frames=[b"\x00\x01" * 100 + b"\x00"])
    assert code == 1003 and "201 bytes" in reason and messages[-1]["error"] == "InvalidFrame"
    _, code, reason, _ = ws_session(url, "?dtype=float32&channels=2", frames=[b"\x00" * 12])
    assert code == 1003 and "2-channel float32" in reason
    _, code, _, _ = ws_session(url, "?dtype=int16", text="hello")
    assert code == 1003


def test_stream_key_in_a_header_a_subprotocol_or_the_query(keyed_url):
    pcm = (chirp(1.2) * 32767).astype(np.int16).tobytes()

    def final(**kwargs):
        query = kwargs.pop("query", "")
        messages, code, _, _ = ws_session(keyed_url, "?dtype=int16" + query, frames=[pcm], text="end", **kwargs)
        return code, messages[-1]

    assert final(additional_headers={"X-API-Key": KEY})[1]["final"]["label"] in ("real", "fake")
    assert "final" in final(additional_headers={"Authorization": f"Bearer {KEY}"})[1]
    assert "final" in final(subprotocols=["wavguard", f"api-key.{KEY}"])[1]
    assert "final" in final(query=f"&api_key={KEY}")[1]
    assert final()[0] == 4401 and final(additional_headers={"X-API-Key": "wrong"})[0] == 4403
    with connect(f"{keyed_url.replace('http', 'ws')}/v1/stream", subprotocols=["wavguard", f"api-key.{KEY}"]) as ws:
        assert ws.subprotocol == "wavguard"  # the key is never echoed back


def test_query_string_keys_are_redacted_in_the_logs(keyed_url):
    seen = []

    class Capture(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Capture()
    loggers = [logging.getLogger(n) for n in ("uvicorn.access", "uvicorn.error")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        httpx.get(f"{keyed_url}/healthz?api_key={KEY}")
        ws_session(keyed_url, f"?api_key={KEY}&dtype=int16", text="end")
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
    assert any("/healthz?api_key=[redacted]" in m for m in seen), seen
    assert any("WebSocket /v1/stream?api_key=[redacted]&dtype=int16" in m for m in seen), seen
    assert not any(KEY in m for m in seen)


def test_redaction_masks_every_secret_parameter_and_keeps_the_rest():
    assert redact("GET /v1/stream?sample_rate=8000&api_key=abc&dtype=int16") == (
        "GET /v1/stream?sample_rate=8000&api_key=[redacted]&dtype=int16"
    )
    assert redact("/x?token=t&API-KEY=k&key=v") == "/x?token=[redacted]&API-KEY=[redacted]&key=[redacted]"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/healthz?apikey=zzz", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record) and "zzz" not in record.getMessage()


# -- item 7: /metrics auth, JSON errors everywhere ----------------------------------------------------
def test_metrics_need_a_key_when_keys_are_set_unless_public(detector, keyed_url):
    assert httpx.get(f"{keyed_url}/metrics").status_code == 401
    assert httpx.get(f"{keyed_url}/metrics", headers={"X-API-Key": KEY}).status_code == 200
    assert httpx.get(f"{keyed_url}/healthz").status_code == 200
    public = ServiceSettings(api_keys=(KEY,), metrics_public=True)
    with ServerThread(create_app(detector, public, ui=False)) as base:
        assert httpx.get(f"{base}/metrics").status_code == 200
        assert httpx.get(f"{base}/v1/model").status_code == 401


def test_unexpected_errors_are_json_500s_logged_with_their_traceback(clip, caplog):
    broken = tiny_detector("wav2vec2", window_seconds=1.0)

    def fail(windows):
        raise RuntimeError("the model is broken")

    broken.backend.logits = fail
    with (
        ServerThread(create_app(broken, ServiceSettings(), ui=False)) as base,
        caplog.at_level(logging.ERROR, "wavguard.serve"),
    ):
        response = httpx.post(f"{base}/v1/predict", files={"file": ("c.wav", encoded(clip))})
        assert response.status_code == 500 and response.headers["content-type"] == "application/json"
        assert response.json() == {
            "detail": {
                "error": "InternalServerError",
                "message": "an unexpected error stopped this request; the server logged it",
            }
        }
        assert 'wavguard_requests_total{endpoint="/v1/predict",status="500"} 1.0' in httpx.get(f"{base}/metrics").text
        pcm = (clip * 32767).astype(np.int16).tobytes()
        _, code, reason, _ = ws_session(base, "?dtype=int16", frames=[pcm[:64000]], text="end")
        assert code == 1011 and "InternalServerError" in reason
    logged = [r.exc_info[1] for r in caplog.records if r.name == "wavguard.serve" and r.exc_info]
    assert any("the model is broken" in str(e) for e in logged)


def test_framework_errors_have_the_documented_shape(url):
    missing = httpx.get(f"{url}/no/such/page")
    assert missing.status_code == 404 and missing.json() == {"detail": {"error": "NotFound", "message": "Not Found"}}
    wrong_method = httpx.get(f"{url}/v1/predict")
    assert wrong_method.status_code == 405 and wrong_method.json()["detail"]["error"] == "MethodNotAllowed"


# -- item 4: the feedback body is validated ----------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"label": "real", "prediction_id": "x", "note": {"a": 1}},
        {"label": "real", "prediction_id": "x", "note": ["a"]},
        {"label": "real", "prediction_id": "x", "note": 5},
        {"label": "real", "prediction_id": "x", "note": "n" * 2001},
        {"label": "real", "prediction_id": {"id": 1}},
        {"label": ["real"], "prediction_id": "x"},
        {"label": "real", "audio_base64": 12},
        {"label": "real", "audio_base64": "%%%"},
        [1, 2],
        "just a string",
    ],
)
def test_feedback_with_a_malformed_body_is_a_json_422(url, body):
    response = httpx.post(f"{url}/v1/feedback", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["error"] == "InvalidRequest"
    assert (
        httpx.post(f"{url}/v1/feedback", content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 422
    )


def test_feedback_with_a_valid_note_is_stored_and_documented(url, clip):
    pred = httpx.post(f"{url}/v1/predict", files={"file": ("c.wav", encoded(clip))}).json()
    ok = httpx.post(f"{url}/v1/feedback", json={"prediction_id": pred["id"], "label": "fake", "note": "n" * 2000})
    assert ok.status_code == 200, ok.text
    schema = httpx.get(f"{url}/openapi.json").json()["paths"]["/v1/feedback"]["post"]["requestBody"]
    note = schema["content"]["application/json"]["schema"]["properties"]["note"]
    assert {"type": "string", "maxLength": 2000} in note["anyOf"]
