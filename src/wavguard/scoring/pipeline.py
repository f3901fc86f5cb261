"""How a score is made: decode -> preprocess -> windows -> logits -> calibrate -> aggregate.

Every way wavguard scores audio drives these stages: ``Detector.predict`` (files, bytes, arrays,
batched across inputs), the streaming scorer (chunks as they arrive), the HTTP service (windows
from many clients batched together) and training (the same preprocessing of whole clips). So on
the same audio they give the same numbers.

Stages and shapes (S = samples at the model's rate ``config.sample_rate_hz``):

1. **decode** (:meth:`ScoringPipeline.decode`): a path, encoded bytes, an array or a datasets
   audio cell -> mono float32 blocks (S_block,), resampled with soxr (:mod:`wavguard.audio.decode`),
   a file block by block.
2. **preprocess** (:meth:`ScoringPipeline.feed`): the noise reduction recorded in the config,
   in fixed blocks from the first sample (:mod:`wavguard.audio.denoise`); identity by default.
3. **windows** (:meth:`ScoringPipeline.feed` / :meth:`ScoringPipeline.end`): windows of
   ``window_samples`` every ``hop_samples``; a last partial window is kept (the model masks it).
4. **logits** (:meth:`ScoringPipeline.logits`): the backend (:mod:`wavguard.models.backends`)
   maps N windows to logits (N, 2), columns (REAL, FAKE).
5. **calibrate** (:meth:`ScoringPipeline.calibrate`): ``sigmoid(scale * (fake - real) + bias)``,
   the probability that the audio is FAKE (higher = more likely fake).
6. **aggregate** (:meth:`ScoringPipeline.finish`): window logits -> one logit pair per input
   (mean, max or top-k mean), calibrated -> a :class:`~wavguard.scoring.prediction.Prediction` with the
   per-window :class:`~wavguard.scoring.prediction.Segment` scores.

A :class:`ScoringState` carries one input through the stages; only the pipeline changes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..audio import decode
from ..audio.cells import is_cell, read_cell
from ..audio.denoise import BlockDenoiser, denoise_from_config
from ..audio.windows import Window, WindowBuffer, aggregate_logits, fake_margin
from ..config import DetectorConfig
from ..errors import (
    AudioTooShortError,
    EmptyAudioError,
    InvalidAudioError,
    SilentAudioError,
    WavguardError,
)
from ..models.backends import Backend
from .batching import LengthBatcher, Prefetch
from .prediction import Prediction, Segment
from .predicts import describe_item

__all__ = [
    "LOOKAHEAD_BATCHES",
    "PREFETCH_BATCHES",
    "ScoringState",
    "ScoringPipeline",
    "sigmoid",
]

#: ``predict`` holds up to this many batches of windows to choose batches of similar length from
#: (full windows go as soon as a batch of them is there; short last windows wait for company).
LOOKAHEAD_BATCHES = 4
#: ``predict`` decodes up to this many batches of windows ahead of the model (``prefetch=True``).
PREFETCH_BATCHES = 2


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """The logistic function, float64, without overflow warnings."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


