"""Scoring speed of AASIST alone and fused with Whisper, against the Whisper detectors alone.

One clip of ``--seconds`` (default 4 s) of noisy chirp at 16 kHz, scored with ``Detector.predict``
(one window: every detector's window is set to the clip's length). After two warm-up calls each,
the detectors take turns, ``--repeats`` rounds, so a change in the machine's load hits them all
alike; the minimum (the least disturbed call) and the median wall time are printed per detector,
with the real-time factor of the minimum (audio seconds per second of compute). Heads are
untrained: speed does not depend on their weights.

Detectors: Whisper tiny.en and base (all encoder layers, CNN head), AASIST alone (official
weights, published head), and each Whisper fused with AASIST. ``--onnx`` also exports AASIST
alone and Whisper base to fp32 ONNX and times those graphs (each export takes a minute or more).

Usage:

    python benchmarks/aasist_speed.py --threads 2
    python benchmarks/aasist_speed.py --threads 2 --onnx --repeats 20

Timings mean something only on an otherwise idle machine: the 1-minute load average is printed
before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def _time(detectors: dict, clip: np.ndarray, repeats: int) -> dict[str, list[float]]:
    """Seconds per ``predict`` call of each detector, the detectors taking turns."""
    for detector in detectors.values():
        for _ in range(2):
            detector.predict(clip, sample_rate=16000)
    times: dict[str, list[float]] = {name: [] for name in detectors}
    for _ in range(repeats):
        for name, detector in detectors.items():
            started = time.perf_counter()
            detector.predict(clip, sample_rate=16000)
            times[name].append(time.perf_counter() - started)
    return times


def _row(name: str, backend: str, seconds: list[float], audio_seconds: float) -> str:
    best, median = min(seconds), statistics.median(seconds)
    return f"{name:28} {backend:10} {1000 * best:9.1f} {1000 * median:9.1f} {audio_seconds / best:12.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--onnx", action="store_true", help="also time fp32 ONNX graphs of AASIST and Whisper base")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from wavguard import Detector
    from wavguard.detector import build_aasist_detector
    from wavguard.testing import chirp

    rng = np.random.default_rng(0)
    clip = chirp(args.seconds) + 0.01 * rng.standard_normal(int(args.seconds * 16000)).astype(np.float32)
    window = {"window_seconds": args.seconds}
    detectors = {
        "whisper tiny.en": lambda: Detector.from_backbone("offline:whisper-tiny.en", seed=0, **window),
        "whisper base": lambda: Detector.from_backbone("offline:whisper-base", seed=0, **window),
        "aasist": lambda: build_aasist_detector(**window),
        "whisper tiny.en + aasist": lambda: Detector.from_backbone(
            "offline:whisper-tiny.en", seed=0, aasist={}, **window
        ),
        "whisper base + aasist": lambda: Detector.from_backbone("offline:whisper-base", seed=0, aasist={}, **window),
    }
    built = {name: build() for name, build in detectors.items()}
    runs = {(name, "torch"): detector for name, detector in built.items()}
    with tempfile.TemporaryDirectory() as folder:
        if args.onnx:
            from wavguard.export.onnx import export_onnx

            for name in ("aasist", "whisper base"):
                exported = export_onnx(built[name], os.path.join(folder, name.replace(" ", "-")))
                runs[(name, "onnx")] = Detector.from_pretrained(exported, threads=args.threads)
        print(f"{args.seconds:g} s clip, {args.threads} threads, {args.repeats} rounds; load average {_load()}")
        times = _time(runs, clip, args.repeats)
    print(f"{'detector':28} {'backend':10} {'min ms':>9} {'median ms':>9} {'x real time':>12}")
    for (name, backend), seconds in times.items():
        print(_row(name, backend, seconds, args.seconds))
    print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
