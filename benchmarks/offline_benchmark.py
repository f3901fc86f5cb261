"""The offline benchmark: the recipe's detector against simpler systems on the offline corpus
(``recipes/offline_corpus``), over seeds, with a leave-one-generator-out view.

Systems (the letters of docs/benchmarks.md):
  a  the recipe's detector: ``--recipe`` (default recipes/offline_corpus/train.yaml) as it is,
     Whisper-base encoder + LoRA + CNN head; flags such as --epochs override the recipe when given
  b  (a) with a frozen backbone: cached features, no augmentation, head only, --frozen-epochs
  c  linear probe: logistic regression on mean+std pooled frozen hidden states of the best single
     layer, chosen on validation (features cached in OUT/probe-features/*.npy)
  d  (a) from a randomly initialised backbone (what pretraining buys); one random init per seed
  e  the spectrogram CNN baseline (LFCC), (a)'s crops and augmentation, --frozen-epochs
  f  the seed notebook's method as users know it: the same 2-D CNN on log-mel, with pitch shift,
     time stretch and Gaussian noise augmentation, --frozen-epochs
  g  AASIST alone (raw waveform, its official weights ``offline:aasist``), fine-tuned whole: the
     recipe's epochs, crops' source, augmentation and pairing, AASIST's 4.04 s window, its published
     output layer as the start, AASIST's own learning rate (1e-4) for the network
  h  (a) fused with an AASIST branch: one head over the CNN's embedding and AASIST's, LoRA on
     Whisper and AASIST fine-tuned, trained end to end
  i  AASIST's published weights and output layer with no training at all (its validation EER is
     measured on the same validation clips as the trained systems')
  j  transformers' audio-classification example: WhisperForAudioClassification from the same
     weights, fine-tuned whole with the example's settings, 30 s padding (benchmarks/hf_example.py)
  (g-j run only when named in --systems: on a CPU each costs ten or more times (a).)

Every choice (probe layer, early stopping, calibration, threshold) is made on the validation split,
which holds out a speaker and generator checkpoints; test has its own speakers and generators never
seen in training. Scores: probability of FAKE, label 1 = fake. Reported: EER (mean ± std over
seeds) pooled, seen and unseen families, per family, language and recording channel; ROC AUC;
parameters (all, trainable); training time; scoring speed.

Results: every finished (system, seed) run appends one JSON line to --results (default
OUT/results.jsonl, see offline_results.py); nothing rewrites it. Run seeds as separate commands
appending to one file; --resume skips runs already in it and continues an interrupted training
from its last epoch checkpoint (OUT/runs/SYSTEM-seedN); without --resume a run already in the
file is an error. --report renders the tables (OUT/report.md) and plots from the file alone.

Leave-one-out: --leave-out VALUE... trains (a) without the train fakes of each VALUE (an attack
such as hifigan/universal22k, or a whole family such as piper), in train and validation, and
scores that generator's test fakes against all real test clips; --leave-out auto takes every
neural generator of the train split (each HiFi-GAN checkpoint; Piper, one VITS voice, as a family).

Usage (seeds as separate commands, one results file):
    M=data/offline_corpus/manifest.csv
    python -m benchmarks.offline_benchmark --manifest $M --out runs/benchmark --seeds 0
    python -m benchmarks.offline_benchmark --manifest $M --out runs/benchmark --seeds 1
    python -m benchmarks.offline_benchmark --manifest $M --out runs/benchmark --seeds 2
    python -m benchmarks.offline_benchmark --manifest $M --out runs/benchmark --seeds 0 1 2 --resume   # after a crash
    python -m benchmarks.offline_benchmark --manifest $M --out runs/benchmark --seeds 0 1 2 --leave-out auto --resume
    python -m benchmarks.offline_benchmark --manifest $M --out runs/benchmark --depth-speed
    python -m benchmarks.offline_benchmark --out runs/benchmark --report
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.offline_probe import probe, probe_channels
from benchmarks.offline_results import (
    DEFAULT_SYSTEMS,
    SYSTEMS,
    append_line,
    check_corpus,
    done_runs,
    load_results,
    read_lines,
    render_markdown,
    runs_to_do,
)
from benchmarks.offline_systems import (
    NEURAL,
    auto_leave_out,
    leave_out_mask,
    local_backbone,
    published_aasist,
    run_dir,
    train_system,
    without_fakes,
)

__all__ = [
    "SYSTEMS",
    "main",
    "render_markdown",
    "load_results",
    "recipe_settings",
    "summaries",
]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = REPO / "recipes" / "offline_corpus" / "train.yaml"
BENCHMARK_OWNED = ("train_data", "validation_data", "test_data", "output_dir", "seed", "cache_dir")


def recipe_settings(args) -> dict[str, Any]:
    """(a)'s TrainConfig fields: the recipe, then the flags given, then --set overrides."""
    import yaml

    from wavguard.training.overrides import apply_overrides

    settings = yaml.safe_load(Path(args.recipe).read_text()) or {}
    flags = {
        "epochs": args.epochs,
        "early_stopping_patience": args.patience,
        "backbone_learning_rate": args.lora_lr,
        "layer_weights_learning_rate": args.layer_lr,
        "num_layers": args.num_layers,
        "batch_size": args.batch_size,
        "crop_seconds": args.crop_seconds,
        "max_train_clips": args.max_train_clips,
        "max_eval_clips": args.max_eval_clips,
    }
    settings.update({k: v for k, v in flags.items() if v is not None})
    if args.crop_seconds is not None:
        settings["detector"] = {**(settings.get("detector") or {}), "window_seconds": args.crop_seconds}
    if args.augment:
        settings["augment"] = yaml.safe_load(Path(args.augment).read_text())
    settings = apply_overrides(settings, args.set)
    for key in BENCHMARK_OWNED:
        settings.pop(key, None)
    return settings


