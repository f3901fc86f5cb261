"""Detection metrics.

Conventions used by every function here:

- ``labels``: 1 = FAKE (spoof), 0 = REAL (bona fide).
- ``scores``: higher = more likely FAKE (a probability from ``Detector.predict``, or any monotone
  transform of it such as a logit).
- A clip is called fake when ``score >= threshold``.
- Error rates are fractions in [0, 1]:

  * false-alarm rate (FAR, ``false_alarm_rate``): fraction of REAL clips flagged fake;
  * miss rate (``miss_rate``): fraction of FAKE clips let through as real.

Plain scikit-learn metrics (ROC AUC, accuracy, precision/recall/F1, confusion matrix, ROC and DET
curves) are delegated to scikit-learn; this module adds the anti-spoofing ones (EER, minDCF, actDCF,
Cllr), a bootstrap interval and grouped summaries (per attack, per speaker, per condition).

minDCF, actDCF and Cllr follow the ASVspoof 5 evaluation package (``asvspoof5/evaluation-package``,
``calculate_modules.py``: ``compute_mindcf``, ``compute_actDCF``, ``calculate_CLLR``; costs in its
``calculate_metrics.py``: ``Pspoof = 0.05``, ``Cmiss = 1``, ``Cfa = 10``). ASVspoof's scores point
towards BONA FIDE; here every score points towards FAKE, and the formulas are rewritten for that
(the numbers are the same: ASVspoof's score is minus ours). The target class of the DCFs is bona
fide, as there: a *miss* flags a real clip fake, a *false alarm* accepts a fake clip as real.

``llrs``: natural-log likelihood ratios in favour of FAKE, ``log p(x | fake) - log p(x | real)``. A
detector's calibrated score is a posterior, so its LLR is its log-odds minus the prior log-odds of
the data it was calibrated on: ``llr = logit(score) - logit(prior_fake)``
(:mod:`wavguard.evaluation.evaluate` takes the prior from the detector's calibration; equal
priors, ``llr = logit(score)``, when none is recorded).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "compute_eer",
    "roc_auc",
    "accuracy",
    "per_class_scores",
    "confusion",
    "error_rates",
    "min_dcf",
    "act_dcf",
    "bayes_threshold",
    "cllr",
    "bootstrap_eer_ci",
    "bootstrap_eer_difference_ci",
    "summarize",
    "metrics_by_attack",
    "metrics_by_group",
    "MIN_DCF_DEFAULTS",
]

#: Defaults of :func:`min_dcf` and :func:`act_dcf`: the ASVspoof 5 countermeasure costs (spoof
#: prior ``Pspoof = 0.05``, i.e. a bona fide prior ``p_target = 0.95``; missing a bona fide clip costs
#: ``Cmiss = 1``, accepting a spoof costs ``Cfa = 10``). Normalised, ``DCF = 1.9 P_miss + P_fa``.
MIN_DCF_DEFAULTS = {"p_target": 0.95, "c_miss": 1.0, "c_fa": 10.0}
_CLASS_NAMES = ("real", "fake")


def _check(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D of equal length, got {labels.shape} and {scores.shape}")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got values {sorted(set(labels.tolist()))[:5]}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite (drop clips that failed to score first)")
    return labels.astype(int), scores


def _both_classes(labels: np.ndarray) -> bool:
    return bool(np.any(labels == 1) and np.any(labels == 0))


def compute_eer(labels, scores) -> tuple[float, float]:
    """Equal error rate and the threshold where it occurs.

    The EER is where the false-acceptance rate (fakes accepted as real) equals the
    false-rejection rate (real clips flagged fake), read off the ROC curve; between two ROC points
    it is interpolated linearly.

    Args:
        labels: shape (N,), 1 = fake, 0 = real; both classes must be present.
        scores: shape (N,), higher = more likely fake.

    Returns:
        (eer, threshold): eer as a fraction in [0, 1]; a clip is called fake when score >= threshold.
    """
    from sklearn.metrics import roc_curve

    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D of equal length, got {labels.shape} and {scores.shape}")
    if not (np.any(labels == 1) and np.any(labels == 0)):
        raise ValueError("EER needs both real (0) and fake (1) examples")
    fpr, tpr, thresholds = roc_curve(labels, scores, pos_label=1, drop_intermediate=False)
    fnr = 1.0 - tpr
    diff = fnr - fpr  # decreasing from 1 to -1 as the threshold falls
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0 or i == 0:
        return float(fpr[i]), float(min(thresholds[i], np.max(scores)))
    # linear interpolation between ROC points i-1 and i
    w = diff[i - 1] / (diff[i - 1] - diff[i])
    eer = fpr[i - 1] + w * (fpr[i] - fpr[i - 1])
    return float(eer), float(thresholds[i])


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (fake = positive class), via scikit-learn; ties count one half.

    Args:
        labels: shape (N,), 1 = fake; both classes present.
        scores: shape (N,), higher = more likely fake.

    Returns:
        AUC in [0, 1]: the probability that a random fake clip scores above a random real one.
    """
    from sklearn.metrics import roc_auc_score

    labels, scores = _check(labels, scores)
    if not _both_classes(labels):
        raise ValueError("ROC AUC needs both real (0) and fake (1) examples")
    return float(roc_auc_score(labels, scores))


