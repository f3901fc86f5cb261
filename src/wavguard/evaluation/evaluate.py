"""Score a labelled data set with a detector and compute every metric, pooled and per group.

Scores point towards FAKE (higher = more likely fake), labels are 1 = fake, 0 = real; see
:mod:`wavguard.metrics`.

Scoring itself (inputs, data set rows, channels, several processes) lives in
:mod:`wavguard.scoring.datasets`; its names are re-exported here.

Robustness: ``channels=`` scores the data set again through each degradation channel of
:mod:`wavguard.audio.channels` (MP3, telephone, noise, reverb) and keeps one result per channel.

Example:
    >>> from wavguard.evaluation.evaluate import evaluate_detector          # doctest: +SKIP
    >>> result = evaluate_detector(detector, dataset)               # doctest: +SKIP
    >>> result.metrics["eer"], result.groups["attack"]["A07"]["eer"]  # doctest: +SKIP
    >>> result = evaluate_detector(detector, dataset, channels=["mp3_24k", "telephone"])  # doctest: +SKIP
    >>> result.channels["telephone"].metrics["eer"], result.robustness()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import metrics as M
from ..audio.channels import DEFAULT_CHANNELS, parse_channels
from ..data.hub_data import materialize
from ..errors import ConfigError
from ..hub.portable import base_name
from ..scoring.datasets import ItemScores, ScoredRow, logit, predict_margins, score_dataset, score_inputs
from .adversarial import check_attack, score_dataset_adversarial

__all__ = [
    "EvaluationResult",
    "ItemScores",
    "evaluate_detector",
    "evaluate_channels",
    "eer_ratio",
    "evaluate_scores",
    "score_inputs",
    "predict_margins",
    "score_dataset",
    "ScoredRow",
    "headline_metrics",
    "prior_log_odds",
    "DEFAULT_GROUP_COLUMNS",
    "CALIBRATION_PRIOR_KEY",
]

logger = logging.getLogger(__name__)

#: Grouping columns used when present and none are named.
DEFAULT_GROUP_COLUMNS = ("attack", "speaker", "language")
#: ``config.extra`` key: the fraction of fake clips in the data the calibration was fitted on.
CALIBRATION_PRIOR_KEY = "calibration_prior_fake"

def prior_log_odds(model: Any) -> float:
    """``logit(prior_fake)`` of ``model``'s calibration data (``config.extra``); 0.0 (equal priors) when not recorded."""
    prior = (getattr(getattr(model, "config", None), "extra", None) or {}).get(CALIBRATION_PRIOR_KEY)
    known = isinstance(prior, (int, float)) and not isinstance(prior, bool) and 0.0 < prior < 1.0
    return math.log(prior / (1.0 - prior)) if known else 0.0

