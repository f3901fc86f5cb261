"""``wavguard export MODEL --format onnx [--quantize int8] -o DIR``."""

from __future__ import annotations

import argparse

from ..layout import ONNX_NAME
from . import _args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a detector to ONNX (optionally int8)",
        description="Export the whole detector (LoRA merged, layer weights, head, softmax) to ONNX with dynamic "
        "batch and length axes. The output directory loads with Detector.from_pretrained and `wavguard predict`.",
    )
    _args.add_model(p, help="detector directory or Hub id")
    p.add_argument("--format", choices=["onnx"], default="onnx")
    p.add_argument("--quantize", choices=["int8"], default=None, help="dynamic int8 quantization (onnxruntime)")
    _args.add_out(p, required=True)
    _args.add_revision(p)
    _args.add_json(p, help="print what was written as JSON")
    p.add_argument("--opset", type=int, default=20)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..detector import Detector
    from ..export import export_onnx

    detector = Detector.from_pretrained(args.model, args.revision)
    out = export_onnx(detector, args.out, quantize=args.quantize, opset=args.opset)
    size_mb = (out / ONNX_NAME).stat().st_size / 1e6
    if args.json:
        import json

        print(json.dumps({"model": str(out / ONNX_NAME), "size_mb": round(size_mb, 3), "quantize": args.quantize}))
        return 0
    print(f"wrote {out / 'model.onnx'} ({size_mb:.1f} MB, {args.quantize or 'fp32'})")
    return 0