# -- metrics ----------------------------------------------------------------------------------------
def _group_eers(labels, scores, column) -> dict[str, float]:
    """EER of each group's fakes against all real clips (ASVspoof convention)."""
    from wavguard.metrics import metrics_by_attack

    return {group: summary["eer"] for group, summary in metrics_by_attack(labels, scores, column).items()}


def _within_groups(labels, scores, groups) -> dict[str, float]:
    """EER of the clips of each group (real and fake of that language / channel); groups with one class are skipped."""
    from wavguard.metrics import compute_eer

    groups = np.asarray(groups)
    out = {}
    for group in sorted(set(groups)):
        keep = groups == group
        if len(set(labels[keep])) == 2:
            out[str(group)] = compute_eer(labels[keep], scores[keep])[0]
    return out


def summaries(labels, scores, test, seen_families, leave_out: str | None = None) -> dict[str, Any]:
    from wavguard.metrics import compute_eer, roc_auc

    labels, scores = np.asarray(labels), np.asarray(scores)
    family = np.asarray(test["family"])
    seen = np.array([f in seen_families for f in family])
    out: dict[str, Any] = {"eer": compute_eer(labels, scores)[0], "roc_auc": roc_auc(labels, scores)}

    def fakes_eer(fakes: np.ndarray) -> float:
        """EER of these fakes against all real clips (NaN without any)."""
        keep = (labels == 0) | ((labels == 1) & fakes)
        return compute_eer(labels[keep], scores[keep])[0] if fakes[labels == 1].any() else float("nan")

    out.update(eer_seen=fakes_eer(seen), eer_unseen=fakes_eer(~seen))
    if leave_out:
        left = leave_out_mask(test, leave_out)
        out.update(leave_out_eer=fakes_eer(left), leave_out_test_fakes=int(left.sum()))
    out.update(
        per_attack=_group_eers(labels, scores, test["attack"]),
        per_family=_group_eers(labels, scores, family),
        per_language=_within_groups(labels, scores, test["language"]),
    )
    if "channel" in test.column_names:
        out["per_channel"] = _within_groups(labels, scores, test["channel"])
    return out


