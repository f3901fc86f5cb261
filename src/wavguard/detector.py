"""Detector: build, load, save and score. The one object most users touch.

Example:
    >>> from wavguard import Detector
    >>> det = Detector.from_pretrained("path/or/hub-id")      # doctest: +SKIP
    >>> pred = det.predict("clip.flac")                        # doctest: +SKIP
    >>> pred.score, pred.label                                 # doctest: +SKIP
    (0.93, 'fake')
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import audio as audio_io
from ._io import atomic_write
from .backbone import load_backbone, quiet_transformers, resolve_model_dir
from .config import DetectorConfig
from .errors import AudioTooShortError, ConfigError, EmptyAudioError, ModelLoadError, SilentAudioError, WavguardError
from .model import DetectorModel
from .prediction import Prediction, Segment
from .windows import Window, WindowBuffer, aggregate_logits, fake_margin

__all__ = ["Detector", "ScoringState", "WEIGHTS_NAME", "BACKBONE_DIR"]

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
BACKBONE_DIR = "backbone"
ON_ERROR = ("raise", "skip", "return")


@dataclass
class ScoringState:
    """Scoring state of one input while its windows go through the model.

    Attributes:
        source: the input's name (errors and the prediction carry it).
        spans: (start, end) samples of each scored window, in order.
        logits: one (2,) array per scored window.
        num_samples: samples seen so far at the model's rate.
        peak: largest absolute sample seen so far.
        error: the error that stopped this input, if any.
    """

    source: str
    spans: list[tuple[int, int]] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)
    num_samples: int = 0
    peak: float = 0.0
    error: WavguardError | None = None


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


class Detector:
    """A deepfake speech detector: preprocessing contract + network + calibration + threshold.

    Build one with :meth:`from_backbone` (new, untrained head) or :meth:`from_pretrained`
    (a saved detector), score with :meth:`predict`, save with :meth:`save_pretrained`.

    Args:
        model: a module mapping (waveforms (B, S), lengths (B,)) to logits (B, 2) with columns
            (REAL, FAKE), exposing ``min_samples``.
        config: the detector's :class:`DetectorConfig`.
        backbone_is_reference: the backbone's weights equal ``config.backbone`` at
            ``config.backbone_revision``, so a save may reference it instead of copying it.
    """

    def __init__(self, model: nn.Module, config: DetectorConfig, backbone_is_reference: bool = False):
        self.model = model
        self.config = config
        self.backbone_is_reference = backbone_is_reference
        self.model.eval()

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_backbone(
        cls,
        name_or_path: str,
        revision: str | None = None,
        *,
        pretrained: bool = True,
        config: DetectorConfig | None = None,
        seed: int | None = None,
        **overrides: Any,
    ) -> "Detector":
        """A new detector on a pretrained backbone, with a freshly initialised head.

        Args:
            name_or_path: Hub id or local directory of a wav2vec2 / HuBERT / WavLM / Whisper checkpoint.
            revision: Hub revision of the backbone.
            pretrained: ``False`` gives the backbone random weights (tests, ablations).
            config: a base config; ``overrides`` (any :class:`DetectorConfig` field) change it.
            seed: seeds the head's (and a random backbone's) initialisation.

        Example:
            >>> det = Detector.from_backbone("facebook/wav2vec2-base", num_layers=6)  # doctest: +SKIP
        """
        base = config or DetectorConfig()
        cfg = base.replace(backbone=str(name_or_path), backbone_revision=revision, **overrides)
        if seed is not None:
            torch.manual_seed(seed)
        backbone = load_backbone(cfg.backbone, revision, cfg.num_layers, pretrained=pretrained, normalize=cfg.normalize)
        cfg = cfg.replace(
            backbone_type=backbone.model_type,
            normalize=backbone.normalize,
            sample_rate_hz=backbone.sample_rate_hz,
        )
        model = DetectorModel(backbone, cfg)
        return cls(model, cfg, backbone_is_reference=pretrained)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        revision: str | None = None,
        *,
        device: str | torch.device | None = None,
    ) -> "Detector":
        """Load a saved detector from a local directory or a Hugging Face Hub id.

        Hub ids are fetched with ``huggingface_hub.snapshot_download`` (honours
        ``HF_HUB_OFFLINE`` and the local cache). Nothing from the checkpoint is executed. A
        directory written by :func:`wavguard.export.export_onnx` gives an
        :class:`~wavguard.export.OnnxDetector`.
        """
        directory = resolve_model_dir(str(name_or_path), revision)
        if (directory / "model.onnx").is_file() and not (directory / WEIGHTS_NAME).is_file():
            from .export import OnnxDetector

            return OnnxDetector.from_pretrained(directory)
        config = DetectorConfig.load(directory)
        if config.kind != "transformer":
            from .baseline import load_baseline_model  # the spectrogram CNN

            model = load_baseline_model(directory, config)
            reference = False
        else:
            bundled = directory / BACKBONE_DIR
            if bundled.is_dir():
                backbone = load_backbone(str(bundled), normalize=config.normalize)
                reference = False
            else:
                backbone = load_backbone(
                    config.backbone, config.backbone_revision, config.num_layers, normalize=config.normalize
                )
                reference = True
            model = DetectorModel(backbone, config)
        _load_weights(model, directory / WEIGHTS_NAME, strict_prefixes=("layer_sum.", "head."))
        adapter = directory / "adapter"
        if adapter.is_dir():
            from .lora import load_adapter  # noqa: F401  (training extra)

            model = load_adapter(model, adapter)
            reference = True
        det = cls(model, config, backbone_is_reference=reference)
        if device is not None:
            det.to(device)
        return det

    # -- saving --------------------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike, *, bundle_backbone: bool | None = None) -> Path:
        """Save as a directory: ``config.json``, ``model.safetensors`` and, when needed, ``backbone/``.

        Args:
            bundle_backbone: copy the backbone into ``backbone/`` (an offline bundle). ``None``
                bundles only when the backbone differs from the reference it was loaded from
                (random init, or fine-tuned).

        Returns:
            the directory.
        """
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        transformer = self.config.kind == "transformer"
        bundle = (not self.backbone_is_reference) if bundle_backbone is None else bundle_backbone
        if transformer:
            state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
        atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
        target = directory / BACKBONE_DIR
        if transformer and bundle:
            staging = directory / f".{BACKBONE_DIR}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            base = self.model.backbone.model
            if _has_lora(self.model):  # bundle the unchanged base weights; the adapter is saved apart
                import copy

                base = copy.deepcopy(base).unload()
            with quiet_transformers():
                base.save_pretrained(str(staging), safe_serialization=True)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        elif target.exists():
            shutil.rmtree(target)
        adapter = directory / "adapter"
        if transformer and _has_lora(self.model):
            from .lora import save_adapter

            save_adapter(self.model, adapter)
        elif adapter.exists():
            shutil.rmtree(adapter)
        self.config.save(directory)
        return directory

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | None = None,
        commit_message: str = "Upload wavguard detector",
        revision: str | None = None,
    ):
        """Upload the detector with a model card to the Hugging Face Hub; returns the commit info."""
        from .hub import push_to_hub

        return push_to_hub(self, repo_id, private=private, token=token, commit_message=commit_message, revision=revision)

    # -- device --------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def to(self, device: str | torch.device) -> "Detector":
        self.model.to(device)
        return self

    # -- scoring -------------------------------------------------------------------------
    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated P(fake) for logits of shape (..., 2) -> (...)."""
        cfg = self.config
        return _sigmoid(cfg.calibration_scale * fake_margin(logits) + cfg.calibration_bias)

    @torch.inference_mode()
    def score_windows(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Raw logits (N, 2) for a list of mono float32 windows at the model's rate (any lengths)."""
        lengths = torch.tensor([w.shape[0] for w in windows], dtype=torch.long)
        batch = torch.zeros(len(windows), int(lengths.max()), dtype=torch.float32)
        for row, w in enumerate(windows):
            batch[row, : w.shape[0]] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
        self.model.eval()
        logits = self.model(batch.to(self.device), lengths.to(self.device))
        return logits.float().cpu().numpy()

    def iter_windows(self, item: Any, sample_rate: int | None, state: ScoringState) -> Iterator[Window]:
        """Decode, resample, preprocess and window one input, updating ``state``'s sample count and peak.

        Raises the input's wavguard error (silent, too short, undecodable, ...) once it is known.
        """
        cfg = self.config
        buffer = WindowBuffer(cfg.window_samples, cfg.hop_samples, min_window_samples=self.model.min_samples)
        if isinstance(item, (str, os.PathLike, bytes, bytearray)):
            blocks = audio_io.iter_file_blocks(item, cfg.sample_rate_hz)
        else:
            blocks = iter([audio_io.prepare_array(item, sample_rate, cfg.sample_rate_hz, state.source)])
        denoiser = self.block_preprocessor()
        if denoiser is not None:  # same fixed blocks as training's whole-clip preprocessing
            blocks = _chain_blocks(blocks, denoiser)
        for block in blocks:
            state.num_samples += block.shape[0]
            if block.size:
                state.peak = max(state.peak, float(np.max(np.abs(block))))
            yield from buffer.push(block)
        if state.peak == 0.0:
            if state.num_samples == 0:
                return
            raise SilentAudioError(state.source, "every sample is zero (digital silence); there is no speech to score")
        if state.num_samples < self.model.min_samples:
            raise AudioTooShortError(
                state.source,
                f"{state.num_samples / cfg.sample_rate_hz * 1000:.1f} ms is shorter than the model's receptive "
                f"field ({self.model.min_samples / cfg.sample_rate_hz * 1000:.1f} ms)",
            )
        yield from buffer.flush()

    def block_preprocessor(self):
        """A :class:`~wavguard.denoise.BlockDenoiser` for audio arriving in pieces, or ``None``
        when the config asks for no preprocessing."""
        if not self.config.denoise:
            return None
        from .denoise import BlockDenoiser

        return BlockDenoiser(self.config.sample_rate_hz, self.config.denoise)

    def _preprocess(self, samples: np.ndarray) -> np.ndarray:
        """Preprocessing recorded in the config (e.g. noise reduction) of a whole clip; equal to
        :meth:`block_preprocessor` fed the same clip in any pieces (training uses this)."""
        if self.config.denoise:
            from .denoise import denoise_from_config

            return denoise_from_config(samples, self.config.sample_rate_hz, self.config.denoise)
        return samples

    def finish(self, state: ScoringState, threshold: float) -> Prediction:
        """The prediction for a fully scored input: calibrated window scores and their aggregate."""
        rate = float(self.config.sample_rate_hz)
        logits = np.stack(state.logits)
        window_scores = self.calibrate(logits)
        segments = [Segment(s / rate, e / rate, float(p)) for (s, e), p in zip(state.spans, window_scores)]
        combined = aggregate_logits(logits, self.config.aggregation, self.config.top_k)
        score = float(self.calibrate(combined))
        label = self.config.labels[1] if score >= threshold else self.config.labels[0]
        margin = float(combined[1] - combined[0])
        return Prediction(state.source, score, label, threshold, state.num_samples / rate, segments, logit_margin=margin)

    def predict(
        self,
        inputs: Any,
        sample_rate: int | None = None,
        *,
        batch_size: int = 8,
        threshold: float | None = None,
        on_error: str = "raise",
        progress: bool = False,
    ) -> Prediction | list[Prediction]:
        """Score audio: a path, encoded bytes, an array/tensor, or a list of them.

        Files of any length, format (wav, flac, ogg, mp3), channel count and sample rate are
        decoded and resampled block by block and scored in windows of ``config.window_seconds``,
        ``batch_size`` windows at a time (across inputs), so memory stays flat on long files.

        Args:
            inputs: one input or a list of inputs. Arrays are (time,), (time, channels) or
                (channels, time), integer or float.
            sample_rate: sample rate (Hz) of array inputs; files carry their own.
            batch_size: windows per forward pass.
            threshold: overrides ``config.threshold`` for the label.
            on_error: for a bad input in a list: ``"raise"`` (stop), ``"skip"`` (leave it out)
                or ``"return"`` (a :class:`Prediction` with ``error`` set, ``label == "error"``).
            progress: show a progress bar over inputs.

        Returns:
            a :class:`Prediction` for one input, a list for a list.
        """
        if on_error not in ON_ERROR:
            raise ConfigError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        threshold = self.config.threshold if threshold is None else float(threshold)
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"threshold is a probability and must be in [0, 1], got {threshold}")
        single = not isinstance(inputs, (list, tuple)) or (
            len(inputs) > 0 and all(isinstance(x, (int, float)) for x in inputs)
        )
        items = [inputs] if single else list(inputs)
        states = [ScoringState(audio_io.describe_source(item)) for item in items]
        pending: list[tuple[int, Window]] = []

        def run_batch() -> None:
            live = [(i, w) for i, w in pending if states[i].error is None]
            pending.clear()
            if not live:
                return
            logits = self.score_windows([w.samples for _, w in live])
            for (i, w), row in zip(live, logits):
                states[i].spans.append((w.start, w.end))
                states[i].logits.append(row)

        iterator = range(len(items))
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(iterator, desc="scoring", unit="file")
        for index in iterator:
            try:
                for window in self.iter_windows(items[index], sample_rate, states[index]):
                    pending.append((index, window))
                    if len(pending) >= batch_size:
                        run_batch()
                if states[index].num_samples == 0:
                    raise EmptyAudioError(states[index].source, "the audio holds zero samples")
            except WavguardError as exc:
                if on_error == "raise":
                    raise
                states[index].error = exc
        run_batch()

        results: list[Prediction] = []
        for state in states:
            if state.error is not None:
                if on_error == "return":
                    results.append(Prediction(state.source, math.nan, "error", threshold, error=state.error))
                continue
            results.append(self.finish(state, threshold))
        if single:
            if not results:  # on_error="skip" cannot skip the only input
                raise states[0].error  # type: ignore[misc]
            return results[0]
        return results

    def stream(self, sample_rate: int | None = None, channels: int = 1, source: str = "<stream>"):
        """A :class:`~wavguard.stream.StreamingScorer` for live audio at ``sample_rate`` Hz
        (default: the model's rate). Its window scores equal :meth:`predict`'s segments."""
        from .stream import StreamingScorer

        return StreamingScorer(self, sample_rate or self.config.sample_rate_hz, channels, source)

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"Detector(kind={cfg.kind!r}, backbone={cfg.backbone!r}, type={cfg.backbone_type!r}, "
            f"layers={cfg.num_layers}, window={cfg.window_seconds}s, threshold={cfg.threshold})"
        )


def _has_lora(model: nn.Module) -> bool:
    return any("lora_" in name for name, _ in model.named_parameters())


def _load_weights(model: nn.Module, path: Path, strict_prefixes: tuple[str, ...]) -> None:
    """Load ``model.safetensors`` into ``model``; every parameter under ``strict_prefixes`` must be present."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelLoadError(f"{path.parent}: no {path.name}; is this a wavguard detector directory?")
    try:
        state = load_file(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot read the weights ({exc})") from None
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k.startswith(strict_prefixes) and k not in state]
    if unexpected or missing:
        raise ModelLoadError(
            f"{path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    mismatched = [k for k in state if own[k].shape != state[k].shape]
    if mismatched:
        raise ModelLoadError(f"{path}: tensor shapes do not match the config for {mismatched[:5]}")
    model.load_state_dict(state, strict=False)


def _chain_blocks(blocks, denoiser) -> Iterator[np.ndarray]:
    """``blocks`` through ``denoiser`` (push each, flush at the end)."""
    for block in blocks:
        yield denoiser.push(block)
    yield denoiser.flush()