@dataclass
class ScoringState:
    """One input on its way through the pipeline (made by :meth:`ScoringPipeline.start`).

    Attributes:
        source: the input's name (errors and the prediction carry it).
        spans: (start, end) samples of each scored window, in order.
        logits: one (2,) array (REAL, FAKE) per scored window, aligned with ``spans``.
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
    _buffer: WindowBuffer | None = field(default=None, repr=False)
    _denoiser: BlockDenoiser | None = field(default=None, repr=False)


class ScoringPipeline:
    """The scoring stages for one detector config and one backend.

    Args:
        config: the preprocessing contract (rate, windows, denoising, calibration, aggregation).
        backend: the network (:class:`~wavguard.models.backends.Backend`).
    """

    def __init__(self, config: DetectorConfig, backend: Backend):
        self.config = config
        self.backend = backend

    # -- 1. decode ------------------------------------------------------------------------
    def decode(self, item: Any, sample_rate: int | None, source: str) -> Iterator[np.ndarray]:
        """Mono float32 blocks at the model's rate: a file block by block, an array at once.

        A ``datasets`` audio cell is read by :func:`wavguard.audio.cells.read_cell`, the one cell
        reader: ``{"array", "sampling_rate"}`` (``"raw"`` as transformers' pipelines spell it) and a
        torchcodec ``AudioDecoder`` (datasets 4+) as an array at their own rate, ``{"path", "bytes"}``
        (``Audio(decode=False)``) as a file, from the bytes when they are there.
        """
        rate = self.config.sample_rate_hz
        if is_cell(item):
            cell = read_cell(item, source)
            item, sample_rate = cell.item, cell.sample_rate_hz
        if isinstance(item, (str, os.PathLike, bytes, bytearray)):
            return decode.iter_file_blocks(item, rate, name=source)
        return iter([decode.prepare_array(item, sample_rate, rate, source)])

    # -- 2./3. preprocess and windows ----------------------------------------------------------
    def preprocess(self, samples: np.ndarray) -> np.ndarray:
        """The config's preprocessing of a whole clip (S,) -> (S,); equal to :meth:`feed` given the
        same clip in any pieces. Training applies it to every clip."""
        if self.config.denoise:
            return denoise_from_config(samples, self.config.sample_rate_hz, self.config.denoise)
        return samples

    def start(self, source: str) -> ScoringState:
        """A fresh state for one input (its window buffer and, if configured, its denoiser)."""
        cfg = self.config
        buffer = WindowBuffer(cfg.window_samples, cfg.hop_samples, min_window_samples=self.backend.min_samples)
        denoiser = BlockDenoiser(cfg.sample_rate_hz, cfg.denoise) if cfg.denoise else None
        return ScoringState(source, _buffer=buffer, _denoiser=denoiser)

    def feed(self, state: ScoringState, block: np.ndarray) -> list[Window]:
        """Preprocess a decoded block (S_block,) and return the windows it completes."""
        if state._denoiser is not None:
            block = state._denoiser.push(block)
        return self._window(state, block)

    def end(self, state: ScoringState) -> list[Window]:
        """The input is complete: the last windows, after checking it holds scorable audio.

        Raises:
            EmptyAudioError, SilentAudioError, AudioTooShortError: the input cannot be scored.
        """
        windows = self._window(state, state._denoiser.flush()) if state._denoiser is not None else []
        if state.num_samples == 0:
            raise EmptyAudioError(state.source, "the audio holds zero samples")
        if state.peak == 0.0:
            raise SilentAudioError(state.source, "every sample is zero (digital silence); there is no speech to score")
        min_samples = self.backend.min_samples
        if state.num_samples < min_samples:
            rate = self.config.sample_rate_hz
            raise AudioTooShortError(
                state.source,
                f"{state.num_samples / rate * 1000:.1f} ms is shorter than the model's receptive "
                f"field ({min_samples / rate * 1000:.1f} ms)",
            )
        return windows + list(state._buffer.flush())

    def windows(self, item: Any, sample_rate: int | None, state: ScoringState) -> Iterator[Window]:
        """Stages 1-3 for a whole input: decode, preprocess and window it, then :meth:`end`."""
        for block in self.decode(item, sample_rate, state.source):
            yield from self.feed(state, block)
        yield from self.end(state)

    def _window(self, state: ScoringState, block: np.ndarray) -> list[Window]:
        state.num_samples += block.shape[0]
        if block.size:
            state.peak = max(state.peak, float(np.max(np.abs(block))))
        return list(state._buffer.push(block))

    # -- 4. logits ------------------------------------------------------------------------
    def logits(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Raw logits (N, 2), columns (REAL, FAKE), of N mono float32 windows (any lengths)."""
        return self.backend.logits(windows)

    def record(self, state: ScoringState, windows: Sequence[Window], logits: np.ndarray) -> list[Segment]:
        """Store the logits (N, 2) of ``state``'s windows; returns their calibrated segments."""
        rate = float(self.config.sample_rate_hz)
        _check_finite(state.source, logits)
        scores = self.calibrate(logits) if len(windows) else []
        segments = []
        for w, row, p in zip(windows, logits, scores):
            state.spans.append((w.start, w.end))
            state.logits.append(np.asarray(row))
            segments.append(Segment(w.start / rate, w.end / rate, float(p)))
        return segments

    # -- 5./6. calibrate and aggregate ------------------------------------------------------------
    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated P(fake) for logits of shape (..., 2) -> (...)."""
        cfg = self.config
        return sigmoid(cfg.calibration_scale * fake_margin(logits) + cfg.calibration_bias)

    def finish(self, state: ScoringState, threshold: float) -> Prediction:
        """The prediction of a fully scored input: window scores and their calibrated aggregate."""
        cfg = self.config
        rate = float(cfg.sample_rate_hz)
        logits = np.stack(state.logits)
        _check_finite(state.source, logits)
        window_scores = self.calibrate(logits)
        segments = [Segment(s / rate, e / rate, float(p)) for (s, e), p in zip(state.spans, window_scores)]
        combined = aggregate_logits(logits, cfg.aggregation, cfg.top_k)
        score = float(self.calibrate(combined))
        label = cfg.labels[1] if score >= threshold else cfg.labels[0]
        margin = float(combined[1] - combined[0])
        return Prediction(
            state.source,
            score,
            label,
            threshold,
            state.num_samples / rate,
            segments,
            logit_margin=margin,
            backend=self.backend.name,
        )

    # -- the driver for lists of inputs ------------------------------------------------------------
    def predict(
        self,
        items: Sequence[Any],
        sample_rate: int | None = None,
        *,
        batch_size: int = 8,
        threshold: float,
        on_error: str = "raise",
        progress: bool = False,
        prefetch: bool = True,
    ) -> list[Prediction | WavguardError]:
        """Score inputs, ``batch_size`` windows per backend call across inputs.

        Windows from many inputs wait in a bounded pool (:data:`LOOKAHEAD_BATCHES` batches) and
        are batched with windows of the same or similar length (:class:`~wavguard.scoring.batching.LengthBatcher`);
        each input's window scores are put back in order, and the results come in the order of
        ``items``. With ``prefetch``, decoding, resampling and windowing of the next inputs run in a
        background thread (:class:`~wavguard.scoring.batching.Prefetch`) while the backend scores; the
        batches, hence the scores, are the same either way.

        Returns one entry per input: its :class:`Prediction`, or the wavguard error that stopped it
        (only when ``on_error`` is not ``"raise"``).
        """
        states = [self.start(describe_item(item)) for item in items]
        order: list[list[int]] = [[] for _ in items]  # window index of each recorded logit row
        counts = [0] * len(items)
        batcher: LengthBatcher[tuple[int, int, Window]] = LengthBatcher(batch_size, LOOKAHEAD_BATCHES * batch_size)

        def fail(index: int, exc: WavguardError) -> None:
            if on_error == "raise":
                raise exc
            states[index].error = exc
            batcher.discard(lambda entry: entry[0] != index)

        def run_batch(batch: list[tuple[int, int, Window]]) -> None:
            live = [entry for entry in batch if states[entry[0]].error is None]
            if not live:
                return
            logits = self.logits([w.samples for _, _, w in live])
            for (i, k, w), row in zip(live, logits):
                if states[i].error is not None:
                    continue
                try:
                    self.record(states[i], [w], row[None])
                except WavguardError as exc:
                    fail(i, exc)
                    continue
                order[i].append(k)

        events = self._events(items, sample_rate, states)
        source: Iterator[tuple[int, Window | WavguardError | None]]
        source = Prefetch(events, depth=PREFETCH_BATCHES * batch_size) if prefetch else events
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), desc="scoring", unit="file")
        try:
            for index, event in source:
                if isinstance(event, Window):
                    batcher.add(event.samples.shape[0], (index, counts[index], event))
                    counts[index] += 1
                    while batcher.ready:
                        run_batch(batcher.take())
                    continue
                if event is not None:
                    fail(index, event)
                if bar is not None:
                    bar.update(1)
            while len(batcher):
                run_batch(batcher.take())
        finally:
            if isinstance(source, Prefetch):
                source.close()
            else:
                events.close()
            if bar is not None:
                bar.close()
        return [
            state.error if state.error is not None else self.finish(_in_order(state, rows), threshold)
            for state, rows in zip(states, order)
        ]

    def _events(
        self, items: Sequence[Any], sample_rate: int | None, states: list[ScoringState]
    ) -> Iterator[tuple[int, Window | WavguardError | None]]:
        """Stages 1-3 of every input in turn: (index, window) for each window, then (index, None)
        when the input is complete or (index, error) when it failed."""
        for index, item in enumerate(items):
            try:
                for window in self.windows(item, sample_rate, states[index]):
                    yield index, window
            except WavguardError as exc:
                yield index, exc
                continue
            yield index, None


def _in_order(state: ScoringState, rows: list[int]) -> ScoringState:
    """``state`` with its recorded windows sorted by window index (batches may score them out of order)."""
    if rows != sorted(rows):
        perm = sorted(range(len(rows)), key=rows.__getitem__)
        state.spans = [state.spans[j] for j in perm]
        state.logits = [state.logits[j] for j in perm]
    return state


def _check_finite(source: str, logits: np.ndarray) -> None:
    """A score is never NaN: non-finite logits (float samples so large that the network overflows)
    are an error naming the input."""
    if not np.all(np.isfinite(logits)):
        raise InvalidAudioError(
            source,
            "the model's output is not finite for this audio (float samples far outside [-1, 1]?); "
            "scale float samples to [-1, 1]",
        )
