"""Scoring speed side by side, in one run on the same files: PyTorch fp32, ONNX fp32, ONNX int8
(static, calibrated; dynamic), and the two peers' scoring approaches; size, speed and EER.

    python -m benchmarks.export_bench --model runs/offline_release/hub \
        --data out/oc_v3/manifest.csv --split test --calibration-split validation --threads 2 \
        [--max-clips N] [--long-file-rss]

Rows (scores = probability of FAKE; EER on ``--split``; speed = seconds of audio scored per second
of wall time over all files, decoding included, ``--threads`` torch / onnxruntime threads):

- PyTorch fp32: ``Detector.predict`` as ``wavguard predict`` runs it (decoding the next files in a
  background thread), and again with ``prefetch=False`` (everything on the calling thread).
- ONNX fp32, ONNX int8 static, ONNX int8 dynamic: :func:`wavguard.export.onnx.export_onnx`; static
  int8 is calibrated on ``--calibration-split`` (never the scored split) and checked there.
- default backend: ``Detector.from_pretrained(model)`` as ``wavguard predict`` loads it (a folder's
  checked ``onnx-int8/``; a built-in detector's int8 graph, built in the cache on first use,
  :mod:`wavguard.models.fast_path`), with ``--model``.
- peer: 30 s padding: Hugging Face's audio-classification example: ``WhisperFeatureExtractor`` pads
  every clip to 30 s and ``WhisperForAudioClassification`` (all encoder layers of the same
  backbone, mean pooling, a new head) scores it. Speed only (its head is untrained, no EER), on
  the first ``--peer-max-clips`` files (30 s of encoder per clip makes the whole split take an hour).
- peer: fixed 4 s window: the same PyTorch detector on one 4 s window per clip (the clip's first
  4 s, zero-padded when shorter), as detectors with a fixed input length (e.g. AASIST) score.

``--long-file-rss``: a one-hour WAV made of the scored clips, scored by ``wavguard predict``-style
``Detector.predict`` in a fresh process; its peak resident memory (ru_maxrss) is printed.
Without ``--model`` a tiny random detector is used (sizes and speeds only mean something then).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _size_mb(directory: Path) -> float:
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()) / 1e6


def _paths(data) -> list[str]:
    return [cell["path"] if isinstance(cell, dict) else str(cell) for cell in data["audio"]]


def _timed_scores(score, paths: list[str], durations: np.ndarray) -> tuple[np.ndarray, float]:
    """(scores, audio seconds per wall second) of ``score(paths)``, after one warm-up call on two files
    (first-call costs: thread pools, graph initialisation, lazy imports)."""
    score(paths[:2])
    started = time.perf_counter()
    scores = np.asarray(score(paths), dtype=np.float64)
    return scores, float(durations.sum() / (time.perf_counter() - started))


def _fixed_window_scores(detector, paths: list[str], seconds: float = 4.0) -> list[float]:
    """One window of ``seconds`` per clip (first seconds, zero-padded) through the detector's network."""
    from wavguard.data import decode_audio

    rate = detector.sample_rate_hz
    size = int(seconds * rate)
    scores = []
    for start in range(0, len(paths), 8):
        batch = []
        for path in paths[start : start + 8]:
            samples = decode_audio(path, rate)[:size]
            batch.append(np.pad(samples, (0, size - samples.shape[0])))
        scores.extend(detector.calibrate(detector.score_windows(batch)).tolist())
    return scores


def _padded_30s_scores(backbone_dir: str, paths: list[str], rate: int) -> list[float]:
    """The HF audio-classification example's scoring: every clip padded to 30 s, the whole encoder."""
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForAudioClassification

    from wavguard.data import decode_audio

    extractor = WhisperFeatureExtractor.from_pretrained(backbone_dir)
    model = WhisperForAudioClassification.from_pretrained(backbone_dir, num_labels=2).eval()
    scores = []
    with torch.inference_mode():
        for start in range(0, len(paths), 8):
            clips = [decode_audio(p, rate) for p in paths[start : start + 8]]
            features = extractor(clips, sampling_rate=rate, return_tensors="pt").input_features
            scores.extend(torch.softmax(model(features).logits, dim=-1)[:, 1].tolist())
    return scores


