"""Paired EER comparison of two score files of the same clips (a change against its baseline).

Each pair of files (``wavguard evaluate --scores``, or a method-study row's ``scores/`` files) is
joined on the utterance id; the EER difference (new minus base, in points: negative = the new
system errs less) comes with the paired bootstrap interval of
:func:`wavguard.metrics.bootstrap_eer_difference_ci` (the same clips drawn for both systems). With
several pairs, ``pooled`` joins them all (each pair's ids kept apart), as the study pools its
degraded channels. The interval covers which clips were drawn, not training-seed variance.

    python -m benchmarks.paired_eer BASE.tsv NEW.tsv [BASE2.tsv NEW2.tsv ...] [--resamples 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from wavguard.errors import ConfigError
from wavguard.evaluation.scorefile import read_scores
from wavguard.metrics import bootstrap_eer_difference_ci, compute_eer

__all__ = ["join_scores", "paired_eer", "compare_pairs", "main"]


def join_scores(base_path: str | Path, new_path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The clips both files scored, in the base file's order.

    Returns:
        (ids (N,), labels (N,) 1 = fake, base scores (N,), new scores (N,)); higher = more fake.

    Raises:
        ConfigError: a file repeats an id, the files' id sets differ, or they label a clip differently.
    """
    base, new = read_scores(base_path), read_scores(new_path)
    for path, scores in ((base_path, base), (new_path, new)):
        if len(set(scores.ids)) != len(scores.ids):
            raise ConfigError(f"{path}: repeats utterance ids; a paired comparison needs one score per clip")
    position = {utt: i for i, utt in enumerate(new.ids)}
    missing = [utt for utt in base.ids if utt not in position]
    extra = len(new.ids) - (len(base.ids) - len(missing))
    if missing or extra:
        raise ConfigError(
            f"{base_path} and {new_path} score different clips ({len(missing)} only in the first, {extra} only "
            f"in the second, e.g. {(missing or ['-'])[0]!r}): compare files of the same clips"
        )
    order = np.array([position[utt] for utt in base.ids], dtype=np.int64)
    if not np.array_equal(base.labels, new.labels[order]):
        first = base.ids[int(np.flatnonzero(base.labels != new.labels[order])[0])]
        raise ConfigError(f"{base_path} and {new_path} label clip {first!r} differently")
    return list(base.ids), base.labels, base.scores, new.scores[order]


def paired_eer(labels, base_scores, new_scores, *, resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """EERs of both systems and their paired difference, in percent.

    Returns:
        {"clips", "eer_base", "eer_new", "difference", "low", "high"}: difference = new - base.
    """
    difference, low, high = bootstrap_eer_difference_ci(
        labels, base_scores, new_scores, n_resamples=resamples, seed=seed
    )
    return {
        "clips": int(len(labels)),
        "eer_base": 100.0 * compute_eer(labels, base_scores)[0],
        "eer_new": 100.0 * compute_eer(labels, new_scores)[0],
        "difference": 100.0 * difference,
        "low": 100.0 * low,
        "high": 100.0 * high,
    }


def compare_pairs(paths: list[str], *, resamples: int = 2000, seed: int = 0) -> list[dict]:
    """One row per (base, new) pair of ``paths`` (an even number of files), then ``pooled`` when
    there are several pairs. Each row: ``name`` (the new file's name) and :func:`paired_eer`'s keys."""
    if not paths or len(paths) % 2:
        raise ConfigError(f"give the score files in pairs, BASE NEW [BASE NEW ...]; got {len(paths)} file(s)")
    rows, joined = [], []
    for base_path, new_path in zip(paths[::2], paths[1::2]):
        _, labels, base, new = join_scores(base_path, new_path)
        joined.append((labels, base, new))
        rows.append({"name": Path(new_path).name} | paired_eer(labels, base, new, resamples=resamples, seed=seed))
    if len(joined) > 1:
        labels, base, new = (np.concatenate(parts) for parts in zip(*joined))
        rows.append({"name": "pooled"} | paired_eer(labels, base, new, resamples=resamples, seed=seed))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.paired_eer", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", help="score files in pairs: BASE NEW [BASE NEW ...]")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = p.parse_args(argv)
    try:
        rows = compare_pairs(args.files, resamples=args.resamples, seed=args.seed)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| new | clips | EER base % | EER new % | new - base (95 % paired interval) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for r in rows:
        print(
            f"| {r['name']} | {r['clips']} | {r['eer_base']:.2f} | {r['eer_new']:.2f} | "
            f"{r['difference']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}] |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
