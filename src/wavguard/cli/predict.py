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
    # One positional list: MODEL, then (deprecated) files; the old `FILE... --model M` puts files first.
    p.add_argument("positional", nargs="*", metavar="MODEL", help="detector directory or Hugging Face Hub id")
    _args.add_data(p, nargs="+", help="audio files (wav, flac, ogg, mp3; any rate and channel count)")
    _args.add_json(p, help="print JSON lines with per-window segments")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the detector's)")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    p.add_argument("--backend", choices=["auto", "torch"], default="auto",
                   help="auto (default): on the CPU, score with the detector's checked int8 graph (its onnx-int8/ "
                   "folder, written by `wavguard export MODEL --quantize int8 --check-data DATA -o MODEL/onnx-int8`) "
                   "when it has one whose check passed; torch: always the PyTorch detector")
    _args.add_progress(p)
    _args.add_device(p)
    _args.add_revision(p)
    _args.add_deprecated_model_option(p)
    p.set_defaults(func=run)


def load_for_scoring(model: str, revision: str | None, device: str | None, backend: str = "auto"):
    """The detector ``wavguard predict`` scores with: the folder's checked int8 graph
    (:data:`~wavguard.layout.FAST_PATH_DIR`, its ``quantization_check`` passed) on the CPU when
    ``backend`` is ``"auto"``, else the PyTorch detector."""
    from ..detector import Detector
    from ..layout import FAST_PATH_DIR, ONNX_META_NAME
    from ..models.backbone import resolve_model_dir

    directory = resolve_model_dir(model, revision)  # fetched once, for both the fast path and PyTorch
    if backend == "auto" and device in (None, "cpu"):
        fast = directory / FAST_PATH_DIR
        try:
            check = json.loads((fast / ONNX_META_NAME).read_text()).get("quantization_check") or {}
        except (OSError, ValueError):
            check = {}
        if check.get("passed"):
            from ..onnx_detector import OnnxDetector

            return OnnxDetector.from_pretrained(fast)
    return Detector.from_pretrained(directory, device=device)


def _model_and_files(args: argparse.Namespace) -> tuple[str, list[str]]:
    """New: ``MODEL --data FILE...``; old: ``FILE... --model MODEL`` (or ``MODEL FILE...``), with a warning."""
    from ..errors import ConfigError

    positional = list(args.positional)
    if args.model_option is not None:  # the old `predict FILE... --model MODEL`
        if args.data:
            raise ConfigError("give the model positionally and the files with --data: wavguard predict MODEL --data FILE...")
        model, files = args.model_option, positional
        _args.deprecated(f"`wavguard predict FILE... --model {model}`", f"`wavguard predict {model} --data FILE...`")
    else:
        args.model = positional.pop(0) if positional else None
        args.model_option = None
        model = _args.resolve_model(args)
        files = _args.take_positional_data(args, positional, as_list=True)
    if not files:
        raise ConfigError(f"wavguard predict: no audio files; give them with --data (wavguard predict {model} --data FILE...)")
    return model, files


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def escape_field(text: str) -> str:
    """``text`` as one tab-separated field on one line: backslash, tab, newline and carriage
    return become ``\\\\``, ``\\t``, ``\\n``, ``\\r`` (reversible)."""
    return text.translate(_ESCAPES)


def run(args: argparse.Namespace) -> int:
    model, files = _model_and_files(args)
    detector = load_for_scoring(model, args.revision, args.device, args.backend)
    results = detector.predict(files, batch_size=args.batch_size, threshold=args.threshold, on_error="return",
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
