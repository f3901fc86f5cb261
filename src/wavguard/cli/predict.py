"""``wavguard predict FILE... --model DIR``: score audio files."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="score audio files (probability that each is fake)",
        description="Score audio files. Prints one line per file: score (probability of FAKE), label, path.",
    )
    p.add_argument("files", nargs="+", help="audio files (wav, flac, ogg, mp3; any rate and channel count)")
    p.add_argument("--model", "-m", required=True, help="detector directory or Hugging Face Hub id")
    p.add_argument("--revision", default=None, help="Hub revision of the detector")
    p.add_argument("--json", action="store_true", help="print JSON lines with per-window segments")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the detector's)")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..detector import Detector

    detector = Detector.from_pretrained(args.model, args.revision, device=args.device)
    results = detector.predict(args.files, batch_size=args.batch_size, threshold=args.threshold, on_error="return")
    failed = 0
    for pred in results:
        if not pred.ok:
            failed += 1
            print(f"wavguard: error: {pred.error}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(pred.to_dict()))
        else:
            print(f"{pred.score:.4f}\t{pred.label}\t{pred.source}")
    return 1 if failed else 0
