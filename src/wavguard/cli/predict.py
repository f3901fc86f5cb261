"""``wavguard predict MODEL --data FILE...``: score audio files."""

from __future__ import annotations

import argparse
import json
import sys

from . import _args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        usage="wavguard predict MODEL --data FILE [FILE ...] [options]",
        help="score audio files (probability that each is fake)",
        description=(
            "Score audio files. Prints one tab-separated line per file: score (probability of FAKE), label, "
            "path. In the path a tab, newline, carriage return and backslash are written as \\t, \\n, \\r "
            "and \\\\, so every line has exactly three fields. Files that cannot be scored are reported on "
            "stderr (exit status 1); the others are still scored."
        ),
    )
    _args.add_model(p)
    _args.add_data(p, nargs="+", required=True, help="audio files (wav, flac, ogg, mp3; any rate and channel count)")
    _args.add_json(p, help="print JSON lines with per-window segments")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the detector's)")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    _args.add_backend(p)
    _args.add_progress(p)
    _args.add_device(p)
    _args.add_revision(p)
    p.set_defaults(func=run)


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def escape_field(text: str) -> str:
    """``text`` as one tab-separated field on one line: backslash, tab, newline and carriage
    return become ``\\\\``, ``\\t``, ``\\n``, ``\\r`` (reversible)."""
    return text.translate(_ESCAPES)


def run(args: argparse.Namespace) -> int:
    detector = _args.load_scorer(args, args.model)
    results = detector.predict(args.data, batch_size=args.batch_size, threshold=args.threshold, on_error="return",
                               progress=_args.resolve_progress(args))
    failed = 0
    for pred in results:
        if not pred.ok:
            failed += 1
            message = str(pred.error).replace("\n", "\\n").replace("\r", "\\r")  # one line per error
            print(f"wavguard: error: {message}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(pred.to_dict()))
        else:
            print(f"{pred.score:.4f}\t{pred.label}\t{escape_field(pred.source)}")
    return 1 if failed else 0
