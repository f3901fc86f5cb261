"""``wavguard export MODEL --format onnx [--quantize int8 [--check-data DATA] [--int8-method static --calibration-data DATA]] -o DIR``."""

from __future__ import annotations

import argparse

from ..layout import ONNX_META_NAME, ONNX_NAME
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
    p.add_argument(
        "--quantize",
        choices=["int8"],
        default=None,
        help="int8 (onnxruntime; the transformer's matrix products in int8, front end and head in float)",
    )
    p.add_argument(
        "--calibration-data",
        metavar="DATA",
        default=None,
        help="clips like those you will score (a folder with real/ and fake/, a manifest, ...): static int8 "
        "measures activation ranges on them; without --check-data the int8 graph is checked on them",
    )
    p.add_argument(
        "--check-data",
        metavar="DATA",
        default=None,
        help="labelled clips to check the int8 graph on, best held out from the calibration data: the "
        "export is refused when the EER rises by more than --max-eer-increase points",
    )
    p.add_argument(
        "--split", default=None, help="split of a data set with splits (default: validation, else the first)"
    )
    p.add_argument(
        "--int8-method",
        choices=["static", "dynamic"],
        default=None,
        help="dynamic (default; activation ranges per batch) or static (ranges from --calibration-data)",
    )
    p.add_argument(
        "--max-eer-increase",
        type=float,
        default=0.5,
        metavar="POINTS",
        help="largest EER increase the check allows, in percentage points (default 0.5)",
    )
    p.add_argument("--force", action="store_true", help="write the int8 graph even when the check fails")
    _args.add_out(p, required=True)
    _args.add_revision(p)
    _args.add_json(p, help="print what was written as JSON")
    p.add_argument("--opset", type=int, default=20)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ..detector import Detector
    from ..errors import ConfigError
    from ..export.onnx import export_onnx

    if not args.quantize and (args.calibration_data or args.check_data):
        raise ConfigError("--calibration-data and --check-data go with --quantize int8")
    detector = Detector.from_pretrained(args.model, args.revision, backend="torch")  # export needs the PyTorch network
    out = export_onnx(
        detector,
        args.out,
        quantize=args.quantize,
        opset=args.opset,
        int8_method=args.int8_method,
        calibration_data=_one_split(args.calibration_data, args.split),
        check_data=_one_split(args.check_data, args.split),
        max_eer_increase=args.max_eer_increase / 100,
        force=args.force,
    )
    size_mb = (out / ONNX_NAME).stat().st_size / 1e6
    check = json.loads((out / ONNX_META_NAME).read_text()).get("quantization_check")
    if args.json:
        print(
            json.dumps(
                {"model": str(out / ONNX_NAME), "size_mb": round(size_mb, 3), "quantize": args.quantize, "check": check}
            )
        )
        return 0
    print(f"wrote {out / 'model.onnx'} ({size_mb:.1f} MB, {args.quantize or 'fp32'})")
    if check:
        from ..export.quantize import QuantizationCheck

        print(QuantizationCheck(**check).summary())
    return 0


def _one_split(source: str | None, split: str | None):
    """The data set named on the command line, one split of it (default validation, else the first)."""
    if source is None:
        return None
    import datasets

    from .. import data

    dataset = data.load_any(source, split=split)
    if isinstance(dataset, datasets.DatasetDict):
        dataset = dataset["validation"] if "validation" in dataset else dataset[next(iter(dataset))]
    return dataset
