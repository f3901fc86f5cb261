"""Score a labelled data set with a detector and compute every metric, pooled and per group.

Scores point towards FAKE (higher = more likely fake), labels are 1 = fake, 0 = real; see
:mod:`wavguard.metrics`.

Scoring itself (inputs, data set rows, channels, several processes) lives in
:mod:`wavguard.scoring.datasets`; its names are re-exported here. The result, and
:func:`~wavguard.evaluation.results.evaluate_scores` for scores already at hand, live in
:mod:`wavguard.evaluation.results`; both are importable from here too.

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
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..audio.channels import DEFAULT_CHANNELS, parse_channels
from ..data.hub_data import materialize
from ..errors import ConfigError
from ..hub.portable import base_name
from ..scoring.datasets import ItemScores, ScoredRow, predict_margins, score_dataset, score_inputs
from .adversarial import check_attack, score_dataset_adversarial
from .results import EvaluationResult, evaluate_scores, headline_metrics, prior_log_odds

__all__ = [
    "EvaluationResult",
    "ItemScores",
    "evaluate_detector",
    "evaluate_channels",
    "evaluate_scores",
    "score_inputs",
    "predict_margins",
    "score_dataset",
    "ScoredRow",
    "DEFAULT_GROUP_COLUMNS",
]

logger = logging.getLogger(__name__)

#: Grouping columns used when present and none are named.
DEFAULT_GROUP_COLUMNS = ("attack", "speaker", "language")


def _column_values(dataset, column: str) -> list[Any]:
    values = list(dataset[column])
    feature = dataset.features.get(column)
    if hasattr(feature, "int2str"):  # ClassLabel: report names, not indices
        values = [None if v is None else feature.int2str(int(v)) for v in values]
    return values


def _labels(dataset, column: str) -> np.ndarray:
    if column not in dataset.column_names:
        raise ConfigError(
            f"the data set has no {column!r} column (1 = fake, 0 = real); columns: {', '.join(dataset.column_names)}"
        )
    values = list(dataset[column])
    bad = sorted({repr(v) for v in values if v not in (0, 1)})
    if bad:
        raise ConfigError(f"column {column!r} must hold 0 (real) or 1 (fake); found {', '.join(bad[:5])}")
    return np.asarray(values, dtype=int)


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


def _result(
    scored: list[ScoredRow],
    elapsed: float,
    dataset,
    labels_all,
    group_columns,
    threshold,
    name,
    bootstrap_resamples,
    what: str,
    prior: float = 0.0,
) -> EvaluationResult:
    """An :class:`EvaluationResult` of scored rows (failures listed, left out of the metrics)."""
    failures = [{"row": r.row, "source": r.source, "error": r.error} for r in scored if r.error is not None]
    good = [r for r in scored if r.error is None]
    prefix = f"{what}: " if what else ""
    if failures:
        logger.warning(
            "%s%d of %d rows could not be scored and are left out (first: %s)",
            prefix,
            len(failures),
            len(scored),
            failures[0]["error"],
        )
    if not good:
        raise ConfigError(
            f"{prefix}none of the {len(scored)} rows could be scored (first error: {failures[0]['error'] if failures else 'empty data set'})"
        )
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
            detector,
            dataset,
            batch_size=batch_size,
            audio_column=audio_column,
            distributed=distributed,
            progress=progress,
            channel=channel,
            channel_seed=channel_seed,
        )
        result = _result(
            scored,
            time.perf_counter() - start,
            dataset,
            labels_all,
            group_columns,
            threshold,
            name or _model_name(detector),
            bootstrap_resamples,
            f"channel {channel.name}",
            prior_log_odds(detector),
        )
        result.channel, result.channel_description, result.channel_seed = (
            channel.name,
            channel.description,
            int(channel_seed),
        )
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
    scored = score_dataset(
        detector, dataset, batch_size=batch_size, audio_column=audio_column, distributed=distributed, progress=progress
    )
    result = _result(
        scored,
        time.perf_counter() - start,
        dataset,
        labels_all,
        group_columns,
        threshold,
        name or _model_name(detector),
        bootstrap_resamples,
        "",
        prior_log_odds(detector),
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
            detector,
            dataset,
            channels,
            channel_seed=channel_seed,
            batch_size=batch_size,
            group_columns=group_columns,
            audio_column=audio_column,
            label_column=label_column,
            threshold=threshold,
            name=result.name,
            distributed=distributed,
            bootstrap_resamples=bootstrap_resamples,
            progress=progress,
        )
    if adversarial_snr_db is not None:
        start = time.perf_counter()
        scored, achieved = score_dataset_adversarial(
            detector,
            dataset,
            labels_all,
            adversarial_snr_db,
            method=adversarial_method,
            steps=adversarial_steps,
            batch_size=batch_size,
            audio_column=audio_column,
            progress=progress,
        )
        attacked = _result(
            scored,
            time.perf_counter() - start,
            dataset,
            labels_all,
            group_columns,
            threshold,
            result.name,
            bootstrap_resamples,
            f"adversarial {adversarial_method} {adversarial_snr_db:g} dB",
            result.prior_log_odds,
        )
        attacked.attack = {
            "method": adversarial_method,
            "snr_db": float(adversarial_snr_db),
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
