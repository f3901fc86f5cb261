"""The continuous-learning step: fine-tune a deployed detector on client feedback, keep it only if better.

:func:`update_detector` reads the feedback that carries audio (:func:`wavguard.feedback.data.read_feedback`),
mixes in a seeded sample of the model's original training data (replay, so it does not forget),
continues training from the deployed weights (``TrainConfig.init_from``), scores the old and the
new model on a hold-out set the training never sees, and writes the new model only when its
hold-out EER beats the old one by at least ``min_improvement``. :class:`UpdateConfig` holds how
(replay, hold-out, training and decision settings).

Decision rule: with ``bar = old_eer - min_improvement``, the update is accepted when
``new_eer < bar``, refused when ``new_eer > bar``, and at the bar (within :data:`TIE_TOLERANCE`)
accepted only when its ROC AUC is not lower than the old model's.

Example:
    >>> from wavguard.feedback.update import UpdateConfig, update_detector
    >>> result = update_detector("models/v3", "logs/wavguard.db", "models/v4",
    ...                          UpdateConfig(replay="data/train/"))         # doctest: +SKIP
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..detector import Detector
from ..errors import ConfigError
from ..evaluation.evaluate import evaluate_detector
from ..training import TrainConfig, train
from ..training.config import MODES
from ..training.data import load_sources
from .data import read_feedback
from .report import render, write_update_report

__all__ = [
    "UpdateConfig",
    "UpdateResult",
    "update_detector",
    "decide",
    "stratified_holdout",
    "replay_sample",
    "TIE_TOLERANCE",
    "REPORT_DIR",
]

logger = logging.getLogger(__name__)

#: EERs closer than this count as equal (the AUC then decides).
TIE_TOLERANCE = 1e-9
#: Folder of the comparison report inside the new model directory.
REPORT_DIR = "update_report"
_COLUMNS = ["audio", "label", "source"]


@dataclass(frozen=True)
class UpdateConfig:
    """How :func:`update_detector` retrains and decides; every field has a default.

    Example:
        >>> UpdateConfig(replay="data/train/", epochs=3, train_settings={"head_learning_rate": 3e-4}).epochs
        3
    """

    replay: Any = None
    """The model's original training data (any :func:`wavguard.data.load_any` source, or a list of
    them); a seeded, label-stratified sample is mixed into the training data so the model does not
    forget. ``None``: feedback only."""
    replay_split: str | None = None
    """Split of ``replay`` sources that have several."""
    replay_fraction: float = 0.5
    """Share of replay clips in the training mix, in [0, 1): ``R = F * f / (1 - f)`` replay clips for
    ``F`` feedback clips (0.5: as many replay clips as feedback clips)."""
    holdout: Any = None
    """The evaluation data set (any ``load_any`` source). ``None``: a seeded hold-out of
    ``holdout_fraction`` of the mix, stratified by (feedback/replay, label), that training never sees."""
    holdout_split: str | None = None
    """Split of ``holdout`` sources that have several."""
    holdout_fraction: float = 0.25
    """Share of the mix held out when ``holdout`` is ``None``, in (0, 1)."""
    epochs: int = 5
    """Training epochs, at least 1."""
    min_improvement: float = 0.0
    """The new hold-out EER must be at most ``old EER - min_improvement`` (a fraction: 0.01 = one
    point of EER)."""
    seed: int = 0
    """Seeds the replay sample, the hold-out split and training."""
    mode: str | None = None
    """What trains: ``"frozen"`` (layer weights and head), ``"lora"`` or ``"full"``. ``None``:
    ``"frozen"`` for transformer detectors, ``"full"`` for the spectrogram CNN."""
    validation_fraction: float = 0.2
    """Share of the training mix that picks the best epoch, fits Platt calibration and chooses the
    new threshold, in [0, 1) (0: last epoch, old calibration and threshold)."""
    holdout_batch_size: int = 8
    """Windows per forward pass when scoring the hold-out set (training's batch size is
    ``train_settings["batch_size"]``)."""
    bootstrap_resamples: int = 1000
    """Resamples of each EER's 95 % interval in the report (0: skip)."""
    train_settings: Mapping[str, Any] = field(default_factory=dict)
    """Other :class:`~wavguard.training.TrainConfig` fields (``head_learning_rate``, ``batch_size``,
    ``cache_dir``, ...); they override the ones derived from the fields above and the old model."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.replay_fraction < 1.0:
            raise ConfigError(f"replay_fraction must be in [0, 1), got {self.replay_fraction}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ConfigError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if not math.isfinite(self.min_improvement):
            raise ConfigError(f"min_improvement must be a finite number, got {self.min_improvement}")
        for name, low in (("epochs", 1), ("holdout_batch_size", 1), ("bootstrap_resamples", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")
        if self.mode is not None and self.mode not in MODES:
            raise ConfigError(
                f"mode must be one of {', '.join(MODES)} (or None: the model's usual mode), got {self.mode!r}"
            )
        if not isinstance(self.train_settings, Mapping):
            raise ConfigError(
                f"train_settings must be a mapping of TrainConfig fields, got {type(self.train_settings).__name__}"
            )
        for name in ("replay", "holdout"):  # "", [] and () mean no data, as None does
            value = getattr(self, name)
            if isinstance(value, (str, list, tuple)) and not value:
                object.__setattr__(self, name, None)


@dataclass
class UpdateResult:
    """What :func:`update_detector` did.

    Attributes:
        accepted: the new model was written.
        reason: one sentence explaining the decision.
        model_dir: the new model directory (``None`` when refused).
        report_dir: where the comparison report is (``report.md``, ``update.json``, plots).
        old, new: :class:`~wavguard.evaluation.results.EvaluationResult` of each model on the hold-out set.
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


