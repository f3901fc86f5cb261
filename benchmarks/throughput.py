"""Scoring throughput on CPU: seconds of audio scored per second of wall time.

Compares, in one run, a tiny random detector and a detector on a base-sized random Wav2Vec2
(``Wav2Vec2Config()`` defaults: 12 layers, 768 hidden, 95 M parameters; random weights have the
same cost as pretrained ones). Usage:

    python -m benchmarks.throughput --audio-seconds 60 --threads 2

The machine should be otherwise idle: the script prints the 1-minute load average first.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import soundfile as sf
import torch


def _base_wav2vec2_dir(directory: str) -> str:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(directory)
    return directory


def _time_predict(detector, path: str, repeats: int, batch_size: int) -> float:
    detector.predict(path, batch_size=batch_size)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        detector.predict(path, batch_size=batch_size)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio-seconds", type=float, default=60.0, help="length of the scored file")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per detector (best is kept)")
    parser.add_argument("--batch-size", type=int, default=4, help="windows per forward pass")
    parser.add_argument("--window-seconds", type=float, default=4.0)
    parser.add_argument("--skip-base", action="store_true", help="only the tiny detector")
    args = parser.parse_args()

    from wavguard import Detector
    from wavguard.testing import tiny_detector

    torch.set_num_threads(args.threads)
    print(f"load average (1 min): {os.getloadavg()[0]:.2f}; torch threads: {args.threads}; cpu count: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "speechlike.wav")
        rng = np.random.default_rng(0)
        sf.write(path, (0.1 * rng.standard_normal(int(args.audio_seconds * 16000))).astype(np.float32), 16000)
        detectors = {
            "tiny wav2vec2 (2 layers, 32 hidden)": tiny_detector("wav2vec2", window_seconds=args.window_seconds)
        }
        if not args.skip_base:
            base = _base_wav2vec2_dir(os.path.join(tmp, "w2v-base"))
            detectors["wav2vec2-base, random init (12 layers, 768 hidden)"] = Detector.from_backbone(
                base, window_seconds=args.window_seconds
            )
            detectors["wav2vec2-base truncated to 4 layers"] = Detector.from_backbone(
                base, window_seconds=args.window_seconds, num_layers=4
            )
        print("| detector | parameters | seconds of audio per second | real-time factor |")
        print("| --- | --- | --- | --- |")
        for name, det in detectors.items():
            params = sum(p.numel() for p in det.model.parameters())
            seconds = _time_predict(det, path, args.repeats, args.batch_size)
            speed = args.audio_seconds / seconds
            print(f"| {name} | {params / 1e6:.2f} M | {speed:.1f} | {seconds / args.audio_seconds:.4f} |")


if __name__ == "__main__":
    main()
