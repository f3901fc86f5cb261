"""The method study: which training choices catch fakes a detector has not seen, judged on the
validation split only (never on test).

Every row of ``benchmarks/study.yaml`` is the recipe (``recipes/offline_corpus/train.yaml``) with a
few settings changed, trained on the same corpus build's train split with the same budget, and
scored on the whole validation split: its pooled EER, and the EER of the fakes of the generators
that no train clip comes from (the study file's ``held_out``: a family such as ``festival`` or an
exact attack such as ``hifigan/lj22k``), against all real validation clips. Scores point to FAKE; EER: lower is better. Each (row, seed) appends one JSON
line to the results file, so rows and seeds run as separate commands, and ``--resume`` skips
finished ones and continues an interrupted training from its last epoch. Every row scored on the
clean validation split also writes its per-clip scores (``scores/ROW-seedN.tsv``, the format of
:mod:`wavguard.evaluation.scorefile`).

Besides training rows (``set``) and re-scores of a trained row (``from``), a row may score a
detector without training it (``untrained: true`` with ``set``: the row's settings build the
detector, e.g. AASIST with its published head), score a saved detector (``pretrained: DIR``, and
optionally ``backend``: ``auto``, ``torch`` or ``int8`` as :meth:`wavguard.Detector.from_pretrained`
takes it), or fuse other rows' validation scores (``fuse: [ROW, ...]``): logistic regression on the members'
log-odds, fitted by cross-validation across groups of clips (``folds``, ``fold_column``: default
2 folds by ``speaker``), so no clip is scored by a fusion fitted on its own speaker.
A scoring row may instead score a seeded validation sample through degradation channels
(``channels: [NAME, ...]``, ``channel_clips``; optionally behind a scoring-time front end,
``front_end: wpe``) or after a white-box attack (``attack``): :mod:`benchmarks.study_degraded`.
A training row that studies the schedule itself gives its own ``budget`` (e.g. ``{epochs: 30}``),
which replaces those settings of the study's budget for that row alone.

    python -m benchmarks.method_study --manifest out/oc_v3/manifest.csv --out out/study --seeds 0
    python -m benchmarks.method_study --manifest out/oc_v3/manifest.csv --out out/study --rows recipe ocsoftmax --seeds 1 2 --resume
    python -m benchmarks.method_study --out out/study --report        # the markdown table
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks.dereverb import FRONT_ENDS
from benchmarks.offline_results import append_line, read_lines
from benchmarks.study_degraded import per_channel_eer, score_attacked, score_channels
from benchmarks.study_report import render, render_channels, render_degraded

ROOT = Path(__file__).resolve().parents[1]
#: TrainConfig fields the study sets itself (data, seed, where things go).
STUDY_OWNED = ("train_data", "validation_data", "test_data", "seed", "output_dir", "cache_dir")


#: what a row does, by the key that says it (exactly one per row)
ROW_KINDS = {"set": "train", "from": "re-score", "pretrained": "score a saved detector", "fuse": "fuse rows' scores"}


def load_study(path: str | os.PathLike) -> dict[str, Any]:
    """The study file: ``held_out`` (generators absent from train), ``budget`` (settings for every
    row) and ``rows`` (name -> what and one of set/from/pretrained/fuse; ``untrained`` with set;
    ``budget`` in a training row replaces those budget settings for that row alone: a row that
    studies the schedule itself)."""
    study = yaml.safe_load(Path(path).read_text())
    rows = study.get("rows") or {}
    study.setdefault("held_out", [])
    for name, row in rows.items():
        if "from" in row and row["from"] not in rows:
            raise SystemExit(f"{path}: row {name!r} re-scores row {row['from']!r}, which the file does not define")
        kinds = [key for key in ROW_KINDS if key in row]
        if len(kinds) > 1:
            raise SystemExit(
                f"{path}: row {name!r} has {', '.join(f'`{k}` ({ROW_KINDS[k]})' for k in kinds)}: choose one"
            )
        if "budget" in row and ("set" not in row or row.get("untrained")):
            raise SystemExit(f"{path}: row {name!r} has a `budget` but trains nothing: a budget needs a training row")
        if row.get("untrained") and "set" not in row:
            raise SystemExit(f"{path}: row {name!r} is `untrained`: give the detector's settings in `set`")
        if "backend" in row and "pretrained" not in row:
            raise SystemExit(
                f"{path}: row {name!r} has a `backend`, which only a `pretrained` row uses (the others score in PyTorch)"
            )
        if "front_end" in row and not row.get("channels"):
            raise SystemExit(
                f"{path}: row {name!r} has a `front_end`, which only a row with `channels` uses (the clean "
                "sample and every channel go through it)"
            )
        if "front_end" in row and row["front_end"] not in FRONT_ENDS:
            raise SystemExit(f"{path}: row {name!r} has front_end {row['front_end']!r}; valid: {', '.join(FRONT_ENDS)}")
        if "fuse" in row:
            members = list(row["fuse"] or [])
            unknown = [m for m in members if m not in rows or m == name]
            if len(members) < 2 or unknown:
                raise SystemExit(
                    f"{path}: row {name!r} fuses {members}: name at least two other rows of the file"
                    + (f" ({unknown} are not)" if unknown else "")
                )
            if int(row.get("folds", 2)) < 2:
                raise SystemExit(f"{path}: row {name!r}: folds must be at least 2")
    return study


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; nested mappings merge (``detector``), others replace."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "augment":
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def row_settings(recipe: dict[str, Any], study: dict[str, Any], row: str) -> dict[str, Any]:
    """The TrainConfig fields of a training row: recipe, then the row's changes, then the budget
    (the study's, with the row's own ``budget`` over it)."""
    spec = study["rows"][row]
    budget = _merge(study.get("budget") or {}, spec.get("budget") or {})
    settings = _merge(_merge(recipe, spec.get("set") or {}), budget)
    return {k: v for k, v in settings.items() if k not in STUDY_OWNED}


def held_out_mask(attacks, families, held_out: list[str]) -> np.ndarray:
    """Rows whose generator is held out: ``held_out`` names a family (``festival``) or an exact
    attack (``hifigan/lj22k``)."""
    return np.isin(np.asarray(attacks), held_out) | np.isin(np.asarray(families), held_out)


def check_held_out(train, validation, held_out: list[str]) -> None:
    """Every held-out generator has validation fakes and no train fake (else the study is wrong)."""
    for name in held_out:
        in_train = held_out_mask(train["attack"], train["family"], [name]) & (np.asarray(train["label"]) == 1)
        in_val = held_out_mask(validation["attack"], validation["family"], [name]) & (
            np.asarray(validation["label"]) == 1
        )
        if in_train.any():
            raise SystemExit(f"held-out generator {name!r} has {int(in_train.sum())} train fakes: it is not held out")
        if not in_val.any():
            raise SystemExit(f"held-out generator {name!r} has no validation fake: check the study file's held_out")


def validation_summary(labels, scores, attacks, families, held_out: list[str]) -> dict[str, Any]:
    """Pooled EER, EER of the held-out generators' fakes (against all real clips), per family and attack."""
    from wavguard.metrics import compute_eer, metrics_by_attack, roc_auc

    labels, scores, attacks = np.asarray(labels), np.asarray(scores, dtype=float), np.asarray(attacks)
    keep = (labels == 0) | held_out_mask(attacks, families, held_out)
    return {
        "val_eer": compute_eer(labels, scores)[0],
        "val_auc": roc_auc(labels, scores),
        "val_eer_held_out": compute_eer(labels[keep], scores[keep])[0] if (labels[keep] == 1).any() else float("nan"),
        "val_per_family": {k: v["eer"] for k, v in metrics_by_attack(labels, scores, np.asarray(families)).items()},
        "val_per_attack": {k: v["eer"] for k, v in metrics_by_attack(labels, scores, attacks).items()},
    }


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _score(detector, validation, scores_path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every validation clip's score; with ``scores_path``, also written there as a score file."""
    from wavguard.evaluation.evaluate import evaluate_detector
    from wavguard.evaluation.scorefile import write_scores

    evaluation = evaluate_detector(detector, validation, group_columns=(), bootstrap_resamples=0)
    if len(evaluation.rows) != len(validation):
        raise RuntimeError(f"{len(validation) - len(evaluation.rows)} validation clips failed to score")
    if scores_path is not None:
        write_scores(evaluation, scores_path, validation)
    return np.asarray(evaluation.labels), np.asarray(evaluation.scores)


def scores_path(out: Path, row: str, seed: int) -> Path:
    """Where a row's per-clip validation scores go (one score file per row and seed)."""
    return out / "scores" / f"{row}-seed{seed}.tsv"


def group_folds(groups, folds: int) -> np.ndarray:
    """The fold of each clip, keeping every group (speaker) whole: groups in decreasing size (ties
    by name) each go to the fold with the fewest clips so far, so the folds are about equal."""
    groups = np.asarray([str(g) for g in groups])
    names, counts = np.unique(groups, return_counts=True)
    sizes, fold_of = [0] * folds, {}
    for count, name in sorted(zip(-counts, names)):
        fold = int(np.argmin(sizes))
        fold_of[name] = fold
        sizes[fold] -= int(count)
    return np.asarray([fold_of[g] for g in groups], dtype=int)


def cross_validated_fusion(features, labels, folds: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Out-of-fold fused log-odds: for each fold, logistic-regression fusion weights
    (:func:`wavguard.evaluation.calibration.fit_fusion`) fitted on the other folds score it.
    Returns the fused log-odds (N,) (higher = more fake) and each fold's weights."""
    from wavguard.evaluation.calibration import fit_fusion

    features, labels = np.asarray(features, dtype=float), np.asarray(labels, dtype=int)
    fused, fits = np.empty(len(labels)), []
    for fold in np.unique(folds):
        held = folds == fold
        if len(np.unique(labels[held])) < 2 or len(np.unique(labels[~held])) < 2:
            raise SystemExit(f"fold {fold} or the rest lacks real or fake clips: use fewer folds")
        weights, bias = fit_fusion(features[~held], labels[~held])
        fused[held] = features[held] @ weights + bias
        fits.append(
            {"fold": int(fold), "clips": int(held.sum()), "weights": [float(w) for w in weights], "bias": float(bias)}
        )
    return fused, fits


def _fuse(spec: dict, seed: int, validation, out: Path, record: dict) -> tuple[np.ndarray, np.ndarray]:
    """A ``fuse`` row: the members' saved validation log-odds fused by cross-validation across
    ``fold_column`` groups (see :func:`cross_validated_fusion`)."""
    from wavguard.evaluation.calibration import fit_fusion
    from wavguard.evaluation.evaluate import evaluate_scores
    from wavguard.evaluation.scorefile import read_scores, write_scores
    from wavguard.metrics import compute_eer
    from wavguard.scoring.pipeline import sigmoid

    labels = np.asarray(validation["label"], dtype=int)
    columns, ids = [], None
    for member in spec["fuse"]:
        path = scores_path(out, member, seed)
        if not path.is_file():
            raise SystemExit(f"row {member!r} seed {seed} has no validation scores ({path}): run it first")
        scored = read_scores(path)
        if (
            len(scored.ids) != len(labels)
            or not np.array_equal(scored.labels, labels)
            or scored.ids != (ids or scored.ids)
        ):
            raise SystemExit(f"{path} does not hold this validation split's clips in order")
        ids = scored.ids
        columns.append(scored.llrs + float(scored.meta.get("prior_log_odds", 0.0)))
    features = np.column_stack(columns)
    column, count = spec.get("fold_column", "speaker"), int(spec.get("folds", 2))
    folds = group_folds(validation[column], count)
    fused, fits = cross_validated_fusion(features, labels, folds)
    weights, bias = fit_fusion(features, labels)  # fitted and judged on all of validation: optimistic, for contrast

    def per_fold(values) -> dict[str, float]:
        return {str(fold): compute_eer(labels[folds == fold], values[folds == fold])[0] for fold in np.unique(folds)}

    # each member on the same folds: whether fusion beats its best member where it was not fitted
    record.update(
        fuse=list(spec["fuse"]),
        folds=count,
        fold_column=column,
        fold_fits=fits,
        val_eer_per_fold=per_fold(fused),
        members_val_eer_per_fold={m: per_fold(features[:, k]) for k, m in enumerate(spec["fuse"])},
        val_eer_fitted_on_all=compute_eer(labels, features @ weights + bias)[0],
    )
    scores = sigmoid(fused)
    result = evaluate_scores(labels, scores, log_odds=fused, name="fusion", bootstrap_resamples=0)
    result.rows = np.arange(len(labels))  # every validation row, in order: the score file takes its ids from them
    write_scores(result, scores_path(out, record["row"], seed), validation)
    return labels, scores


def _row_config(row: str, seed: int, study: dict, recipe: dict, train, validation, out: Path, record: dict):
    """The TrainConfig of a row that builds a detector from its settings (recorded in ``record``)."""
    from wavguard.training import TrainConfig

    settings = row_settings(recipe, study, row)
    record["settings"] = settings
    return TrainConfig(
        **settings,
        train_data=train,
        validation_data=validation,
        seed=seed,
        output_dir=str(out / "runs" / f"{row}-seed{seed}"),
        cache_dir=str(out / "feature-cache"),
    )


def run_row(row: str, seed: int, study: dict, recipe: dict, splits, out: Path) -> dict[str, Any]:
    """Train (or re-score) one row with one seed and summarise it on validation."""
    import torch

    from wavguard import Detector
    from wavguard.training import train

    spec = study["rows"][row]
    validation = splits["validation"]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    record: dict[str, Any] = {
        "row": row,
        "seed": seed,
        "what": spec.get("what", ""),
        "load_average": load,
        "torch_threads": torch.get_num_threads(),
        "commit": _git_commit(),
    }
    detector = None
    if "fuse" in spec:
        pass  # no detector: the members' saved scores
    elif "from" in spec:
        best = out / "runs" / f"{spec['from']}-seed{seed}" / "best"
        if not best.is_dir():
            raise SystemExit(
                f"row {row!r} re-scores row {spec['from']!r} seed {seed}, which has not been trained: run it first"
            )
        detector = Detector.from_pretrained(best)
        detector.config = detector.config.replace(**(spec.get("detector") or {}))
        record["detector"] = spec.get("detector") or {}
    elif "pretrained" in spec:  # a path relative to the working directory, like every path on the command line
        source = Path(spec["pretrained"])
        if not source.is_dir():
            raise SystemExit(f"row {row!r} scores the saved detector {source}, which does not exist")
        record.update(pretrained=str(source.resolve()), backend=spec.get("backend", "auto"))
        detector = Detector.from_pretrained(source, backend=record["backend"])
    elif spec.get("untrained"):
        from wavguard.training import Trainer

        config = _row_config(row, seed, study, recipe, splits["train"], validation, out, record)
        detector = Trainer(config, progress=False).build_detector()
        record["trainable"] = 0
    else:
        config = _row_config(row, seed, study, recipe, splits["train"], validation, out, record)
        result = train(config, resume=True, start_if_missing=True)
        record.update(
            best_epoch=result.best_epoch,
            train_seconds=time.perf_counter() - started,
            history=[{k: v for k, v in h.items() if isinstance(v, (int, float, str))} for h in result.history],
        )
        detector = Detector.from_pretrained(result.best_dir)
        record["trainable"] = trainable_count(detector.model, config.mode)
    if "fuse" in spec:
        labels, scores = _fuse(spec, seed, validation, out, record)
        attacks, families = validation["attack"], validation["family"]
    elif spec.get("channels"):
        stem = scores_path(out, row, seed).with_suffix("")
        labels, scores, attacks, families = score_channels(detector, validation, spec, record, stem)
    elif spec.get("attack"):
        labels, scores, attacks, families = score_attacked(detector, validation, spec, record)
    else:
        labels, scores = _score(detector, validation, scores_path(out, row, seed))
        attacks, families = validation["attack"], validation["family"]
    record.update(validation_summary(labels, scores, attacks, families, study["held_out"]))
    if "channel" in validation.column_names and not (spec.get("channels") or spec.get("attack")):
        record["val_per_source_channel"] = per_channel_eer(labels, scores, validation["channel"])
    record["seconds"] = time.perf_counter() - started
    return record


def trainable_count(model, mode: str) -> int:
    """Parameters a row trains (a loaded detector marks none trainable, so count by name): head and
    layer weights, LoRA adapters, in ``full`` mode the backbone except its frozen convolutional
    front end and position table, and AASIST's weights as its branch trains them (``graph``: all but
    the front end and encoder; ``full``: all; its own output layer never, a detector has its head)."""
    frozen_backbone = ("conv1.", "conv2.", "embed_positions", "feature_extractor", "feature_projection")
    aasist = getattr(model, "aasist", None)
    aasist_train = "frozen" if aasist is None else aasist.train_mode
    frozen_aasist = {
        "frozen": ("aasist.",),
        "graph": ("aasist.network.encoder.", "aasist.network.first_bn.", "aasist.network.out_layer."),
        "full": ("aasist.network.out_layer.",),
    }[aasist_train]

    def trains(name: str) -> bool:
        if name.startswith("aasist."):
            return not name.startswith(frozen_aasist)
        return (
            name.startswith(("layer_sum.", "head."))
            or "lora_" in name
            or (mode == "full" and not any(f in name for f in frozen_backbone))
        )

    return int(sum(p.numel() for n, p in model.named_parameters() if trains(n)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", help="the corpus build's manifest.csv")
    parser.add_argument("--out", default="runs/study", help="results.jsonl, trained runs and the feature cache go here")
    parser.add_argument("--study", default=str(ROOT / "benchmarks" / "study.yaml"))
    parser.add_argument("--recipe", default=str(ROOT / "recipes" / "offline_corpus" / "train.yaml"))
    parser.add_argument("--rows", nargs="+", default=None, help="rows of the study file (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--resume", action="store_true", help="skip (row, seed) already in the results file")
    parser.add_argument("--report", action="store_true", help="print the table from the results file and stop")
    args = parser.parse_args(argv)
    study, out = load_study(args.study), Path(args.out)
    results = out / "results.jsonl"
    if args.report:
        print(render(read_lines(results), study))
        channels = render_channels(read_lines(results), study)
        if channels:
            print("\nEER % within each recording channel (its real clips against its fakes):\n\n" + channels)
        degraded = render_degraded(read_lines(results), study)
        if degraded:
            print("\nEER % on a seeded validation sample, clean and through each degradation channel:\n\n" + degraded)
        return 0
    if not args.manifest:
        parser.error("--manifest is required to train")
    rows = args.rows or list(study["rows"])
    unknown = [r for r in rows if r not in study["rows"]]
    if unknown:
        parser.error(f"rows {unknown} are not in {args.study}; it has {list(study['rows'])}")
    done = {(r["row"], int(r["seed"])) for r in read_lines(results)}
    todo = [(row, seed) for row in rows for seed in args.seeds if (row, seed) not in done]
    if not args.resume and len(todo) < len(rows) * len(args.seeds):
        parser.error(
            f"{results} already has {sorted(set(done) & {(r, s) for r in rows for s in args.seeds})}: pass --resume to skip them"
        )
    from wavguard.data import load_manifest

    recipe = yaml.safe_load(Path(args.recipe).read_text())
    splits = load_manifest(args.manifest)
    check_held_out(splits["train"], splits["validation"], study["held_out"])
    for row, seed in todo:
        print(f"== {row} seed {seed}", flush=True)
        record = run_row(row, seed, study, recipe, splits, out)
        append_line(results, record)
        print(
            f"   val EER {100 * record['val_eer']:.1f} %, held-out generators {100 * record['val_eer_held_out']:.1f} % "
            f"({record['seconds']:.0f} s)",
            flush=True,
        )
    print(render(read_lines(results), study))
    return 0


if __name__ == "__main__":
    sys.exit(main())
