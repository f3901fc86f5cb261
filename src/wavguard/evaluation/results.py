"""What an evaluation measured: :class:`EvaluationResult` (scores and every metric, pooled and
per group, per channel and under attack), and :func:`evaluate_scores`, which computes one from
scores already at hand (no model involved).

Scores point towards FAKE (higher = more likely fake), labels are 1 = fake, 0 = real; see
:mod:`wavguard.metrics`. :mod:`wavguard.evaluation.evaluate` scores a data set with a model and
returns these results.

Example:
    >>> result = evaluate_scores([0, 1, 0, 1], [0.2, 0.7, 0.4, 0.9], bootstrap_resamples=0)
    >>> result.metrics["eer"]
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import metrics as M
from ..scoring.datasets import logit

__all__ = [
    "EvaluationResult",
    "evaluate_scores",
    "eer_ratio",
    "headline_metrics",
    "prior_log_odds",
    "CALIBRATION_PRIOR_KEY",
]

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
            one dict per channel, in channel order, with the keys ``channel``, ``description``,
            ``eer``, ``roc_auc``, ``min_dcf``, ``clean_eer``, ``clean_roc_auc``, ``eer_ratio``,
            ``num_scored``, ``num_failed``; rates are fractions, ``eer_ratio`` is :func:`eer_ratio`
            (channel EER / clean EER).
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
            data.update(
                channel=self.channel, channel_description=self.channel_description, channel_seed=self.channel_seed
            )
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
    return EvaluationResult(
        name,
        labels,
        scores,
        log_odds,
        margins,
        float(threshold),
        summary,
        groups,
        columns,
        prior_log_odds=float(prior_log_odds),
    )


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers stored in ``DetectorConfig.metrics``, EER first, then the other ASVspoof 5
    metrics (minDCF, actDCF, Cllr), AUC and accuracy (rates as fractions)."""
    keys = ("eer", "min_dcf", "act_dcf", "cllr", "roc_auc", "accuracy")
    return {k: float(metrics[k]) for k in keys if metrics.get(k) is not None}
