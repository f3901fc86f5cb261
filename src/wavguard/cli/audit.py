"""``wavguard audit --data DATA``: check a data set for shortcuts (trivial properties that predict the label)."""

from __future__ import annotations

import argparse
import json

from . import _args

#: Exit status when a shortcut is flagged.
EXIT_SHORTCUT = 3


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "audit",
        help="check a data set for shortcuts (silence, duration, sample rate, codec ... that predict the label)",
        description=(
            "Train a logistic regression on trivial per-file properties and report the cross-validated ROC AUC "
            f"of each and of all together. Exit status 0 when clean, {EXIT_SHORTCUT} when a shortcut is flagged."
        ),
    )
    _args.add_data(
        p,
        required=True,
        help="data set: a folder with real/ and fake/ sub-folders, or anything wavguard.data.load_any reads",
    )
    _args.add_json(p, help="print the report as JSON")
    p.add_argument(
        "--sample-rate", type=int, default=16000, help="rate (Hz) for the spectral properties (default 16000)"
    )
    p.add_argument("--threshold", type=float, default=0.7, help="flag when the combined AUC exceeds this (default 0.7)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="fold shuffling seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import load_any
    from ..evaluation.audit import audit_dataset

    dataset = load_any(args.data)
    report = audit_dataset(
        dataset, sample_rate_hz=args.sample_rate, cv_folds=args.folds, seed=args.seed, threshold=args.threshold
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format())
    return EXIT_SHORTCUT if report.flagged else 0
