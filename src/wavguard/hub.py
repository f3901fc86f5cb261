"""Hugging Face Hub: model card and upload.

``stage_for_hub`` writes exactly what ``push_to_hub`` uploads (the saved detector plus a
``README.md`` model card), so the upload can be checked without a network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._io import atomic_write_text
from .layout import CARD_NAME

if TYPE_CHECKING:
    from .detector import Detector

__all__ = ["render_model_card", "stage_for_hub", "push_to_hub"]

_BACKBONE_NAMES = {"wav2vec2": "Wav2Vec2", "hubert": "HuBERT", "wavlm": "WavLM", "whisper": "Whisper encoder"}


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


#: Training bookkeeping stored next to the metrics; not results, so not on the card.
_NOT_METRICS = {"epoch", "step", "global_step"}


def _ordered_metrics(metrics: dict[str, Any]) -> list[tuple[str, float]]:
    """Numeric headline metrics, EER first, rounded to 4 decimals."""
    numeric = [(k, round(float(v), 4)) for k, v in metrics.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _NOT_METRICS]
    return sorted(numeric, key=lambda kv: (not kv[0].lower().startswith("eer"), kv[0]))


def _shown(name: str, value: float) -> str:
    """EERs and calibration errors as percentages (they are fractions), the rest as numbers."""
    if name.lower().startswith("eer") or name.lower().endswith(("_eer", "_ece")):
        return f"{100 * value:.1f} %"
    return f"{value:.4g}"


def _backbone_text(config) -> str:
    """How the card names the backbone: ``extra["backbone_name"]``, a Hub id, or a local folder's name."""
    named = config.extra.get("backbone_name")
    if named:
        return str(named)
    if not config.backbone:
        return "none"
    if os.path.isabs(config.backbone) or os.path.exists(config.backbone):
        return f"`{os.path.basename(str(config.backbone).rstrip('/'))}` (a local checkpoint)"
    return f"`{config.backbone}`"


def render_model_card(config, repo_id: str, license: str = "apache-2.0") -> str:
    """The Hub model card (README.md with YAML metadata) for a detector config.

    Args:
        config: the detector's :class:`~wavguard.config.DetectorConfig`; ``config.metrics`` (e.g.
            ``{"eer": 0.031, "roc_auc": 0.99}``, fractions) and ``config.extra["dataset"]`` (a
            description) and ``["dataset_id"]`` (a short id) fill the results;
            ``config.extra["backbone_name"]`` names the backbone when ``config.backbone`` is a
            local path, and ``["base_model"]`` (a Hub id) fills ``base_model``.
        repo_id: ``user/name`` on the Hub.
    """
    metrics = _ordered_metrics(config.metrics)
    dataset = str(config.extra.get("dataset", "custom"))
    dataset_id = str(config.extra.get("dataset_id", dataset))
    is_hub_backbone = config.backbone and not os.path.isabs(config.backbone) and config.backbone.count("/") == 1
    base_model = config.extra.get("base_model") or (config.backbone if is_hub_backbone else None)
    lines = ["---", "library_name: wavguard", f"license: {license}", "pipeline_tag: audio-classification", "tags:"]
    for tag in ("audio-classification", "deepfake-detection", "anti-spoofing", "wavguard", config.backbone_type):
        if tag:
            lines.append(f"- {tag}")
    if base_model:
        lines.append(f"base_model: {base_model}")
    if metrics:
        lines += [
            "model-index:",
            f"- name: {repo_id.split('/')[-1]}",
            "  results:",
            "  - task:",
            "      type: audio-classification",
            "      name: Deepfake speech detection",
            "    dataset:",
            f"      name: {_yaml_scalar(dataset)}",
            f"      type: {_yaml_scalar(dataset_id)}",
            "    metrics:",
        ]
        for name, value in metrics:
            lines += [f"    - type: {name}", f"      value: {value!r}", f"      name: {name.upper() if name.lower() == 'eer' else name}"]
    lines.append("---")

    kind = _BACKBONE_NAMES.get(config.backbone_type, config.backbone_type or "spectrogram CNN")
    body = [
        "",
        f"# {repo_id.split('/')[-1]}",
        "",
        f"A [wavguard](https://github.com/wavguard/wavguard) deepfake speech detector: {kind} backbone "
        f"({_backbone_text(config)}"
        + (f", first {config.num_layers} layers" if config.num_layers else "")
        + ") with a CNN head over its learned weighted hidden layers.",
        "",
        "## Score convention",
        "",
        "`score` is the calibrated probability that the audio is **fake** (synthesised or voice-converted): "
        f"higher means more likely fake. The label is `fake` when `score >= {config.threshold:.4g}`.",
        "",
        "## Usage",
        "",
        "```python",
        "from wavguard import Detector",
        "",
        f'det = Detector.from_pretrained("{repo_id}")',
        'pred = det.predict("clip.wav")',
        "print(pred.score, pred.label)",
        "```",
        "",
        "## Preprocessing",
        "",
        f"- sample rate: {config.sample_rate_hz} Hz (any input is resampled), mono",
        f"- windows: {config.window_seconds} s, hop {config.effective_hop_seconds} s, aggregation `{config.aggregation}`",
        f"- backbone revision: `{config.backbone_revision or 'default'}`",
        "",
    ]
    if metrics:
        body += ["## Evaluation", "", f"Data: {dataset}", "", "| metric | value |", "| --- | --- |"]
        body += [f"| {name} | {_shown(name, value)} |" for name, value in metrics]
        body.append("")
    limitations = config.extra.get(
        "limitations",
        "Detectors generalise imperfectly to generators, languages, speakers and channels absent from "
        "their training data. Treat the score as evidence, not proof.",
    )
    body += ["## Limitations", "", str(limitations), ""]
    return "\n".join(lines + body)


def stage_for_hub(detector: "Detector", directory: str | os.PathLike, repo_id: str) -> Path:
    """Save the detector and its model card into ``directory``: exactly what gets uploaded."""
    directory = detector.save_pretrained(directory)
    atomic_write_text(Path(directory) / CARD_NAME, render_model_card(detector.config, repo_id))
    return Path(directory)


def push_to_hub(
    detector: "Detector",
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str = "Upload wavguard detector",
    revision: str | None = None,
):
    """Create (if needed) the Hub repo and upload the staged detector in one commit."""
    import tempfile

    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    with tempfile.TemporaryDirectory(prefix="wavguard-hub-") as tmp:
        folder = stage_for_hub(detector, tmp, repo_id)
        return api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), commit_message=commit_message, revision=revision, repo_type="model"
        )
