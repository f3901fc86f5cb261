"""Class balance: seeded oversampling, undersampling, and inverse-frequency class weights.

Each function logs a report of the real/fake counts before and after (logger ``wavguard.data``)
and returns it as a :class:`BalanceReport`, whose ``str()`` is a short table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ._schema import LABEL_NAMES, label_counts

__all__ = ["BalanceReport", "oversample", "undersample", "class_weights"]

logger = logging.getLogger("wavguard.data")


@dataclass
class BalanceReport:
    """Counts per class before and after a balancing step.

    Attributes:
        method: "oversample", "undersample" or "class_weights".
        before: {"real": n, "fake": n} before.
        after: {"real": n, "fake": n} after (equal to ``before`` for class weights).
        weights: {"real": w, "fake": w} for class weights, else empty.
    """

    method: str
    before: dict[str, int]
    after: dict[str, int]
    weights: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{self.method}: {'class':<6} {'before':>8} {'after':>8}" + ("  weight" if self.weights else "")]
        for name in LABEL_NAMES:
            weight = f"  {self.weights[name]:.4f}" if self.weights else ""
            lines.append(f"{'':{len(self.method) + 2}}{name:<6} {self.before[name]:>8} {self.after[name]:>8}{weight}")
        return "\n".join(lines)


def _labels(ds) -> np.ndarray:
    if "label" not in ds.column_names:
        raise ConfigError(f"the dataset has no 'label' column (columns: {ds.column_names})")
    labels = np.asarray(ds["label"], dtype=np.int64)
    counts = np.bincount(labels, minlength=2)
    if counts.size > 2 or (counts == 0).any():
        raise ConfigError(f"balancing needs both classes; counts are {label_counts(labels)}")
    return labels


def _resampled(ds, labels: np.ndarray, method: str, seed: int):
    from sklearn.utils import resample

    counts = np.bincount(labels, minlength=2)
    minority, majority = int(np.argmin(counts)), int(np.argmax(counts))
    keep = {c: np.flatnonzero(labels == c) for c in (0, 1)}
    if counts[0] != counts[1]:
        if method == "oversample":
            extra = resample(
                keep[minority], replace=True, n_samples=int(counts[majority] - counts[minority]), random_state=seed
            )
            keep[minority] = np.concatenate([keep[minority], extra])
        else:
            keep[majority] = resample(keep[majority], replace=False, n_samples=int(counts[minority]), random_state=seed)
    order = np.random.default_rng(seed).permutation(np.concatenate([keep[0], keep[1]]))
    out = ds.select(order)
    report = BalanceReport(method, label_counts(labels), label_counts(labels[order]))
    logger.info("%s", report)
    return out, report


def oversample(ds, seed: int = 0):
    """Repeat random minority-class rows (with replacement) until both classes are equally many.

    Returns:
        (balanced ``Dataset``, shuffled with ``seed``; :class:`BalanceReport`).
    """
    return _resampled(ds, _labels(ds), "oversample", seed)


def undersample(ds, seed: int = 0):
    """Keep a random subset (without replacement) of the majority class, as many as the minority.

    Returns:
        (balanced ``Dataset``, shuffled with ``seed``; :class:`BalanceReport`).
    """
    return _resampled(ds, _labels(ds), "undersample", seed)


def class_weights(ds) -> tuple[np.ndarray, BalanceReport]:
    """Inverse-frequency weights for weighted cross-entropy: ``n / (2 * n_class)`` (scikit-learn's "balanced").

    Returns:
        (float32 array of shape (2,), [real, fake] — pass as ``torch.nn.CrossEntropyLoss(weight=...)``;
        :class:`BalanceReport`).
    """
    from sklearn.utils.class_weight import compute_class_weight

    labels = _labels(ds)
    weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=labels).astype(np.float32)
    counts = label_counts(labels)
    report = BalanceReport("class_weights", counts, dict(counts), {n: float(w) for n, w in zip(LABEL_NAMES, weights)})
    logger.info("%s", report)
    return weights, report
