"""Time one training epoch per mode on a base-sized random Wav2Vec2.

    python -m benchmarks.train_speed --clips 64 --seconds 4 --batch-size 8

Builds ``Wav2Vec2Config()`` (base: 12 layers, 768 wide, random weights) in a temporary folder,
writes ``--clips`` synthetic clips of ``--seconds`` seconds, and trains each mode for two epochs:
``frozen`` reports its second epoch (features cached by the first run of the backbone), ``lora``
and ``full`` their second epoch too (first epochs include warm-up effects). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _dataset(root: Path, clips: int, seconds: float, rate_hz: int = 16000):
    import datasets
    import pyarrow as pa
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    rows = []
    for i in range(clips):
        label = i % 2
        audio = 0.3 * np.sin(2 * np.pi * (150 + 20 * i) * t) if label == 0 else 0.3 * rng.standard_normal(t.size)
        path = root / f"clip_{i:04d}.wav"
        sf.write(path, np.clip(audio, -1, 1).astype(np.float32), rate_hz)
        rows.append((str(path), label))
    audio = pa.array(
        [{"bytes": None, "path": p} for p, _ in rows], type=pa.struct({"bytes": pa.binary(), "path": pa.string()})
    )
    table = pa.table({"audio": audio, "label": pa.array([lab for _, lab in rows], pa.int64())})
    features = datasets.Features(
        {"audio": datasets.Audio(decode=False), "label": datasets.ClassLabel(names=["real", "fake"])}
    )
    return datasets.Dataset(table).cast(features)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=32, help="training clips (default 32)")
    parser.add_argument("--seconds", type=float, default=2.0, help="clip length in seconds (default 2)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--modes", nargs="*", default=["frozen", "lora", "full"])
    parser.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    parser.add_argument("--json", action="store_true", help="print one JSON line per mode as well")
    args = parser.parse_args(argv)

    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from wavguard.training import TrainConfig, Trainer

    logging.getLogger("wavguard").setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory(prefix="wavguard-bench-") as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(str(tmp / "backbone"))
        (tmp / "clips").mkdir()
        data = _dataset(tmp / "clips", args.clips, args.seconds)
        rows = []
        for mode in args.modes:
            cfg = TrainConfig(
                train_data=data,
                backbone=str(tmp / "backbone"),
                mode=mode,
                epochs=2,
                batch_size=args.batch_size,
                crop_seconds=args.seconds,
                early_stopping_patience=None,
                mixed_precision=args.mixed_precision,
                output_dir=str(tmp / f"run-{mode}"),
                cache_dir=str(tmp / "cache"),
                log_every_steps=10_000,
            )
            started = time.perf_counter()
            trainer = Trainer(cfg)
            trainer.setup()  # frozen: this runs the backbone once to fill the cache
            setup_seconds = time.perf_counter() - started
            trainer.fit()
            epochs = [json.loads(x) for x in (tmp / f"run-{mode}" / "metrics.jsonl").read_text().splitlines()]
            seconds = [r["epoch_seconds"] for r in epochs if "epoch_seconds" in r]
            trainable = sum(p.numel() for p in trainer.detector.model.parameters() if p.requires_grad)
            rows.append(
                {
                    "mode": mode,
                    "setup_s": setup_seconds,
                    "epoch1_s": seconds[0],
                    "epoch2_s": seconds[1],
                    "clips_per_s": args.clips / seconds[1],
                    "trainable_params": trainable,
                }
            )
    print(
        f"device={device} clips={args.clips} seconds={args.seconds} batch={args.batch_size} "
        f"mixed_precision={args.mixed_precision} threads={torch.get_num_threads()}"
    )
    print(f"{'mode':<8}{'setup s':>10}{'epoch 1 s':>11}{'epoch 2 s':>11}{'clips/s':>10}{'trainable':>14}")
    for r in rows:
        print(
            f"{r['mode']:<8}{r['setup_s']:>10.2f}{r['epoch1_s']:>11.2f}{r['epoch2_s']:>11.2f}{r['clips_per_s']:>10.1f}{r['trainable_params']:>14,}"
        )
        if args.json:
            print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
