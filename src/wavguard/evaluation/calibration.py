"""Score calibration and decision thresholds, fitted on validation data.

A detector turns the FAKE-minus-REAL logit margin ``m`` of a clip into its score with
``score = sigmoid(scale * m + bias)`` (``DetectorConfig.calibration_scale`` / ``calibration_bias``;
see ``Detector.calibrate``). This module fits ``(scale, bias)`` so that the score is an honest
probability that the clip is FAKE, measures how honest it is (ECE, Brier score), and picks the
decision threshold (``score >= threshold`` means fake).

A fit never flips the score: ``scale`` must stay positive (higher margin = more fake = higher
score). :func:`fit_calibration` and :func:`calibrate_detector` fall back, with a logged warning
that says why, when the validation clips cannot support the requested fit:

* fewer than :data:`MIN_CLIPS_PER_CLASS` (10) real or fake clips: no calibration (scale 1, bias 0);
* Platt scaling gives a scale that is not positive or not finite (or a non-finite bias):
  temperature scaling (scale only, bias 0) if its scale is positive and finite, else none;
* temperature scaling gives a scale that is not positive or not finite: none.

Example:
    >>> from wavguard.evaluation.calibration import calibrate_detector             # doctest: +SKIP
    >>> result = calibrate_detector(detector, validation, threshold=0.01)  # 1% of real clips flagged
    >>> detector.save_pretrained("calibrated")                           # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..metrics import compute_eer
from .evaluate import evaluate_detector
from .results import CALIBRATION_PRIOR_KEY

__all__ = [
    "fit_platt",
    "fit_temperature",
    "fit_calibration",
    "fit_fusion",
    "apply_calibration",
    "expected_calibration_error",
    "brier_score",
    "select_threshold",
    "calibrate_detector",
    "CalibrationResult",
    "METHODS",
    "MIN_CLIPS_PER_CLASS",
]

logger = logging.getLogger(__name__)

METHODS = ("platt", "temperature", "none")
#: The fewest validation clips of EACH class that :func:`fit_calibration` fits on. With fewer, one
#: clip moves a two-parameter fit a long way and the fitted scale can come out negative (the score
#: silently flipped); the fit falls back to none (scale 1, bias 0). Ten per class is a floor, not a
#: recommendation: the ECE of a calibration fitted on 10 + 10 clips is still mostly noise.
MIN_CLIPS_PER_CLASS = 10
#: Inverse regularisation of the logistic fits: large enough to be negligible, finite so that
#: the solver converges on any data.
_C = 1e6


def _check_labels(labels, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must be 1-D with one value per clip ({n}), got shape {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not (np.any(labels == 0) and np.any(labels == 1)):
        raise ValueError("calibration needs both real (0) and fake (1) clips")
    return labels.astype(int)


def _check(margins, labels) -> tuple[np.ndarray, np.ndarray]:
    margins = np.asarray(margins, dtype=np.float64)
    if margins.ndim != 1:
        raise ValueError(f"margins must be 1-D, got shape {margins.shape}")
    return margins, _check_labels(labels, margins.shape[0])


def fit_fusion(features, labels, fit_intercept: bool = True) -> tuple[np.ndarray, float]:
    """Logistic regression of the label on score features, with Platt's smoothed targets.

    ``P(fake) = sigmoid(features @ weights + bias)``. Targets are ``(N_fake + 1) / (N_fake + 2)``
    for fakes and ``1 / (N_real + 2)`` for reals (Platt 1999), given to scikit-learn as two
    weighted copies of each clip; this keeps the weights finite when the clips are perfectly
    separated. Used for Platt/temperature scaling (one feature) and ensemble fusion (one feature
    per member).

    Args:
        features: shape (N, K), e.g. log-odds of K detectors (higher = more fake).
        labels: shape (N,), 1 = fake, 0 = real; both classes present.
        fit_intercept: fit ``bias`` (else it is 0).

    Returns:
        (weights of shape (K,), bias).
    """
    from sklearn.linear_model import LogisticRegression

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] == 0:
        raise ValueError(f"features must have shape (N, K >= 1), got {features.shape}")
    labels = _check_labels(labels, features.shape[0])
    if not np.all(np.isfinite(features)):
        raise ValueError("scores must be finite (drop clips that failed to score first)")
    n_fake, n_real = int(labels.sum()), int((labels == 0).sum())
    target = np.where(labels == 1, (n_fake + 1.0) / (n_fake + 2.0), 1.0 / (n_real + 2.0))
    x = np.concatenate([features, features])
    y = np.concatenate([np.ones_like(labels), np.zeros_like(labels)])
    weights = np.concatenate([target, 1.0 - target])
    model = LogisticRegression(C=_C, fit_intercept=fit_intercept, max_iter=1000)
    model.fit(x, y, sample_weight=weights)
    bias = float(model.intercept_[0]) if fit_intercept else 0.0
    return model.coef_[0].astype(np.float64), bias


def fit_platt(margins, labels) -> tuple[float, float]:
    """Platt scaling: ``P(fake) = sigmoid(scale * margin + bias)`` by logistic regression.

    Args:
        margins: shape (N,), uncalibrated FAKE-minus-REAL logit margins (higher = more fake).
        labels: shape (N,), 1 = fake, 0 = real.

    Returns:
        (scale, bias) for ``DetectorConfig.calibration_scale`` / ``calibration_bias``.
    """
    margins, labels = _check(margins, labels)
    weights, bias = fit_fusion(margins[:, None], labels)
    return float(weights[0]), bias


def fit_temperature(margins, labels) -> tuple[float, float]:
    """Temperature scaling: ``P(fake) = sigmoid(margin / T)``; returns ``(1 / T, 0.0)``.

    One parameter, so the ranking and the point where the score crosses 0.5 (margin 0) stay as
    they are; only the confidence changes. Fitted like :func:`fit_platt` without the bias.
    """
    margins, labels = _check(margins, labels)
    weights, bias = fit_fusion(margins[:, None], labels, fit_intercept=False)
    return float(weights[0]), bias


def _keeps_direction(scale: float, bias: float) -> bool:
    """A usable calibration: finite, and a positive scale (higher margin stays more fake)."""
    return math.isfinite(scale) and math.isfinite(bias) and scale > 0.0


def _why(what: str, scale: float, bias: float) -> str:
    if not (math.isfinite(scale) and math.isfinite(bias)):
        return f"{what} gave a non-finite fit (scale {scale:.4g}, bias {bias:.4g})"
    return f"{what} gave scale {scale:.4g}, which is not positive: it would flip the score (higher = more REAL)"


def _fit_safely(margins, labels, method: str, min_clips_per_class: int) -> tuple[float, float, str, str | None]:
    """``(scale, bias, method used, why the requested method was not used or None)``."""
    if method not in METHODS:
        raise ConfigError(f"calibration method must be one of {METHODS}, got {method!r}")
    if method == "none":
        return 1.0, 0.0, "none", None
    margins, labels = _check(margins, labels)
    n_real, n_fake = int((labels == 0).sum()), int((labels == 1).sum())
    if min(n_real, n_fake) < min_clips_per_class:
        return (
            1.0,
            0.0,
            "none",
            (
                f"{method} calibration needs at least {min_clips_per_class} validation clips of each class, got "
                f"{n_real} real and {n_fake} fake; no calibration (scale 1, bias 0)"
            ),
        )
    reason = None
    if method == "platt":
        scale, bias = fit_platt(margins, labels)
        if _keeps_direction(scale, bias):
            return scale, bias, "platt", None
        reason = _why("Platt scaling", scale, bias)
    scale, _ = fit_temperature(margins, labels)
    if _keeps_direction(scale, 0.0):
        return (
            scale,
            0.0,
            "temperature",
            None if reason is None else f"{reason}; temperature scaling (scale {scale:.4g}, bias 0) used instead",
        )
    why = _why("temperature scaling", scale, 0.0)
    return 1.0, 0.0, "none", (why if reason is None else f"{reason}; {why}") + "; no calibration (scale 1, bias 0)"


def fit_calibration(
    margins, labels, method: str = "platt", *, min_clips_per_class: int = MIN_CLIPS_PER_CLASS
) -> tuple[float, float]:
    """``(scale, bias)`` by ``method``: ``"platt"``, ``"temperature"`` or ``"none"`` (1, 0).

    Never flips the score: when the fit is not safe it falls back (a logged warning says why):
    fewer than ``min_clips_per_class`` real or fake clips -> ``(1.0, 0.0)``; a Platt scale that is
    not positive or not finite -> temperature scaling if its scale is positive, else ``(1.0, 0.0)``;
    such a temperature scale -> ``(1.0, 0.0)``. :func:`fit_platt` and :func:`fit_temperature`
    return the raw fit.

    Args:
        margins: shape (N,), uncalibrated FAKE-minus-REAL logit margins (higher = more fake).
        labels: shape (N,), 1 = fake, 0 = real.
        method: ``"platt"``, ``"temperature"`` or ``"none"``.
        min_clips_per_class: the fewest clips of each class to fit on (:data:`MIN_CLIPS_PER_CLASS`).

    Example:
        >>> fit_calibration([-2.0, -1.0, 0.5, 1.0, 3.0], [0, 0, 1, 0, 1])  # 5 clips: too few
        (1.0, 0.0)
    """
    scale, bias, _, reason = _fit_safely(margins, labels, method, min_clips_per_class)
    if reason is not None:
        logger.warning("calibration: %s", reason)
    return scale, bias


def apply_calibration(margins, scale: float, bias: float) -> np.ndarray:
    """``sigmoid(scale * margins + bias)``: calibrated P(fake), same shape as ``margins``."""
    z = scale * np.asarray(margins, dtype=np.float64) + bias
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def expected_calibration_error(labels, probs, n_bins: int = 15) -> float:
    """Binned expected calibration error of P(fake).

    Scores are put in ``n_bins`` equal-width bins over [0, 1]; ECE is the clip-weighted mean over
    bins of ``|fraction of fakes in bin - mean score in bin|``. 0 is perfectly calibrated.

    Args:
        labels: shape (N,), 1 = fake, 0 = real.
        probs: shape (N,), predicted probability of FAKE in [0, 1].
        n_bins: number of bins.
    """
    labels = np.asarray(labels, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    if labels.shape != probs.shape or labels.ndim != 1 or labels.size == 0:
        raise ValueError(
            f"labels and probs must be 1-D, non-empty and of equal length, got {labels.shape}, {probs.shape}"
        )
    if np.any((probs < 0) | (probs > 1)) or not np.all(np.isfinite(probs)):
        raise ValueError("probs must be probabilities in [0, 1]")
    bins = np.minimum((probs * n_bins).astype(int), n_bins - 1)
    fake_sum = np.bincount(bins, weights=labels, minlength=n_bins)
    prob_sum = np.bincount(bins, weights=probs, minlength=n_bins)
    return float(np.abs(fake_sum - prob_sum).sum() / labels.size)


def brier_score(labels, probs) -> float:
    """Mean squared difference between P(fake) and the label (scikit-learn); 0 is perfect."""
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(np.asarray(labels).astype(int), np.asarray(probs, dtype=np.float64), pos_label=1))


def select_threshold(labels, scores, target: str | float = "eer") -> float:
    """Decision threshold chosen on validation scores (``score >= threshold`` means fake).

    Args:
        labels: shape (N,), 1 = fake, 0 = real.
        scores: shape (N,), higher = more fake.
        target: ``"eer"``: the equal-error-rate threshold; a float in [0, 1]: the target
            false-alarm rate, the fraction of REAL clips flagged fake. The threshold is the
            lowest one that flags at most ``floor(target * N_real)`` real clips, so the
            false-alarm rate on these clips is within ``1 / N_real`` below the target (ties in
            the real scores can lower it further).
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    if isinstance(target, str):
        if target != "eer":
            raise ConfigError(f"threshold target must be 'eer' or a false-alarm rate in [0, 1], got {target!r}")
        return compute_eer(labels, scores)[1]
    target = float(target)
    if not 0.0 <= target <= 1.0:
        raise ConfigError(f"the target false-alarm rate is a fraction in [0, 1], got {target}")
    real = np.sort(scores[labels == 0])[::-1]
    if real.size == 0:
        raise ValueError("a false-alarm threshold needs real (0) clips")
    allowed = int(math.floor(target * real.size + 1e-9))
    if allowed >= real.size:
        return float(real[-1])  # flag every real clip
    # the (allowed+1)-th highest real score must stay below the threshold
    return float(np.nextafter(real[allowed], np.inf))