def _speed(detector, files: list) -> float:
    """Seconds of audio scored per second of wall time."""
    detector.predict(files[:2])
    started = time.perf_counter()
    preds = detector.predict(files, batch_size=8)
    return sum(p.duration_seconds for p in preds) / (time.perf_counter() - started)


def _trainable_count(det) -> int:
    """Parameters the system trained: the head and layer weights, plus LoRA adapters (a loaded
    detector marks nothing trainable, so count by name); the spectrogram CNN is all head."""
    return int(
        sum(p.numel() for n, p in det.model.named_parameters() if n.startswith(("layer_sum.", "head.")) or "lora_" in n)
    )


def _channels(det, test_ds, channels: list[str], seed: int) -> dict[str, float] | float:
    """EER per degradation channel on ``test_ds`` (no channels: the clean EER)."""
    from wavguard.evaluation.evaluate import evaluate_channels, evaluate_detector

    if not channels:
        return evaluate_detector(det, test_ds, group_columns=(), bootstrap_resamples=0).metrics["eer"]
    results = evaluate_channels(
        det, test_ds, tuple(channels), channel_seed=seed, group_columns=(), bootstrap_resamples=0
    )
    return {name: r.metrics["eer"] for name, r in results.items()}


# -- one run ----------------------------------------------------------------------------------------
def _meta() -> dict[str, Any]:
    import torch

    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {
        "load_average": os.getloadavg()[0],
        "torch_threads": torch.get_num_threads(),
        "git_commit": commit or None,
        "git_dirty": dirty,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run_one(system: str, seed: int, leave_out: str | None, data, args, recipe, probe_cache: dict) -> dict[str, Any]:
    from wavguard import Detector
    from wavguard.evaluation.evaluate import evaluate_detector

    train_ds, _, test_ds = data
    if leave_out:
        train_ds = without_fakes(train_ds, leave_out)
    seen_families = set(np.asarray(train_ds["family"])[np.asarray(train_ds["label"]) == 1])
    record: dict[str, Any] = {
        "type": "run",
        "system": system,
        "seed": seed,
        "leave_out": leave_out,
        **_meta(),
        "seen_families": sorted(seen_families),
    }
    want_channels = bool(args.channels) and seed in args.channel_seeds and not leave_out
    if system == "c":
        backbone = local_backbone(recipe["backbone"])
        fit = probe(data, backbone, args, seed, probe_cache)
        record.update(summaries(test_ds["label"], fit["scores"], test_ds, seen_families))
        record.update(
            scores=[float(x) for x in fit["scores"]],
            val_eer=fit["val_eer"],
            layer=fit["layer"],
            per_layer=fit["per_layer"],
            params=fit["params"],
            trainable=fit["params"],
            train_seconds=fit["train_seconds"],
            speed=None,
        )
        if want_channels:
            record["channels"] = probe_channels(fit, probe_cache, backbone, test_ds, args, seed)
        return record
    if system == "j":
        record.update(_hf_example(data, train_ds, seed, leave_out, seen_families, args, recipe))
        return record
    if system == "i":
        det, chosen = published_aasist(data, args, recipe, seed)
    else:
        result, timing, config = train_system(system, seed, leave_out, data, args, recipe)
        det = Detector.from_pretrained(result.best_dir)
        chosen = {"val_eer": result.best_eer, "best_epoch": result.best_epoch, "config": config, **timing}
        chosen["trainable"] = _trainable_count(det)
    evaluation = evaluate_detector(det, test_ds, group_columns=(), bootstrap_resamples=0)
    if list(evaluation.rows) != list(range(len(test_ds))):
        raise RuntimeError(f"{len(test_ds) - len(evaluation.rows)} test clips failed to score")
    record.update(summaries(evaluation.labels, evaluation.scores, test_ds, seen_families, leave_out))
    test_files = [c["path"] for c in test_ds["audio"]][: args.speed_files]
    record.update(
        scores=[float(x) for x in evaluation.scores],
        params=int(sum(p.numel() for p in det.model.parameters())),
        speed=_speed(det, test_files),
        threshold=det.config.threshold,
        **chosen,
    )
    if hasattr(det.model, "layer_sum"):
        record["layer_weights"] = det.model.layer_sum.weights.detach().tolist()
    if want_channels:
        subset = test_ds.shuffle(seed=0).select(range(min(args.channel_clips, len(test_ds))))
        record["channels"] = {"clean": _channels(det, subset, [], seed), **_channels(det, subset, args.channels, seed)}
    return record


def _clips(ds) -> tuple[list[str], list[int]]:
    return [c["path"] for c in ds["audio"]], [int(v) for v in ds["label"]]


def _hf_example(data, train_ds, seed, leave_out, seen_families, args, recipe) -> dict[str, Any]:
    """(j): transformers' audio-classification example (benchmarks/hf_example.py), scored on test."""
    from benchmarks.hf_example import run_example

    _, val_ds, test_ds = data
    if leave_out:
        val_ds = without_fakes(val_ds, leave_out, required=False)
    test_paths, test_labels = _clips(test_ds)
    fit = run_example(
        _clips(train_ds),
        _clips(val_ds),
        test_paths,
        local_backbone(recipe["backbone"]),
        run_dir(Path(args.out), "j", seed, leave_out),
        seed,
    )
    return {
        **summaries(np.asarray(test_labels), fit["scores"], test_ds, seen_families, leave_out),
        **{k: v for k, v in fit.items() if k != "scores"},
        "scores": [float(x) for x in fit["scores"]],
        "train_clips": len(train_ds),
        "validation_clips": len(val_ds),
    }


def report(results_path: Path, out: Path, plots_dir) -> str:
    """Render OUT/report.md and the plots from the results file alone."""
    results = load_results(results_path)
    if not results["systems"] and not results["leave_out"]:
        raise SystemExit(f"{results_path}: no finished runs to report")
    text = render_markdown(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text + "\n")
    from benchmarks.offline_plots import plot_all

    for name, path in plot_all(results, plots_dir or out / "plots").items():
        print(f"plot {name}: {path}")
    return text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", help="the corpus' manifest.csv (not needed with --report)")
    p.add_argument("--out", default="runs/benchmark", help="training runs, caches, report.md and plots")
    p.add_argument(
        "--results", default=None, help="the JSON-lines results file runs append to (default OUT/results.jsonl)"
    )
    p.add_argument(
        "--resume", action="store_true", help="skip runs already in --results; continue an interrupted training"
    )
    p.add_argument("--report", action="store_true", help="only render OUT/report.md and the plots from --results")
    p.add_argument("--recipe", default=str(DEFAULT_RECIPE), help="TrainConfig YAML of system (a) (and of b, d)")
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the recipe (TrainConfig fields)"
    )
    p.add_argument("--systems", nargs="+", default=list(DEFAULT_SYSTEMS), choices=list(SYSTEMS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--leave-out",
        nargs="+",
        default=None,
        metavar="ATTACK_OR_FAMILY",
        help="train (a) without these train fakes, one run per value and seed ('auto': the neural ones)",
    )
    p.add_argument(
        "--depth-speed",
        action="store_true",
        help="only time scoring by backbone depth (2, 3, 4, 6 layers) and append it",
    )
    p.add_argument("--epochs", type=int, default=None, help="epochs of (a) and (d) (default: the recipe's)")
    p.add_argument("--frozen-epochs", type=int, default=15, help="epochs of (b), (e) and (f)")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience (default: the recipe's)")
    p.add_argument(
        "--lora-lr", type=float, default=None, help="learning rate of the LoRA adapters (default: the recipe's)"
    )
    p.add_argument(
        "--layer-lr",
        type=float,
        default=None,
        help="learning rate of the softmax layer weights (default: the recipe's)",
    )
    p.add_argument(
        "--num-layers", type=int, default=None, help="keep the backbone's first N layers (default: the recipe's)"
    )
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument(
        "--crop-seconds", type=float, default=None, help="training crop and detector window (default: the recipe's)"
    )
    p.add_argument("--max-train-clips", type=int, default=None)
    p.add_argument(
        "--max-eval-clips", type=int, default=None, help="validation clips used (early stopping, calibration)"
    )
    p.add_argument("--augment", default=None, help="YAML/JSON augment config replacing the recipe's (a, d, e)")
    p.add_argument("--plots-dir", default=None, help="where the PNG plots go (default: OUT/plots)")
    p.add_argument("--speed-files", type=int, default=24, help="test files timed for scoring speed")
    p.add_argument("--channels", nargs="*", default=[], help="robustness channels (wavguard.audio.channels)")
    p.add_argument("--channel-seeds", type=int, nargs="*", default=[0], help="seeds whose runs score --channels (cost)")
    p.add_argument("--channel-clips", type=int, default=200, help="test clips (seeded sample) scored per channel")
    return p


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    results_path = Path(args.results or out / "results.jsonl")
    if args.report:
        print(report(results_path, out, args.plots_dir), flush=True)
        return
    if not args.manifest:
        raise SystemExit("--manifest is required (except with --report)")
    import torch

    from wavguard.data import load_manifest

    recipe = recipe_settings(args)
    args.probe_crop = float(recipe.get("crop_seconds", 4.0))
    splits = load_manifest(args.manifest)
    data = splits["train"], splits["validation"], splits["test"]
    records = read_lines(results_path)
    corpus = {
        "type": "corpus",
        "manifest": str(args.manifest),
        "test_labels": [int(x) for x in data[2]["label"]],
        "sizes": {n: len(d) for n, d in zip(("train", "validation", "test"), data)},
    }
    try:
        if check_corpus(records, corpus):
            append_line(results_path, corpus)
        if args.depth_speed:
            if any(r.get("type") == "depth_speed" for r in records):
                if not args.resume:
                    raise ValueError(
                        f"{results_path} already has the depth timing: pass --resume or another --results file"
                    )
                print(f"{results_path} already has the depth timing; nothing to do")
            else:
                _depth_speed(results_path, recipe, data[2], args)
            return
        requested = requested_runs(args, data[0])
        todo = runs_to_do(requested, done_runs(records), args.resume, results_path)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}; "
        f"{len(todo)} of {len(requested)} runs to do -> {results_path}",
        flush=True,
    )
    probe_cache: dict = {}
    for system, seed, leave_out in todo:
        print(
            f"== ({system}) {SYSTEMS[system]}, seed {seed}" + (f", without {leave_out}" if leave_out else ""),
            flush=True,
        )
        append_line(results_path, run_one(system, seed, leave_out, data, args, recipe, probe_cache))
    print(report(results_path, out, args.plots_dir), flush=True)


def requested_runs(args, train) -> list[tuple[str, int, str | None]]:
    """(system, seed, leave_out) of every run this command asks for; ValueError for a leave-out matching nothing."""
    if not args.leave_out:
        return [(system, seed, None) for system in args.systems for seed in args.seeds]
    values = auto_leave_out(train) if args.leave_out == ["auto"] else args.leave_out
    if not values:
        raise ValueError("--leave-out auto: the train split has no fakes of a neural family " + str(sorted(NEURAL)))
    for value in values:
        without_fakes(train, value)  # fail before any training when a value matches nothing
    return [("a", seed, value) for value in values for seed in args.seeds]


def _depth_speed(results_path: Path, recipe: dict, test_ds, args) -> None:
    from wavguard import Detector

    backbone, window = local_backbone(recipe["backbone"]), args.probe_crop
    files = [c["path"] for c in test_ds["audio"]][: args.speed_files]
    speeds = {
        str(k): _speed(Detector.from_backbone(backbone, num_layers=k, window_seconds=window), files)
        for k in (2, 3, 4, 6)
    }
    append_line(results_path, {"type": "depth_speed", "truncation_speed": speeds, **_meta()})
    print(speeds)


if __name__ == "__main__":
    main()
