"""The model-card side panel of the demo page (Markdown), from a detector's config."""

from __future__ import annotations

import re
from typing import Any

from ..config import DetectorConfig
from ..hub import (
    DEFAULT_LIMITATIONS,
    backbone_family,
    backbone_markdown,
    base_name,
    headline_metrics,
    is_local_path,
    portable_name,
    scrub_local_paths,
)

__all__ = ["model_card_markdown"]

#: Metric names (or name parts) shown as percentages: rates and accuracies, stored as fractions.
_PERCENT_PARTS = ("eer", "accuracy", "rate", "ece")


def _format_metric(name: str, value: float) -> str:
    """``("eer", 0.0312) -> "3.12%"``; ``("roc_auc", 0.99) -> "0.99"``; thresholds stay plain."""
    parts = name.lower().split("_")
    if "threshold" not in parts and any(part in _PERCENT_PARTS for part in parts):
        return f"{100.0 * value:.2f}%"
    return f"{value:.4g}"


def _scalars(data: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in sorted(data.items()) if isinstance(v, (str, int, float, bool))]


#: How training records an in-memory data set it cannot name: ``<Dataset of 500 rows>``.
_IN_MEMORY = re.compile(r"^<(\w+) of (\d+) rows>$")


def _data_name(value: Any, dataset: Any) -> Any:
    """A training-data source as a reader names it: a local path's base name; an in-memory data set
    (``<Dataset of 500 rows>``) by the recorded dataset name, else as ``an in-memory dataset (500 rows)``."""
    if not isinstance(value, str):
        return value
    match = _IN_MEMORY.match(value)
    if match:
        return f"{dataset} ({match.group(2)} rows)" if dataset else f"an in-memory dataset ({match.group(2)} rows)"
    if is_local_path(value):
        return base_name(value)
    return value


def model_card_markdown(config: DetectorConfig, model_id: str, runtime: str | None = None) -> str:
    """The side panel: backbone, preprocessing, training data, metrics (EER first), limitations.

    Args:
        config: the detector's config; ``config.extra["dataset"]`` (``["dataset_name"]`` for short)
            and ``config.extra["training"]`` describe the training data, ``config.metrics``
            (fractions) the evaluation, and
            ``config.extra["limitations"]`` overrides the default limitations.
        model_id: the detector's directory or Hub id, as given on the command line (a local
            directory is shown by its base name: the page may be public).
        runtime: what runs the network (e.g. ``"PyTorch (cpu)"``, ``"ONNX Runtime (CPU)"``); omitted when ``None``.
    """
    # no folder of this machine on the page, as on a Hub card (metric names may hold test-set paths)
    config = config.replace(
        extra=scrub_local_paths(dict(config.extra)), metrics=scrub_local_paths(dict(config.metrics))
    )
    model_id = portable_name(model_id)
    if config.kind == "transformer":
        kind = backbone_family(config.backbone_type, "transformer")
        layers = f", first {config.num_layers} layers" if config.num_layers else ""
        backbone = f"{kind} ({backbone_markdown(config)}{layers}) with a CNN head"
    else:
        backbone = "spectrogram CNN (no pretrained backbone)"
    lines = [
        "### Model",
        f"- **Detector:** `{model_id}`",
        f"- **Backbone:** {backbone}",
        *([f"- **Runtime:** {runtime}"] if runtime else []),
        f"- **Input:** {config.sample_rate_hz} Hz mono; windows of {config.window_seconds:g} s, hop "
        f"{config.effective_hop_seconds:g} s, aggregated by `{config.aggregation}`",
        f"- **Decision:** fake when P(fake) >= {round(config.threshold, 3):g}",
        "",
        "### Training data",
    ]
    extra = config.extra or {}
    lines.append(f"- **Dataset:** {extra.get('dataset', 'not recorded')}")
    training = extra.get("training")
    if isinstance(training, dict):
        name = extra.get("dataset_name") or extra.get("dataset")  # the short name when there is one
        lines += [f"- {key.replace('_', ' ')}: {_data_name(value, name)}" for key, value in _scalars(training)]
    if extra.get("notes"):
        lines.append(f"- {extra['notes']}")
    lines += ["", "### Metrics"]
    metrics = headline_metrics(config.metrics or {})
    if metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [
            f"| {name.upper() if name.lower() == 'eer' else name} | {_format_metric(name, value)} |"
            for name, value in metrics
        ]
    else:
        lines.append("No evaluation results are recorded in this detector's config.")
    lines += [
        "",
        "### Limitations",
        str(extra.get("limitations", DEFAULT_LIMITATIONS)),
        "",
        "*The score is the calibrated probability that the audio is fake (higher = more likely fake).*",
    ]
    return "\n".join(lines)
