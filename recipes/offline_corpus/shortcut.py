"""Shortcut check: can a logistic regression on trivial file properties tell real from fake?

Uses :func:`wavguard.evaluation.audit.audit_dataset` when that module is installed; otherwise the small
local :func:`audit_files` below, which computes the same properties (duration, leading and
trailing silence, zero fraction, RMS, peak, spectral roll-off and bandwidth) and the
cross-validated ROC AUC of a scaled logistic regression on all of them together.
"""

from __future__ import annotations

import numpy as np

from wavguard.audio.decode import load_audio

__all__ = ["FEATURES", "file_features", "audit_files", "shortcut_check"]

FEATURES = ("duration_seconds", "leading_silence_seconds", "trailing_silence_seconds", "zero_fraction",
            "rms_db", "peak", "rolloff_hz", "bandwidth_hz")
#: Samples at or below this magnitude (-60 dBFS) count as silence at the ends of a clip.
SILENCE_LEVEL = 1e-3


def file_features(path: str) -> list[float]:
    """The values of :data:`FEATURES` for one file, in that order."""
    import librosa

    x, sr = load_audio(path)
    loud = np.flatnonzero(np.abs(x) > SILENCE_LEVEL)
    n = len(x)
    lead, trail = (loud[0], n - 1 - loud[-1]) if loud.size else (n, n)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    rolloff = librosa.feature.spectral_rolloff(y=x, sr=sr, n_fft=1024)
    bandwidth = librosa.feature.spectral_bandwidth(y=x, sr=sr, n_fft=1024)
    return [n / sr, lead / sr, trail / sr, float(np.mean(x == 0)), 20 * np.log10(max(rms, 1e-10)),
            float(np.max(np.abs(x))), float(np.mean(rolloff)), float(np.mean(bandwidth))]


def _cv_auc(x: np.ndarray, y: np.ndarray, folds: int, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = int(min(folds, np.bincount(y, minlength=2).min()))
    if folds < 2 or np.all(x == x[0]):
        return 0.5
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, x, y, cv=splitter, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, scores))


def audit_files(features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0) -> dict:
    """Cross-validated ROC AUC of each feature alone and of all together.

    Args:
        features: shape (files, len(FEATURES)).
        labels: shape (files,), 0 real / 1 fake.

    Returns:
        ``{"combined_auc": float, "feature_auc": {name: float}}``.
    """
    y = np.asarray(labels, dtype=int)
    return {"combined_auc": _cv_auc(features, y, folds, seed),
            "feature_auc": {n: _cv_auc(features[:, [i]], y, folds, seed) for i, n in enumerate(FEATURES)}}


def shortcut_check(paths: list[str], labels: list[int], splits: list[str], folds: int = 5, seed: int = 0) -> dict:
    """The pooled check over all files, and one per split.

    Returns:
        ``{"engine": "wavguard.evaluation.audit" | "local", "combined_auc", "feature_auc", "per_split": {split: auc}}``.
    """
    features = np.asarray([file_features(p) for p in paths], dtype=np.float64)
    y, s = np.asarray(labels, dtype=int), np.asarray(splits)
    try:
        from wavguard.evaluation.audit import audit_dataset
    except ImportError:
        result = {"engine": "local", **audit_files(features, y, folds, seed)}
    else:
        report = audit_dataset(list(zip(paths, labels)), cv_folds=folds, seed=seed)
        result = {"engine": "wavguard.evaluation.audit", "combined_auc": report.combined_auc, "feature_auc": report.feature_auc}
    result["per_split"] = {name: _cv_auc(features[s == name], y[s == name], folds, seed) for name in sorted(set(splits))}
    return result
