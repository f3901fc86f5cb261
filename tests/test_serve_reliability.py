"""The service under pressure (issue 27, items 1-5): bounded work per request, a fair batcher,
bytes in flight capped, multipart spooled to disk, parsing off the event loop, liveness vs
readiness, client disconnects, body timeouts and a connection cap.

No assert here depends on timing: where a test waits for the server, the wait is a hang guard
(``_until``, 30 s) on an outcome that comes whatever the machine's load.
"""

import asyncio
import base64
import hashlib
import io
import json
import logging
import re
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from _servers import ServerThread

from wavguard.errors import ConfigError
from wavguard.serve import ServiceSettings, create_app
from wavguard.serve.batcher import DynamicBatcher
from wavguard.serve.limits import AudioAllowance, RequestTicket, UploadPool
from wavguard.testing import chirp, tiny_detector

HANG_GUARD_SECONDS = 30.0


def _wav(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(int(seconds * 1000))
    n = int(seconds * rate)
    sf.write(buf, chirp(seconds, rate)[:n] + 0.01 * rng.standard_normal(n).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


def _until(condition, what: str):
    """Wait for ``condition()`` to hold: a hang guard, not a timing assert."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {HANG_GUARD_SECONDS} s for {what}")
        time.sleep(0.02)
    return value


def _metric_lines(base: str) -> list[str]:
    return [line for line in httpx.get(f"{base}/metrics").text.splitlines() if not line.startswith("#")]


def _requests_counted(base: str, status: str) -> float:
    """``wavguard_requests_total`` of /v1/predict with ``status``."""
    label = f'wavguard_requests_total{{endpoint="/v1/predict",status="{status}"}}'
    return sum(float(line.split()[-1]) for line in _metric_lines(base) if line.startswith(label + " "))


@pytest.fixture(scope="module")
def detector():
    return tiny_detector("wav2vec2", window_seconds=1.0)


@pytest.fixture(scope="module")
def served(detector, tmp_path_factory):
    """(base url, app, log path) of one server shared by the tests that leave it as they found it."""
    db = tmp_path_factory.mktemp("db") / "log.sqlite"
    settings = ServiceSettings(
        max_upload_bytes=400_000,
        max_inflight_upload_bytes=500_000,
        max_duration_seconds=10.0,
        max_request_audio_seconds=6.0,
        log_db=str(db),
    )
    app = create_app(detector, settings, ui=False)
    with ServerThread(app) as base:
        yield base, app, db


# -- item 1: bounded work per request, and a fair batcher -------------------------------------------
def _run_batcher(clients: dict[str, int], max_batch: int, max_client_windows: int | None = None) -> list[list[str]]:
    """The batches a batcher builds when ``clients`` (name -> windows) all queue while it is busy.

    The worker's first batch (a warm-up window) blocks until every client has queued, so the
    order of the later batches depends on the batcher's policy only, never on timing."""
    names = ["warm-up"] + list(clients)
    batches, busy, release = [], threading.Event(), threading.Event()

    def score(windows):
        batches.append([names[int(w[0])] for w in windows])
        if len(batches) == 1:
            busy.set()
            assert release.wait(HANG_GUARD_SECONDS)
        return np.zeros((len(windows), 2), np.float32)

    async def main():
        batcher = DynamicBatcher(score, max_batch=max_batch, max_wait_s=0.0, max_client_windows=max_client_windows)
        await batcher.start()
        try:
            warm = asyncio.create_task(batcher.score([np.zeros(1, np.float32)], client="warm-up"))
            assert await asyncio.to_thread(busy.wait, HANG_GUARD_SECONDS)
            tasks = [warm] + [
                asyncio.create_task(batcher.score([np.full(1, names.index(name), np.float32)] * count, client=name))
                for name, count in clients.items()
            ]
            while batcher.queued_windows < sum(clients.values()):
                await asyncio.sleep(0)
            release.set()
            results = await asyncio.wait_for(asyncio.gather(*tasks), HANG_GUARD_SECONDS)
            assert [len(r) for r in results] == [1] + list(clients.values())
        finally:
            release.set()
            await batcher.stop()

    asyncio.run(main())
    return batches[1:]


def test_a_short_request_is_not_queued_behind_a_big_batch():
    """A batch request queues 40 windows, then a short request queues 2: the short one's windows
    go into the very next forward pass (they waited behind all 40 before: 10 passes at 4)."""
    batches = _run_batcher({"big": 40, "short": 2}, max_batch=4)
    assert batches[0] == ["big", "short", "big", "short"]
    assert sum(len(b) for b in batches) == 42 and all(b == ["big"] * 4 for b in batches[1:-1])


def test_one_request_holds_at_most_its_share_of_a_pass():
    """With max_client_windows=1 a big request's passes hold one of its windows, alone or not: a
    short request that arrives waits for one such pass, never a full one."""
    batches = _run_batcher({"big": 6, "short": 2}, max_batch=4, max_client_windows=1)
    assert batches == [["big", "short"], ["big", "short"], ["big"], ["big"], ["big"], ["big"]]
    batches = _run_batcher({"a": 5, "b": 1, "c": 3}, max_batch=4, max_client_windows=2)
    assert batches == [["a", "b", "c", "a"], ["c", "a", "c", "a"], ["a"]]


def test_the_share_defaults_to_one_window_on_the_cpu_and_a_full_pass_elsewhere():
    assert ServiceSettings().client_batch_windows("cpu") == 1
    assert ServiceSettings(max_batch_windows=32).client_batch_windows("cuda") == 32
    assert ServiceSettings(max_client_batch_windows=3).client_batch_windows("cpu") == 3
    with pytest.raises(ConfigError, match="max_client_batch_windows must be positive"):
        ServiceSettings(max_client_batch_windows=0)


def test_the_turn_carries_over_between_batches():
    batches = _run_batcher({"a": 3, "b": 1, "c": 2, "d": 1, "e": 1}, max_batch=3)
    assert batches == [["a", "b", "c"], ["d", "e", "a"], ["c", "a"]]


def test_windows_of_a_request_that_gave_up_are_skipped():
    async def main():
        seen = []
        batcher = DynamicBatcher(
            lambda w: seen.append(len(w)) or np.zeros((len(w), 2), np.float32), max_batch=8, max_wait_s=0
        )
        await batcher.start()
        try:
            gone = asyncio.create_task(batcher.score([np.zeros(1, np.float32)] * 5, client="gone"))
            await asyncio.sleep(0)
            gone.cancel()
            kept = await asyncio.wait_for(
                batcher.score([np.zeros(1, np.float32)] * 2, client="kept"), HANG_GUARD_SECONDS
            )
        finally:
            await batcher.stop()
        assert kept.shape == (2, 2) and sum(seen) == 2

    asyncio.run(main())


def test_a_request_over_the_audio_limit_is_413_and_says_the_limit(served):
    base, _, _ = served
    files = [("files", (f"{i}.wav", _wav(2.5))) for i in range(3)]  # 7.5 s > 6 s, each file under 10 s
    response = httpx.post(f"{base}/v1/predict/batch", files=files, timeout=60)
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert detail["error"] == "RequestAudioTooLong"
    assert "7.5 s" in detail["message"] and "limit is 6 s of audio per request" in detail["message"]
    two = httpx.post(f"{base}/v1/predict/batch", files=files[:2], timeout=60)  # 5 s: within the limit
    assert [r["status"] for r in two.json()["results"]] == [200, 200]


def test_files_whose_headers_understate_their_length_are_stopped_at_the_request_limit(detector, monkeypatch):
    monkeypatch.setattr(
        "wavguard.serve.predictions.audio_info", lambda data, name=None: (16000, 16000, 1)
    )  # "1 s" each
    settings = ServiceSettings(max_duration_seconds=10.0, max_request_audio_seconds=5.0)
    with ServerThread(create_app(detector, settings, ui=False)) as base:
        files = [("files", (f"{i}.wav", _wav(3.0))) for i in range(3)]  # 9 s decoded, 3 s declared
        results = httpx.post(f"{base}/v1/predict/batch", files=files, timeout=60).json()["results"]
    refused = [r for r in results if r["status"] != 200]
    assert refused and all(r["status"] == 413 and r["error"] == "RequestAudioTooLong" for r in refused)
    assert "limit is 5 s of audio per request" in refused[0]["message"]


def test_request_limits_are_validated():
    with pytest.raises(ConfigError, match="max_request_audio_seconds"):
        ServiceSettings(max_request_audio_seconds=0)
    with pytest.raises(ConfigError, match="could never be served"):
        ServiceSettings(max_upload_bytes=1000, max_inflight_upload_bytes=1000)
    assert ServiceSettings(max_upload_bytes=1000).inflight_upload_bytes == 4000
    assert ServiceSettings(max_connections=7).server_options() == {"limit_concurrency": 7}


# -- item 2: bytes in flight, multipart spooled to disk ----------------------------------------------
def test_the_upload_pool_counts_bytes_and_gives_them_back():
    pool = UploadPool(100)
    ticket = RequestTicket(pool, AudioAllowance(1.0, 16000))
    ticket.reserve_up_to(60)
    ticket.reserve_up_to(50)  # already held
    assert pool.reserved_bytes == 60 and not pool.try_reserve(41)
    with pytest.raises(Exception) as refused:
        RequestTicket(pool, AudioAllowance(1.0, 16000)).reserve(41)
    assert refused.value.status_code == 503 and refused.value.headers["Retry-After"]
    ticket.close()
    ticket.close()
    assert pool.reserved_bytes == 0


def _open_upload(base: str, declared_bytes: int, sent: bytes = b"--x\r\n") -> socket.socket:
    """A client that declares a body of ``declared_bytes``, sends ``sent`` of it, and waits."""
    port = int(base.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_SECONDS)
    sock.sendall(
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        + f"Content-Length: {declared_bytes}\r\n\r\n".encode()
        + sent
    )
    return sock


def test_bytes_in_flight_are_capped_with_a_503_and_retry_after(served):
    base, app, _ = served
    pool = app.state.service.uploads
    holder = _open_upload(base, 300_000)
    try:
        _until(lambda: pool.reserved_bytes >= 300_000, "the first upload to hold its bytes")
        busy = httpx.post(f"{base}/v1/predict", files={"file": ("c.wav", _wav(1.0) + b"\x00" * 250_000)})
        assert busy.status_code == 503, busy.text
        assert busy.json()["detail"]["error"] == "ServerBusy" and int(busy.headers["Retry-After"]) > 0
    finally:
        holder.close()
    _until(lambda: pool.reserved_bytes == 0, "the bytes of the client that left to be given back")
    assert httpx.post(f"{base}/v1/predict", files={"file": ("c.wav", _wav(1.0))}).status_code == 200


def test_a_large_multipart_part_is_decoded_from_a_temporary_file(detector, monkeypatch):
    from wavguard.audio import decode

    sources = []
    real = decode.audio_info
    monkeypatch.setattr(
        "wavguard.serve.predictions.audio_info", lambda source, name=None: sources.append(source) or real(source, name)
    )
    data = _wav(3.0)  # 96 KB: over the spool size set below, so it goes to disk
    monkeypatch.setattr("wavguard.serve.uploads.SPOOL_BYTES", 32_000)
    with ServerThread(create_app(detector, ServiceSettings(), ui=False)) as base:
        response = httpx.post(f"{base}/v1/predict", files={"file": ("clip.wav", data)}, timeout=60)
        small = httpx.post(f"{base}/v1/predict", files={"file": ("short.wav", _wav(0.9))}, timeout=60)
    assert response.status_code == 200 and small.status_code == 200, (response.text, small.text)
    assert response.json()["score"] == pytest.approx(detector.predict(data).score, abs=1e-6)
    [spooled, in_memory] = sources
    assert isinstance(spooled, Path) and spooled.suffix == ".wav" and isinstance(in_memory, bytes)
    assert not spooled.exists()  # deleted when the request ended
    assert response.json()["audio_sha256"] == hashlib.sha256(data).hexdigest()


# -- item 3: the event loop stays free while a large body is parsed ------------------------------------
@pytest.mark.parametrize("kind", ["json", "multipart", "feedback"])
def test_healthz_answers_while_a_body_is_being_parsed(served, monkeypatch, kind):
    """The parser is held on an Event: were it on the event loop, /healthz could not answer."""
    from wavguard.serve import requests as serve_requests
    from wavguard.serve import uploads
    from wavguard.serve.routes import feedback

    base, _, _ = served
    entered, release = threading.Event(), threading.Event()

    def held(real):
        def parse(*args, **kwargs):
            entered.set()
            assert release.wait(HANG_GUARD_SECONDS)
            return real(*args, **kwargs)

        return parse

    data = _wav(1.0)
    if kind == "json":
        monkeypatch.setattr(uploads, "parse_json_uploads", held(uploads.parse_json_uploads))
        call = dict(url=f"{base}/v1/predict", json={"audio_base64": base64.b64encode(data).decode()})
    elif kind == "multipart":
        monkeypatch.setattr(uploads.MultipartSink, "write", held(uploads.MultipartSink.write))
        call = dict(url=f"{base}/v1/predict", files={"file": ("c.wav", data)})
    else:
        monkeypatch.setattr(feedback, "parse_feedback", held(serve_requests.parse_feedback))
        call = dict(url=f"{base}/v1/feedback", json={"label": "real", "audio_base64": base64.b64encode(data).decode()})
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(httpx.post, timeout=HANG_GUARD_SECONDS, **call)
        try:
            assert entered.wait(HANG_GUARD_SECONDS), "the parser was never called"
            health = httpx.get(f"{base}/healthz", timeout=HANG_GUARD_SECONDS)
            assert health.status_code == 200 and not pending.done()
        finally:
            release.set()
        assert pending.result().status_code == 200, pending.result().text


# -- item 4: liveness and readiness ------------------------------------------------------------------
def test_readiness_fails_while_the_log_cannot_be_written(served):
    base, _, db = served
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"batcher": "ok", "log": "ok"}
    locker = sqlite3.connect(db, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # another process holding the log: no one else can write
        not_ready = httpx.get(f"{base}/readyz", timeout=HANG_GUARD_SECONDS)
        assert not_ready.status_code == 503, not_ready.text
        detail = not_ready.json()["detail"]
        assert (
            detail["error"] == "NotReady"
            and "log: cannot be written" in detail["message"]
            and "locked" in detail["message"]
        )
        assert httpx.get(f"{base}/healthz").status_code == 200  # alive all the same
    finally:
        locker.close()  # rolls back, releasing the lock
    assert httpx.get(f"{base}/readyz").status_code == 200


def test_readiness_without_a_log(detector):
    with ServerThread(create_app(detector, ServiceSettings(), ui=False)) as base:
        ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"batcher": "ok", "log": "disabled"}


def test_a_prediction_whose_log_fails_is_returned_with_a_warning(served, monkeypatch, caplog):
    base, app, _ = served
    store = app.state.service.store

    def broken(record):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "log_prediction", broken)
    with caplog.at_level(logging.WARNING, "wavguard.serve"):
        response = httpx.post(f"{base}/v1/predict", files={"file": ("c.wav", _wav(1.5))})
    assert response.status_code == 200 and 0.0 <= response.json()["score"] <= 1.0
    assert response.headers["X-Wavguard-Warning"] == "prediction-not-logged"
    assert any("was not logged" in r.getMessage() and "disk I/O error" in r.getMessage() for r in caplog.records)
    assert any(
        line.startswith("wavguard_log_write_failures_total") and float(line.split()[-1]) >= 1
        for line in _metric_lines(base)
    )
    unknown = httpx.post(f"{base}/v1/feedback", json={"prediction_id": response.json()["id"], "label": "real"})
    assert unknown.status_code == 404
    monkeypatch.undo()
    logged = httpx.post(f"{base}/v1/predict", files={"file": ("c.wav", _wav(1.5))})
    assert logged.status_code == 200 and "X-Wavguard-Warning" not in logged.headers


