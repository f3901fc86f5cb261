"""The continuous-learning step: fine-tune a deployed detector on client feedback, keep it only if better.

:func:`update_detector` reads the feedback that carries audio (:func:`wavguard.feedback.data.read_feedback`),
mixes in a seeded sample of the model's original training data (replay, so it does not forget),
continues training from the deployed weights (``TrainConfig.init_from``), scores the old and the
new model on a hold-out set the training never sees, and writes the new model only when its
hold-out EER beats the old one by at least ``min_improvement``.

Decision rule: with ``bar = old_eer - min_improvement``, the update is accepted when
``new_eer < bar``, refused when ``new_eer > bar``, and at the bar (within :data:`TIE_TOLERANCE`)
accepted only when its ROC AUC is not lower than the old model's.

Example:
    >>> from wavguard.feedback.update import update_detector
    >>> result = update_detector("models/v3", "logs/wavguard.db", "models/v4",
    ...                          replay="data/train/")                       # doctest: +SKIP
    >>> result.accepted, result.old_eer, result.new_eer                      # doctest: +SKIP
    (True, 0.21, 0.04)
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..detector import Detector
from ..errors import ConfigError
from ..evaluation.evaluate import evaluate_detector
from ..training import TrainConfig, train
from ..training.data import load_sources
from .data import read_feedback
from .report import render, write_update_report

__all__ = ["UpdateResult", "update_detector", "decide", "stratified_holdout", "replay_sample", "TIE_TOLERANCE", "REPORT_DIR"]

logger = logging.getLogger(__name__)

#: EERs closer than this count as equal (the AUC then decides).
TIE_TOLERANCE = 1e-9
#: Folder of the comparison report inside the new model directory.
REPORT_DIR = "update_report"
_COLUMNS = ["audio", "label", "source"]

@dataclass
class UpdateResult:
    """What :func:`update_detector` did.

    Attributes:
        accepted: the new model was written.
        reason: one sentence explaining the decision.
        model_dir: the new model directory (``None`` when refused).
        report_dir: where the comparison report is (``report.md``, ``update.json``, plots).
        old, new: :class:`~wavguard.evaluation.evaluate.EvaluationResult` of each model on the hold-out set.
        counts: feedback, replay, training and hold-out clip counts (see ``update.json``).
        markdown: the text of ``report.md``.
    """

    accepted: bool
    reason: str
    model_dir: Path | None
    report_dir: Path
    old: Any
    new: Any
    counts: dict[str, Any] = field(default_factory=dict)
    markdown: str = ""

    @property
    def old_eer(self) -> float:
        return float(self.old.metrics["eer"])

    @property
    def new_eer(self) -> float:
        return float(self.new.metrics["eer"])

def decide(old: dict[str, Any], new: dict[str, Any], min_improvement: float = 0.0) -> tuple[bool, str]:
    """Whether to keep the new model, from both models' hold-out metrics (``eer``, ``roc_auc``).

    Returns:
        (accepted, reason). See the module docstring for the rule.
    """
    bar = old["eer"] - min_improvement
    gap = new["eer"] - bar
    text = f"new hold-out EER {new['eer']:.4f} vs old {old['eer']:.4f} (must be <= {bar:.4f}"
    text += f" with min_improvement {min_improvement:g})" if min_improvement else ")"
    if gap < -TIE_TOLERANCE:
        return True, f"accepted: {text}"
    if gap > TIE_TOLERANCE:
        return False, f"refused: {text}"
    old_auc, new_auc = old.get("roc_auc"), new.get("roc_auc")
    keep = old_auc is None or (new_auc is not None and new_auc >= old_auc - TIE_TOLERANCE)
    auc = f"ROC AUC new {_num(new_auc)} vs old {_num(old_auc)}"
    return keep, f"{'accepted' if keep else 'refused'}: {text}; at the bar, so the ROC AUC decides: {auc}"

def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"

def replay_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of a seeded sample of ``size`` rows, stratified by label where possible (sorted).

    Uses scikit-learn's stratified ``train_test_split``; a sample too small to hold every class
    falls back to a plain seeded sample.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    if size >= labels.size:
        return np.arange(labels.size)
    if size <= 0:
        return np.zeros(0, dtype=int)
    index = np.arange(labels.size)
    try:
        chosen, _ = train_test_split(index, train_size=size, stratify=labels, random_state=seed)
    except ValueError:  # a class with one row, or fewer rows than classes
        chosen = np.random.default_rng(seed).choice(index, size=size, replace=False)
    return np.sort(chosen)

def stratified_holdout(strata: list[Any], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (train, holdout), taking ``fraction`` of every stratum.

    Each stratum with n >= 2 rows gives ``round(fraction * n)`` rows, at least 1 and at most n - 1,
    to the hold-out (chosen by a seeded permutation); a stratum of one row stays in training.
    Written out rather than ``StratifiedShuffleSplit``, which rejects strata of one row and
    rounds across strata.

    Returns:
        sorted train and hold-out indices.
    """
    rng = np.random.default_rng(seed)
    keys = np.array([str(s) for s in strata])
    holdout: list[int] = []
    for key in sorted(set(keys.tolist())):
        rows = np.flatnonzero(keys == key)
        if rows.size < 2:
            continue
        take = min(max(int(round(fraction * rows.size)), 1), rows.size - 1)
        holdout += rng.permutation(rows)[:take].tolist()
    held = np.zeros(len(keys), dtype=bool)
    held[holdout] = True
    return np.flatnonzero(~held), np.flatnonzero(held)