@dataclass
class CalibrationResult:
    """What :func:`calibrate_detector` fitted and how much it helped (on the validation clips).

    Attributes:
        method: the calibration applied: ``"platt"``, ``"temperature"`` or ``"none"``; another
            than the one asked for when the fit fell back (see ``fallback``).
        scale, bias: written to ``config.calibration_scale`` / ``calibration_bias``.
        threshold: written to ``config.threshold``.
        threshold_target: ``"eer"`` or the target false-alarm rate.
        false_alarm_rate, miss_rate: at ``threshold`` on the validation clips.
        ece_before, ece_after: expected calibration error with the old and new calibration.
        brier_before, brier_after: Brier score with the old and new calibration.
        num_clips: validation clips used (failed ones are left out).
        requested_method: the method asked for.
        fallback: why ``method`` is not ``requested_method`` (``None`` when it is).
    """

    method: str
    scale: float
    bias: float
    threshold: float
    threshold_target: Any
    false_alarm_rate: float
    miss_rate: float
    ece_before: float
    ece_after: float
    brier_before: float
    brier_after: float
    num_clips: int
    requested_method: str | None = None
    fallback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibrate_detector(
    detector,
    dataset,
    *,
    method: str = "platt",
    threshold: str | float = "eer",
    batch_size: int = 8,
    audio_column: str = "audio",
    label_column: str = "label",
    distributed: bool | None = None,
    min_clips_per_class: int = MIN_CLIPS_PER_CLASS,
) -> CalibrationResult:
    """Score a validation data set and write calibration and threshold into ``detector.config``.

    Args:
        detector: a :class:`~wavguard.Detector`; its ``config.calibration_scale``,
            ``calibration_bias`` and ``threshold`` are replaced, and with Platt scaling
            ``config.extra["calibration_prior_fake"]`` records the fraction of fake validation
            clips (the prior the scores then carry; evaluation subtracts its log-odds for LLRs).
        dataset: a ``datasets.Dataset`` with ``audio`` and ``label`` (1 = fake) columns,
            disjoint from the test data.
        method: ``"platt"`` (scale and bias), ``"temperature"`` (scale only) or ``"none"`` (keep
            the current calibration, choose the threshold only). A fit that would flip the score or
            rests on too few clips falls back as :func:`fit_calibration` does (to scale 1, bias 0
            at worst), with a logged warning; ``result.method`` and ``result.fallback`` say so.
        threshold: ``"eer"`` or a target false-alarm rate (fraction of real clips flagged fake).
        batch_size: windows per forward pass.
        distributed: split the scoring across ``accelerate`` processes (``None``: when launched
            with several). Pass ``False`` when only one process calls this.
        min_clips_per_class: the fewest validation clips of each class a fit needs
            (:data:`MIN_CLIPS_PER_CLASS`).

    Returns:
        a :class:`CalibrationResult`.
    """

    if method not in METHODS:
        raise ConfigError(f"calibration method must be one of {METHODS}, got {method!r}")
    result = evaluate_detector(
        detector,
        dataset,
        batch_size=batch_size,
        group_columns=(),
        audio_column=audio_column,
        label_column=label_column,
        bootstrap_resamples=0,
        distributed=distributed,
    )
    labels, margins = result.labels, result.margins
    cfg = detector.config
    used, fallback = method, None
    if method == "none":
        scale, bias = cfg.calibration_scale, cfg.calibration_bias
    else:
        scale, bias, used, fallback = _fit_safely(margins, labels, method, min_clips_per_class)
        if fallback is not None:
            logger.warning("calibration: %s", fallback)
        # Platt's bias absorbs the validation prior: record it, so that LLRs (actDCF, Cllr) can take
        # it out again; the other fits keep the uncalibrated model's (unknown, taken as equal) prior
        extra = {k: v for k, v in cfg.extra.items() if k != CALIBRATION_PRIOR_KEY}
        if used == "platt":
            extra[CALIBRATION_PRIOR_KEY] = float(np.mean(labels == 1))
        cfg.extra = extra
    before = result.scores
    after = apply_calibration(margins, scale, bias)
    chosen = select_threshold(labels, after, threshold)
    if chosen > 1.0:
        logger.warning("the highest real validation score is 1.0; threshold clipped to 1.0 flags those clips")
    chosen = min(max(chosen, 0.0), 1.0)
    cfg.calibration_scale, cfg.calibration_bias, cfg.threshold = float(scale), float(bias), chosen
    real, fake = after[labels == 0], after[labels == 1]
    return CalibrationResult(
        method=used,
        scale=scale,
        bias=bias,
        threshold=chosen,
        threshold_target=threshold,
        false_alarm_rate=float(np.mean(real >= chosen)),
        miss_rate=float(np.mean(fake < chosen)),
        ece_before=expected_calibration_error(labels, before),
        ece_after=expected_calibration_error(labels, after),
        brier_before=brier_score(labels, before),
        brier_after=brier_score(labels, after),
        num_clips=int(labels.size),
        requested_method=method,
        fallback=fallback,
    )