def _predict(scores: np.ndarray, threshold: float) -> np.ndarray:
    return (scores >= threshold).astype(int)


def accuracy(labels, scores, threshold: float) -> float:
    """Fraction of clips whose decision (fake when ``score >= threshold``) matches the label."""
    from sklearn.metrics import accuracy_score

    labels, scores = _check(labels, scores)
    return float(accuracy_score(labels, _predict(scores, threshold)))


def per_class_scores(labels, scores, threshold: float) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support for each class at ``threshold`` (scikit-learn).

    Returns:
        ``{"real": {"precision", "recall", "f1", "support"}, "fake": {...}}``. A class never
        predicted has precision 0 (scikit-learn's ``zero_division=0``).
    """
    from sklearn.metrics import precision_recall_fscore_support

    labels, scores = _check(labels, scores)
    p, r, f, s = precision_recall_fscore_support(labels, _predict(scores, threshold), labels=[0, 1], zero_division=0)
    return {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(_CLASS_NAMES)
    }


def confusion(labels, scores, threshold: float) -> list[list[int]]:
    """Confusion matrix at ``threshold``: rows = true (real, fake), columns = predicted (real, fake)."""
    from sklearn.metrics import confusion_matrix

    labels, scores = _check(labels, scores)
    return confusion_matrix(labels, _predict(scores, threshold), labels=[0, 1]).tolist()


def error_rates(labels, scores, threshold: float) -> tuple[float, float]:
    """(false-alarm rate, miss rate) at ``threshold``.

    Returns:
        false_alarm_rate: fraction of REAL clips with ``score >= threshold`` (flagged fake), NaN
        without real clips; miss_rate: fraction of FAKE clips with ``score < threshold``, NaN
        without fake clips.
    """
    labels, scores = _check(labels, scores)
    real, fake = scores[labels == 0], scores[labels == 1]
    far = float(np.mean(real >= threshold)) if real.size else math.nan
    miss = float(np.mean(fake < threshold)) if fake.size else math.nan
    return far, miss


def min_dcf(
    labels,
    scores,
    p_target: float = MIN_DCF_DEFAULTS["p_target"],
    c_miss: float = MIN_DCF_DEFAULTS["c_miss"],
    c_fa: float = MIN_DCF_DEFAULTS["c_fa"],
) -> tuple[float, float]:
    """Minimum normalised detection cost (ASVspoof countermeasure convention).

    The target class is bona fide (REAL), as in ASVspoof: a *miss* rejects a real clip (flags it
    fake), a *false alarm* accepts a fake clip as real. At threshold t::

        DCF(t) = c_miss * p_target * P_miss(t) + c_fa * (1 - p_target) * P_fa(t)
        P_miss(t) = fraction of real clips with score >= t
        P_fa(t)   = fraction of fake clips with score <  t

    normalised by ``min(c_miss * p_target, c_fa * (1 - p_target))`` (the cost of the better of
    "accept everything" and "reject everything"), and minimised over all thresholds. 1.0 means no
    better than a constant decision; 0.0 is perfect. With the defaults (ASVspoof 5: spoof prior
    0.05, c_miss 1, c_fa 10) ``minDCF = min_t 1.9 * P_miss(t) + P_fa(t)``.

    Args:
        labels: shape (N,), 1 = fake, 0 = real; both classes present.
        scores: shape (N,), higher = more likely fake.
        p_target: prior of a bona fide (real) clip, in (0, 1).
        c_miss: cost of flagging a real clip as fake.
        c_fa: cost of accepting a fake clip as real.

    Returns:
        (min_dcf, threshold): the threshold may be ``inf`` (flag nothing as fake).
    """
    from sklearn.metrics import roc_curve

    _check_costs(p_target, c_miss, c_fa)
    labels, scores = _check(labels, scores)
    if not _both_classes(labels):
        raise ValueError("minDCF needs both real (0) and fake (1) examples")
    fpr, tpr, thresholds = roc_curve(labels, scores, pos_label=1, drop_intermediate=False)
    cost = c_miss * p_target * fpr + c_fa * (1.0 - p_target) * (1.0 - tpr)
    cost = cost / min(c_miss * p_target, c_fa * (1.0 - p_target))
    i = int(np.argmin(cost))
    return float(cost[i]), float(thresholds[i])


def _check_costs(p_target: float, c_miss: float, c_fa: float) -> None:
    if not 0.0 < p_target < 1.0 or c_miss <= 0 or c_fa <= 0:
        raise ValueError(f"need 0 < p_target < 1 and positive costs, got {p_target}, {c_miss}, {c_fa}")


def bayes_threshold(
    p_target: float = MIN_DCF_DEFAULTS["p_target"],
    c_miss: float = MIN_DCF_DEFAULTS["c_miss"],
    c_fa: float = MIN_DCF_DEFAULTS["c_fa"],
) -> float:
    """The LLR above which the Bayes decision is FAKE: ``log(c_miss * p_target / (c_fa * (1 - p_target)))``.

    ASVspoof 5's ``log(beta)`` with ``beta = Cmiss (1 - Pspoof) / (Cfa Pspoof)`` (it accepts a clip
    as bona fide when its bona fide LLR is ``>= -log(beta)``). With the defaults ``log(1.9) = 0.6419``:
    a clip must be 1.9 times likelier under FAKE than under REAL before flagging it pays.
    """
    _check_costs(p_target, c_miss, c_fa)
    return math.log(c_miss * p_target / (c_fa * (1.0 - p_target)))


def act_dcf(
    labels,
    llrs,
    p_target: float = MIN_DCF_DEFAULTS["p_target"],
    c_miss: float = MIN_DCF_DEFAULTS["c_miss"],
    c_fa: float = MIN_DCF_DEFAULTS["c_fa"],
) -> tuple[float, float]:
    """Actual normalised detection cost (ASVspoof 5): the DCF of :func:`min_dcf` at the Bayes threshold.

    Unlike minDCF, the threshold is not searched on the test clips: it is fixed by the costs and
    the prior (:func:`bayes_threshold`), and the scores must be LLRs, so actDCF measures
    calibration as well as discrimination. A clip is flagged fake when ``llr > threshold`` (a tie
    is accepted as real, as in ASVspoof)::

        P_miss = fraction of real clips with llr >  threshold   (flagged fake)
        P_fa   = fraction of fake clips with llr <= threshold   (accepted as real)
        actDCF = (c_miss * p_target * P_miss + c_fa * (1 - p_target) * P_fa) / min(c_miss * p_target, c_fa * (1 - p_target))

    With the defaults ``actDCF = 1.9 * P_miss + P_fa`` at ``llr > log(1.9)``. 1.0 is the cost of
    accepting everything; an uncalibrated system can score far above 1.

    Args:
        labels: shape (N,), 1 = fake, 0 = real; both classes present.
        llrs: shape (N,), natural-log likelihood ratios in favour of FAKE (higher = more fake).
        p_target: prior of a bona fide (real) clip, in (0, 1) (ASVspoof 5: 1 - Pspoof = 0.95).
        c_miss: cost of flagging a real clip as fake.
        c_fa: cost of accepting a fake clip as real.

    Returns:
        (act_dcf, threshold): the threshold is on the LLR.
    """
    threshold = bayes_threshold(p_target, c_miss, c_fa)
    labels, llrs = _check(labels, llrs)
    if not _both_classes(labels):
        raise ValueError("actDCF needs both real (0) and fake (1) examples")
    p_miss = float(np.mean(llrs[labels == 0] > threshold))
    p_fa = float(np.mean(llrs[labels == 1] <= threshold))
    cost = c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa
    return float(cost / min(c_miss * p_target, c_fa * (1.0 - p_target))), threshold


def cllr(labels, llrs) -> float:
    """Log-likelihood-ratio cost, in bits (ASVspoof 5's ``calculate_CLLR``).

    ``Cllr = 0.5 * (mean_fake log2(1 + exp(-llr)) + mean_real log2(1 + exp(llr)))``. 0 is perfect;
    1.0 is what an uninformative system (llr = 0 everywhere) scores; above 1 is miscalibrated.
    Symmetric in the classes, so it equals ASVspoof's on bona fide LLRs (``-llr``).

    Args:
        labels: shape (N,), 1 = fake, 0 = real; both classes present.
        llrs: shape (N,), natural-log likelihood ratios in favour of FAKE
            (``log p(x|fake) - log p(x|real)``): a calibrated detector's log-odds minus the prior
            log-odds of its calibration data (the log-odds themselves at equal priors).
    """
    labels, llrs = _check(labels, llrs)
    if not _both_classes(labels):
        raise ValueError("Cllr needs both real (0) and fake (1) examples")
    fake_cost = np.mean(np.logaddexp(0.0, -llrs[labels == 1]))
    real_cost = np.mean(np.logaddexp(0.0, llrs[labels == 0]))
    return float(0.5 * (fake_cost + real_cost) / math.log(2.0))


def _check_bootstrap(labels: np.ndarray, n_resamples: int, confidence: float) -> None:
    if not _both_classes(labels):
        raise ValueError("the EER bootstrap needs both real (0) and fake (1) examples")
    if not 0.0 < confidence < 1.0 or n_resamples < 1:
        raise ValueError(f"need 0 < confidence < 1 and n_resamples >= 1, got {confidence}, {n_resamples}")


def bootstrap_eer_ci(
    labels, scores, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the EER.

    Real and fake clips are resampled separately (stratified, with replacement), so every resample
    keeps the class counts of the data.

    Args:
        labels: shape (N,), 1 = fake, 0 = real; both classes present.
        scores: shape (N,), higher = more likely fake.
        n_resamples: bootstrap resamples.
        confidence: coverage of the interval, in (0, 1).
        seed: seeds ``numpy.random.default_rng``; the same seed gives the same interval.

    Returns:
        (low, high) EER fractions.
    """
    labels, scores = _check(labels, scores)
    _check_bootstrap(labels, n_resamples, confidence)
    rng = np.random.default_rng(seed)
    real, fake = scores[labels == 0], scores[labels == 1]
    boot_labels = np.concatenate([np.zeros(real.size, int), np.ones(fake.size, int)])
    eers = np.empty(n_resamples)
    for b in range(n_resamples):
        sample = np.concatenate([rng.choice(real, real.size), rng.choice(fake, fake.size)])
        eers[b] = compute_eer(boot_labels, sample)[0]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(eers, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_eer_difference_ci(
    labels, scores_a, scores_b, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Paired bootstrap of ``EER(scores_b) - EER(scores_a)`` on the same clips.

    Two systems (or one system before and after a change) scored the same clips; each resample
    draws the same clips for both (real and fake separately, as in :func:`bootstrap_eer_ci`), so the
    interval reflects which clips were drawn, not the two systems' independent noise. It says
    nothing of training-seed variance: compare seeds for that.

    Args:
        labels: shape (N,), 1 = fake, 0 = real; both classes present.
        scores_a, scores_b: shape (N,) each, higher = more likely fake, aligned with ``labels``.
        n_resamples: bootstrap resamples.
        confidence: coverage of the interval, in (0, 1).
        seed: seeds ``numpy.random.default_rng``; the same seed gives the same interval.

    Returns:
        (difference, low, high) as EER fractions: the observed difference and its interval; a
        negative difference means ``scores_b`` has the lower EER.
    """
    labels, scores_a = _check(labels, scores_a)
    _, scores_b = _check(labels, scores_b)
    _check_bootstrap(labels, n_resamples, confidence)
    rng = np.random.default_rng(seed)
    real, fake = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    differences = np.empty(n_resamples)
    for b in range(n_resamples):
        rows = np.concatenate([rng.choice(real, real.size), rng.choice(fake, fake.size)])
        differences[b] = compute_eer(labels[rows], scores_b[rows])[0] - compute_eer(labels[rows], scores_a[rows])[0]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(differences, [alpha, 1.0 - alpha])
    observed = compute_eer(labels, scores_b)[0] - compute_eer(labels, scores_a)[0]
    return float(observed), float(low), float(high)


def summarize(labels, scores, threshold: float | None = None, llrs=None) -> dict[str, Any]:
    """Every headline metric of one set of clips, as a JSON-ready dict (EER first, then the other
    ASVspoof 5 metrics).

    Args:
        labels: shape (N,), 1 = fake, 0 = real.
        scores: shape (N,), higher = more likely fake.
        threshold: decision threshold for the thresholded metrics (accuracy, precision/recall/F1,
            confusion, error rates); ``None`` uses the EER threshold.
        llrs: optional shape (N,) log-likelihood ratios in favour of fake, for ``act_dcf`` and ``cllr``.

    Returns:
        ``eer``, ``eer_threshold``, ``min_dcf``, ``min_dcf_threshold``, ``act_dcf``, ``cllr``,
        ``roc_auc`` (``None`` when they cannot be computed: a single class, or no ``llrs``),
        ``threshold``, ``accuracy``, ``false_alarm_rate``, ``miss_rate``, ``per_class`` (see
        :func:`per_class_scores`), ``confusion`` (rows true real/fake, columns predicted),
        ``num_clips``, ``num_real``, ``num_fake``. Rates are fractions; NaN rates become ``None``.
        The DCFs use the ASVspoof 5 costs (:data:`MIN_DCF_DEFAULTS`).
    """
    labels, scores = _check(labels, scores)
    if labels.size == 0:
        raise ValueError("no clips to summarise")
    both = _both_classes(labels)
    with_llrs = both and llrs is not None
    eer, eer_threshold = compute_eer(labels, scores) if both else (None, None)
    dcf, dcf_threshold = min_dcf(labels, scores) if both else (None, None)
    if threshold is None:
        if eer_threshold is None:
            raise ValueError("threshold is required when only one class is present")
        threshold = eer_threshold
    far, miss = error_rates(labels, scores, threshold)
    return {
        "eer": eer,
        "eer_threshold": eer_threshold,
        "min_dcf": dcf,
        "min_dcf_threshold": None if dcf_threshold is None or math.isinf(dcf_threshold) else dcf_threshold,
        "act_dcf": act_dcf(labels, llrs)[0] if with_llrs else None,
        "cllr": cllr(labels, llrs) if with_llrs else None,
        "roc_auc": roc_auc(labels, scores) if both else None,
        "threshold": float(threshold),
        "accuracy": accuracy(labels, scores, threshold),
        "false_alarm_rate": None if math.isnan(far) else far,
        "miss_rate": None if math.isnan(miss) else miss,
        "per_class": per_class_scores(labels, scores, threshold),
        "confusion": confusion(labels, scores, threshold),
        "num_clips": int(labels.size),
        "num_real": int(np.sum(labels == 0)),
        "num_fake": int(np.sum(labels == 1)),
    }


def _group_keys(values: Sequence[Any]) -> list[Any]:
    return sorted({v for v in values if v is not None and v == v}, key=str)


def metrics_by_attack(
    labels, scores, attacks: Sequence[Any], threshold: float | None = None, llrs=None
) -> dict[str, dict[str, Any]]:
    """Per-attack summaries, ASVspoof convention: each attack's fakes against ALL real clips.

    Args:
        labels: shape (N,), 1 = fake, 0 = real.
        scores: shape (N,), higher = more likely fake.
        attacks: length N, the attack (generator) id of each clip; the values on real clips are
            ignored (every real clip joins every attack's trial list).
        threshold: decision threshold for the thresholded metrics; ``None``: each attack's own EER
            threshold.
        llrs: optional shape (N,) LLRs in favour of fake, for actDCF and Cllr.

    Returns:
        ``{attack: summarize(...)}`` for every attack that has fake clips, sorted by name.
    """
    labels, scores = _check(labels, scores)
    attacks = np.asarray(list(attacks), dtype=object)
    if attacks.shape != labels.shape:
        raise ValueError(f"attacks must have one value per clip ({labels.size}), got {attacks.shape[0]}")
    real = labels == 0
    out: dict[str, dict[str, Any]] = {}
    for attack in _group_keys(attacks[labels == 1].tolist()):
        mask = real | ((labels == 1) & (attacks == attack))
        sub_llrs = None if llrs is None else np.asarray(llrs, dtype=np.float64)[mask]
        out[str(attack)] = summarize(labels[mask], scores[mask], threshold, sub_llrs)
    return out


def metrics_by_group(
    labels, scores, groups: Sequence[Any], threshold: float | None = None, llrs=None
) -> dict[str, dict[str, Any]]:
    """Summaries per value of a grouping column (speaker, language, channel, codec, ...).

    Each group holds only its own clips (real and fake). Groups with a single class get ``None``
    for the ranking metrics (EER, AUC, minDCF) but keep the thresholded ones, so pass the pooled
    ``threshold``. Missing values (``None``/NaN) are left out.

    Returns:
        ``{value: summarize(...)}`` sorted by value.
    """
    labels, scores = _check(labels, scores)
    groups = np.asarray(list(groups), dtype=object)
    if groups.shape != labels.shape:
        raise ValueError(f"groups must have one value per clip ({labels.size}), got {groups.shape[0]}")
    out: dict[str, dict[str, Any]] = {}
    for value in _group_keys(groups.tolist()):
        mask = groups == value
        if threshold is None and not _both_classes(labels[mask]):
            raise ValueError(f"group {value!r} has a single class; pass the pooled threshold")
        sub_llrs = None if llrs is None else np.asarray(llrs, dtype=np.float64)[mask]
        out[str(value)] = summarize(labels[mask], scores[mask], threshold, sub_llrs)
    return out
