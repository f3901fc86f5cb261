"""System (j) of the offline benchmark: transformers' audio-classification example on the same splits.

What a user who finds ``examples/pytorch/audio-classification/run_audio_classification.py`` in
transformers would run: ``WhisperForAudioClassification`` (Whisper's encoder, a projection, mean
pooling over time and a linear classifier) from the same Whisper-base weights as the other
systems, trained whole by the ``Trainer`` with the example's settings (``EXAMPLE_SETTINGS``: its
README's command, with the script's own default crop): learning rate 3e-5, 10 % warm-up, 5 epochs,
32 clips a device batch and 4 accumulation steps (128 clips an optimiser step), each training
clip cut to a random 20 s, every clip padded (or cut) to Whisper's 30 s by its feature extractor,
evaluation and a checkpoint every epoch, the best epoch by validation accuracy. No augmentation,
no class weights, no calibration. Score: the softmax probability of the ``fake`` label (higher =
more likely fake), so EERs compare with every other system's. Its scoring speed is its own: each
clip is one 30 s pass, however short.

Every clip is a 30 s pass (7.5 times the frames of the recipe's 4 s crop) through the whole encoder,
trained whole, so the row is meant for a machine with a GPU (``--systems j``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EXAMPLE_SETTINGS", "LABELS", "ClipDataset", "run_example", "score_clips", "train_example"]

#: the example README's command (learning rate, warm-up, epochs, batches) and the script's default crop
EXAMPLE_SETTINGS: dict[str, Any] = {
    "learning_rate": 3e-5,
    "warmup_ratio": 0.1,
    "num_train_epochs": 5,
    "per_device_train_batch_size": 32,
    "gradient_accumulation_steps": 4,
    "per_device_eval_batch_size": 32,
    "max_length_seconds": 20.0,
}
#: label ids as wavguard's: 1 = fake
LABELS = ("real", "fake")
RATE_HZ = 16000


def _load(path: str) -> np.ndarray:
    from wavguard.audio import load_audio

    return load_audio(path, RATE_HZ)[0]


class ClipDataset:
    """(path, label) pairs as the example's ``Trainer`` inputs: Whisper log-mel features, shape (80, 3000).

    Args:
        paths, labels: the clips (any format wavguard reads) and their labels (1 = fake).
        feature_extractor: a ``WhisperFeatureExtractor`` (pads or cuts to 30 s).
        max_length_seconds: training clips longer than this are cut to a random window of it (the
            example's ``random_subsample``); ``None``: whole clips (evaluation).
        seed: draws the windows.
    """

    def __init__(self, paths: Sequence[str], labels: Sequence[int], feature_extractor, max_length_seconds=None, seed=0):
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.paths, self.labels = list(paths), [int(v) for v in labels]
        self.feature_extractor = feature_extractor
        self.max_samples = int(round(max_length_seconds * RATE_HZ)) if max_length_seconds else None
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        x = _load(self.paths[index])
        if self.max_samples and len(x) > self.max_samples:
            start = int(self.rng.integers(0, len(x) - self.max_samples))
            x = x[start : start + self.max_samples]
        features = self.feature_extractor(x, sampling_rate=RATE_HZ, return_tensors="np").input_features[0]
        return {"input_features": features, "labels": self.labels[index]}


def _accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float(np.mean(np.argmax(prediction.predictions, axis=-1) == prediction.label_ids))}


def train_example(
    train: tuple[Sequence[str], Sequence[int]],
    validation: tuple[Sequence[str], Sequence[int]],
    backbone_dir: str | Path,
    out_dir: str | Path,
    seed: int,
    settings: dict[str, Any] | None = None,
):
    """Train the example's model; an interrupted run continues from its newest epoch checkpoint.

    Args:
        train, validation: (paths, labels) with 1 = fake.
        backbone_dir: a local Whisper folder in the Hub layout (weights and preprocessor config).
        out_dir: the Trainer's checkpoints.
        settings: ``EXAMPLE_SETTINGS`` keys to change (tests).

    Returns:
        (model in eval mode, feature extractor, info: settings, best checkpoint, epoch history,
        train_seconds).
    """
    from transformers import Trainer, TrainingArguments, WhisperFeatureExtractor, WhisperForAudioClassification
    from transformers.trainer_utils import get_last_checkpoint

    s = {**EXAMPLE_SETTINGS, **(settings or {})}
    unknown = set(s) - set(EXAMPLE_SETTINGS)
    if unknown:
        raise ValueError(f"unknown example settings {sorted(unknown)}; choose from {sorted(EXAMPLE_SETTINGS)}")
    out_dir = Path(out_dir)
    feature_extractor = WhisperFeatureExtractor.from_pretrained(str(backbone_dir))
    model = WhisperForAudioClassification.from_pretrained(
        str(backbone_dir),
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )
    args = TrainingArguments(
        output_dir=str(out_dir),
        learning_rate=s["learning_rate"],
        warmup_steps=s["warmup_ratio"],  # a float below 1: that fraction of the steps (transformers 5)
        num_train_epochs=s["num_train_epochs"],
        per_device_train_batch_size=s["per_device_train_batch_size"],
        gradient_accumulation_steps=s["gradient_accumulation_steps"],
        per_device_eval_batch_size=s["per_device_eval_batch_size"],
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        save_total_limit=3,
        logging_steps=10,
        seed=seed,
        report_to=[],
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=ClipDataset(*train, feature_extractor, s["max_length_seconds"], seed),
        eval_dataset=ClipDataset(*validation, feature_extractor),
        compute_metrics=_accuracy,
    )
    last = get_last_checkpoint(str(out_dir)) if out_dir.is_dir() else None
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    history = [
        {"epoch": round(e["epoch"]), "val_accuracy": e["eval_accuracy"], "val_loss": e["eval_loss"]}
        for e in trainer.state.log_history
        if "eval_accuracy" in e
    ]
    info = {
        "settings": s,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "history": history,
        "train_seconds": time.perf_counter() - started,
        "resumed_from": last,
    }
    return trainer.model.eval(), feature_extractor, info


def score_clips(model, feature_extractor, paths: Sequence[str], batch_size: int = 8) -> tuple[np.ndarray, float]:
    """P(fake) of each clip (one 30 s pass each), and seconds of audio scored per second of wall time."""
    import torch

    scores, audio_seconds = [], 0.0
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            clips = [_load(p) for p in paths[start : start + batch_size]]
            audio_seconds += sum(len(x) for x in clips) / RATE_HZ
            features = feature_extractor(clips, sampling_rate=RATE_HZ, return_tensors="pt").input_features
            logits = model(input_features=features).logits
            scores.append(torch.softmax(logits.float(), dim=-1)[:, LABELS.index("fake")].numpy())
    wall = time.perf_counter() - started
    return np.concatenate(scores) if scores else np.zeros(0), audio_seconds / max(wall, 1e-9)


def run_example(
    train: tuple[Sequence[str], Sequence[int]],
    validation: tuple[Sequence[str], Sequence[int]],
    test_paths: Sequence[str],
    backbone_dir: str | Path,
    out_dir: str | Path,
    seed: int,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, then score validation (its EER, what the benchmark reports as ``val_eer``) and test.

    Returns:
        scores (test, P(fake)), val_eer, best_epoch, history, params, trainable, train_seconds,
        speed (test audio seconds per second), config (the settings), resumed_from, best_checkpoint.
    """
    from wavguard.metrics import compute_eer

    model, feature_extractor, info = train_example(train, validation, backbone_dir, out_dir, seed, settings)
    batch = info["settings"]["per_device_eval_batch_size"]
    val_scores, _ = score_clips(model, feature_extractor, validation[0], batch)
    test_scores, speed = score_clips(model, feature_extractor, test_paths, batch)
    best = max(info["history"], key=lambda e: e["val_accuracy"])["epoch"] if info["history"] else None
    params = int(sum(p.numel() for p in model.parameters()))
    return {
        "scores": test_scores,
        "val_eer": float(compute_eer(np.asarray(validation[1]), val_scores)[0]),
        "best_epoch": best,
        "history": info["history"],
        "params": params,
        "trainable": params,
        "train_seconds": info["train_seconds"],
        "speed": speed,
        "config": info["settings"],
        "resumed_from": info["resumed_from"],
        "best_checkpoint": info["best_checkpoint"],
    }
