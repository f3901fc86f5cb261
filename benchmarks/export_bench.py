"""PyTorch vs ONNX fp32 vs ONNX int8: size, scoring speed and EER on the same data, in one run.

    python benchmarks/export_bench.py --model runs/quickstart/detector \
        --data runs/quickstart/corpus/manifest.csv --split test --max-clips 200 --threads 2

Without ``--model`` a tiny random detector is used (size and speed only mean something then).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _size_mb(directory: Path) -> float:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="detector directory (default: a tiny random detector)")
    parser.add_argument("--data", required=True, help="any wavguard.data.load_any source")
    parser.add_argument("--split", default=None)
    parser.add_argument("--max-clips", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from wavguard import Detector
    from wavguard.data import load_any
    from wavguard.evaluation.evaluate import evaluate_detector
    from wavguard.export import export_onnx
    from wavguard.onnx_detector import OnnxDetector
    from wavguard.testing import tiny_detector

    torch.set_num_threads(args.threads)
    data = load_any(args.data, split=args.split)
    data = data.shuffle(seed=0).select(range(min(args.max_clips, len(data))))
    print(f"load average {os.getloadavg()[0]:.2f}; {len(data)} clips; torch/onnxruntime threads {args.threads}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.model:
            detector = Detector.from_pretrained(args.model)
        else:
            detector = tiny_detector("wav2vec2")
        started = time.perf_counter()
        fp32_dir = export_onnx(detector, tmp / "fp32")
        int8_dir = export_onnx(detector, tmp / "int8", quantize="int8")
        print(f"export took {time.perf_counter() - started:.0f} s")
        # PyTorch: the bytes of the network's weights (a referenced backbone folder may hold more,
        # e.g. Whisper's decoder, which the detector never loads)
        torch_mb = sum(p.numel() * p.element_size() for p in detector.model.parameters()) / 1e6
        systems = {
            "PyTorch": (detector, torch_mb),
            "ONNX fp32": (OnnxDetector.from_pretrained(fp32_dir, threads=args.threads), _size_mb(fp32_dir)),
            "ONNX int8": (OnnxDetector.from_pretrained(int8_dir, threads=args.threads), _size_mb(int8_dir)),
        }
        print("| runtime | size MB | audio s/s | EER % | max abs score change vs PyTorch |")
        print("| --- | --- | --- | --- | --- |")
        reference = None
        for name, (det, size) in systems.items():
            result = evaluate_detector(det, data, group_columns=(), bootstrap_resamples=0)
            if reference is None:
                reference = result.scores
            change = float(abs(result.scores - reference).max())
            print(f"| {name} | {size:.1f} | {result.audio_seconds_per_second:.1f} | {100 * result.metrics['eer']:.2f} | {change:.2g} |")


if __name__ == "__main__":
    main()
