"""Shortcut check: can a logistic regression on trivial file properties tell real from fake?

Uses :mod:`wavguard.evaluation.audit`: :func:`~wavguard.evaluation.audit.file_features` once per
file (duration, leading and trailing silence, zero fraction, RMS, peak, spectral roll-off and
bandwidth, 95 % roll-off, energy above 4 kHz, noise floor), then
:func:`~wavguard.evaluation.audit.audit_features` (the cross-validated ROC AUC of a scaled logistic
regression on each property alone and on all together) on all files and on each split.

Re-audit a built corpus: ``python -m recipes.offline_corpus.shortcut OUTPUT/manifest.csv``.
"""

from __future__ import annotations

import numpy as np

from wavguard.evaluation.audit import audit_features, file_features

__all__ = ["shortcut_check", "main"]


def shortcut_check(paths: list[str], labels: list[int], splits: list[str], folds: int = 5, seed: int = 0) -> dict:
    """The check over all files pooled, and within each split (features computed once per file).

    Returns:
        ``{"engine": "wavguard.evaluation.audit", "combined_auc", "feature_auc", "per_split": {split: auc},
        "per_split_feature_auc": {split: {name: auc}}}``.
    """
    y, s = np.asarray(labels, dtype=int), np.asarray(splits)
    names = sorted(set(splits))
    rows = [file_features(p) for p in paths]
    report = audit_features(rows, list(y), cv_folds=folds, seed=seed)
    per = {}
    for n in names:
        idx = np.flatnonzero(s == n)
        sub = audit_features([rows[i] for i in idx], list(y[idx]), cv_folds=folds, seed=seed)
        per[n] = {"combined_auc": sub.combined_auc, "feature_auc": sub.feature_auc}
    return {
        "engine": "wavguard.evaluation.audit",
        "combined_auc": report.combined_auc,
        "feature_auc": report.feature_auc,
        "per_split": {n: per[n]["combined_auc"] for n in names},
        "per_split_feature_auc": {n: per[n]["feature_auc"] for n in names},
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m recipes.offline_corpus.shortcut MANIFEST [--folds 5] [--seed 1234]``: print the check as JSON."""
    import argparse
    import csv
    import json
    from pathlib import Path

    p = argparse.ArgumentParser(prog="python -m recipes.offline_corpus.shortcut", description=main.__doc__)
    p.add_argument("manifest")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=1234)
    args = p.parse_args(argv)
    root = Path(args.manifest).parent
    with open(args.manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    result = shortcut_check(
        [str(root / r["path"]) for r in rows],
        [int(r["label"] == "fake") for r in rows],
        [r["split"] for r in rows],
        args.folds,
        args.seed,
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
