"""Load test of ``wavguard serve`` on loopback: N concurrent clients for a bounded time.

Starts the service (a tiny detector by default, or ``--model DIR``) in a subprocess, sends
``--clients`` concurrent streams of ``POST /v1/predict`` with a ``--clip-seconds`` wav for
``--seconds``, and prints requests/s, latency percentiles and errors. Usage:

    python -m benchmarks.load --clients 1 4 16 --seconds 15
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx
import numpy as np
import soundfile as sf


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(model: str, port: int, extra: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wavguard.cli", "serve", model, "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start")


def _run_clients(url: str, payload: bytes, clients: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(timeout=120) as http:
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                try:
                    ok = http.post(url, files={"file": ("clip.wav", payload)}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    if ok:
                        latencies.append(time.perf_counter() - start)
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="detector directory (default: a tiny random detector)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clip-seconds", type=float, default=4.0)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    args = parser.parse_args()

    print(f"load average (1 min): {os.getloadavg()[0]:.2f}; cpu count: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from wavguard.testing import tiny_detector

            model = str(tiny_detector("wav2vec2", window_seconds=4.0).save_pretrained(os.path.join(tmp, "tiny")))
        buf = io.BytesIO()
        rng = np.random.default_rng(0)
        sf.write(buf, 0.1 * rng.standard_normal(int(args.clip_seconds * 16000)), 16000, format="WAV")
        port = _free_port()
        proc = _start(model, port, ["--max-wait-ms", str(args.max_wait_ms)])
        try:
            url = f"http://127.0.0.1:{port}/v1/predict"
            _run_clients(url, buf.getvalue(), 1, 2.0)  # warm-up
            print("| clients | requests/s | p50 ms | p95 ms | p99 ms | errors |")
            print("| --- | --- | --- | --- | --- | --- |")
            for clients in args.clients:
                latencies, errors = _run_clients(url, buf.getvalue(), clients, args.seconds)
                ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
                p50, p95, p99 = np.percentile(ms, [50, 95, 99])
                print(
                    f"| {clients} | {len(latencies) / args.seconds:.1f} | {p50:.0f} | {p95:.0f} | {p99:.0f} | {errors} |"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
