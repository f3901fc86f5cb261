"""``wavguard train [RECIPE] [--data DATA ...] [-o OUTPUT_DIR] [key=value ...] [--resume]``: train a detector.

RECIPE is a packaged recipe's name (``wavguard train --list``) or a YAML file; without one,
``--data DIR`` trains the default recipe (``custom_folder``: a real/ + fake/ folder).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re

from ..errors import ConfigError
from . import _args, _recipes


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        usage="wavguard train [RECIPE] [--data DATA] [-o OUTPUT_DIR] [key=value ...] [options]",
        help="train a detector from a recipe (a packaged one by name, or a YAML file)",
        description=(
            "Train a detector. RECIPE is the name of a recipe that ships with wavguard (wavguard train --list) or a "
            "YAML file of TrainConfig settings (see docs/training.md); without RECIPE, --data trains the default "
            f"recipe ({_recipes.DEFAULT_RECIPE}: a folder with real/ and fake/ sub-folders, 10 % held out for "
            "validation). key=value arguments override the recipe (dotted keys reach nested settings, e.g. "
            "detector.window_seconds=2.0). The best detector is saved in OUTPUT_DIR/best. "
            "For several GPUs: accelerate launch -m wavguard.cli train RECIPE."
        ),
    )
    p.add_argument(
        "recipe",
        nargs="?",
        default=None,
        metavar="RECIPE",
        help=f"a packaged recipe's name (e.g. {_recipes.DEFAULT_RECIPE}; see --list) or a YAML file "
        f"(default with --data: {_recipes.DEFAULT_RECIPE})",
    )
    _args.add_overrides(p, help="settings that override the recipe")
    p.add_argument(
        "--data",
        action="append",
        default=None,
        metavar="DATA",
        help="training data (the same as train_data=DATA): a folder with real/ and fake/ sub-folders, a "
        "manifest, a saved data set or a corpus; repeat --data to concatenate several",
    )
    _args.add_out(p, metavar="OUTPUT_DIR", help="where checkpoints and best/ go (the same as output_dir=OUTPUT_DIR)")
    _args.add_json(p, help="print the result (best detector, epoch, EERs) as JSON; with --list, the recipes")
    _args.add_progress(p)
    p.add_argument("--list", action="store_true", help="list the packaged recipes and exit")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest intact checkpoint in output_dir (a damaged newer one is skipped with a "
        "warning); refuses when there is none",
    )
    p.add_argument(
        "--resume-or-start",
        action="store_true",
        help="like --resume, but start from scratch (with a warning) when output_dir has no intact checkpoint",
    )
    p.set_defaults(func=run)


def list_recipes(as_json: bool) -> int:
    names = _recipes.recipe_names()
    if as_json:
        print(json.dumps([{"name": name, "description": _recipes.describe(name)} for name in names]))
        return 0
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {_recipes.describe(name)}")
    return 0


#: ``key=value`` with a settings key (dotted for nested settings)
_OVERRIDE = re.compile(r"[A-Za-z_][\w.]*=")


def recipe_and_overrides(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The recipe to load and the overrides to apply to it (``--data`` and ``-o`` as settings)."""
    recipe, overrides = args.recipe, list(args.overrides)
    if recipe is not None and _OVERRIDE.match(recipe) and not os.path.isfile(recipe):
        recipe, overrides = None, [recipe, *overrides]  # argparse took the first key=value for RECIPE
    given = {o.partition("=")[0].strip() for o in overrides}
    if args.data:
        if "train_data" in given:
            raise ConfigError("the training data is given twice (--data and train_data=): give one")
        data = args.data[0] if len(args.data) == 1 else args.data
        overrides.insert(0, f"train_data={json.dumps(data, ensure_ascii=False)}")  # quoted: any path is one string
    if recipe is None:
        if not args.data and "train_data" not in given:
            raise ConfigError(
                f"wavguard train needs a RECIPE ({', '.join(_recipes.recipe_names())}; or a YAML file) "
                "or the training data (--data DIR with real/ and fake/ sub-folders)"
            )
        recipe = _recipes.DEFAULT_RECIPE
    if args.out:
        overrides.append(f"output_dir={args.out}")
    return recipe, overrides


def run(args: argparse.Namespace) -> int:
    if args.list:
        return list_recipes(args.json)
    recipe, overrides = recipe_and_overrides(args)

    from ..training import TrainConfig, train

    if not getattr(args, "quiet", False):  # training reports each validation in the log
        logging.getLogger("wavguard").setLevel(logging.INFO)
    with _recipes.recipe_file(recipe) as path:
        config = TrainConfig.from_yaml(path, overrides)
    progress = _args.resolve_progress(args)
    with _args.library_progress_bars(progress, datasets=True):
        result = train(
            config, resume=args.resume or args.resume_or_start, start_if_missing=args.resume_or_start, progress=progress
        )
    if args.json:
        from ..evaluation.report import to_json

        print(
            to_json(
                {
                    "best_dir": str(result.best_dir),
                    "best_epoch": result.best_epoch,
                    "best_eer": result.best_eer if math.isfinite(result.best_eer) else None,
                    "test_metrics": result.test_metrics,
                    "hub_model_id": result.hub_model_id,
                }
            ),
            end="",
        )
        return 0
    if any("val_eer" in record for record in result.history):
        eer = f"{result.best_eer:.4f}" if math.isfinite(result.best_eer) else "n/a (the validation set holds one class)"
    else:
        eer = "n/a (no validation set)"
    print(f"best detector: {result.best_dir} (epoch {result.best_epoch}, validation EER {eer})")
    for name, metrics in result.test_metrics.items():
        print(f"test {name}: EER {metrics['eer']:.4f} on {metrics['num_clips']} clips")
    if result.hub_model_id:
        print(f"published to the Hub: {result.hub_model_id}")
    return 0
