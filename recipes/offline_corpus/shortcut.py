"""Shortcut check: can a logistic regression on trivial file properties tell real from fake?

Uses :mod:`wavguard.evaluation.audit` (:func:`~wavguard.evaluation.audit.file_features` once per file, then
:func:`~wavguard.evaluation.audit.audit_features` on all files and on each split) when it is installed;
otherwise the small local :func:`file_features` and :func:`audit_files` below, which compute the
same numeric properties (duration, leading and trailing silence, zero fraction, RMS, peak, spectral
roll-off and bandwidth, 95 % roll-off, energy above 4 kHz, noise floor) and the cross-validated ROC
AUC of a scaled logistic regression on all of them together.

Re-audit a built corpus: ``python -m recipes.offline_corpus.shortcut OUTPUT/manifest.csv``.
"""

from __future__ import annotations

import numpy as np

from wavguard.audio import load_audio, resample

__all__ = ["FEATURES", "file_features", "audit_files", "shortcut_check", "main"]

FEATURES = ("duration_seconds", "leading_silence_seconds", "trailing_silence_seconds", "zero_fraction",
            "rms_db", "peak", "rolloff_hz", "bandwidth_hz", "rolloff95_hz", "energy_above_4khz_fraction",
            "noise_floor_db")
#: Samples at or below this magnitude (-60 dBFS) count as silence at the ends of a clip.
SILENCE_LEVEL = 1e-3
#: The spectral features are measured at this rate (as ``wavguard.evaluation.audit`` does).
SPECTRAL_RATE_HZ = 16000
#: Frame length of the noise floor's frame energies (seconds).
NOISE_FLOOR_FRAME_SECONDS = 0.02


def band_features(x: np.ndarray, rate_hz: int, n_fft: int = 1024) -> tuple[float, float]:
    """(95 % roll-off in Hz, fraction of energy above 4 kHz) of the long-term power spectrum of ``x``."""
    import librosa

    power = np.sum(np.abs(librosa.stft(x, n_fft=n_fft, hop_length=n_fft // 4)) ** 2, axis=1, dtype=np.float64)
    total = float(power.sum())
    if total <= 0.0:
        return 0.0, 0.0
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    rolloff = float(freqs[min(int(np.searchsorted(np.cumsum(power), 0.95 * total)), len(freqs) - 1)])
    return rolloff, float(power[freqs > 4000.0].sum() / total)


def noise_floor_db(x: np.ndarray, rate_hz: int) -> float:
    """10th percentile of 20 ms frame energies in dB relative to their median (energies floored at -120 dB)."""
    frame = max(1, int(round(NOISE_FLOOR_FRAME_SECONDS * rate_hz)))
    count = max(1, len(x) // frame)
    frames = x[: count * frame].reshape(count, -1) if len(x) >= frame else x[None, :]
    energy_db = 10.0 * np.log10(np.maximum(np.mean(np.square(frames, dtype=np.float64), axis=1), 1e-12))
    return float(np.percentile(energy_db, 10) - np.median(energy_db))


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
    rolloff95, above_4khz = band_features(resample(x, sr, SPECTRAL_RATE_HZ), SPECTRAL_RATE_HZ)
    return [n / sr, lead / sr, trail / sr, float(np.mean(x == 0)), 20 * np.log10(max(rms, 1e-10)),
            float(np.max(np.abs(x))), float(np.mean(rolloff)), float(np.mean(bandwidth)), rolloff95, above_4khz,
            noise_floor_db(x, sr)]


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
    """The check over all files pooled, and within each split (features computed once per file).

    Returns:
        ``{"engine": "wavguard.evaluation.audit" | "local", "combined_auc", "feature_auc", "per_split": {split: auc},
        "per_split_feature_auc": {split: {name: auc}}}``.
    """
    y, s = np.asarray(labels, dtype=int), np.asarray(splits)
    names = sorted(set(splits))
    try:
        from wavguard.evaluation.audit import audit_features
        from wavguard.evaluation.audit import file_features as audit_file_features
    except ImportError:  # an older wavguard: the local features
        features = np.asarray([file_features(p) for p in paths], dtype=np.float64)
        pooled = audit_files(features, y, folds, seed)
        per = {n: audit_files(features[s == n], y[s == n], folds, seed) for n in names}
        result = {"engine": "local", **pooled}
    else:
        rows = [audit_file_features(p) for p in paths]
        report = audit_features(rows, list(y), cv_folds=folds, seed=seed)
        per = {}
        for n in names:
            idx = np.flatnonzero(s == n)
            sub = audit_features([rows[i] for i in idx], list(y[idx]), cv_folds=folds, seed=seed)
            per[n] = {"combined_auc": sub.combined_auc, "feature_auc": sub.feature_auc}
        result = {"engine": "wavguard.evaluation.audit", "combined_auc": report.combined_auc, "feature_auc": report.feature_auc}
    result["per_split"] = {n: per[n]["combined_auc"] for n in names}
    result["per_split_feature_auc"] = {n: per[n]["feature_auc"] for n in names}
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m recipes.offline_corpus.shortcut MANIFEST [--folds 5] [--seed 1234]``: print the check as JSON."""
    import argparse
    import csv
    import json
    from pathlib import Path

    p = argparse.ArgumentParser(prog="python -m recipes.offline_corpus.shortcut", description=main.__doc__)
    p.add_argument("manifest")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=1234)
    args = p.parse_args(argv)
    root = Path(args.manifest).parent
    with open(args.manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    result = shortcut_check([str(root / r["path"]) for r in rows], [int(r["label"] == "fake") for r in rows],
                            [r["split"] for r in rows], args.folds, args.seed)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