def _class_counts(dataset) -> dict[str, int]:
    labels = list(dataset["label"]) if dataset is not None else []
    return {"real": labels.count(0), "fake": labels.count(1)}

def _source_counts(dataset) -> dict[str, int]:
    sources = list(dataset["source"])
    return {"feedback": sources.count("feedback"), "replay": sources.count("replay")}

def _with_source(dataset, name: str):
    import datasets

    if "source" in dataset.column_names:
        dataset = dataset.remove_columns("source")
    dataset = dataset.add_column("source", [name] * len(dataset))
    dataset = dataset.select_columns(_COLUMNS)
    return dataset.cast_column("label", datasets.ClassLabel(names=["real", "fake"]))

def _build_data(feedback, replay, replay_split, replay_fraction, holdout, holdout_split, holdout_fraction, seed):
    """(train, holdout, counts) from the feedback data set and the replay / hold-out sources."""
    import datasets

    fb = _with_source(feedback, "feedback")
    pool = _with_source(load_sources(replay, replay_split), "replay") if replay not in (None, "", []) else None
    wanted = 0 if pool is None else int(round(len(fb) * replay_fraction / (1.0 - replay_fraction)))
    picked = replay_sample(np.asarray(pool["label"]), wanted, seed) if pool is not None else np.zeros(0, dtype=int)
    if pool is not None and wanted > len(pool):
        logger.warning("replay: %d clips wanted for replay_fraction %.2f, the replay data holds %d", wanted, replay_fraction, len(pool))
    mix = datasets.concatenate_datasets([fb, pool.select(picked)]) if picked.size else fb
    if holdout not in (None, "", []):
        held = load_sources(holdout, holdout_split)
        train, holdout_source = mix, str(holdout) if isinstance(holdout, (str, os.PathLike)) else "<dataset>"
    else:
        strata = [f"{s}/{y}" for s, y in zip(list(mix["source"]), list(mix["label"]))]
        train_rows, held_rows = stratified_holdout(strata, holdout_fraction, seed)
        train, held, holdout_source = mix.select(train_rows), mix.select(held_rows), "split"
    counts = {
        "replay_pool": 0 if pool is None else len(pool),
        "replay_fraction": replay_fraction,
        "train": {"total": len(train), **_class_counts(train), **_source_counts(train)},
        "holdout": {"total": len(held), **_class_counts(held), "from": holdout_source},
    }
    if "source" in held.column_names:
        counts["holdout"].update(_source_counts(held))
    return train, held, counts

def _check_classes(train, held, has_replay: bool, validation_fraction: float) -> None:
    tc, hc = _class_counts(train), _class_counts(held)
    hint = "" if has_replay else "; add the original training data with --replay"
    if min(tc.values()) == 0:
        raise ConfigError(f"the training mix has {tc['real']} real and {tc['fake']} fake clips; it needs both classes{hint}")
    if min(hc.values()) == 0:
        raise ConfigError(f"the hold-out set has {hc['real']} real and {hc['fake']} fake clips; EER needs both{hint}, or pass --holdout")
    if validation_fraction > 0 and min(tc.values()) < 2:
        raise ConfigError(f"validation_fraction {validation_fraction} needs at least 2 clips of each class in the training mix "
                          f"(have {tc}); use validation_fraction 0")

