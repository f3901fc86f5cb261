"""The server of the fault suite (:mod:`benchmarks.faults`): the service on loopback with its
prediction log on a disk that can be made full, in a subprocess or in a thread.

The full disk is simulated where SQLite meets it: while a marker file exists, every write to the
log's SQLite file (``INSERT``, ``UPDATE``, ``CREATE``, ``DELETE``, through any connection, the
readiness probe's included) fails with ``sqlite3.OperationalError("database or disk is full")``,
SQLite's own words for ``SQLITE_FULL``; reads work, as they do on a full disk.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

__all__ = ["Server", "Watch", "HOST"]

HOST = _HOST = "127.0.0.1"


class Server:
    """The service on loopback, its log on a disk that :meth:`full_disk` fills: in a subprocess
    (``python -m benchmarks.faults_server SPEC``; peak RSS is the server's own), or with ``in_process`` in a thread of this
    process (no interpreter to start: what the test suite uses; RSS then counts the clients too)."""

    def __init__(self, model: str, workdir: Path, options):
        self.port = _free_port()
        self.url = f"http://{_HOST}:{self.port}"
        self.marker, log_path = workdir / "disk-is-full", workdir / "server.log"
        spec = {
            "model": model,
            "port": self.port,
            "marker": str(self.marker),
            "threads": options.threads,
            "settings": {
                "log_db": str(workdir / "log.sqlite"),
                "body_timeout_seconds": options.body_timeout_seconds,
                **options.settings,
            },
        }
        self.proc = self.thread = None
        if options.in_process:
            import uvicorn

            app, settings, self.info, self._restore = _build_app(spec, set_threads=False)
            self.uvicorn = uvicorn.Server(
                uvicorn.Config(app, host=_HOST, port=self.port, log_level="error", **settings.server_options())
            )
            self.thread = threading.Thread(target=self.uvicorn.run, daemon=True)
            self.thread.start()
            self.pid = os.getpid()
        else:
            spec["info"] = str(workdir / "server.json")
            with open(log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.faults_server", json.dumps(spec)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=Path(__file__).resolve().parents[1],
                )
            self.pid = self.proc.pid
        deadline = time.time() + 180
        while time.time() < deadline and (self.proc is None or self.proc.poll() is None):
            try:
                if httpx.get(f"{self.url}/healthz").status_code == 200:
                    if self.proc is not None:
                        self.info = json.loads(Path(spec["info"]).read_text())
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not start: {log_path.read_text()[-2000:] if log_path.exists() else ''}")

    def counter(self, line_start: str) -> float:
        lines = httpx.get(f"{self.url}/metrics").text.splitlines()
        return sum(float(line.split()[-1]) for line in lines if line.startswith(line_start))

    def full_disk(self, full: bool) -> None:
        if full:
            self.marker.touch()
        else:
            self.marker.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.thread is not None:
            self.uvicorn.should_exit = True
            self.thread.join(timeout=15)
            self._restore()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((_HOST, 0))
        return s.getsockname()[1]


def _build_app(spec: dict, set_threads: bool = True):
    """(app, settings, info, restore): the service, its log on a disk that is full while
    ``spec["marker"]`` exists (every write to the SQLite file fails as SQLite fails on a full disk;
    reads work); ``restore()`` undoes the patch of ``sqlite3.connect`` that does it."""
    import sqlite3

    import torch

    from wavguard import Detector
    from wavguard.serve import ServiceSettings, create_app

    if set_threads and spec["threads"]:
        torch.set_num_threads(spec["threads"])
    marker, log_db, real_connect = spec["marker"], os.path.abspath(spec["settings"]["log_db"]), sqlite3.connect

    class FullDisk(sqlite3.Connection):
        def execute(self, sql, *params):
            if os.path.exists(marker) and sql.lstrip().split(None, 1)[0].upper() in (
                "INSERT",
                "UPDATE",
                "CREATE",
                "DELETE",
            ):
                raise sqlite3.OperationalError("database or disk is full")  # SQLITE_FULL's own words
            return super().execute(sql, *params)

    def connect(database, *args, **kwargs):
        if os.path.abspath(str(database)) == log_db:
            kwargs["factory"] = FullDisk
        return real_connect(database, *args, **kwargs)

    def restore() -> None:
        sqlite3.connect = real_connect

    sqlite3.connect = connect
    settings = ServiceSettings(**spec["settings"])
    app = create_app(Detector.from_pretrained(spec["model"]), settings, ui=False)
    info = {
        "torch_threads": torch.get_num_threads(),
        "max_upload_bytes": settings.max_upload_bytes,
        "max_batch_files": settings.max_batch_files,
        "max_duration_seconds": settings.max_duration_seconds,
        "max_request_audio_seconds": settings.max_request_audio_seconds,
    }
    return app, settings, info, restore


def _serve_child(spec: dict) -> None:
    """The server process of a subprocess run."""
    import uvicorn

    app, settings, info, _ = _build_app(spec)
    Path(spec["info"]).write_text(json.dumps(info))
    uvicorn.run(app, host=_HOST, port=spec["port"], log_level="error", **settings.server_options())


class Watch:
    """``with Watch(server, case):`` polls ``/healthz`` every 50 ms while a case runs, its latency
    (ms) into ``case.healthz_ms``, and the server's peak resident memory (MB) into ``case.peak_rss_mb``:
    the larger of the highest ``VmRSS`` seen and ``VmHWM``, reset when the case starts (Linux)."""

    def __init__(self, server: Server, case):
        self.server, self.case, self.stop_flag = server, case, threading.Event()
        self.status_path = Path(f"/proc/{server.pid}/status")
        try:  # reset the peak (VmHWM) to the current RSS, so each case reports its own peak
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.peak_kb = 0
        self.thread = threading.Thread(target=self._run)

    def _memory_kb(self, key: str) -> int:
        try:
            for line in self.status_path.read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.stop_flag.is_set():
                start = time.perf_counter()
                try:
                    ok = http.get(f"{self.server.url}/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.case.healthz_ms.append((time.perf_counter() - start) * 1000)
                self.peak_kb = max(self.peak_kb, self._memory_kb("VmRSS:"))
                self.stop_flag.wait(0.05)

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_flag.set()
        self.thread.join()
        hwm = self._memory_kb("VmHWM:") if self.hwm_reset else 0
        self.case.peak_rss_mb = max(self.peak_kb, hwm) / 1024 or None


if __name__ == "__main__":
    _serve_child(json.loads(sys.argv[1]))
