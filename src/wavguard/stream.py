"""Streaming scoring: feed audio chunks as they arrive, get a score per hop.

The scorer resamples incrementally (soxr's streaming resampler) and cuts windows with the same
:class:`~wavguard.windows.WindowBuffer` as offline scoring, so on the same audio its window scores
equal :meth:`Detector.predict`'s segments. Memory is bounded by one window plus one chunk; the
latency of a window's score is one hop after its last sample arrives, plus one forward pass.

Example:
    >>> scorer = detector.stream(sample_rate=8000)          # doctest: +SKIP
    >>> for chunk in microphone_chunks():                    # doctest: +SKIP
    ...     for segment in scorer.push(chunk):
    ...         print(segment.start_seconds, segment.score)
    >>> final = scorer.close()                               # a Prediction for the whole stream
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import soxr

from .audio import to_float32, to_mono
from .errors import AudioTooShortError, EmptyAudioError, InvalidAudioError, SilentAudioError
from .prediction import Prediction, Segment
from .windows import Window, WindowBuffer

from .detector import ScoringState

if TYPE_CHECKING:
    from .detector import Detector

__all__ = ["StreamingScorer"]


class StreamingScorer:
    """Scores a live stream window by window.

    Args:
        detector: the detector whose config (window, hop, rate, aggregation) is used.
        sample_rate: rate (Hz) of the incoming chunks.
        channels: channels of the incoming chunks (averaged to mono); chunks are (time,) or
            (time, channels).
        source: a name for the stream, used in errors and the final prediction.
    """

    def __init__(self, detector: "Detector", sample_rate: int, channels: int = 1, source: str = "<stream>"):
        self.detector = detector
        self.source = source
        self.channels = int(channels)
        cfg = detector.config
        self._rate_hz = cfg.sample_rate_hz
        self._resampler = (
            None if int(sample_rate) == cfg.sample_rate_hz
            else soxr.ResampleStream(int(sample_rate), cfg.sample_rate_hz, 1, dtype="float32", quality="HQ")
        )
        self._buffer = WindowBuffer(cfg.window_samples, cfg.hop_samples, detector.model.min_samples)
        self._denoiser = detector.block_preprocessor()
        self._state = ScoringState(source)
        self._segments: list[Segment] = []
        self._closed = False

    @property
    def segments(self) -> list[Segment]:
        """Every window scored so far, in time order."""
        return list(self._segments)

    def _score(self, windows: list[Window]) -> list[Segment]:
        if not windows:
            return []
        logits = self.detector.score_windows([w.samples for w in windows])
        scores = self.detector.calibrate(logits)
        out = []
        for w, row, p in zip(windows, logits, scores):
            self._state.spans.append((w.start, w.end))
            self._state.logits.append(row)
            out.append(Segment(w.start / self._rate_hz, w.end / self._rate_hz, float(p)))
        self._segments.extend(out)
        return out

    def _track(self, samples: np.ndarray) -> None:
        self._state.num_samples += samples.shape[0]
        if samples.size:
            self._state.peak = max(self._state.peak, float(np.max(np.abs(samples))))

    def _mono(self, chunk: object) -> np.ndarray:
        array = to_float32(np.asarray(chunk), self.source)
        if array.ndim == 2 and array.shape[1] != self.channels:
            raise InvalidAudioError(self.source, f"chunk has shape {array.shape}; expected (time, {self.channels})")
        array = to_mono(array, self.source, channels_last=True)
        if not np.all(np.isfinite(array)):
            raise InvalidAudioError(self.source, "a chunk holds NaN or infinite samples")
        return array

    def push(self, chunk: object) -> list[Segment]:
        """Add a chunk (any length); returns the windows completed by it, scored."""
        if self._closed:
            raise RuntimeError("this stream is closed; start a new one with detector.stream()")
        mono = self._mono(chunk)
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono, last=False)
        if self._denoiser is not None:
            mono = self._denoiser.push(mono)
        self._track(mono)
        return self._score(list(self._buffer.push(mono)))

    def close(self, threshold: float | None = None) -> Prediction:
        """End the stream: score the last partial window and return the whole stream's prediction."""
        if self._closed:
            raise RuntimeError("this stream is already closed")
        self._closed = True
        tail: list[Window] = []
        rest = np.zeros(0, dtype=np.float32)
        if self._resampler is not None:
            rest = self._resampler.resample_chunk(rest, last=True)
        if self._denoiser is not None:
            rest = np.concatenate([self._denoiser.push(rest), self._denoiser.flush()])
        self._track(rest)
        tail.extend(self._buffer.push(rest))
        total = self._state.num_samples
        if total == 0:
            raise EmptyAudioError(self.source, "the stream ended before any audio arrived")
        if self._state.peak == 0.0:
            raise SilentAudioError(self.source, "every sample was zero (digital silence)")
        if total < self.detector.model.min_samples:
            raise AudioTooShortError(self.source, f"{total} samples is shorter than the model's receptive field")
        tail.extend(self._buffer.flush())
        self._score(tail)
        threshold = self.detector.config.threshold if threshold is None else float(threshold)
        return self.detector.finish(self._state, threshold)
