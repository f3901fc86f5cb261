"""Score-level fusion of several detectors, and side-by-side comparison of detectors.

An :class:`Ensemble` adds the members' calibrated log-odds with weights fitted by logistic
regression on validation data::

    score = sigmoid(bias + sum_k weights[k] * logit(score_k))      # P(fake), higher = more fake

It has the ``predict`` API of :class:`~wavguard.Detector` and saves to a directory holding
``ensemble.json`` (member directories or Hub ids + fusion weights).

Example:
    >>> ens = Ensemble.fit([det_a, det_b], validation)       # doctest: +SKIP
    >>> ens.predict("clip.wav").score                         # doctest: +SKIP
    >>> ens.save_pretrained("fused")                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import loading
from .._io import atomic_write_text
from .._version import __version__
from ..detector import Detector
from ..errors import ConfigError, ModelLoadError
from ..layout import ENSEMBLE_NAME
from ..scoring.datasets import ItemScores, predict_margins, score_dataset
from ..scoring.pipeline import sigmoid
from ..scoring.prediction import Prediction
from ..scoring.predicts import Predicts, describe_item
from .calibration import fit_fusion, select_threshold
from .evaluate import _labels, evaluate_detector
from .report import format_percent, plot_det, plot_roc, to_json

__all__ = ["Ensemble", "ENSEMBLE_NAME", "load_scorer", "compare_detectors", "count_parameters", "training_seconds"]


class Ensemble(Predicts):
    """Logistic-regression fusion of detectors' calibrated log-odds.

    Args:
        detectors: the member :class:`~wavguard.Detector` objects.
        weights: one fusion weight per member.
        bias: fusion bias.
        threshold: decision threshold on the fused score (fake when ``score >= threshold``).
        sources: where each member was loaded from (directory or Hub id), written by
            :meth:`save_pretrained` instead of a copy; ``None`` entries are saved as copies.
        metrics: headline evaluation results (EER first), like ``DetectorConfig.metrics``.
    """

    def __init__(
        self,
        detectors: Sequence[Any],
        weights: Sequence[float],
        bias: float = 0.0,
        *,
        threshold: float = 0.5,
        sources: Sequence[str | None] | None = None,
        metrics: dict[str, Any] | None = None,
    ):
        self.detectors = list(detectors)
        self.weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        if not self.detectors or self.weights.shape[0] != len(self.detectors):
            raise ConfigError(
                f"an ensemble needs one weight per member, got {len(self.detectors)} members and {self.weights.shape[0]} weights"
            )
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"threshold is a probability and must be in [0, 1], got {threshold}")
        self.bias = float(bias)
        self.threshold = float(threshold)
        self.sources = list(sources) if sources is not None else [None] * len(self.detectors)
        if len(self.sources) != len(self.detectors):
            raise ConfigError("sources needs one entry (or None) per member")
        self.metrics = dict(metrics or {})

    # -- fitting -------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        detectors: Sequence[Any],
        dataset,
        *,
        batch_size: int = 8,
        threshold: str | float = "eer",
        sources: Sequence[str | None] | None = None,
        audio_column: str = "audio",
        label_column: str = "label",
    ) -> Ensemble:
        """Fit the fusion weights on a validation data set (rows every member can score).

        Args:
            detectors: the members.
            dataset: ``datasets.Dataset`` with ``audio`` and ``label`` (1 = fake) columns.
            batch_size: windows per forward pass.
            threshold: ``"eer"`` or a target false-alarm rate, chosen on the fused validation
                scores (see :func:`wavguard.evaluation.calibration.select_threshold`).
            sources: member directories / Hub ids, for :meth:`save_pretrained`.
        """
        labels = _labels(dataset, label_column)
        features = np.column_stack(
            [
                [row.log_odds for row in score_dataset(det, dataset, batch_size=batch_size, audio_column=audio_column)]
                for det in detectors
            ]
        )
        ok = np.all(np.isfinite(features), axis=1)
        if ok.sum() < 2:
            raise ConfigError(f"only {int(ok.sum())} validation rows could be scored by every member")
        weights, bias = fit_fusion(features[ok], labels[ok])
        fused = sigmoid(features[ok] @ weights + bias)
        chosen = min(max(select_threshold(labels[ok], fused, threshold), 0.0), 1.0)
        return cls(detectors, weights, bias, threshold=chosen, sources=sources)

    # -- scoring -------------------------------------------------------------------------
    def score_inputs(self, inputs: Sequence[Any], *, sample_rate: int | None = None, batch_size: int = 8) -> ItemScores:
        """Fused scores of a list of inputs (see :func:`wavguard.evaluation.evaluate.score_inputs`).

        ``margins`` and ``log_odds`` both hold the fused log-odds; an input fails when any member
        fails on it (the first member's error is kept).
        """
        fused, durations, errors = self._fuse(inputs, sample_rate, batch_size)
        return ItemScores(
            fused, sigmoid(fused), fused.copy(), durations, [None if e is None else str(e) for e in errors]
        )

    def _fuse(self, inputs, sample_rate, batch_size):
        n = len(inputs)
        fused = np.full(n, self.bias)
        durations = np.zeros(n)
        errors: list[Any] = [None] * n
        for k, (det, weight) in enumerate(zip(self.detectors, self.weights)):
            margins, member_durations, member_errors = predict_margins(
                det, inputs, sample_rate=sample_rate, batch_size=batch_size
            )
            fused += weight * (det.config.calibration_scale * margins + det.config.calibration_bias)
            if k == 0:
                durations = member_durations
            errors = [e if e is not None else m for e, m in zip(errors, member_errors)]
        fused[[e is not None for e in errors]] = math.nan
        return fused, durations, errors

    @property
    def default_threshold(self) -> float:
        return self.threshold

    def _outcomes(self, items, sample_rate, *, batch_size, threshold, on_error, progress, prefetch=True):
        """Fused predictions (no per-window ``segments``: members may use different windows); each
        member scores with its own defaults (``prefetch`` included)."""
        fused, durations, errors = self._fuse(items, sample_rate, batch_size)
        return [
            error
            if error is not None
            else Prediction(
                describe_item(item),
                float(sigmoid(z)),
                "fake" if sigmoid(z) >= threshold else "real",
                threshold,
                float(duration),
                logit_margin=float(z),
                backend=self.backend_name,
            )
            for item, z, duration, error in zip(items, fused, durations, errors)
        ]

    @property
    def sample_rate_hz(self) -> int:
        """The first member's rate (Hz); each member resamples inputs to its own."""
        return self.detectors[0].config.sample_rate_hz

    def to(self, device) -> Ensemble:
        for det in self.detectors:
            det.to(device)
        return self

    # -- saving --------------------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike, *, copy_members: bool = False) -> Path:
        """Write ``ensemble.json``; members with a known source are referenced, others copied.

        Args:
            directory: created if missing.
            copy_members: save every member into ``member_<k>/`` (a self-contained directory).

        Returns:
            the directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        members = []
        for k, (det, source) in enumerate(zip(self.detectors, self.sources)):
            if source is None or copy_members:
                det.save_pretrained(directory / f"member_{k}")
                members.append(f"member_{k}")
            else:
                members.append(os.path.abspath(source) if os.path.isdir(source) else str(source))
        data = {
            "format": "wavguard-ensemble",
            "members": members,
            "weights": self.weights.tolist(),
            "bias": self.bias,
            "threshold": self.threshold,
            "metrics": self.metrics,
            "wavguard_version": __version__,
        }
        atomic_write_text(directory / ENSEMBLE_NAME, json.dumps(data, indent=2) + "\n")
        return directory

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        revision: str | None = None,
        *,
        backend: str = "auto",
        device: str | None = None,
    ) -> Ensemble:
        """Load an ensemble saved by :meth:`save_pretrained` (members by path or Hub id), each member
        through :mod:`wavguard.loading` with ``backend``."""
        saved = loading.inspect(name_or_path, revision)
        if saved.kind != "ensemble":
            raise ModelLoadError(f"{saved.directory}: no {ENSEMBLE_NAME}; is this a wavguard ensemble directory?")
        spec = loading.read_ensemble(saved)
        sources, detectors = [], []
        for member in spec.members:
            local = saved.directory / member
            source = str(local) if local.is_dir() else member
            detectors.append(Detector.from_pretrained(source, backend=backend, device=device))
            sources.append(None if local.is_dir() and not os.path.isabs(member) else source)
        return cls(detectors, spec.weights, spec.bias, threshold=spec.threshold, sources=sources, metrics=spec.metrics)

    @property
    def backend_name(self) -> str:
        """The members' backends, e.g. ``"torch"`` or ``"torch+onnx-int8"``."""
        return "+".join(dict.fromkeys(det.backend_name for det in self.detectors))

    def __repr__(self) -> str:
        return f"Ensemble({len(self.detectors)} members, weights={np.round(self.weights, 3).tolist()}, bias={self.bias:.3f}, threshold={self.threshold})"


def load_scorer(
    name_or_path: str | os.PathLike, revision: str | None = None, *, backend: str = "auto", device: str | None = None
) -> Detector | Ensemble:
    """What the CLI, the service and evaluation load: an :class:`Ensemble` for a folder with
    ``ensemble.json``, else a :class:`~wavguard.Detector`; both through :mod:`wavguard.loading`."""
    if loading.inspect(name_or_path, revision).kind == "ensemble":
        return Ensemble.from_pretrained(name_or_path, revision, backend=backend, device=device)
    return Detector.from_pretrained(name_or_path, revision, backend=backend, device=device)


def count_parameters(model: Any) -> tuple[int, int]:
    """(all parameters, trainable parameters) of a detector or ensemble.

    "Trainable" means ``requires_grad`` (for a frozen-backbone detector: the head and layer weights).
    """
    if isinstance(model, Ensemble):
        counts = [count_parameters(det) for det in model.detectors]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)
    params = list(model.model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def training_seconds(model: Any) -> float | None:
    """Training wall time recorded in ``config.extra`` (``training_seconds``, top level or under
    ``extra["training"]``), ``None`` when not recorded; an ensemble sums its members'."""
    if isinstance(model, Ensemble):
        times = [training_seconds(det) for det in model.detectors]
        return None if any(t is None for t in times) else float(sum(times))
    extra = getattr(model.config, "extra", {}) or {}
    for holder in (extra, extra.get("training") if isinstance(extra.get("training"), dict) else {}):
        value = holder.get("training_seconds")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def compare_detectors(
    named_detectors: Mapping[str, Any] | Sequence[tuple[str, Any]],
    dataset,
    out_dir: str | os.PathLike,
    *,
    batch_size: int = 8,
    group_columns: Sequence[str] | None = None,
    bootstrap_resamples: int = 1000,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate several detectors on one data set and write a side-by-side comparison.

    Writes ``compare.md`` (table), ``compare.json`` (the same numbers and each model's full
    metrics), ``roc.png`` and ``det.png`` (all models in one plot) into ``out_dir``.

    Columns: pooled EER (with its 95% bootstrap interval), EER per attack (each attack's fakes
    against all real clips), ROC AUC, minDCF, parameters, trainable parameters, scoring speed
    (seconds of audio per wall-clock second, this machine, one process) and training time when the
    detector's ``config.extra`` records ``training_seconds``.

    Args:
        named_detectors: ``{name: detector or ensemble}`` or ``[(name, model), ...]``.
        dataset: a labelled ``datasets.Dataset`` (see :func:`wavguard.evaluation.evaluate.evaluate_detector`).
        out_dir: created if missing.
        progress: show a progress bar (on stderr) while each model scores the data set.

    Returns:
        the ``compare.json`` content: ``{"models": [row, ...], "attacks": [...]}``.
    """
    pairs = list(named_detectors.items()) if isinstance(named_detectors, Mapping) else list(named_detectors)
    if not pairs:
        raise ConfigError("compare_detectors needs at least one detector")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, rows = [], []
    for name, model in pairs:
        start = time.perf_counter()
        result = evaluate_detector(
            model,
            dataset,
            batch_size=batch_size,
            group_columns=group_columns,
            name=name,
            bootstrap_resamples=bootstrap_resamples,
            progress=progress,
        )
        params, trainable = count_parameters(model)
        results.append(result)
        m = result.metrics
        rows.append(
            {
                "name": name,
                "eer": m["eer"],
                "eer_ci95": m.get("eer_ci95"),
                "eer_per_attack": {a: s["eer"] for a, s in result.groups.get("attack", {}).items()},
                "roc_auc": m["roc_auc"],
                "min_dcf": m["min_dcf"],
                "parameters": params,
                "trainable_parameters": trainable,
                "audio_seconds_per_second": result.audio_seconds_per_second,
                "training_seconds": training_seconds(model),
                "num_scored": int(result.labels.size),
                "num_failed": len(result.failures),
                "evaluation_seconds": time.perf_counter() - start,
                "metrics": m,
            }
        )
    attacks = sorted({a for r in rows for a in r["eer_per_attack"]})
    header = (
        ["model", "EER", "EER 95% CI"]
        + [f"EER {a}" for a in attacks]
        + ["AUC", "minDCF", "params", "trainable", "audio s/s", "training s"]
    )
    lines = [
        "# Detector comparison",
        "",
        f"{len(dataset)} clips. EER per attack: each attack's fakes against all real clips. Scores point "
        "towards FAKE. Speed: seconds of audio scored per second on this machine.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]

    def num(value, fmt="{:.4g}"):
        return "n/a" if value is None else fmt.format(value)

    for r in rows:
        ci = r["eer_ci95"]
        cells = [
            r["name"],
            format_percent(r["eer"]),
            f"{format_percent(ci[0])} to {format_percent(ci[1])}" if ci else "n/a",
        ]
        cells += [format_percent(r["eer_per_attack"].get(a)) for a in attacks]
        cells += [
            num(r["roc_auc"]),
            num(r["min_dcf"]),
            f"{r['parameters']:,}",
            f"{r['trainable_parameters']:,}",
            num(r["audio_seconds_per_second"], "{:.3g}"),
            num(r["training_seconds"], "{:.0f}"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    ranked = [r for r in results if r.metrics.get("eer") is not None]
    if ranked:
        plot_roc(ranked, out / "roc.png")
        plot_det(ranked, out / "det.png")
        lines += ["![ROC](roc.png)", "", "![DET](det.png)", ""]
    summary = {"models": rows, "attacks": attacks, "num_clips": len(dataset)}
    atomic_write_text(out / "compare.json", to_json(summary))
    atomic_write_text(out / "compare.md", "\n".join(lines))
    return summary