@dataclass
class EvaluationResult:
    """Scores and metrics of one model on one data set (successfully scored rows only).

    Attributes:
        name: the model's name in reports.
        labels: shape (N,), 1 = fake, 0 = real.
        scores: shape (N,), calibrated probability of FAKE (higher = more fake).
        log_odds: shape (N,), ``logit(score)``: calibrated posterior log-odds of FAKE.
        margins: shape (N,), uncalibrated FAKE-minus-REAL logit margins (for calibration).
        threshold: decision threshold of the thresholded metrics (the model's own).
        metrics: pooled :func:`~wavguard.metrics.summarize` plus ``eer_ci95`` (bootstrap).
        groups: ``{column: {value: summary}}``; ``attack`` follows the ASVspoof convention (each
            attack's fakes against all real clips).
        columns: ``{column: values}`` of the grouping columns, aligned with ``scores``.
        rows: shape (N,), data set row of each score.
        sources: file name of each score.
        failures: ``[{"row", "source", "error"}]`` for rows that could not be scored.
        audio_seconds: total audio scored; scoring_seconds: wall time spent scoring (with a
            channel: decoding and degrading too).
        channel: the degradation channel the clips went through (``None``: clean audio).
        channel_description: that channel's one-line description.
        channel_seed: the seed of that channel.
        channels: ``{channel name: EvaluationResult}`` of the same model and data through each
            degradation channel (set on the clean result by ``evaluate_detector(channels=...)``).
        attack: on an attacked result, a dict with the keys ``method``, ``snr_db``, ``steps``,
            ``achieved_snr_db_min``, ``achieved_snr_db_mean`` (:mod:`wavguard.evaluation.adversarial`).
        adversarial: the same model and data under that white-box attack (set on the clean result
            by ``evaluate_detector(adversarial_snr_db=...)``).
        prior_log_odds: ``logit`` of the fake prior of the model's calibration data (0: equal
            priors); see :attr:`llrs`.
    """

    name: str
    labels: np.ndarray
    scores: np.ndarray
    log_odds: np.ndarray
    margins: np.ndarray
    threshold: float
    metrics: dict[str, Any]
    groups: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    rows: np.ndarray | None = None
    sources: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    audio_seconds: float = 0.0
    scoring_seconds: float = 0.0
    channel: str | None = None
    channel_description: str | None = None
    channel_seed: int | None = None
    channels: dict[str, EvaluationResult] = field(default_factory=dict)
    attack: dict[str, Any] | None = None
    adversarial: EvaluationResult | None = None
    prior_log_odds: float = 0.0

    @property
    def llrs(self) -> np.ndarray:
        """Shape (N,): LLRs in favour of FAKE, ``log_odds - prior_log_odds`` (for actDCF and Cllr)."""
        return self.log_odds - self.prior_log_odds

    @property
    def audio_seconds_per_second(self) -> float | None:
        """Scoring speed: seconds of audio scored per wall-clock second (``None`` if untimed)."""
        return self.audio_seconds / self.scoring_seconds if self.scoring_seconds > 0 else None

    def robustness(self) -> list[dict[str, Any]]:
        """One row per degradation channel: its EER and AUC next to the clean ones.

        Returns:
            one dict per channel, in channel order, with the keys ``channel``, ``description``, ``eer``,
            ``roc_auc``, ``min_dcf``, ``clean_eer``, ``clean_roc_auc``, ``eer_ratio``, ``num_scored``, ``num_failed``;
            rates are fractions, ``eer_ratio`` is :func:`eer_ratio` (channel EER / clean EER).
        """
        clean = self.metrics
        return [
            {
                "channel": name,
                "description": r.channel_description,
                "eer": r.metrics.get("eer"),
                "roc_auc": r.metrics.get("roc_auc"),
                "min_dcf": r.metrics.get("min_dcf"),
                "clean_eer": clean.get("eer"),
                "clean_roc_auc": clean.get("roc_auc"),
                "eer_ratio": eer_ratio(r.metrics.get("eer"), clean.get("eer")),
                "num_scored": int(r.labels.size),
                "num_failed": len(r.failures),
            }
            for name, r in self.channels.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-clip arrays); per-channel results under ``channels``."""
        data = {
            "name": self.name,
            "threshold": self.threshold,
            "prior_log_odds": self.prior_log_odds,
            "metrics": self.metrics,
            "groups": self.groups,
            "num_scored": int(self.labels.size),
            "num_failed": len(self.failures),
            "failures": self.failures,
            "audio_seconds": self.audio_seconds,
            "scoring_seconds": self.scoring_seconds,
            "audio_seconds_per_second": self.audio_seconds_per_second,
        }
        if self.channel is not None:
            data.update(channel=self.channel, channel_description=self.channel_description, channel_seed=self.channel_seed)
        if self.channels:
            data["robustness"] = self.robustness()
            data["channels"] = {name: r.to_dict() for name, r in self.channels.items()}
        if self.attack is not None:
            data["attack"] = self.attack
        if self.adversarial is not None:
            data["adversarial"] = {**self.adversarial_summary(), "result": self.adversarial.to_dict()}
        return data

    def adversarial_summary(self) -> dict[str, Any]:
        """The attacked EER and AUC next to the clean ones (empty without an attacked result)."""
        if self.adversarial is None:
            return {}
        attacked, clean = self.adversarial.metrics, self.metrics
        return {
            **(self.adversarial.attack or {}),
            "eer": attacked.get("eer"),
            "roc_auc": attacked.get("roc_auc"),
            "clean_eer": clean.get("eer"),
            "clean_roc_auc": clean.get("roc_auc"),
            "eer_ratio": eer_ratio(attacked.get("eer"), clean.get("eer")),
            "scores": "probability of FAKE, higher = more fake; the attack pushes real clips up and fake clips down",
        }

def eer_ratio(channel_eer: float | None, clean_eer: float | None) -> float | None:
    """How many times the clean EER a channel's EER is: ``channel_eer / clean_eer``.

    ``None`` when either EER is unknown (single-class data); with a clean EER of 0 the ratio is
    1.0 when the channel's is 0 too, else ``inf`` (written as ``null`` in JSON).
    """
    if channel_eer is None or clean_eer is None:
        return None
    if clean_eer == 0:
        return 1.0 if channel_eer == 0 else math.inf
    return float(channel_eer) / float(clean_eer)

def evaluate_scores(
    labels,
    scores,
    *,
    threshold: float = 0.5,
    columns: dict[str, Sequence[Any]] | None = None,
    log_odds=None,
    margins=None,
    name: str = "scores",
    bootstrap_resamples: int = 1000,
    seed: int = 0,
    prior_log_odds: float = 0.0,
) -> EvaluationResult:
    """Metrics of precomputed scores, pooled and per group (no model involved).

    Args:
        labels: shape (N,), 1 = fake, 0 = real.
        scores: shape (N,), probability of FAKE (higher = more fake).
        threshold: decision threshold for accuracy, precision/recall/F1, confusion, error rates.
        columns: grouping columns, each N values; ``"attack"`` is grouped the ASVspoof way.
        log_odds: shape (N,) calibrated log-odds of fake; default ``logit(scores)``.
        margins: shape (N,) uncalibrated margins; default ``log_odds``.
        bootstrap_resamples: resamples of the EER confidence interval (0: skip).
        seed: seeds the bootstrap.
        prior_log_odds: ``logit`` of the fake prior the scores were calibrated at; actDCF and
            Cllr use ``llr = log_odds - prior_log_odds`` (0: equal priors, the log-odds themselves).
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    if log_odds is None:
        log_odds = logit(np.clip(scores, 1e-300, 1.0 - 1e-16))
    log_odds = np.asarray(log_odds, dtype=np.float64)
    margins = log_odds if margins is None else np.asarray(margins, dtype=np.float64)
    llrs = log_odds - float(prior_log_odds)
    summary = M.summarize(labels, scores, threshold, llrs=llrs)
    if bootstrap_resamples and summary["eer"] is not None:
        summary["eer_ci95"] = list(M.bootstrap_eer_ci(labels, scores, bootstrap_resamples, 0.95, seed))
    columns = {k: list(v) for k, v in (columns or {}).items()}
    groups = {}
    for column, values in columns.items():
        if column == "attack":
            groups[column] = M.metrics_by_attack(labels, scores, values, threshold, llrs=llrs)
        else:
            groups[column] = M.metrics_by_group(labels, scores, values, threshold, llrs=llrs)
    return EvaluationResult(name, labels, scores, log_odds, margins, float(threshold), summary, groups, columns,
                            prior_log_odds=float(prior_log_odds))

