"""After the last epoch, the best detector (``OUTPUT_DIR/best``): calibrated and thresholded on the
validation data, scored on each test source, its results recorded in its ``config.json``, and
published to the Hub when ``push_to_hub`` says so.

Each function loads the saved best detector again, so what is calibrated, tested and recorded is
exactly the folder a user loads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader, Dataset

from ..detector import Detector
from ..errors import WavguardError
from ..evaluation.calibration import calibrate_detector
from ..layout import CONFIG_NAME
from .config import TrainConfig
from .data import ClipDataset, _as_source_list, load_sources
from .loop import MetricsLog, TrainingModule, evaluate
from .writes import writing

__all__ = ["finalize_best", "score_test_sources", "push_best"]

logger = logging.getLogger(__name__)


def finalize_best(best_dir: Path, cfg: TrainConfig, val_data: Any, seconds: float) -> None:
    """Calibrate the best detector on the validation data and choose its threshold there (as
    ``cfg.calibration`` and ``cfg.threshold`` say); record the training time. Main process only:
    the others wait at a barrier, so nothing here scores collectively.

    Args:
        best_dir: the saved best detector; nothing happens when there is none.
        cfg: the run's settings.
        val_data: the validation ``datasets.Dataset`` (``None``: no calibration).
        seconds: the run's wall time, recorded as ``extra["training"]["training_seconds"]``.
    """
    if not (best_dir / CONFIG_NAME).is_file():
        return
    best = Detector.from_pretrained(best_dir, backend="torch")
    training = dict(best.config.extra.get("training", {}))
    training["training_seconds"] = round(float(seconds), 3)
    best.config.extra = {**best.config.extra, "training": training}
    if val_data is not None and cfg.calibration != "none":
        result = calibrate_detector(
            best,
            val_data,
            method=cfg.calibration,
            threshold=cfg.threshold,
            batch_size=cfg.eval_batch_size or cfg.batch_size,
            distributed=False,
        )
        logger.info("calibrated on validation: %s", result)
        best.config.metrics = {**best.config.metrics, "validation_ece": result.ece_after}
    with writing(best_dir, "the best detector's calibrated config"):
        best.config.save(best_dir)


def score_test_sources(
    accelerator, best_dir: Path, cfg: TrainConfig, metrics: MetricsLog, loader_for: Callable[[Dataset], DataLoader]
) -> dict[str, dict[str, Any]]:
    """Score each of ``cfg.test_data``'s sources with the saved best detector (deterministic crops,
    every process its share); the main process records each EER in the detector's config as
    ``test_eer[SOURCE@SPLIT]``.

    Args:
        accelerator: the run's ``accelerate.Accelerator``.
        best_dir: the saved best detector.
        cfg: the run's settings.
        metrics: the run's ``metrics.jsonl``; one ``{"test": name, ...}`` record per source.
        loader_for: the (unprepared) evaluation ``DataLoader`` of a clip dataset.

    Returns:
        ``{source name: {"eer", "loss", "accuracy", "num_clips", ...}}``.
    """
    best = Detector.from_pretrained(best_dir, backend="torch")
    module = accelerator.prepare_model(TrainingModule(best.model), evaluation_mode=True)
    crop = int(round(cfg.crop_seconds * best.config.sample_rate_hz))
    out: dict[str, dict[str, Any]] = {}
    for source, split, options in _as_source_list(cfg.test_data, cfg.test_split, {"streaming": cfg.streaming}):
        data = load_sources(
            {"source": source, "split": split, **options},
            split,
            limit=cfg.max_eval_clips,
            seed=cfg.seed,
            limit_name="max_eval_clips",
            **cfg.column_options,
        )
        clips = ClipDataset(data, best.config.sample_rate_hz, crop, train=False, min_samples=best.model.min_samples)
        result = evaluate(accelerator, module, accelerator.prepare_data_loader(loader_for(clips)))
        name = f"{source}" + (f"@{split}" if split else "")
        out[name] = {k: v for k, v in result.items() if k not in ("scores", "labels")}
        metrics.write({"test": name, "step": -1, **out[name]})
    if accelerator.is_main_process:
        best.config.metrics.update({f"test_eer[{k}]": v["eer"] for k, v in out.items()})
        with writing(best_dir, "the best detector's test results"):
            best.config.save(best_dir)
    accelerator.wait_for_everyone()
    return out


def push_best(best_dir: Path, cfg: TrainConfig) -> Any:
    """Publish the best detector with its model card to ``cfg.hub_model_id`` (``Detector.push_to_hub``:
    a portable save and the card :mod:`wavguard.hub.publish` writes). Main process only.

    Returns:
        the Hub's commit info.

    Raises:
        WavguardError: the upload failed; the message names the saved detector and how to publish it again.
    """
    best = Detector.from_pretrained(best_dir, backend="torch")
    logger.info("publishing %s to the Hub as %s", best_dir, cfg.hub_model_id)
    try:
        return best.push_to_hub(cfg.hub_model_id, private=cfg.hub_private)
    except Exception as exc:  # noqa: BLE001 - network, authentication, permissions: one message either way
        raise WavguardError(
            f"the best detector is saved in {best_dir}, but publishing it to the Hub as {cfg.hub_model_id!r} failed "
            f"({type(exc).__name__}: {exc}); publish it again with "
            f"Detector.from_pretrained({str(best_dir)!r}).push_to_hub({cfg.hub_model_id!r})"
        ) from exc
