"""Hugging Face Hub: model card and upload.

``stage_for_hub`` writes exactly what ``push_to_hub`` uploads (a portable save of the detector
plus a ``README.md`` model card), so the upload can be checked without a network. The card is a
``huggingface_hub.ModelCard`` whose metadata (``ModelCardData``) carries ``library_name``,
``pipeline_tag``, ``base_model``, ``datasets`` and the ``model-index`` results; nothing on it names
a local folder.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..config import DetectorConfig
from ..errors import ConfigError
from ..layout import ADAPTER_DIR, BACKBONE_DIR, CARD_NAME
from .portable import base_name, is_hub_id, is_local_path, scrub_local_paths

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

__all__ = [
    "build_model_card",
    "render_model_card",
    "stage_for_hub",
    "push_to_hub",
    "backbone_markdown",
    "backbone_id",
    "backbone_family",
    "aasist_markdown",
    "headline_metrics",
    "check_repo_id",
    "DEFAULT_LIMITATIONS",
]


class SavesPretrained(Protocol):
    """What can be published: anything that saves itself as a detector folder (a
    :class:`~wavguard.Detector`)."""

    def save_pretrained(self, directory: str | os.PathLike, *, portable: bool = ...) -> Path | str: ...


#: How cards name each backbone family (``config.backbone_type``).
_BACKBONE_FAMILIES = {"wav2vec2": "Wav2Vec2", "hubert": "HuBERT", "wavlm": "WavLM", "whisper": "Whisper encoder"}
#: What a card says about limitations unless ``config.extra["limitations"]`` says otherwise.
DEFAULT_LIMITATIONS = (
    "Detectors generalise imperfectly to generators, languages, speakers and channels absent from their "
    "training data. Treat the score as evidence, not proof."
)
#: Remote files a new upload replaces with nothing (peft's template card from older wavguard pushes).
_STALE_REMOTE = [f"{ADAPTER_DIR}/README.md"]


#: Training bookkeeping stored next to the metrics; not results, so not on the card.
_NOT_METRICS = {"epoch", "step", "global_step"}


def backbone_family(backbone_type: str | None, default: str) -> str:
    """How model cards and the demo page name a backbone family: ``"whisper" -> "Whisper encoder"``;
    an unknown type as written; ``default`` when there is none (the spectrogram CNN)."""
    return _BACKBONE_FAMILIES.get(backbone_type, backbone_type or default)


#: model-index metric types, in the order a card lists them (EER first, then the other ASVspoof 5
#: metrics), with the names shown; scores point towards FAKE, every one of these is lower = better
#: except ROC AUC and accuracy.
_METRIC_TYPES = {
    "eer": "EER",
    "min_dcf": "minDCF",
    "act_dcf": "actDCF",
    "cllr": "Cllr",
    "roc_auc": "ROC AUC",
    "accuracy": "accuracy",
    "ece": "ECE",
}
#: Where a stored metric was measured, from its prefix (``validation_eer``, ``test_eer[owner/data]``).
_SPLITS = {"validation": "validation", "val": "validation", "test": "test"}
_TEST_SOURCE = re.compile(r"^(?P<split>[a-z]+)_(?P<metric>[a-z_]+)\[(?P<source>.+)\]$")


def _metric_kind(key: str) -> tuple[str, str, str | None, str | None]:
    """``(model-index type, shown name, split, source)`` of a stored metric: ``validation_eer`` is an
    ``eer`` measured on the validation split, ``test_eer[owner/data@test]`` an ``eer`` on that test
    source; unknown keys keep their own name as type."""
    lowered = key.lower()
    if lowered in _METRIC_TYPES:
        return lowered, _METRIC_TYPES[lowered], None, None
    match = _TEST_SOURCE.match(lowered)
    if match and match["metric"] in _METRIC_TYPES and match["split"] in _SPLITS:
        source = key[match.start("source") : match.end("source")]
        return (
            match["metric"],
            f"{_METRIC_TYPES[match['metric']]} ({match['split']}: {source})",
            _SPLITS[match["split"]],
            source,
        )
    prefix, _, metric = lowered.partition("_")
    if metric in _METRIC_TYPES and prefix in _SPLITS:
        return metric, f"{_METRIC_TYPES[metric]} ({_SPLITS[prefix]})", _SPLITS[prefix], None
    return key, key, None, None


def headline_metrics(metrics: dict[str, Any]) -> list[tuple[str, float]]:
    """The numeric metrics a card shows, rounded to 4 decimals (training bookkeeping such as
    ``epoch`` left out): EER first (the evaluation's, a test source's, then the validation EER),
    then minDCF, actDCF, Cllr, ROC AUC, accuracy, ECE, then the rest by name.

    Example:
        >>> headline_metrics({"roc_auc": 0.98765, "epoch": 3, "validation_ece": 0.02, "eer": 0.031, "min_dcf": 0.2})
        [('eer', 0.031), ('min_dcf', 0.2), ('roc_auc', 0.9877), ('validation_ece', 0.02)]
    """
    numeric = [
        (k, round(float(v), 4))
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _NOT_METRICS
    ]
    rank = list(_METRIC_TYPES)

    def order(item: tuple[str, float]) -> tuple[int, int, str]:
        kind, _, split, _ = _metric_kind(item[0])
        return (rank.index(kind) if kind in rank else len(rank), (None, "test", "validation").index(split), item[0])

    return sorted(numeric, key=order)


def _shown(name: str, value: float) -> str:
    """EERs and calibration errors as percentages (they are fractions), the rest as numbers."""
    if _metric_kind(name)[0] in ("eer", "ece"):
        return f"{100 * value:.1f} %"
    return f"{value:.4g}"


def backbone_markdown(config) -> str:
    """How model cards and the demo page name the backbone (Markdown): ``extra["backbone_name"]``
    as written, a Hub id or a local folder's base name in a code span; never a full local path."""
    named = (config.extra or {}).get("backbone_name")
    if named:
        return str(named)
    if not config.backbone:
        return "none"
    if config.backbone == BACKBONE_DIR:
        return "bundled in `backbone/`"
    if is_local_path(config.backbone):
        return f"`{base_name(config.backbone)}` (a local checkpoint)"
    return f"`{config.backbone}`"


