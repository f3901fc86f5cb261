"""Streaming scoring: feed audio chunks as they arrive, get a score per hop.

The scorer resamples incrementally (soxr's streaming resampler) and cuts windows with the same
:class:`~wavguard.audio.windows.WindowBuffer` as offline scoring, so on the same audio its window scores
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

import numpy as np
import soxr

from ..audio.decode import check_sample_rate, to_float32, to_mono
from ..errors import InvalidAudioError
from .pipeline import ScoringPipeline
from .prediction import Prediction, Segment

__all__ = ["StreamingScorer"]


class StreamingScorer:
    """Scores a live stream window by window: a driver of :class:`~wavguard.scoring.pipeline.ScoringPipeline`.

    Each chunk is decoded (to mono, resampled incrementally with soxr's streaming resampler) and
    fed to the pipeline's preprocess and window stages; completed windows are scored at once.

    Args:
        pipeline: the detector's scoring pipeline (``detector.pipeline``).
        sample_rate: rate (Hz) of the incoming chunks, 1 kHz-768 kHz
            (:class:`~wavguard.errors.SampleRateError` otherwise).
        channels: channels of the incoming chunks (averaged to mono); chunks are (time,) or
            (time, channels).
        source: a name for the stream, used in errors and the final prediction.
    """

    def __init__(self, pipeline: ScoringPipeline, sample_rate: int, channels: int = 1, source: str = "<stream>"):
        self.pipeline = pipeline
        self.source = source
        self.channels = int(channels)
        rate = pipeline.config.sample_rate_hz
        sample_rate = check_sample_rate(sample_rate, source)
        self._resampler = (
            None if sample_rate == rate else soxr.ResampleStream(sample_rate, rate, 1, dtype="float32", quality="HQ")
        )
        self._state = pipeline.start(source)
        self._segments: list[Segment] = []
        self._closed = False

    @property
    def segments(self) -> list[Segment]:
        """Every window scored so far, in time order."""
        return list(self._segments)

    def _score(self, windows: list) -> list[Segment]:
        if not windows:
            return []
        logits = self.pipeline.logits([w.samples for w in windows])
        segments = self.pipeline.record(self._state, windows, logits)
        self._segments.extend(segments)
        return segments

    def _mono(self, chunk: object) -> np.ndarray:
        array = to_float32(chunk, self.source)  # tensors of any float dtype (bfloat16 too) are read there
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
        return self._score(self.pipeline.feed(self._state, mono))

    def close(self, threshold: float | None = None) -> Prediction:
        """End the stream: score the last partial window and return the whole stream's prediction."""
        if self._closed:
            raise RuntimeError("this stream is already closed")
        self._closed = True
        tail = []
        if self._resampler is not None:
            tail = self.pipeline.feed(
                self._state, self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            )
        tail = tail + self.pipeline.end(self._state)
        self._score(tail)
        threshold = self.pipeline.config.threshold if threshold is None else float(threshold)
        return self.pipeline.finish(self._state, threshold)
