"""Score saved detectors on one corpus build's split, the offline benchmark's way.

The benchmark (``offline_benchmark.py``) trains each system and scores it on its own build's test
split. This scores detectors that are already trained (the release, a run of another build) on a
build's split, with the same summaries: pooled EER and ROC AUC, fakes of families seen / unseen
in the build's train split (each against all real clips), per family, per language, per channel.
Scores are the probability of FAKE (higher = more fake); EERs are fractions in the JSON, % on screen.

    python -m benchmarks.score_saved --manifest out/oc_full/manifest.csv --split test \\
        --detector release=runs/offline_release/hub --detector full=out/bench_full/runs/a-seed0/best \\
        --json out/score_saved.json

Only fair when the detectors never trained on the scored split's speakers: the builds of
``recipes/offline_corpus`` deal speakers to splits by the same plan whatever their size, so a
detector trained on one build's train split may be scored on another build's test split (this
script checks that no real speaker of the scored split is in the train split of the manifest it reads).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from benchmarks.offline_benchmark import summaries
from wavguard._io import atomic_write_text


def _real_speakers(dataset) -> set[str]:
    labels, speakers = np.asarray(dataset["label"]), np.asarray(dataset["speaker"])
    return set(speakers[labels == 0].tolist())


def score_saved(manifest: str, detectors: dict[str, str], split: str = "test", batch_size: int = 8) -> dict[str, dict]:
    """``{name: summaries}`` of each saved detector on ``split`` of ``manifest``.

    Raises:
        ValueError: the split shares a speaker with the manifest's train split.
    """
    from wavguard import Detector
    from wavguard.data import load_manifest
    from wavguard.evaluation.evaluate import evaluate_detector

    splits = load_manifest(manifest)
    train, scored = splits["train"], splits[split]
    shared = _real_speakers(train) & _real_speakers(scored) if split != "train" else set()
    if shared:
        raise ValueError(f"{manifest}: the {split} split shares real speakers with train: {sorted(shared)[:5]}")
    seen = set(np.asarray(train["family"])[np.asarray(train["label"]) == 1])
    out = {}
    for name, directory in detectors.items():
        det = Detector.from_pretrained(directory)
        evaluation = evaluate_detector(det, scored, group_columns=(), bootstrap_resamples=0, batch_size=batch_size)
        if len(evaluation.rows) != len(scored):
            raise RuntimeError(f"{name}: {len(scored) - len(evaluation.rows)} clips failed to score")
        out[name] = {
            "detector": directory,
            "clips": len(scored),
            "seen_families": sorted(seen),
            **summaries(evaluation.labels, evaluation.scores, scored, seen),
        }
    return out


def _pct(x: float) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{100 * x:.1f}"


def markdown(results: dict[str, dict]) -> str:
    """One table: pooled, seen, unseen, AUC, then one column per family."""
    families = sorted({f for r in results.values() for f in r["per_family"]})
    rows = [
        "| detector | EER % pooled | seen families | unseen families | ROC AUC | " + " | ".join(families) + " |",
        "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in families) + " |",
    ]
    for name, r in results.items():
        fam = " | ".join(_pct(r["per_family"].get(f, float("nan"))) for f in families)
        rows.append(
            f"| {name} | {_pct(r['eer'])} | {_pct(r['eer_seen'])} | {_pct(r['eer_unseen'])} | "
            f"{r['roc_auc']:.3f} | {fam} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="a corpus build's manifest.csv")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--detector",
        action="append",
        required=True,
        metavar="NAME=DIR",
        help="a saved detector (directory or Hub id) and its name in the table; repeat",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", help="also write the results (test scores' summaries) to this file")
    args = parser.parse_args(argv)
    detectors = {}
    for item in args.detector:
        name, sep, directory = item.partition("=")
        if not sep or not name or not directory:
            parser.error(f"--detector {item!r}: expected NAME=DIR")
        detectors[name] = directory
    try:
        results = score_saved(args.manifest, detectors, args.split, args.batch_size)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(markdown(results))
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