def _column_values(dataset, column: str) -> list[Any]:
    values = list(dataset[column])
    feature = dataset.features.get(column)
    if hasattr(feature, "int2str"):  # ClassLabel: report names, not indices
        values = [None if v is None else feature.int2str(int(v)) for v in values]
    return values

def _labels(dataset, column: str) -> np.ndarray:
    if column not in dataset.column_names:
        raise ConfigError(f"the data set has no {column!r} column (1 = fake, 0 = real); columns: {', '.join(dataset.column_names)}")
    values = list(dataset[column])
    bad = sorted({repr(v) for v in values if v not in (0, 1)})
    if bad:
        raise ConfigError(f"column {column!r} must hold 0 (real) or 1 (fake); found {', '.join(bad[:5])}")
    return np.asarray(values, dtype=int)

def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers stored in ``DetectorConfig.metrics``, EER first, then the other ASVspoof 5
    metrics (minDCF, actDCF, Cllr), AUC and accuracy (rates as fractions)."""
    keys = ("eer", "min_dcf", "act_dcf", "cllr", "roc_auc", "accuracy")
    return {k: float(metrics[k]) for k in keys if metrics.get(k) is not None}

def _prepare(detector: Any, dataset, label_column: str, group_columns: Sequence[str] | None, threshold: float | None):
    """Validated (labels of every row, group columns, decision threshold) of an evaluation."""
    import datasets as hf_datasets

    if isinstance(dataset, (hf_datasets.DatasetDict, hf_datasets.IterableDatasetDict)):
        raise ConfigError(f"pass one split of the DatasetDict (splits: {', '.join(dataset)})")
    labels_all = _labels(dataset, label_column)
    if group_columns is None:
        group_columns = [c for c in DEFAULT_GROUP_COLUMNS if c in dataset.column_names]
    missing = [c for c in group_columns if c not in dataset.column_names]
    if missing:
        raise ConfigError(f"group column(s) {missing} not in the data set (columns: {', '.join(dataset.column_names)})")
    if threshold is None:
        config = getattr(detector, "config", None)
        threshold = config.threshold if config is not None else detector.threshold
    return labels_all, list(group_columns), threshold

def _result(scored: list[ScoredRow], elapsed: float, dataset, labels_all, group_columns, threshold, name, bootstrap_resamples, what: str,
            prior: float = 0.0) -> EvaluationResult:
    """An :class:`EvaluationResult` of scored rows (failures listed, left out of the metrics)."""
    failures = [{"row": r.row, "source": r.source, "error": r.error} for r in scored if r.error is not None]
    good = [r for r in scored if r.error is None]
    prefix = f"{what}: " if what else ""
    if failures:
        logger.warning("%s%d of %d rows could not be scored and are left out (first: %s)", prefix, len(failures), len(scored), failures[0]["error"])
    if not good:
        raise ConfigError(f"{prefix}none of the {len(scored)} rows could be scored (first error: {failures[0]['error'] if failures else 'empty data set'})")
    rows = np.array([r.row for r in good])
    columns = {}
    for column in group_columns:
        values = _column_values(dataset, column)
        columns[column] = [values[i] for i in rows]
    result = evaluate_scores(
        labels_all[rows],
        np.array([r.score for r in good]),
        threshold=threshold,
        columns=columns,
        log_odds=np.array([r.log_odds for r in good]),
        margins=np.array([r.margin for r in good]),
        name=name,
        bootstrap_resamples=bootstrap_resamples,
        prior_log_odds=prior,
    )
    result.rows = rows
    result.sources = [r.source for r in good]
    result.failures = failures
    result.audio_seconds = float(sum(r.duration_seconds for r in good))
    result.scoring_seconds = elapsed
    return result

def _check_channels(channels, rate_hz: int) -> list:
    """Parse channel names and try each on a short clip at the model's rate, so that a channel
    that cannot work at this rate fails now, not once per row."""

    parsed = parse_channels(channels)
    probe = (0.1 * np.sin(2 * np.pi * 440.0 * np.arange(rate_hz // 10) / rate_hz)).astype(np.float32)
    for channel in parsed:
        channel(probe, rate_hz)
    return parsed

def evaluate_channels(
    detector: Any,
    dataset,
    channels: Sequence[Any] | str = DEFAULT_CHANNELS,
    *,
    channel_seed: int = 0,
    batch_size: int = 8,
    group_columns: Sequence[str] | None = None,
    audio_column: str = "audio",
    label_column: str = "label",
    threshold: float | None = None,
    name: str | None = None,
    distributed: bool | None = None,
    bootstrap_resamples: int = 1000,
    progress: bool = False,
) -> dict[str, EvaluationResult]:
    """Score a labelled data set through each degradation channel (no clean pass).

    Each clip is decoded at the model's sample rate with :func:`wavguard.data.decode_audio`,
    degraded with ``channel(samples, rate, seed=channel_seed, index=row)`` (so the same seed
    gives the same degraded data set) and scored as an array, through ``Detector.predict``.

    Args:
        detector: a :class:`~wavguard.Detector` or :class:`~wavguard.evaluation.ensemble.Ensemble`.
        dataset: as for :func:`evaluate_detector`.
        channels: names (``"mp3_24k"``, ``"telephone"``, ``"noise_snr10"``, ``"reverb"``, any
            ``"noise_snr<N>"``...) or :class:`~wavguard.audio.channels.Channel` objects; see
            :mod:`wavguard.audio.channels`. Default :data:`wavguard.audio.channels.DEFAULT_CHANNELS`.
        channel_seed: seeds every channel's noise and rooms.
        other arguments: as for :func:`evaluate_detector`.

    Returns:
        ``{channel name: EvaluationResult}`` in the order given, each with ``channel``,
        ``channel_description`` and ``channel_seed`` set.

    Raises:
        ConfigError: an unknown channel name (the message lists the valid ones), or a channel that
            cannot run at the model's sample rate; the data set errors of :func:`evaluate_detector`.
    """
    dataset = materialize(dataset, what="the evaluation data")  # labels and groups need random access to rows
    labels_all, group_columns, threshold = _prepare(detector, dataset, label_column, group_columns, threshold)
    parsed = _check_channels(channels, detector.sample_rate_hz)
    out: dict[str, EvaluationResult] = {}
    for channel in parsed:
        start = time.perf_counter()
        scored = score_dataset(
            detector, dataset, batch_size=batch_size, audio_column=audio_column, distributed=distributed,
            progress=progress, channel=channel, channel_seed=channel_seed,
        )
        result = _result(
            scored, time.perf_counter() - start, dataset, labels_all, group_columns, threshold,
            name or _model_name(detector), bootstrap_resamples, f"channel {channel.name}", prior_log_odds(detector),
        )
        result.channel, result.channel_description, result.channel_seed = channel.name, channel.description, int(channel_seed)
        out[channel.name] = result
    return out

def evaluate_detector(
    detector: Any,
    dataset,
    *,
    batch_size: int = 8,
    group_columns: Sequence[str] | None = None,
    audio_column: str = "audio",
    label_column: str = "label",
    threshold: float | None = None,
    store_metrics: bool = False,
    name: str | None = None,
    distributed: bool | None = None,
    bootstrap_resamples: int = 1000,
    progress: bool = False,
    channels: Sequence[Any] | str | None = None,
    channel_seed: int = 0,
    adversarial_snr_db: float | None = None,
    adversarial_method: str = "pgd",
    adversarial_steps: int = 3,
) -> EvaluationResult:
    """Score every row of a labelled data set and compute all metrics.

    Args:
        detector: a :class:`~wavguard.Detector` or :class:`~wavguard.evaluation.ensemble.Ensemble`.
        dataset: a ``datasets.Dataset`` (an ``IterableDataset`` is first read whole into the local
            ``datasets`` cache, with a logged message) with ``audio`` ({"path", "bytes"} or a path string) and
            ``label`` (1 = fake, 0 = real) columns, optionally ``attack``, ``speaker``,
            ``language`` and condition columns (codec, channel, ...).
        batch_size: windows per forward pass.
        group_columns: columns to break metrics down by; ``None`` uses those of
            :data:`DEFAULT_GROUP_COLUMNS` present. Named columns must exist.
        threshold: decision threshold for the thresholded metrics; default the detector's.
        store_metrics: write the headline metrics (EER first) into ``detector.config.metrics``
            (clean audio only).
        name: the model's name in reports (default: its backbone or class name).
        distributed: split rows across ``accelerate launch`` processes (``None``: when launched so).
        bootstrap_resamples: resamples of the pooled EER's 95% interval (0: skip).
        progress: show a progress bar.
        channels: degradation channels to evaluate under as well (see :func:`evaluate_channels`);
            their results go to ``result.channels``, compared in ``result.robustness()``.
        channel_seed: seeds the channels.
        adversarial_snr_db: also score every clip after a white-box attack on this detector at this
            SNR (dB; :mod:`wavguard.evaluation.adversarial`), into ``result.adversarial``, compared in
            ``result.adversarial_summary()``. A PyTorch detector only; one process.
        adversarial_method: ``"pgd"`` (within the budget; the stronger attack) or ``"fgsm"`` (one
            gradient, SNR exactly the budget; misleads on models with non-smooth front ends).
        adversarial_steps: PGD's gradient steps.

    Returns:
        an :class:`EvaluationResult`; rows that failed to decode are listed in ``failures`` and
        left out of the metrics (a warning says how many).
    """
    dataset = materialize(dataset, what="the evaluation data")  # labels and groups need random access to rows
    labels_all, group_columns, threshold = _prepare(detector, dataset, label_column, group_columns, threshold)
    if channels is not None:
        _check_channels(channels, detector.sample_rate_hz)  # bad names fail before the clean pass
    if adversarial_snr_db is not None:
        check_attack(detector, adversarial_snr_db, adversarial_method, adversarial_steps)

    start = time.perf_counter()
    scored = score_dataset(detector, dataset, batch_size=batch_size, audio_column=audio_column, distributed=distributed, progress=progress)
    result = _result(
        scored, time.perf_counter() - start, dataset, labels_all, group_columns, threshold,
        name or _model_name(detector), bootstrap_resamples, "", prior_log_odds(detector),
    )
    if store_metrics:
        headline = headline_metrics(result.metrics)
        config = getattr(detector, "config", None)
        if config is not None:
            config.metrics = headline
        else:
            detector.metrics = headline
    if channels is not None:
        result.channels = evaluate_channels(
            detector, dataset, channels, channel_seed=channel_seed, batch_size=batch_size, group_columns=group_columns,
            audio_column=audio_column, label_column=label_column, threshold=threshold, name=result.name,
            distributed=distributed, bootstrap_resamples=bootstrap_resamples, progress=progress,
        )
    if adversarial_snr_db is not None:
        start = time.perf_counter()
        scored, achieved = score_dataset_adversarial(
            detector, dataset, labels_all, adversarial_snr_db, method=adversarial_method, steps=adversarial_steps,
            batch_size=batch_size, audio_column=audio_column, progress=progress,
        )
        attacked = _result(scored, time.perf_counter() - start, dataset, labels_all, group_columns, threshold,
                           result.name, bootstrap_resamples, f"adversarial {adversarial_method} {adversarial_snr_db:g} dB",
                           result.prior_log_odds)
        attacked.attack = {
            "method": adversarial_method, "snr_db": float(adversarial_snr_db),
            "steps": int(adversarial_steps) if adversarial_method == "pgd" else 1,
            "achieved_snr_db_min": min(achieved) if achieved else None,
            "achieved_snr_db_mean": float(np.mean(achieved)) if achieved else None,
        }
        result.adversarial = attacked
    return result

def _model_name(model: Any) -> str:
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "backbone", ""):
        return base_name(str(config.backbone))
    return type(model).__name__