def backbone_id(config) -> str:
    """A short plain name of the backbone for machines (the HTTP service's responses): its Hub id,
    else ``extra["base_model"]`` (the Hub model a bundled or converted backbone copies), else the
    local folder's base name; ``"none"`` for the spectrogram CNN."""
    if not config.backbone:
        return "none"
    if config.backbone != BACKBONE_DIR and not is_local_path(config.backbone):
        return str(config.backbone)
    base_model = _namespaced_hub_id((config.extra or {}).get("base_model"))
    return base_model or base_name(config.backbone)


def _namespaced_hub_id(value: Any) -> str | None:
    """``value`` when it is a ``namespace/name`` Hub id (a bare word such as ``"custom"`` is not)."""
    return value if isinstance(value, str) and "/" in value and is_hub_id(value) else None


def _source_hub_ids(value: Any) -> list[str]:
    """The Hub dataset ids in a data source as training records it: a string, a ``{"source": ...}``
    mapping or a list of those (``@split`` suffixes of test sources dropped)."""
    if isinstance(value, (list, tuple)):
        return [hub_id for item in value for hub_id in _source_hub_ids(item)]
    if isinstance(value, dict):
        value = value.get("source")
    hub_id = _namespaced_hub_id(value.split("@")[0] if isinstance(value, str) else value)
    return [hub_id] if hub_id else []


def _training_hub_ids(config) -> list[str]:
    training = config.extra.get("training")
    return _source_hub_ids(training.get("train_data")) if isinstance(training, dict) else []


def _datasets(config) -> list[str]:
    """Hub datasets for the card's ``datasets``: ``extra["datasets"]``, ``["dataset_id"]`` or the
    training data, where they are Hub ids."""
    listed = config.extra.get("datasets")
    candidates = list(listed) if isinstance(listed, (list, tuple)) else []
    candidates.append(config.extra.get("dataset_id"))
    found = []
    for hub_id in [*_source_hub_ids(candidates), *_training_hub_ids(config)]:
        if hub_id not in found:
            found.append(hub_id)
    return found