def _long_file_rss(model: str, clips: list[str], rate: int, seconds: float, workdir: Path) -> dict:
    """Peak RSS (MB) of a fresh process that loads ``model`` and scores a ``seconds``-long WAV."""
    import soundfile as sf

    from wavguard.data import decode_audio

    path = workdir / "long.wav"
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
        written = 0
        while written < seconds * rate:
            for clip in clips:
                samples = decode_audio(clip, rate)[: int(seconds * rate) - written]
                out.write(samples)
                written += samples.shape[0]
                if written >= seconds * rate:
                    break
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork + exec, so a child would report this
    # (large) process's peak; VmHWM belongs to the child's own address space.
    code = (
        "import sys, time\nfrom wavguard import Detector\n"
        "d = Detector.from_pretrained(sys.argv[1])\nt = time.perf_counter()\np = d.predict(sys.argv[2])\n"
        "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
        "print(p.score, len(p.segments), time.perf_counter() - t, hwm)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, model, str(path)], capture_output=True, text=True, check=True)
    score, windows, wall, rss_kb = out.stdout.split()[-4:]
    return {
        "audio_seconds": seconds,
        "file_mb": path.stat().st_size / 1e6,
        "windows": int(windows),
        "score": float(score),
        "wall_seconds": float(wall),
        "peak_rss_mb": int(rss_kb) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="detector directory (default: a tiny random detector)")
    parser.add_argument("--data", required=True, help="any wavguard.data.load_any source")
    parser.add_argument("--split", default="test", help="the scored split (EER and speed)")
    parser.add_argument("--calibration-split", default="validation", help="static int8's calibration and check split")
    parser.add_argument("--max-clips", type=int, default=None, help="score at most this many clips (default all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-peers", action="store_true", help="skip the two peer rows")
    parser.add_argument("--peer-max-clips", type=int, default=40, help="files the 30 s padding peer scores")
    parser.add_argument(
        "--peer-backbone",
        default="offline:whisper-base",
        help="the 30 s padding peer's Whisper checkpoint (a directory, Hub id or offline:whisper-<size>)",
    )
    parser.add_argument("--long-file-rss", action="store_true", help="also score a one-hour file and report peak RSS")
    parser.add_argument("--long-file-only", action="store_true", help="only the one-hour file (no table)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()

    import torch

    from wavguard import Detector
    from wavguard.data import load_any
    from wavguard.export.onnx import export_onnx
    from wavguard.metrics import compute_eer
    from wavguard.testing import tiny_detector

    torch.set_num_threads(args.threads)
    data = load_any(args.data, split=args.split)
    if args.max_clips:
        data = data.shuffle(seed=0).select(range(min(args.max_clips, len(data))))
    calibration = load_any(args.data, split=args.calibration_split)
    paths, labels = _paths(data), np.asarray(data["label"])
    durations = np.asarray(data["duration_seconds"], dtype=np.float64)
    print(
        f"load average {os.getloadavg()[0]:.2f}; {len(paths)} clips, {durations.sum():.0f} s of audio; "
        f"torch/onnxruntime threads {args.threads}",
        flush=True,
    )
    # PyTorch explicitly: the rows below export its network, and a staged release also carries an
    # int8 graph that the default backend would score with instead
    detector = Detector.from_pretrained(args.model, backend="torch") if args.model else tiny_detector("wav2vec2")
    if args.long_file_only:
        with tempfile.TemporaryDirectory() as tmp:
            print(
                f"one-hour file: {json.dumps(_long_file_rss(args.model, paths, detector.sample_rate_hz, 3600.0, Path(tmp)))}"
            )
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        exports = {
            "ONNX fp32": export_onnx(detector, tmp / "fp32"),
            "ONNX int8 static": export_onnx(
                detector, tmp / "int8s", quantize="int8", int8_method="static", calibration_data=calibration, force=True
            ),
            "ONNX int8 dynamic": export_onnx(
                detector, tmp / "int8d", quantize="int8", int8_method="dynamic", check_data=calibration, force=True
            ),
        }
        print(f"exports took {time.perf_counter() - started:.0f} s", flush=True)
        torch_mb = sum(t.numel() * t.element_size() for t in detector.model.parameters()) / 1e6
        systems = {
            "PyTorch fp32": (lambda p: [r.score for r in detector.predict(p)], torch_mb),
            "PyTorch fp32, decoding on the calling thread": (
                lambda p: [r.score for r in detector.predict(p, prefetch=False)],
                torch_mb,
            ),
        }
        for name, folder in exports.items():
            onnx = Detector.from_pretrained(folder, threads=args.threads)
            systems[name] = (lambda p, o=onnx: [r.score for r in o.predict(p)], _size_mb(folder))
        if args.model:  # what `wavguard predict` runs: a built-in detector's graph is built here on first use
            default = Detector.from_pretrained(args.model, threads=args.threads)
            size = None if default.backend_name == "torch" else _size_mb(default.directory)
            systems[f"default backend ({default.backend_name}), as wavguard predict loads it"] = (
                lambda p: [r.score for r in default.predict(p)],
                size,
            )
        if not args.no_peers:
            systems["peer: fixed 4 s window"] = (lambda p: _fixed_window_scores(detector, p), None)
            if args.model:
                from wavguard.models.backbone import resolve_model_dir

                backbone = str(resolve_model_dir(args.peer_backbone))
                systems["peer: 30 s padding (WhisperForAudioClassification)"] = (
                    lambda p: _padded_30s_scores(backbone, p, detector.sample_rate_hz),
                    None,
                )
        reference = None
        print("| system | size MB | audio s/s | x PyTorch | EER % | max abs score change vs PyTorch |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, (score, size) in systems.items():
            untrained = name.startswith("peer: 30 s")
            n = args.peer_max_clips if untrained else len(paths)
            scores, speed = _timed_scores(score, paths[:n], durations[:n])
            reference = scores if reference is None else reference
            eer = None if untrained else 100 * compute_eer(labels, scores)[0]
            change = None if name.startswith("peer") else float(np.abs(scores - reference).max())
            base = rows[0]["audio_seconds_per_second"] if rows else speed
            rows.append(
                {
                    "system": name,
                    "size_mb": size,
                    "audio_seconds_per_second": speed,
                    "eer_percent": eer,
                    "max_abs_score_change": change,
                    "clips": n,
                }
            )
            print(
                f"| {name} | {'' if size is None else f'{size:.1f}'} | {speed:.1f} | {speed / base:.2f} | "
                f"{'untrained head' if eer is None else f'{eer:.2f}'} | {'' if change is None else f'{change:.2g}'} |",
                flush=True,
            )
        checks = {
            name: json.loads((folder / "onnx.json").read_text()).get("quantization_check")
            for name, folder in exports.items()
        }
        for name, check in checks.items():
            if check:
                print(f"{name} check on {args.calibration_split}: {json.dumps(check)}")
        rss = None
        if args.long_file_rss and args.model:
            rss = _long_file_rss(args.model, paths, detector.sample_rate_hz, 3600.0, tmp)
            print(f"one-hour file: {json.dumps(rss)}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"rows": rows, "checks": checks, "long_file": rss, "threads": args.threads, "clips": len(paths)},
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