def test_feedback_that_cannot_be_stored_is_a_503_with_retry_after(served, monkeypatch):
    base, app, _ = served

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(app.state.service.store, "add_feedback", broken)
    data = base64.b64encode(_wav(1.0)).decode()
    response = httpx.post(f"{base}/v1/feedback", json={"label": "fake", "audio_base64": data})
    assert response.status_code == 503 and response.json()["detail"]["error"] == "LogUnavailable"
    assert response.headers["Retry-After"]


# -- item 5: clients that leave, bodies that never end, too many connections ----------------------------
def test_a_client_leaving_mid_upload_is_one_log_line_and_a_499(served, caplog):
    base, app, _ = served
    left_before, failed_before = _requests_counted(base, "499"), _requests_counted(base, "500")
    with caplog.at_level(logging.INFO, "wavguard.serve"):
        sock = _open_upload(base, 200_000, b"--x\r\n" + b"\x00" * 1000)
        _until(lambda: app.state.service.uploads.reserved_bytes >= 200_000, "the upload to start")
        sock.close()
        _until(lambda: _requests_counted(base, "499") > left_before, "the 499 to be counted")
    assert _requests_counted(base, "499") == left_before + 1
    assert _requests_counted(base, "500") == failed_before == 0
    records = [r for r in caplog.records if r.name == "wavguard.serve"]
    [record] = records  # one line, no traceback, not an error
    assert re.fullmatch(
        r"client left mid-upload: POST /v1/predict: the client left after \d+ of 200000 bytes of the body",
        record.getMessage(),
    ), record.getMessage()
    assert record.exc_info is None and record.levelno < logging.ERROR