#: The longest dataset description the ``model-index`` shows as the dataset's name.
MAX_DATASET_NAME_CHARS = 80


def _dataset_name(extra: dict, description: str, dataset_id: str) -> str:
    """The ``model-index`` dataset name: ``extra["dataset_name"]``, else the description when it
    is one short line, else the dataset id (a paragraph belongs in the card's text, not in a
    leaderboard's name field)."""
    if extra.get("dataset_name"):
        return str(extra["dataset_name"])
    if len(description) <= MAX_DATASET_NAME_CHARS and "\n" not in description:
        return description
    return dataset_id


def build_model_card(config, repo_id: str, license: str = "apache-2.0") -> ModelCard:
    """The Hub model card of a detector config, as a ``huggingface_hub.ModelCard``.

    Args:
        config: the detector's :class:`~wavguard.config.DetectorConfig`; ``config.metrics`` (e.g.
            ``{"eer": 0.031, "roc_auc": 0.99}``, fractions) fill the ``model-index`` results,
            ``config.extra["dataset"]`` (a description, in the card's text), ``["dataset_name"]``
            (a short name, in the ``model-index``) and ``["dataset_id"]`` (a short id or a Hub
            dataset id) name their data, ``["datasets"]`` lists Hub datasets,
            ``["backbone_name"]`` names a local backbone and ``["base_model"]`` (a Hub id) fills
            ``base_model``. Local paths anywhere in them are shown as base names.
        repo_id: ``user/name`` on the Hub.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData  # hf_api's import cost only when carding

    config = config.replace(
        extra=scrub_local_paths(dict(config.extra)), metrics=scrub_local_paths(dict(config.metrics))
    )
    metrics = headline_metrics(config.metrics)
    # the data the metrics come from: as described, else the Hub dataset the detector trained on
    # (its validation split holds the validation metrics), "custom" only when nothing names it
    described = config.extra.get("dataset")
    trained_on = (_training_hub_ids(config) + _datasets(config))[:1]
    dataset_id = str(config.extra.get("dataset_id") or (trained_on[0] if trained_on else None) or described or "custom")
    dataset = str(described or dataset_id)
    dataset_name = _dataset_name(config.extra, dataset, dataset_id)
    name = repo_id.split("/")[-1]
    base_model = _namespaced_hub_id(config.extra.get("base_model")) or _namespaced_hub_id(config.backbone)
    tags = [
        t
        for t in ("audio-classification", "deepfake-detection", "anti-spoofing", "wavguard", config.backbone_type)
        if t
    ]
    results = []
    for key, value in metrics:
        kind, shown, split, source = _metric_kind(key)
        test_set = ((_source_hub_ids(source) or [source.split("@")[0]])[0]) if source else None  # its own data
        results.append(
            EvalResult(
                task_type="audio-classification",
                task_name="Deepfake speech detection",
                dataset_type=test_set or dataset_id,
                dataset_name=test_set or dataset_name,
                dataset_split=split,
                metric_type=kind,
                metric_value=value,
                metric_name=shown,
            )
        )
    data = ModelCardData(
        library_name="wavguard",
        license=license,
        pipeline_tag="audio-classification",
        tags=tags,
        base_model=base_model,
        datasets=_datasets(config) or None,
        model_name=name if results else None,
        eval_results=results or None,
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{_card_body(config, repo_id, metrics, dataset)}")


def render_model_card(config, repo_id: str, license: str = "apache-2.0") -> str:
    """The model card's text (``README.md``: YAML metadata, then Markdown); see :func:`build_model_card`."""
    return str(build_model_card(config, repo_id, license))


