"""``wavguard compare MODEL... --data DATA -o DIR``: evaluate detectors side by side."""

from __future__ import annotations

import argparse
import os

from . import _args
from .evaluate import add_data_arguments, load_data


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="evaluate several detectors on one data set; write a side-by-side table",
        description=(
            "Evaluate each model on the same data set and write compare.md, compare.json, roc.png "
            "and det.png: EER pooled and per attack, AUC, minDCF, parameters, scoring speed, training time."
        ),
    )
    p.add_argument("models", nargs="+", help="detector or ensemble directories, or Hub ids")
    _args.add_data(p, required=True, help="labelled data set (see `wavguard evaluate`)")
    _args.add_out(p, required=True)
    _args.add_json(p, help="print compare.json's summary as JSON instead of the table lines")
    _args.add_revision(p)
    p.add_argument("--names", nargs="+", default=None, help="a display name per model (default: directory names)")
    add_data_arguments(p)
    p.set_defaults(func=run)


def _names(models: list[str], names: list[str] | None) -> list[str]:
    from ..errors import ConfigError

    if names is not None:
        if len(names) != len(models) or len(set(names)) != len(names):
            raise ConfigError(f"--names needs {len(models)} distinct names, one per model, got {names}")
        return names
    out: list[str] = []
    for model in models:
        base = os.path.basename(os.path.normpath(model)) or model
        name, k = base, 2
        while name in out:
            name, k = f"{base}-{k}", k + 1
        out.append(name)
    return out


def run(args: argparse.Namespace) -> int:
    from ..evaluation.ensemble import compare_detectors
    from ..evaluation.report import format_percent

    names = _names(args.models, args.names)
    models = [(name, _args.load_scorer(args, path)) for name, path in zip(names, args.models)]
    dataset = load_data(args.data, args.split)
    summary = compare_detectors(
        models,
        dataset,
        args.out,
        batch_size=args.batch_size,
        group_columns=args.group_by,
        bootstrap_resamples=args.bootstrap,
        progress=_args.resolve_progress(args),
    )
    failed = 1 if any(row["num_failed"] for row in summary["models"]) else 0
    if args.json:
        from ..evaluation.report import to_json

        print(to_json(summary), end="")
        return failed
    width = max(len(n) for n in names)
    for row in summary["models"]:
        auc = "n/a" if row["roc_auc"] is None else f"{row['roc_auc']:.4f}"
        print(f"{row['name']:<{width}}  EER {format_percent(row['eer'])}  AUC {auc}")
    print(f"table: {os.path.join(args.out, 'compare.md')}")
    return failed
