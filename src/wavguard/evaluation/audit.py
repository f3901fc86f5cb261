"""Shortcut audit: can trivial per-file properties tell real from fake?

If a logistic regression on duration, silence, loudness, spectral roll-off, bandwidth (95 % roll-off,
energy above 4 kHz), noise floor, native sample rate or file format separates the classes, a detector will learn that shortcut instead of the artefacts
of speech synthesis (ASVspoof 2019 LA's leading silence is the classic case, Müller et al., 2021).
:func:`audit_dataset` reports the cross-validated ROC AUC of each property alone and of all of
them together, and flags the data set when the combined AUC exceeds a threshold.

Example:
    >>> from wavguard.evaluation.audit import audit_dataset
    >>> report = audit_dataset([("real/a.wav", 0), ("fake/b.wav", 1), ...])  # doctest: +SKIP
    >>> print(report.format())                                                # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..audio.decode import describe_source, load_audio, resample
from ..errors import ConfigError, WavguardError

__all__ = [
    "AuditReport",
    "audit_dataset",
    "audit_features",
    "file_features",
    "NUMERIC_FEATURES",
    "CATEGORICAL_FEATURES",
]

#: Per-file numeric properties (units in the names).
NUMERIC_FEATURES = (
    "duration_seconds",
    "leading_silence_seconds",
    "trailing_silence_seconds",
    "zero_fraction",
    "rms_db",
    "peak",
    "rolloff_hz",
    "bandwidth_hz",
    "rolloff95_hz",
    "energy_above_4khz_fraction",
    "noise_floor_db",
)
#: Per-file categorical properties, one-hot encoded for the regression.
CATEGORICAL_FEATURES = ("native_sample_rate_hz", "container_codec")

#: Samples at or below this magnitude (-60 dBFS) count as silence at the ends of a clip.
SILENCE_LEVEL = 1e-3
#: Frame length (seconds) of the noise floor's frame energies; energies are floored at -120 dB.
NOISE_FLOOR_FRAME_SECONDS = 0.02


def _band_features(samples: np.ndarray, rate_hz: int, n_fft: int) -> tuple[float, float]:
    """(95 % roll-off in Hz, fraction of energy above 4 kHz) of the long-term power spectrum.

    The long-term spectrum is the STFT power summed over frames, so loud frames dominate: it says
    how wide the recording channel is (8 kHz telephone: nothing above 4 kHz).
    """
    import librosa

    power = np.sum(np.abs(librosa.stft(samples, n_fft=n_fft, hop_length=n_fft // 4)) ** 2, axis=1, dtype=np.float64)
    total = float(power.sum())
    if total <= 0.0:
        return 0.0, 0.0
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    rolloff = float(freqs[min(int(np.searchsorted(np.cumsum(power), 0.95 * total)), len(freqs) - 1)])
    return rolloff, float(power[freqs > 4000.0].sum() / total)


def _noise_floor_db(samples: np.ndarray, rate_hz: int) -> float:
    """10th percentile of the frame energies in dB relative to their median (<= 0; near 0: no quiet frames)."""
    frame = max(1, int(round(NOISE_FLOOR_FRAME_SECONDS * rate_hz)))
    count = max(1, samples.shape[0] // frame)
    frames = samples[: count * frame].reshape(count, -1) if samples.shape[0] >= frame else samples[None, :]
    energy_db = 10.0 * np.log10(np.maximum(np.mean(np.square(frames, dtype=np.float64), axis=1), 1e-12))
    return float(np.percentile(energy_db, 10) - np.median(energy_db))


def _source(audio: Any) -> Any:
    """The decodable part of an ``audio`` cell: embedded bytes win over the path."""
    if isinstance(audio, dict):
        source = audio.get("bytes") or audio.get("path")
    else:
        source = audio
    if source is None:
        raise ConfigError("an audio cell holds neither bytes nor a path")
    return source


def file_features(source: Any, sample_rate_hz: int = 16000) -> dict[str, Any]:
    """The trivial properties of one file (path or encoded bytes).

    Silence, zeros, levels and the noise floor are measured on the native samples; roll-off and
    bandwidth (librosa, mean over frames), the 95 % roll-off and the energy above 4 kHz (of the
    long-term spectrum) after resampling to ``sample_rate_hz``.
    """
    import librosa
    import soundfile as sf

    samples, rate = load_audio(source)  # validates the file first, with wavguard's error messages
    info = sf.info(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else os.fspath(source))
    loud = np.flatnonzero(np.abs(samples) > SILENCE_LEVEL)
    n = samples.shape[0]
    lead, trail = (loud[0], n - 1 - loud[-1]) if loud.size else (n, n)
    resampled = resample(samples, rate, sample_rate_hz)
    n_fft = min(2048, 1 << max(1, (resampled.shape[0] - 1).bit_length()))
    rolloff = librosa.feature.spectral_rolloff(y=resampled, sr=sample_rate_hz, n_fft=n_fft)
    bandwidth = librosa.feature.spectral_bandwidth(y=resampled, sr=sample_rate_hz, n_fft=n_fft)
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    rolloff95, above_4khz = _band_features(resampled, sample_rate_hz, n_fft)
    return {
        "duration_seconds": n / rate,
        "leading_silence_seconds": lead / rate,
        "trailing_silence_seconds": trail / rate,
        "zero_fraction": float(np.mean(samples == 0.0)),
        "rms_db": 20.0 * np.log10(max(rms, 1e-10)),
        "peak": float(np.max(np.abs(samples))),
        "rolloff_hz": float(np.mean(rolloff)),
        "bandwidth_hz": float(np.mean(bandwidth)),
        "rolloff95_hz": rolloff95,
        "energy_above_4khz_fraction": above_4khz,
        "noise_floor_db": _noise_floor_db(samples, rate),
        "native_sample_rate_hz": str(rate),
        "container_codec": f"{info.format}/{info.subtype}",
    }


@dataclass
class AuditReport:
    """Result of :func:`audit_dataset`.

    Attributes:
        feature_auc: cross-validated ROC AUC of each property alone (0.5 = no information).
        combined_auc: cross-validated ROC AUC of all properties together.
        threshold: ``flagged`` when ``combined_auc`` exceeds it.
        flagged: a shortcut was found.
        num_real, num_fake: files audited per class.
        class_means: numeric property -> (mean over real, mean over fake).
        class_values: categorical property -> {value: (count real, count fake)}.
        skipped: (file, reason) for files that could not be decoded.
    """

    feature_auc: dict[str, float]
    combined_auc: float
    threshold: float
    flagged: bool
    num_real: int
    num_fake: int
    class_means: dict[str, tuple[float, float]] = field(default_factory=dict)
    class_values: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def suspicious_features(self) -> list[str]:
        """Properties whose own AUC exceeds the threshold, most telling first."""
        hits = [k for k, v in self.feature_auc.items() if v > self.threshold]
        return sorted(hits, key=lambda k: -self.feature_auc[k])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["class_means"] = {k: list(v) for k, v in self.class_means.items()}
        data["class_values"] = {k: {val: list(c) for val, c in v.items()} for k, v in self.class_values.items()}
        data["skipped"] = [list(s) for s in self.skipped]
        data["suspicious_features"] = self.suspicious_features
        return data

    def format(self) -> str:
        """A readable table: one row per property, then the verdict."""
        lines = [f"shortcut audit: {self.num_real} real, {self.num_fake} fake files", ""]
        lines.append(f"{'property':<26} {'AUC':>6}  {'real':>14} {'fake':>14}")
        for name, auc in sorted(self.feature_auc.items(), key=lambda kv: -kv[1]):
            mark = " !" if auc > self.threshold else ""
            if name in self.class_means:
                real, fake = self.class_means[name]
                lines.append(f"{name:<26} {auc:6.3f}  {real:14.4g} {fake:14.4g}{mark}")
            else:
                values = ", ".join(f"{v} {r}/{f}" for v, (r, f) in sorted(self.class_values.get(name, {}).items()))
                lines.append(f"{name:<26} {auc:6.3f}  real/fake counts: {values}{mark}")
        lines.append(f"{'ALL COMBINED':<26} {self.combined_auc:6.3f}")
        lines.append("")
        if self.flagged:
            lines.append(
                f"WARNING: trivial properties separate the classes (AUC {self.combined_auc:.3f} > {self.threshold}); "
                f"a detector may learn this shortcut. Most telling: {', '.join(self.suspicious_features) or 'the combination'}."
            )
        else:
            lines.append(f"ok: no shortcut found (AUC {self.combined_auc:.3f} <= {self.threshold}).")
        if self.skipped:
            lines.append(
                f"{len(self.skipped)} file(s) skipped as undecodable, e.g. {self.skipped[0][0]}: {self.skipped[0][1]}"
            )
        return "\n".join(lines)


def _iter_items(data: Any) -> Iterable[tuple[Any, int]]:
    if hasattr(data, "column_names"):  # datasets.Dataset
        missing = [c for c in ("audio", "label") if c not in data.column_names]
        if missing:
            raise ConfigError(f"the data set lacks column(s) {missing}; it needs 'audio' and 'label' (0 real, 1 fake)")
        for row in data.select_columns(["audio", "label"]):
            yield row["audio"], row["label"]
        return
    for item in data:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ConfigError(f"expected (path, label) pairs, got {item!r}")
        yield item[0], item[1]


def _cv_auc(x: np.ndarray, y: np.ndarray, folds: int, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if np.all(x == x[0]):  # a constant property carries no information
        return 0.5
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, x, y, cv=splitter, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, scores))


def audit_dataset(
    data: Any,
    sample_rate_hz: int = 16000,
    cv_folds: int = 5,
    seed: int = 0,
    threshold: float = 0.7,
) -> AuditReport:
    """Look for shortcuts: trivial per-file properties that predict the label.

    Args:
        data: a ``datasets.Dataset`` with columns ``audio`` ({"path", "bytes"} or a path) and
            ``label`` (0 real, 1 fake), or a list of (path or bytes, label) pairs.
        sample_rate_hz: rate for the spectral properties.
        cv_folds: stratified cross-validation folds (lowered to the smaller class's size).
        seed: fold shuffling seed.
        threshold: flag when the combined cross-validated AUC exceeds this.

    Returns:
        an :class:`AuditReport`.

    Raises:
        ConfigError: missing columns, labels other than 0/1, fewer than 2 decodable files per class.
    """
    rows, labels, skipped = [], [], []
    for audio, label in _iter_items(data):
        if label not in (0, 1):
            raise ConfigError(f"labels must be 0 (real) or 1 (fake), got {label!r}")
        source = _source(audio)
        try:
            rows.append(file_features(source, sample_rate_hz))
        except (WavguardError, RuntimeError) as exc:
            skipped.append((describe_source(source), str(exc)))
            continue
        labels.append(int(label))
    return audit_features(rows, labels, cv_folds=cv_folds, seed=seed, threshold=threshold, skipped=skipped)


def audit_features(
    rows: list[dict[str, Any]],
    labels: list[int],
    *,
    cv_folds: int = 5,
    seed: int = 0,
    threshold: float = 0.7,
    skipped: list[tuple[str, str]] | None = None,
) -> AuditReport:
    """The audit of features already computed by :func:`file_features` (one dict per file).

    Lets a caller extract features once and audit several subsets (e.g. each split of a corpus).

    Args:
        rows: :func:`file_features` of each file.
        labels: 0 real / 1 fake, one per row.
        cv_folds, seed, threshold: as in :func:`audit_dataset`.
        skipped: (file, reason) pairs to carry into the report.

    Raises:
        ConfigError: fewer than 2 files per class, or ``cv_folds`` below 2.
    """
    if len(rows) != len(labels):
        raise ConfigError(f"got {len(rows)} feature rows but {len(labels)} labels")
    skipped = list(skipped or [])
    y = np.asarray(labels, dtype=int)
    counts = np.bincount(y, minlength=2) if y.size else np.zeros(2, int)
    if counts.min() < 2:
        raise ConfigError(
            f"the audit needs at least 2 decodable files per class, got {counts[0]} real and {counts[1]} fake"
        )
    folds = int(min(cv_folds, counts.min()))
    if folds < 2:
        raise ConfigError(f"cv_folds must be at least 2, got {cv_folds}")

    columns: dict[str, np.ndarray] = {}
    for name in NUMERIC_FEATURES:
        columns[name] = np.array([[r[name]] for r in rows], dtype=np.float64)
    class_values = {}
    for name in CATEGORICAL_FEATURES:
        values = sorted({r[name] for r in rows})
        columns[name] = np.array([[float(r[name] == v) for v in values] for r in rows])
        class_values[name] = {
            v: (
                sum(1 for r, l in zip(rows, labels) if r[name] == v and l == 0),
                sum(1 for r, l in zip(rows, labels) if r[name] == v and l == 1),
            )
            for v in values
        }
    feature_auc = {name: _cv_auc(x, y, folds, seed) for name, x in columns.items()}
    combined = _cv_auc(np.concatenate(list(columns.values()), axis=1), y, folds, seed)
    class_means = {
        name: (float(columns[name][y == 0].mean()), float(columns[name][y == 1].mean())) for name in NUMERIC_FEATURES
    }
    return AuditReport(
        feature_auc=feature_auc,
        combined_auc=combined,
        threshold=float(threshold),
        flagged=bool(combined > threshold),
        num_real=int(counts[0]),
        num_fake=int(counts[1]),
        class_means=class_means,
        class_values=class_values,
        skipped=skipped,
    )
