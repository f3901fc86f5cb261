"""``wavguard train RECIPE.yaml [key=value ...] [-o OUTPUT_DIR] [--resume]``: train a detector from a recipe."""

from __future__ import annotations

import argparse
import logging
import math

from . import _args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a detector from a YAML recipe",
        description=(
            "Train a detector. RECIPE.yaml holds TrainConfig settings (see docs/training.md); "
            "key=value arguments override them (dotted keys reach nested settings, e.g. "
            "detector.window_seconds=2.0). The best detector is saved in OUTPUT_DIR/best. "
            "For several GPUs: accelerate launch -m wavguard.cli train RECIPE.yaml."
        ),
    )
    p.add_argument("recipe", help="YAML recipe (e.g. recipes/custom_folder/recipe.yaml)")
    _args.add_overrides(p, help="settings that override the recipe")
    _args.add_out(p, metavar="OUTPUT_DIR", help="where checkpoints and best/ go (the same as output_dir=OUTPUT_DIR)")
    _args.add_json(p, help="print the result (best detector, epoch, EERs) as JSON")
    p.add_argument(
        "--resume", action="store_true",
        help="continue from the newest intact checkpoint in output_dir (a damaged newer one is skipped with a "
        "warning); refuses when there is none",
    )
    p.add_argument(
        "--resume-or-start", action="store_true",
        help="like --resume, but start from scratch (with a warning) when output_dir has no intact checkpoint",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..training import TrainConfig, train

    logging.getLogger("wavguard").setLevel(logging.INFO)
    overrides = list(args.overrides) + ([f"output_dir={args.out}"] if args.out else [])
    config = TrainConfig.from_yaml(args.recipe, overrides)
    result = train(config, resume=args.resume or args.resume_or_start, start_if_missing=args.resume_or_start)
    if args.json:
        from ..evaluation.report import to_json

        print(to_json({"best_dir": str(result.best_dir), "best_epoch": result.best_epoch,
                       "best_eer": result.best_eer if math.isfinite(result.best_eer) else None,
                       "test_metrics": result.test_metrics}), end="")
        return 0
    if any("val_eer" in record for record in result.history):
        eer = f"{result.best_eer:.4f}" if math.isfinite(result.best_eer) else "n/a (the validation set holds one class)"
    else:
        eer = "n/a (no validation set)"
    print(f"best detector: {result.best_dir} (epoch {result.best_epoch}, validation EER {eer})")
    for name, metrics in result.test_metrics.items():
        print(f"test {name}: EER {metrics['eer']:.4f} on {metrics['num_clips']} clips")
    return 0