def aasist_markdown(config) -> str:
    """How model cards name a config's AASIST network (Markdown; ``""`` when it has none)."""
    if config.aasist is None:
        return ""
    trained = {"full": "fine-tuned", "graph": "graph part fine-tuned, encoder frozen"}.get(
        config.aasist["train"], "frozen"
    )
    return f"AASIST (raw waveform; `{config.aasist['weights'] or 'random init'}` weights, {trained})"


def _network_sentence(config) -> str:
    if config.kind == "aasist":
        head = "its published output layer" if config.aasist["head"] == "published" else "a new linear head"
        return f"{aasist_markdown(config)} with {head}, no backbone."
    kind = backbone_family(config.backbone_type, "spectrogram CNN")
    sentence = (
        f"{kind} backbone ({backbone_markdown(config)}"
        + (f", first {config.num_layers} layers" if config.num_layers else "")
        + ") with a CNN head over its learned weighted hidden layers"
    )
    if config.aasist is not None:
        sentence += f", fused with {aasist_markdown(config)}: one linear layer over both embeddings"
    return sentence + "."


def _card_body(config, repo_id: str, metrics: list[tuple[str, float]], dataset: str) -> str:
    body = [
        "",
        f"# {repo_id.split('/')[-1]}",
        "",
        f"A [wavguard](https://github.com/wavguard/wavguard) deepfake speech detector: {_network_sentence(config)}",
        "",
        "## Score convention",
        "",
        "`score` is the calibrated probability that the audio is **fake** (synthesised or voice-converted): "
        f"higher means more likely fake. The label is `fake` when `score >= {config.threshold:.4g}`.",
        "",
        "## Usage",
        "",
        "```python",
        "from wavguard import Detector   # pip install wavguard-detector",
        "",
        f'det = Detector.from_pretrained("{repo_id}")',
        'pred = det.predict("clip.wav")',
        "print(pred.score, pred.label)",
        "```",
        "",
        "With transformers (after `import wavguard`, which registers the `wavguard` model type; no remote code):",
        "",
        "```python",
        "import wavguard",
        "from transformers import pipeline",
        "",
        f'clf = pipeline("audio-classification", model="{repo_id}")',
        'clf({"array": samples, "sampling_rate": 16000})   # [{"label": "fake", "score": ...}, ...]',
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
    for title, text in (config.extra.get("card_sections") or {}).items():  # e.g. a benchmark's numbers
        body += [f"## {title}", "", str(text), ""]
    body += ["## Limitations", "", str(config.extra.get("limitations", DEFAULT_LIMITATIONS)), ""]
    return "\n".join(body)


def check_repo_id(repo_id: Any, setting: str = "repo_id") -> str:
    """``repo_id`` as the Hub takes a model repository's name: ``name`` or ``owner/name``.

    Raises:
        ConfigError: naming ``setting`` (the option that gave it) and what a repository id looks like.
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(str(repo_id))
    except HFValidationError:
        raise ConfigError(
            f"{setting}={repo_id!r} is not a Hub repository id: use name or owner/name (letters, "
            "digits, '-', '_' and '.')"
        ) from None
    return str(repo_id)


def stage_for_hub(
    detector: SavesPretrained, directory: str | os.PathLike, repo_id: str, *, portable: bool = True
) -> Path:
    """Save the detector (``portable`` by default: a local backbone is bundled, no local paths)
    and its model card into ``directory``: exactly what gets uploaded."""
    directory = Path(detector.save_pretrained(directory, portable=portable))
    build_model_card(DetectorConfig.load(directory), repo_id).save(
        directory / CARD_NAME
    )  # the card of what is uploaded
    return directory


def push_to_hub(
    detector: SavesPretrained,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str = "Upload wavguard detector",
    revision: str | None = None,
    portable: bool = True,
):
    """Create (if needed) the Hub repo and upload the staged detector in one commit.

    peft's template card left by an older upload (``adapter/README.md``) is deleted in the same commit.
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    with tempfile.TemporaryDirectory(prefix="wavguard-hub-") as tmp:
        folder = stage_for_hub(detector, tmp, repo_id, portable=portable)
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            commit_message=commit_message,
            revision=revision,
            repo_type="model",
            delete_patterns=_STALE_REMOTE,
        )
