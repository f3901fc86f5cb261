"""System (c) of the offline benchmark: a logistic-regression probe on pooled frozen hidden states.

The pooled features of the three splits are computed once and cached as
``OUT/probe-features/KEY/SPLIT.npy`` (KEY: the manifest, backbone and crop), so every seed and every
later command reuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


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


def probe_features(data, backbone: str, crop_seconds: float, out: Path, manifest: str, cache: dict):
    """Pooled features of train/validation/test, cached as OUT/probe-features/KEY/SPLIT.npy for other commands."""
    from wavguard import Detector

    if "features" in cache:
        return cache["features"], cache["feature_seconds"]
    stat = Path(manifest).stat()
    key = hashlib.sha1(
        f"{Path(manifest).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{backbone}|{crop_seconds}".encode()
    ).hexdigest()[:12]
    folder = out / "probe-features" / key
    names = ("train", "validation", "test")
    if all((folder / f"{n}.npy").is_file() for n in names) and (folder / "seconds.json").is_file():
        feats = [np.load(folder / f"{n}.npy") for n in names]
        seconds = json.loads((folder / "seconds.json").read_text())["seconds"]
    else:
        folder.mkdir(parents=True, exist_ok=True)
        det = cache["detector"] = Detector.from_backbone(backbone)
        started = time.perf_counter()
        feats = [_pooled_layers(det, d, crop_seconds) for d in data]
        seconds = time.perf_counter() - started
        for n, f in zip(names, feats):
            np.save(folder / f"{n}.tmp.npy", f)
            os.replace(folder / f"{n}.tmp.npy", folder / f"{n}.npy")
        (folder / "seconds.json").write_text(
            json.dumps({"seconds": seconds, "backbone": backbone, "manifest": manifest})
        )
    cache.update(features=feats, feature_seconds=seconds)
    return feats, seconds


def probe(data, backbone: str, args, seed: int, cache: dict) -> dict[str, Any]:
    """System (c): the best single layer (on validation) of a logistic-regression probe."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from wavguard.metrics import compute_eer, roc_auc

    (xtr, xva, xte), feature_seconds = probe_features(
        data, backbone, args.probe_crop, Path(args.out), args.manifest, cache
    )
    ytr, yva, yte = [np.asarray(d["label"]) for d in data]
    started = time.perf_counter()
    per_layer = []
    for layer in range(xtr.shape[1]):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=seed))
        clf.fit(xtr[:, layer], ytr)
        per_layer.append(
            {
                "layer": layer,
                "val_eer": compute_eer(yva, clf.predict_proba(xva[:, layer])[:, 1])[0],
                "test_eer": compute_eer(yte, clf.predict_proba(xte[:, layer])[:, 1])[0],
                "model": clf,
            }
        )
    best = min(per_layer, key=lambda r: r["val_eer"])
    scores = best["model"].predict_proba(xte[:, best["layer"]])[:, 1]
    return {
        "layer": best["layer"],
        "scores": scores,
        "model": best["model"],
        "roc_auc": roc_auc(yte, scores),
        "val_eer": best["val_eer"],
        "per_layer": [{k: v for k, v in r.items() if k != "model"} for r in per_layer],
        "params": int(xtr.shape[2] + 1),
        "train_seconds": feature_seconds + time.perf_counter() - started,
    }


def probe_channels(probe: dict, cache: dict, backbone: str, test_ds, args, seed: int) -> dict[str, float]:
    """EER of the linear probe (c) on the same seeded degraded test sample as the other systems."""
    from wavguard import Detector
    from wavguard.metrics import compute_eer

    detector = cache.get("detector") or cache.setdefault("detector", Detector.from_backbone(backbone))
    subset = test_ds.shuffle(seed=0).select(range(min(args.channel_clips, len(test_ds))))
    labels = np.asarray(subset["label"])
    out = {}
    for name in [None, *args.channels]:
        feats = _pooled_layers(detector, subset, args.probe_crop, channel=name, seed=seed)[:, probe["layer"]]
        out[name or "clean"] = compute_eer(labels, probe["model"].predict_proba(feats)[:, 1])[0]
    return out