def _train_config(model_dir: str, old, train, work: Path, *, mode, epochs, seed, validation_fraction, settings):

    provenance = old.config.extra.get("training", {}) if isinstance(old.config.extra.get("training"), dict) else {}
    base: dict[str, Any] = {
        "train_data": train.select_columns(["audio", "label"]),
        "init_from": model_dir,
        "kind": old.config.kind,
        "mode": mode or ("full" if old.config.kind == "spectrogram" else "frozen"),
        "epochs": epochs,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "calibration": "platt" if validation_fraction > 0 else "none",
        "crop_seconds": provenance.get("crop_seconds") or old.config.window_seconds,
        "batch_size": provenance.get("batch_size") or 16,
        "output_dir": str(work / "run"),
    }
    base.update(settings or {})
    return TrainConfig.from_dict(base)

def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise ConfigError(f"{out}: already exists; choose a new directory for the updated model, or pass overwrite")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; the updated model is a directory")
    out.parent.mkdir(parents=True, exist_ok=True)

def _install(staged: Path, out: Path, work: Path) -> None:
    """Move ``staged`` to ``out`` with renames (same file system); an old ``out`` is replaced."""
    if out.exists():
        os.replace(out, work / "previous")
    os.replace(staged, out)

def update_detector(
    model: str | os.PathLike,
    feedback_db: str | os.PathLike,
    out: str | os.PathLike,
    *,
    replay: Any = None,
    replay_split: str | None = None,
    replay_fraction: float = 0.5,
    holdout: Any = None,
    holdout_split: str | None = None,
    holdout_fraction: float = 0.25,
    epochs: int = 5,
    min_improvement: float = 0.0,
    seed: int = 0,
    mode: str | None = None,
    validation_fraction: float = 0.2,
    batch_size: int = 8,
    bootstrap_resamples: int = 1000,
    train_settings: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> UpdateResult:
    """Fine-tune ``model`` on the feedback in ``feedback_db`` and write it to ``out`` if it is better.

    Args:
        model: the deployed detector directory (or Hub id); training starts from its weights.
        feedback_db: the ``wavguard serve --log-db`` SQLite file. Rows without audio are counted
            and left out.
        out: directory for the new model, written atomically (a temporary folder next to it, then a
            rename) only when accepted. Refused updates leave no ``out``; their report goes to
            ``<out>.update_report/``.
        replay: the model's original training data (any :func:`wavguard.data.load_any` source, or
            a list of them); a seeded, label-stratified sample is mixed into the training data.
        replay_split: split of ``replay`` sources that have several.
        replay_fraction: share of replay clips in the mix, in [0, 1): ``R = F * f / (1 - f)``
            replay clips for F feedback clips (0.5: as many replay clips as feedback clips).
        holdout: the evaluation data set (any ``load_any`` source). ``None``: a seeded hold-out of
            ``holdout_fraction`` of the mix, stratified by (feedback/replay, label), that the
            training never sees.
        holdout_split: split of ``holdout`` sources that have several.
        holdout_fraction: share of the mix held out when ``holdout`` is ``None``, in (0, 1).
        epochs: training epochs.
        min_improvement: the new hold-out EER must be at most ``old EER - min_improvement``
            (a fraction: 0.01 = one point of EER).
        seed: seeds the replay sample, the hold-out split and training.
        mode: ``"frozen"`` (head only; default for transformer detectors), ``"lora"`` or ``"full"``.
        validation_fraction: share of the training mix used to pick the best epoch, fit Platt
            calibration and choose the new threshold (0: last epoch, old calibration and threshold).
        batch_size: windows per forward pass when scoring the hold-out set.
        bootstrap_resamples: resamples of each EER's 95% interval in the report (0: skip).
        train_settings: other :class:`~wavguard.training.TrainConfig` fields (``head_learning_rate``,
            ``batch_size``, ``cache_dir``, ...); they override the defaults above.
        overwrite: replace an existing ``out`` (after the update is accepted).

    Returns:
        an :class:`UpdateResult`.

    Raises:
        ConfigError: no feedback row carries audio, a data set lacks a class, ``out`` exists, or a
            setting is out of range.
    """

    if not 0.0 <= replay_fraction < 1.0:
        raise ConfigError(f"replay_fraction must be in [0, 1), got {replay_fraction}")
    if not 0.0 < holdout_fraction < 1.0:
        raise ConfigError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    if not math.isfinite(min_improvement):
        raise ConfigError(f"min_improvement must be a finite number, got {min_improvement}")
    out = Path(out)
    _prepare_out(out, overwrite)
    fb = read_feedback(feedback_db)
    if fb.dataset is None:
        extra = f" ({len(fb.unreadable)} with audio that cannot be decoded)" if fb.unreadable else ""
        raise ConfigError(
            f"{feedback_db}: none of its {fb.num_rows} feedback rows carries usable audio{extra}; {fb.num_without_audio} "
            "rows have a label only. Start the server with --log-db FILE --store-feedback-audio and send audio_base64 "
            "with each POST /v1/feedback"
        )
    old = Detector.from_pretrained(model, backend="torch")  # compared with the retrained one, same backend
    train_data, held, counts = _build_data(fb.dataset, replay, replay_split, replay_fraction, holdout, holdout_split,
                                           holdout_fraction, seed)
    _check_classes(train_data, held, replay not in (None, "", []), validation_fraction)
    counts = {"feedback": fb.counts(), **counts}
    groups = ["source"] if "source" in held.column_names else None
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.update-", dir=out.parent))
    try:
        cfg = _train_config(str(model), old, train_data, work, mode=mode, epochs=epochs, seed=seed,
                            validation_fraction=validation_fraction, settings=train_settings)
        logger.info("updating %s: %d training clips (%d feedback), %d hold-out clips", model, counts["train"]["total"],
                    counts["train"]["feedback"], counts["holdout"]["total"])
        trained = train(cfg)
        new = Detector.from_pretrained(trained.best_dir, backend="torch")
        scored = [
            evaluate_detector(det, held, batch_size=batch_size, group_columns=groups, name=name,
                              bootstrap_resamples=bootstrap_resamples)
            for det, name in ((old, "old"), (new, "new"))
        ]
        accepted, reason = decide(scored[0].metrics, scored[1].metrics, min_improvement)
        entry = {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "from_model": str(model),
            "feedback_db": str(feedback_db),
            "feedback_count": fb.num_used,
            "feedback_without_audio": fb.num_without_audio,
            "replay_count": counts["train"]["replay"],
            "holdout_count": counts["holdout"]["total"],
            "holdout": counts["holdout"]["from"],
            "old_eer": scored[0].metrics["eer"],
            "new_eer": scored[1].metrics["eer"],
            "min_improvement": min_improvement,
            "training": {k: v for k, v in cfg.to_dict().items()
                         if k in ("mode", "epochs", "seed", "batch_size", "crop_seconds", "head_learning_rate",
                                  "validation_fraction", "calibration")},
        }
        counts["training_seconds"] = new.config.extra.get("training", {}).get("training_seconds")
        report_dir = (trained.best_dir / REPORT_DIR) if accepted else out.parent / f"{out.name}.{REPORT_DIR}"
        markdown = render(scored[0], scored[1], counts, accepted, reason, entry)
        write_update_report(report_dir, scored[0], scored[1], counts, accepted, reason, entry, markdown)
        if accepted:
            previous = old.config.extra.get("updates", [])
            extra = dict(new.config.extra)
            if "training" in old.config.extra:  # how the model was first trained; the update is in "updates"
                extra["training"] = old.config.extra["training"]
            extra["updates"] = [*(previous if isinstance(previous, list) else []), entry]
            new.config.extra = extra
            new.config.metrics = {**new.config.metrics, "holdout_eer": scored[1].metrics["eer"]}
            new.config.save(trained.best_dir)
            _install(trained.best_dir, out, work)
            report_dir = out / REPORT_DIR
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return UpdateResult(accepted, reason, out if accepted else None, report_dir, scored[0], scored[1], counts, markdown)