def _build_data(feedback, config: UpdateConfig):
    """(train, holdout, counts) from the feedback data set and the replay / hold-out sources."""
    import datasets

    replay_fraction, holdout, seed = config.replay_fraction, config.holdout, config.seed
    fb = _with_source(feedback, "feedback")
    pool = None if config.replay is None else _with_source(load_sources(config.replay, config.replay_split), "replay")
    wanted = 0 if pool is None else int(round(len(fb) * replay_fraction / (1.0 - replay_fraction)))
    picked = replay_sample(np.asarray(pool["label"]), wanted, seed) if pool is not None else np.zeros(0, dtype=int)
    if pool is not None and wanted > len(pool):
        logger.warning(
            "replay: %d clips wanted for replay_fraction %.2f, the replay data holds %d",
            wanted,
            replay_fraction,
            len(pool),
        )
    mix = datasets.concatenate_datasets([fb, pool.select(picked)]) if picked.size else fb
    if holdout is not None:
        held = load_sources(holdout, config.holdout_split)
        train, holdout_source = mix, str(holdout) if isinstance(holdout, (str, os.PathLike)) else "<dataset>"
    else:
        strata = [f"{s}/{y}" for s, y in zip(list(mix["source"]), list(mix["label"]))]
        train_rows, held_rows = stratified_holdout(strata, config.holdout_fraction, seed)
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
        raise ConfigError(
            f"the training mix has {tc['real']} real and {tc['fake']} fake clips; it needs both classes{hint}"
        )
    if min(hc.values()) == 0:
        raise ConfigError(
            f"the hold-out set has {hc['real']} real and {hc['fake']} fake clips; EER needs both{hint}, or pass --holdout"
        )
    if validation_fraction > 0 and min(tc.values()) < 2:
        raise ConfigError(
            f"validation_fraction {validation_fraction} needs at least 2 clips of each class in the training mix "
            f"(have {tc}); use validation_fraction 0"
        )


def _train_config(model_dir: str, old, train, work: Path, config: UpdateConfig) -> TrainConfig:
    provenance = old.config.extra.get("training", {}) if isinstance(old.config.extra.get("training"), dict) else {}
    base: dict[str, Any] = {
        "train_data": train.select_columns(["audio", "label"]),
        "init_from": model_dir,
        "kind": old.config.kind,
        "mode": config.mode or ("full" if old.config.kind == "spectrogram" else "frozen"),
        "epochs": config.epochs,
        "seed": config.seed,
        "validation_fraction": config.validation_fraction,
        "calibration": "platt" if config.validation_fraction > 0 else "none",
        "crop_seconds": provenance.get("crop_seconds") or old.config.window_seconds,
        "batch_size": provenance.get("batch_size") or 16,
        "output_dir": str(work / "run"),
    }
    base.update(config.train_settings)
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
    config: UpdateConfig | None = None,
    *,
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
        config: replay, hold-out, training and decision settings (default: ``UpdateConfig()``).
        overwrite: replace an existing ``out`` (after the update is accepted).

    Returns:
        an :class:`UpdateResult`.

    Raises:
        ConfigError: no feedback row carries audio, a data set lacks a class, or ``out`` exists.
    """
    config = UpdateConfig() if config is None else config
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
    train_data, held, counts = _build_data(fb.dataset, config)
    _check_classes(train_data, held, config.replay is not None, config.validation_fraction)
    counts = {"feedback": fb.counts(), **counts}
    groups = ["source"] if "source" in held.column_names else None
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.update-", dir=out.parent))
    try:
        cfg = _train_config(str(model), old, train_data, work, config)
        logger.info(
            "updating %s: %d training clips (%d feedback), %d hold-out clips",
            model,
            counts["train"]["total"],
            counts["train"]["feedback"],
            counts["holdout"]["total"],
        )
        trained = train(cfg)
        new = Detector.from_pretrained(trained.best_dir, backend="torch")
        scored = [
            evaluate_detector(
                det,
                held,
                batch_size=config.holdout_batch_size,
                group_columns=groups,
                name=name,
                bootstrap_resamples=config.bootstrap_resamples,
            )
            for det, name in ((old, "old"), (new, "new"))
        ]
        accepted, reason = decide(scored[0].metrics, scored[1].metrics, config.min_improvement)
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
            "min_improvement": config.min_improvement,
            "training": {
                k: v
                for k, v in cfg.to_dict().items()
                if k
                in (
                    "mode",
                    "epochs",
                    "seed",
                    "batch_size",
                    "crop_seconds",
                    "head_learning_rate",
                    "validation_fraction",
                    "calibration",
                )
            },
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
