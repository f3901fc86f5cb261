"""The Trainer: builds the detector, data, optimizer and schedule, and runs training with accelerate.

One code path from a CPU to many GPUs (``accelerate launch``): ``Accelerator.prepare`` shards
the data, ``accumulate``/``backward`` handle gradient accumulation and mixed precision, and
``gather_for_metrics`` collects validation scores from every process.

Example:
    >>> from wavguard.training import TrainConfig, Trainer
    >>> cfg = TrainConfig(train_data="data/", validation_fraction=0.1,
    ...                   backbone="facebook/wav2vec2-base", mode="lora", output_dir="runs/lora")
    >>> result = Trainer(cfg).fit()                          # doctest: +SKIP
    >>> result.best_dir                                      # a wavguard detector directory
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..detector import Detector
from ..errors import ConfigError, WavguardError
from .adversarial import adversary_from_config
from .build import ADAM_BETAS, ADAM_EPSILON, build_accelerator, build_detector, build_optimizer, provenance
from .cache import FeatureCache, FeatureDataset, feature_collate
from .cache import cache_settings as _cache_settings
from .checkpoint import (
    TrainState,
    check_output_dir,
    data_record,
    fixed_settings,
    resume_run,
    save_checkpoint,
    warn_if_changed,
)
from .config import TrainConfig
from .consistency import consistency_from_config
from .data import ClipDataset, EpochSampler, inverse_frequency_weights, load_sources, pad_collate
from .finish import finalize_best, push_best, score_test_sources
from .loop import MetricsLog, TrainingModule, evaluate, train_epoch
from .losses import build_loss, prepare_model_for_loss
from .pairing import PairedLoss, PairedSampler, pair_groups
from .writes import save_detector, writing

__all__ = ["Trainer", "TrainResult", "BEST_DIR", "METRICS_NAME"]

logger = logging.getLogger(__name__)
BEST_DIR = "best"
METRICS_NAME = "metrics.jsonl"


@dataclass
class TrainResult:
    """What a finished run produced.

    Attributes:
        best_dir: the saved detector (``Detector.from_pretrained(best_dir)``).
        best_eer: its validation EER (NaN without validation data).
        best_epoch: 1-based epoch it came from.
        global_step: optimizer steps taken.
        stopped_early: early stopping ended the run.
        history: per-epoch records (train_loss, val_eer, ...), as in ``metrics.jsonl``.
        test_metrics: EER etc. of the best model per test source.
        hub_model_id: the Hub repository the best detector was published to (``push_to_hub``), else ``None``.
    """

    best_dir: Path
    best_eer: float
    best_epoch: int
    global_step: int
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    test_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    hub_model_id: str | None = None


class Trainer:
    """Train a detector as a :class:`TrainConfig` describes.

    Args:
        config: the run's settings.
        accelerator: an ``accelerate.Accelerator`` (default: built from ``config``).
        progress: draw tqdm bars (epochs, feature caching) on stderr; what is logged is the same either way.

    Attributes (after :meth:`setup`):
        detector: the :class:`~wavguard.detector.Detector` being trained (unwrapped model).
    """

    def __init__(self, config: TrainConfig, accelerator=None, *, progress: bool = True):
        self.config, self.progress = config, progress
        self.accelerator = accelerator or build_accelerator(config)
        self.output_dir = Path(config.output_dir)
        self.detector = None
        self._ready = False

    # -- setup ---------------------------------------------------------------------------
    def build_detector(self) -> Detector:
        """A new detector as the config says (:func:`~.build.build_detector`)."""
        return build_detector(self.config)

    def _load_data(self):
        cfg = self.config
        train = load_sources(
            cfg.train_data,
            cfg.train_split,
            limit=cfg.max_train_clips,
            seed=cfg.seed,
            revision=cfg.revision,
            streaming=cfg.streaming,
            extra_columns=(cfg.pairing["column"],) if cfg.pairing else (),
            **cfg.column_options,
        )
        if cfg.validation_data not in (None, "", []):
            val = load_sources(
                cfg.validation_data,
                cfg.validation_split,
                limit=cfg.max_eval_clips,
                seed=cfg.seed,
                streaming=cfg.streaming,
                limit_name="max_eval_clips",
                **cfg.column_options,
            )
        elif cfg.validation_fraction > 0:
            parts = train.train_test_split(test_size=cfg.validation_fraction, stratify_by_column="label", seed=cfg.seed)
            train, val = parts["train"], parts["test"]
        else:
            val = None
        return train, val

    def _datasets(self, train_data, val_data):
        cfg, model = self.config, self.detector.model
        rate = self.detector.config.sample_rate_hz
        crop = int(round(cfg.crop_seconds * rate))
        if cfg.aasist_augment is not None and (self.detector.config.kind != "transformer" or model.aasist is None):
            raise ConfigError(
                f"aasist_augment={cfg.aasist_augment!r} is for a fused detector (a transformer with "
                "detector.aasist); this detector has no AASIST branch: set aasist_augment=null"
            )
        clips = lambda data, is_train: ClipDataset(  # noqa: E731
            data,
            rate,
            crop,
            train=is_train,
            seed=cfg.seed,
            augment=cfg.augment_fn,
            aasist_augment=cfg.aasist_augment_fn,
            min_samples=model.min_samples,
            preprocess=self.detector.pipeline.preprocess if self.detector.config.denoise else None,
        )
        if not cfg.uses_feature_cache:
            return clips(train_data, True), (clips(val_data, False) if val_data is not None else None)

        dcfg = self.detector.config
        self.cache = FeatureCache(cfg.resolved_cache_dir, _cache_settings(cfg, dcfg, crop, model))
        out = []
        for data in (train_data, val_data):
            if data is None:
                out.append(None)
                continue
            fixed = clips(data, False)  # the deterministic crop is what gets cached
            keys = [self.cache.key(cell) for cell in data["audio"]]
            self.cache.fill(
                model.to(self.accelerator.device),
                fixed,
                keys,
                self.accelerator,
                cfg.eval_batch_size or cfg.batch_size,
                progress=self.progress,
            )
            out.append(FeatureDataset(self.cache, keys, fixed.labels()))
        return out[0], out[1]

    def _loader(self, dataset, batch_size: int, train: bool, weights: np.ndarray | None = None, groups=None):
        cfg = self.config
        if groups is not None:  # a real clip and its copies in one batch
            sampler = PairedSampler(groups, batch_size, cfg.seed)
        else:
            sampler = EpochSampler(len(dataset), cfg.seed, weights=weights, shuffle=train)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=feature_collate if isinstance(dataset, FeatureDataset) else pad_collate,
            num_workers=cfg.num_workers,
            generator=torch.Generator().manual_seed(cfg.seed),  # keeps the global RNG untouched
        )

    def setup(self) -> Trainer:
        """Build everything (idempotent): detector, data, loaders, optimizer, schedule, prepare."""
        if self._ready:
            return self
        from accelerate.utils import set_seed
        from transformers import get_scheduler

        cfg, acc = self.config, self.accelerator
        set_seed(cfg.seed)
        self.detector = self.build_detector()
        train_data, val_data = self._load_data()
        self._val_data = val_data  # kept for calibration: a streamed source is read once
        self._data_record = data_record(provenance(cfg)["train_data"], train_data)
        self.train_dataset, self.val_dataset = self._datasets(train_data, val_data)
        labels = self.train_dataset.labels()
        if cfg.class_weights is not None:
            weights = np.asarray(cfg.class_weights)
        elif cfg.balance == "class_weights":
            weights = inverse_frequency_weights(labels)
        else:
            weights = None
            inverse_frequency_weights(labels)  # both classes must be present
        self.class_weights = None if weights is None else torch.tensor(weights, dtype=torch.float32)
        self.loss_fn = build_loss(cfg.loss, cfg.loss_options, self.class_weights)
        self.detector.config = prepare_model_for_loss(self.detector.model, self.detector.config, self.loss_fn)
        self.adversary = adversary_from_config(cfg.adversarial, self.loss_fn, cfg.seed)
        self.consistency = consistency_from_config(cfg.consistency, self.detector.config.sample_rate_hz, cfg.seed)
        item_weights = inverse_frequency_weights(labels)[labels] if cfg.balance == "oversample" else None
        groups = pair_groups(train_data, cfg.pairing) if cfg.pairing else None
        self.train_loss = (
            self.loss_fn
            if groups is None
            else PairedLoss(self.loss_fn, groups, cfg.pairing["margin_weight"], cfg.pairing["margin"])
        )
        train_loader = self._loader(self.train_dataset, cfg.batch_size, True, item_weights, groups)
        self.train_sampler = train_loader.sampler
        val_loader = None
        if self.val_dataset is not None:
            val_loader = self._loader(self.val_dataset, cfg.eval_batch_size or cfg.batch_size, False)
        # the accelerator's accumulation (its env variable may override the recipe) is what steps the optimizer
        if cfg.sam is not None and acc.gradient_accumulation_steps != 1:
            raise ConfigError(
                f"sam needs the whole step's gradient before its second pass; accelerate accumulates "
                f"{acc.gradient_accumulation_steps} batches per step (ACCELERATE_GRADIENT_ACCUMULATION_STEPS?): "
                "use 1 or sam=null"
            )
        steps_per_epoch = math.ceil(len(train_loader) / acc.gradient_accumulation_steps)
        self.total_steps = steps_per_epoch * cfg.epochs
        optimizer = build_optimizer(cfg, self.detector.model, self.loss_fn)
        scheduler = get_scheduler(
            cfg.scheduler,
            optimizer,
            num_warmup_steps=math.ceil(cfg.warmup_ratio * self.total_steps),
            num_training_steps=self.total_steps,
        )
        self.module = TrainingModule(self.detector.model)
        prepared = acc.prepare(self.module, optimizer, train_loader, scheduler, *([val_loader] if val_loader else []))
        self.module, self.optimizer, self.train_loader, self.scheduler = prepared[:4]
        self.val_loader = prepared[4] if val_loader else None
        self.metrics = MetricsLog(self.output_dir / METRICS_NAME, acc.is_main_process)
        self._ready = True
        return self

    # -- training ------------------------------------------------------------------------
    def fit(self, resume: bool = False, *, start_if_missing: bool = False) -> TrainResult:
        """Train; with ``resume`` continue from the newest intact checkpoint in ``output_dir``.

        Args:
            resume: continue from a checkpoint; damaged newer ones are skipped with a warning.
            start_if_missing: with ``resume``, start from scratch (with a warning) when there is no
                intact checkpoint, instead of refusing (the CLI's ``--resume-or-start``).

        Returns:
            a :class:`TrainResult`; the best detector is in ``output_dir/best``.

        Raises:
            ConfigError: before any training step, when ``output_dir`` is a file, under a file or
                not writable, or when ``resume`` finds no intact checkpoint and not ``start_if_missing``.
        """
        cfg, acc = self.config, self.accelerator
        self._started = time.perf_counter()
        check_output_dir(self.output_dir)
        if resume:  # checks the newest checkpoint and the fixed settings before setup builds data and model
            state, checkpoint = resume_run(acc, self.output_dir, self._fixed_record(), self.setup, start_if_missing)
        else:
            self.setup()
            state, checkpoint = TrainState(), None
        if checkpoint is not None:
            self.metrics.truncate(state.extra.get("metrics_lines", 0))
            logger.info("resuming from %s (epoch %d, step %d)", checkpoint, state.epoch + 1, state.global_step)
            warn_if_changed(state.extra.get("run"), self._run_record())
        elif acc.is_main_process:
            with writing(self.output_dir / "train_config.yaml", "the run's settings"):
                self.output_dir.mkdir(parents=True, exist_ok=True)
                if self.metrics.path.exists():
                    self.metrics.path.unlink()
                cfg.save(self.output_dir / "train_config.yaml", mixed_precision=acc.mixed_precision)
        if acc.log_with:
            acc.init_trackers("wavguard", config=_flat(cfg.to_dict()))
        acc.wait_for_everyone()

        def checkpoint_now(st: TrainState, last_batch: bool) -> None:
            if cfg.checkpoint_every_steps and st.global_step % cfg.checkpoint_every_steps == 0 and not last_batch:
                self._save_checkpoint(st)

        while state.epoch < cfg.epochs and not state.stopped_early:
            started = time.perf_counter()
            loader = (
                acc.skip_first_batches(self.train_loader, state.batches_done)
                if state.batches_done
                else self.train_loader
            )
            # the sampler and crops are functions of the epoch; set it on them directly, since a
            # skip_first_batches loader does not forward set_epoch to a wrapped sampler
            loader.set_epoch(state.epoch)
            self.train_sampler.set_epoch(state.epoch)
            self.train_dataset.set_epoch(state.epoch)
            train_epoch(
                acc,
                self.module,
                loader,
                self.optimizer,
                self.scheduler,
                state,
                class_weights=self.class_weights,
                max_grad_norm=cfg.max_grad_norm,
                log_every_steps=cfg.log_every_steps,
                metrics=self.metrics,
                on_step=checkpoint_now,
                loss_fn=self.train_loss,
                adversary=self.adversary,
                sam=cfg.sam,
                consistency=self.consistency,
                progress=self.progress,
            )
            self._end_epoch(state, time.perf_counter() - started)
        acc.wait_for_everyone()
        best_dir = self.output_dir / BEST_DIR
        if acc.is_main_process:
            finalize_best(
                best_dir,
                cfg,
                self._val_data if self.val_dataset is not None else None,
                time.perf_counter() - self._started,
            )
        acc.wait_for_everyone()
        test_metrics = {}
        if cfg.test_data not in (None, "", []):
            test_metrics = score_test_sources(
                acc,
                best_dir,
                cfg,
                self.metrics,
                lambda clips: self._loader(clips, cfg.eval_batch_size or cfg.batch_size, False),
            )
        push_failure = None
        if cfg.push_to_hub and acc.is_main_process:  # after testing: the card shows the test results too
            try:
                push_best(best_dir, cfg)
            except WavguardError as exc:  # raised once every process is past the barrier
                push_failure = exc
        acc.wait_for_everyone()
        acc.end_training()
        if push_failure is not None:
            raise push_failure
        history = [r for r in _read_jsonl(self.metrics.path) if "val_eer" in r or "train_epoch_loss" in r]
        # inf is "no validation yet" inside TrainState; a result without validation reports NaN (n/a)
        best_eer = state.best_eer if state.best_epoch >= 0 and math.isfinite(state.best_eer) else math.nan
        return TrainResult(
            best_dir,
            best_eer,
            state.best_epoch + 1,
            state.global_step,
            state.stopped_early,
            history,
            test_metrics,
            cfg.hub_model_id if cfg.push_to_hub else None,
        )

    def _fixed_record(self) -> dict[str, Any]:
        return fixed_settings(self.config, ADAM_BETAS, ADAM_EPSILON)

    def _run_record(self) -> dict[str, Any]:
        """What a checkpoint records about its run: a resume refuses another fixed setting and warns about the rest."""
        cfg, acc = self.config, self.accelerator
        return {
            **self._fixed_record(),
            "batch_size": cfg.batch_size,
            "max_grad_norm": cfg.max_grad_norm,
            "gradient_accumulation_steps": acc.gradient_accumulation_steps,
            "num_processes": acc.num_processes,
            **self._data_record,
        }

    def _end_epoch(self, state: TrainState, seconds: float) -> None:
        cfg, acc = self.config, self.accelerator
        record: dict[str, Any] = {
            "epoch": state.epoch + 1,
            "step": state.global_step,
            "train_epoch_loss": state.loss_sum / max(state.loss_count, 1),
            "epoch_seconds": round(seconds, 3),
        }
        improved = self.val_loader is None
        if self.val_loader is not None:
            result = evaluate(acc, self.module, self.val_loader)
            record.update(val_eer=result["eer"], val_loss=result["loss"], val_accuracy=result["accuracy"])
            improved = result["eer"] < state.best_eer or (state.best_epoch < 0 and math.isnan(result["eer"]))
            if improved:
                state.best_eer, state.bad_epochs = result["eer"], 0
            else:
                state.bad_epochs += 1
        if improved:
            state.best_epoch = state.epoch
            self.save_detector(
                self.output_dir / BEST_DIR, {"validation_eer": record.get("val_eer"), "epoch": state.epoch + 1}
            )
        if cfg.early_stopping_patience is not None and state.bad_epochs >= cfg.early_stopping_patience:
            state.stopped_early = True
            record["stopped_early"] = True
        self.metrics.write(record)
        if acc.log_with:
            acc.log({k: v for k, v in record.items() if isinstance(v, (int, float))}, step=state.global_step)
        if acc.is_main_process:
            logger.info(
                "epoch %d: %s",
                state.epoch + 1,
                ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()),
            )
        state.epoch += 1
        state.batches_done, state.loss_sum, state.loss_count = 0, 0.0, 0
        self._save_checkpoint(state)

    def _save_checkpoint(self, state: TrainState) -> None:
        lines = self.metrics.num_lines() if self.accelerator.is_main_process else 0
        state.extra["metrics_lines"] = lines
        state.extra["run"] = self._run_record()
        save_checkpoint(self.accelerator, self.output_dir, state, self.config.keep_checkpoints)

    def save_detector(self, directory: Path, metrics: dict[str, Any] | None = None) -> Path:
        """Save the current model as a wavguard detector directory (main process; others wait);
        :class:`~wavguard.errors.OutputWriteError` when the disk is full or the folder locked."""
        return save_detector(self.accelerator, self.module, self.detector, directory, metrics)


def _flat(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in data.items()}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
