"""Detection metrics. Scores point towards FAKE: a higher score means more likely fake; label 1 = fake."""

from __future__ import annotations

import numpy as np

__all__ = ["compute_eer"]


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
