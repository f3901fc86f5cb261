"""Load and fault suite of the HTTP service on loopback: every case in one table.

Starts the service (a tiny random detector by default, or ``--model DIR``) in a subprocess
(:mod:`benchmarks.faults_server`) with its default limits (``--short``: smaller ones) and a body
timeout of ``--body-timeout-seconds``, then runs, one after the other:

- **mixed load**: ``--clients`` clients posting clips, ``--bad-fraction`` of them bad inputs
  (random bytes, empty, silent, a 1 Hz header, NaN samples, a truncated WAV, plain text, broken
  base64, deeply nested JSON: every kind once, then at random);
- **starvation**: ``--short-clients`` clients posting short clips, alone and then beside a
  client sending maximal batch requests (``max_batch_files`` files holding
  ``max_request_audio_seconds`` of audio together, under the upload limit);
- **large uploads**: ``--large-clients`` clients each uploading a file of nearly the upload limit
  at once (retrying after ``Retry-After`` when the server holds too many bytes);
- **slow uploads**: clients trickling bodies slower than ``--body-timeout-seconds`` allows,
  beside normal clients;
- **disconnects**: clients that send half a body and close the socket, beside normal clients;
- **full disk**: the prediction log's disk full (simulated: every write to the SQLite file
  fails with SQLite's own ``database or disk is full``), predictions, feedback and ``/readyz``.

Every case runs a watcher that polls ``/healthz`` and the server's resident memory (peak RSS,
``VmHWM`` reset per case where Linux allows). Columns: answers by status class; ``503`` counts
the documented refusals (``ServerBusy``, ``LogUnavailable``, ``NotReady``, the connection cap),
``5xx err`` every other 5xx (500, 504: what must stay 0); ``no answer`` includes the deliberate
disconnects (see notes); latencies are those of the case's well-formed requests. Usage:

    python -m benchmarks.faults                 # the full run (about 3 minutes)
    python -m benchmarks.faults --short         # seconds: what tests/test_benchmark_faults.py runs
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import select
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from .faults_server import HOST as _HOST
from .faults_server import Server, Watch
from .faults_table import Case, format_table, percentile_text

__all__ = ["Case", "Options", "run", "format_table", "bad_inputs", "main"]

_RATE = 16000


#: The cases, in the order a full run goes through them.
CASES = ("mixed", "starvation", "large", "slow", "disconnects", "full-disk")


@dataclass
class Options:
    """What a run does; :meth:`short` is the seconds-long version the test suite runs."""

    model: str | None = None
    clients: int = 32
    bad_fraction: float = 0.15
    seconds: float = 20.0
    clip_seconds: float = 4.0
    short_clients: int = 4
    large_clients: int = 8
    slow_clients: int = 8
    disconnect_clients: int = 4
    body_timeout_seconds: float = 10.0
    threads: int | None = None
    in_process: bool = False
    settings: dict = field(default_factory=dict)  # ServiceSettings for the server beyond the defaults
    cases: tuple[str, ...] = ()  # which of CASES to run (all when empty)

    @classmethod
    def short(cls, **overrides) -> Options:
        base = dict(
            clients=4,
            seconds=1.0,
            clip_seconds=1.5,
            short_clients=2,
            large_clients=2,
            slow_clients=2,
            disconnect_clients=2,
            body_timeout_seconds=1.0,
            threads=1,
            settings={"max_upload_bytes": 3 << 20, "max_batch_files": 4, "max_request_audio_seconds": 20.0},
        )
        return cls(**{**base, **overrides})


# -- audio and bad inputs ------------------------------------------------------------------------
def _audio(seconds: float, rate: int = _RATE, channels: int = 1, fmt: str = "WAV", seed: int = 0) -> bytes:
    from wavguard.testing import chirp

    rng = np.random.default_rng(seed)
    mono = chirp(seconds, rate) + 3e-4 * rng.standard_normal(int(round(seconds * rate))).astype(np.float32)
    buf = io.BytesIO()
    sf.write(
        buf, np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono, rate, format=fmt, subtype="PCM_16"
    )
    return buf.getvalue()


def bad_inputs(clip: bytes) -> dict[str, dict]:
    """``httpx.post`` keyword arguments of bad requests to ``/v1/predict``, each a 4xx by design."""
    silent, nan = io.BytesIO(), io.BytesIO()
    sf.write(silent, np.zeros(_RATE, np.float32), _RATE, format="WAV")
    sf.write(nan, np.full(_RATE, np.nan, np.float32), _RATE, format="WAV", subtype="FLOAT")
    one_hz = bytearray(clip)
    one_hz[24:28] = (1).to_bytes(4, "little")  # the header's rate: 1 Hz
    json_headers = {"content-type": "application/json"}
    return {
        "random bytes": {"files": {"file": ("noise.wav", os.urandom(20_000))}},
        "empty file": {"files": {"file": ("empty.wav", b"")}},
        "silent": {"files": {"file": ("silent.wav", silent.getvalue())}},
        "1 Hz header": {"files": {"file": ("slow.wav", bytes(one_hz))}},
        "NaN samples": {"files": {"file": ("nan.wav", nan.getvalue())}},
        "truncated WAV": {"files": {"file": ("cut.wav", clip[:4096])}},
        "plain text": {"content": b"hello", "headers": {"content-type": "text/plain"}},
        "bad base64": {"content": b'{"audio_base64": "@@@"}', "headers": json_headers},
        "nested JSON": {"content": b"[" * 100_000, "headers": json_headers},
    }


# -- clients -------------------------------------------------------------------------------------
def _post(
    http: httpx.Client, url: str, case: Case, well_formed: bool = True, method: str = "POST", **kwargs
) -> httpx.Response | None:
    """Send one request, count its answer in ``case`` (0: none) and, when ``well_formed``, its latency."""
    start = time.perf_counter()
    try:
        response = http.request(method, url, **kwargs)
    except httpx.HTTPError:
        case.add(0)
        return None
    case.add(response.status_code, (time.perf_counter() - start) * 1000 if well_formed else None)
    return response


def _until(deadline: float, work) -> None:
    while time.perf_counter() < deadline:
        work()


def _threads(*targets) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _clip_client(server: Server, case: Case, clip: bytes, deadline: float, name: str = "clip.wav"):
    def run() -> None:
        with httpx.Client(timeout=120) as http:
            _until(deadline, lambda: _post(http, f"{server.url}/v1/predict", case, files={"file": (name, clip)}))

    return run


def _mixed(server: Server, o: Options, clip: bytes) -> Case:
    case = Case(f"mixed load ({o.clients} clients, {o.bad_fraction:.0%} bad)")
    bad = bad_inputs(clip)
    kinds = Counter()
    deadline = time.perf_counter() + o.seconds

    def client(seed: int):
        def run() -> None:
            rng = random.Random(seed)
            first = sorted(bad) if seed == 0 else []  # client 0 sends every kind once, then at random
            with httpx.Client(timeout=120) as http:
                while time.perf_counter() < deadline:
                    if first or rng.random() < o.bad_fraction:
                        kind = first.pop(0) if first else rng.choice(sorted(bad))
                        kinds[kind] += 1
                        _post(http, f"{server.url}/v1/predict", case, well_formed=False, **bad[kind])
                    else:
                        _post(http, f"{server.url}/v1/predict", case, files={"file": ("clip.wav", clip)})

        return run

    with Watch(server, case):
        _threads(*(client(i) for i in range(o.clients)))
    case.extra["bad_kinds"] = len(kinds)
    case.notes.append(
        f"{sum(kinds.values())} bad inputs ({sum(kinds.values()) / max(case.requests, 1):.0%}) of "
        f"{len(kinds)} kinds; latency of the 2xx answers"
    )
    return case


def _maximal_batch(server: Server) -> tuple[list, float]:
    """The largest batch the limits allow: ``max_batch_files`` FLAC files holding the request's audio
    limit together (less 1 %), shortened until the body fits the upload limit."""
    info = server.info
    files = info["max_batch_files"]
    seconds = min(info["max_request_audio_seconds"] * 0.99 / files, info["max_duration_seconds"])
    while True:
        data = _audio(seconds, fmt="FLAC", seed=1)
        if len(data) * files + 64 * files < info["max_upload_bytes"]:
            return [("files", (f"part{i}.flac", data)) for i in range(files)], seconds * files
        seconds *= 0.9


def _starvation(server: Server, o: Options) -> list[Case]:
    short = _audio(min(o.clip_seconds, 2.0), seed=2)
    alone = Case(f"short requests alone ({o.short_clients} clients)")
    with Watch(server, alone):
        deadline = time.perf_counter() + o.seconds
        _threads(*(_clip_client(server, alone, short, deadline) for _ in range(o.short_clients)))
    beside = Case(f"short requests + maximal batch ({o.short_clients} clients)")
    files, audio_seconds = _maximal_batch(server)
    batch_ms: list[float] = []
    statuses = Counter()

    def batch_client(deadline: float):
        def run() -> None:
            with httpx.Client(timeout=300) as http:
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    response = _post(http, f"{server.url}/v1/predict/batch", beside, well_formed=False, files=files)
                    if response is not None and response.status_code == 200:
                        batch_ms.append((time.perf_counter() - start) * 1000)
                        statuses.update(r["status"] for r in response.json()["results"])

        return run

    with Watch(server, beside):
        deadline = time.perf_counter() + o.seconds
        _threads(
            batch_client(deadline), *(_clip_client(server, beside, short, deadline) for _ in range(o.short_clients))
        )
    size_mb = sum(len(f[1][1]) for f in files) / 1e6
    beside.notes.append(
        f"{len(batch_ms)} batches of {len(files)} files, {audio_seconds:.0f} s of audio, {size_mb:.1f} MB "
        f"(files: {dict(statuses)}), batch p50 {percentile_text(batch_ms, 50)} ms"
    )
    alone.notes.append("latency of the short requests (2 s clips)")
    return [alone, beside]


def _large_uploads(server: Server, o: Options) -> Case:
    # 44.1 kHz stereo: the most bytes per second of audio, so a file near the upload limit stays
    # under the duration limit and is decoded, resampled and scored
    limit = server.info["max_upload_bytes"]
    seconds = min((limit * 0.97 - 64) / (44100 * 4), server.info["max_duration_seconds"] * 0.95)
    data = _audio(seconds, rate=44100, channels=2, seed=3)
    case = Case(f"large uploads ({o.large_clients} at once, {len(data) / 1e6:.1f} MB each)")
    deadline = time.perf_counter() + max(o.seconds * 3, 10.0)  # bounds the retries

    def client() -> None:
        with httpx.Client(timeout=300) as http:
            while time.perf_counter() < deadline:
                response = _post(http, f"{server.url}/v1/predict", case, files={"file": ("big.wav", data)})
                if response is None or response.status_code != 503:
                    return
                time.sleep(float(response.headers.get("retry-after", "1")))

    with Watch(server, case):
        _threads(*(client for _ in range(o.large_clients)))
    case.notes.append(
        f"503s are ServerBusy (over the in-flight upload cap), retried after Retry-After; "
        f"{seconds:.0f} s of 44.1 kHz stereo per file"
    )
    return case


def _raw_request(body: bytes, declared: int | None = None) -> tuple[bytes, bytes]:
    """(multipart body holding ``body`` as a file, the request's head) for a raw socket."""
    boundary = "wavguardfaults"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    payload = head + body + f"\r\n--{boundary}--\r\n".encode()
    headers = (
        f"POST /v1/predict HTTP/1.1\r\nHost: {_HOST}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {declared or len(payload)}\r\n\r\n"
    ).encode()
    return payload, headers


def _status_of(sock: socket.socket) -> int:
    try:
        line = sock.recv(4096).split(b"\r\n", 1)[0].split()
        return int(line[1]) if len(line) > 1 else 0
    except (OSError, ValueError):
        return 0


def _slow_uploads(server: Server, o: Options, clip: bytes) -> Case:
    case = Case(f"slow uploads ({o.slow_clients} trickling + 2 normal clients)")
    payload, headers = _raw_request(_audio(4.0, seed=4))
    chunk_bytes = max(1, len(payload) // 200)
    slow = Counter()

    def trickle() -> None:
        """A chunk every tenth of the body timeout for 60 % of it, then silence (a stalled client;
        nothing in flight when the server closes, so its answer cannot be lost to a TCP reset)."""
        with socket.create_connection((_HOST, server.port), timeout=o.body_timeout_seconds * 5) as sock:
            sock.sendall(headers)
            for start in range(0, chunk_bytes * 6, chunk_bytes):
                sock.sendall(payload[start : start + chunk_bytes])
                if select.select([sock], [], [], o.body_timeout_seconds / 10)[0]:
                    break
            slow[_status_of(sock)] += 1

    deadline = time.perf_counter() + o.body_timeout_seconds * 1.5 + o.seconds
    with Watch(server, case):
        _threads(
            *(trickle for _ in range(o.slow_clients)), *(_clip_client(server, case, clip, deadline) for _ in range(2))
        )
    for status, n in slow.items():
        case.statuses[status] += n
    case.extra["trickled"] = dict(slow)
    case.notes.append(
        f"trickled bodies: {dict(slow)} (408: RequestTimeout after {o.body_timeout_seconds:g} s); "
        "latency of the normal clients"
    )
    return case


def _disconnects(server: Server, o: Options, clip: bytes) -> Case:
    case = Case(f"disconnects ({o.disconnect_clients} leaving mid-body + 2 normal clients)")
    payload, headers = _raw_request(_audio(4.0, seed=5))
    before = server.counter('wavguard_requests_total{endpoint="/v1/predict",status="499"}')
    deadline = time.perf_counter() + o.seconds

    def leaver() -> None:
        while time.perf_counter() < deadline:
            with socket.create_connection((_HOST, server.port), timeout=30) as sock:
                sock.sendall(headers + payload[: len(payload) // 2])
                time.sleep(0.05)  # the server is reading the body when the client goes
            with case.lock:
                case.statuses[0] += 1
                case.deliberate_drops += 1

    with Watch(server, case):
        _threads(
            *(leaver for _ in range(o.disconnect_clients)),
            *(_clip_client(server, case, clip, deadline) for _ in range(2)),
        )
    time.sleep(0.5)  # the last leaver's request ends on the server
    counted = server.counter('wavguard_requests_total{endpoint="/v1/predict",status="499"}') - before
    case.extra["counted_499"] = counted
    case.notes.append(
        f"{case.deliberate_drops} left mid-body (no answer by design); the server counted {counted:.0f} as 499"
    )
    return case


def _full_disk(server: Server, o: Options, clip: bytes) -> Case:
    case = Case("full disk under the log")
    warned, feedback, ready = Counter(), Counter(), Counter()
    # feedback with the audio itself, so the write is all it does (a logged id would be a 404: none is logged)
    body = json.dumps({"label": "fake", "audio_base64": base64.b64encode(clip).decode()})
    server.full_disk(True)
    deadline = time.perf_counter() + o.seconds

    def predictor() -> None:
        with httpx.Client(timeout=120) as http:
            while time.perf_counter() < deadline:
                response = _post(http, f"{server.url}/v1/predict", case, files={"file": ("clip.wav", clip)})
                if response is not None and response.status_code == 200:
                    warned[response.headers.get("x-wavguard-warning", "logged")] += 1
                    answer = _post(
                        http,
                        f"{server.url}/v1/feedback",
                        case,
                        well_formed=False,
                        content=body,
                        headers={"content-type": "application/json"},
                    )
                    feedback[
                        answer.json()["detail"]["error"]
                        if answer is not None and answer.status_code != 200
                        else getattr(answer, "status_code", 0)
                    ] += 1
                readyz = _post(http, f"{server.url}/readyz", case, well_formed=False, method="GET")
                ready[getattr(readyz, "status_code", 0)] += 1

    try:
        with Watch(server, case):
            _threads(*(predictor for _ in range(max(2, o.short_clients))))
    finally:
        server.full_disk(False)
    recovered = httpx.get(f"{server.url}/readyz").status_code
    case.extra.update(predictions=dict(warned), feedback=dict(feedback), readyz=dict(ready), readyz_after=recovered)
    case.notes.append(
        f"predictions: {dict(warned)}; feedback: {dict(feedback)}; /readyz: {dict(ready)}, "
        f"{recovered} once the disk has room"
    )
    return case


def run(options: Options) -> tuple[list[Case], dict]:
    """Start the server, run every case, stop it. Returns the cases and the server's settings."""
    with tempfile.TemporaryDirectory(prefix="wavguard-faults-") as tmp:
        model = options.model
        if model is None:
            from wavguard.testing import tiny_detector

            model = str(tiny_detector("wav2vec2", window_seconds=4.0).save_pretrained(os.path.join(tmp, "tiny")))
        clip = _audio(options.clip_seconds)
        server = Server(model, Path(tmp), options)
        try:
            with httpx.Client(timeout=120) as http:  # warm-up
                http.post(f"{server.url}/v1/predict", files={"file": ("clip.wav", clip)})
            runs = {
                "mixed": lambda: [_mixed(server, options, clip)],
                "starvation": lambda: _starvation(server, options),
                "large": lambda: [_large_uploads(server, options)],
                "slow": lambda: [_slow_uploads(server, options, clip)],
                "disconnects": lambda: [_disconnects(server, options, clip)],
                "full-disk": lambda: [_full_disk(server, options, clip)],
            }
            cases = [case for name in options.cases or CASES for case in runs[name]()]
        finally:
            server.stop()
        return cases, server.info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="the seconds-long version (small limits, 1 thread)")
    parser.add_argument("--model", default=None, help="detector directory (default: a tiny random detector)")
    for name, default in (
        ("clients", 32),
        ("short-clients", 4),
        ("large-clients", 8),
        ("slow-clients", 8),
        ("disconnect-clients", 4),
        ("threads", None),
    ):
        parser.add_argument(f"--{name}", type=int, default=None, help=f"default {default}")
    for name, default in (
        ("seconds", 20.0),
        ("bad-fraction", 0.15),
        ("clip-seconds", 4.0),
        ("body-timeout-seconds", 10.0),
    ):
        parser.add_argument(f"--{name}", type=float, default=None, help=f"default {default}")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=None, help="run only these cases (default: all)")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=JSON",
        help="service settings beyond the defaults, e.g. max_client_batch_windows=16",
    )
    args = parser.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("short", "set")}
    given["cases"] = tuple(args.cases or ())
    if args.set:
        given["settings"] = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    options = Options.short(**given) if args.short else Options(**given)
    load = os.getloadavg()[0]
    cases, info = run(options)
    print(
        f"load average (1 min) at the start: {load:.2f}; cpu count: {os.cpu_count()}; server torch threads: "
        f"{info.get('torch_threads')}; clients run on the same machine"
    )
    print(format_table(cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