def test_a_body_that_stops_coming_gets_a_408(detector):
    with ServerThread(create_app(detector, ServiceSettings(body_timeout_seconds=0.5), ui=False)) as base:
        reply = _reply_to_a_stalled_upload(base)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), reply[:200]
    assert json.loads(body)["detail"]["error"] == "RequestTimeout"


def _reply_to_a_stalled_upload(base: str) -> bytes:
    sock = _open_upload(base, 100_000)  # 5 of 100,000 bytes, then nothing
    try:
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    finally:
        sock.close()
    return reply


def test_the_connection_cap(detector):
    settings = ServiceSettings(max_connections=2)
    with ServerThread(create_app(detector, settings, ui=False), **settings.server_options()) as base:
        port = int(base.rsplit(":", 1)[1])
        with httpx.Client() as client:
            assert client.get(f"{base}/healthz").status_code == 200
            idle = socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_SECONDS)
            try:  # the idle connection and this client's make two: the cap
                _until(lambda: client.get(f"{base}/healthz").status_code == 503, "the cap to refuse a third request")
            finally:
                idle.close()
            _until(lambda: client.get(f"{base}/healthz").status_code == 200, "the cap to let requests in again")


def test_the_cli_passes_the_new_limits(detector, tmp_path, monkeypatch):
    import uvicorn

    from wavguard.cli import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    model = detector.save_pretrained(tmp_path / "det")
    argv = [
        "serve",
        str(model),
        "--no-ui",
        "--max-request-audio-seconds",
        "30",
        "--max-inflight-upload-mb",
        "200",
        "--body-timeout-seconds",
        "5",
        "--max-connections",
        "9",
        "--max-files-scoring",
        "4",
    ]
    assert main(argv) == 0
    settings = seen["app"].state.settings
    assert (settings.max_request_audio_seconds, settings.max_inflight_upload_bytes, settings.body_timeout_seconds) == (
        30.0,
        200 * 2**20,
        5.0,
    )
    assert seen["limit_concurrency"] == 9 and settings.max_files_scoring == 4
