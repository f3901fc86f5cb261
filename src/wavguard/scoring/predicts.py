"""The ``predict`` front end shared by detectors and ensembles: one input or a list, options
checked once, and each bad input raised, skipped or returned as an error prediction
(``on_error``). :class:`Predicts` gives a class ``predict`` from one method, ``_outcomes``, that
scores a list of inputs (:class:`~wavguard.scoring.pipeline.ScoringPipeline` does it for a detector).

Example:
    >>> as_items("clip.wav")
    (['clip.wav'], True)
    >>> as_items([0.1, 0.2, 0.3])  # a list of numbers is one waveform
    ([[0.1, 0.2, 0.3]], True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..audio import decode
from ..audio.cells import is_cell
from ..errors import ConfigError, WavguardError
from .prediction import Prediction

__all__ = ["ON_ERROR", "describe_item", "as_items", "check_predict_options", "error_prediction", "collect", "Predicts"]

#: What ``predict`` does with a bad input in a list: stop, leave it out, or return it as an error.
ON_ERROR = ("raise", "skip", "return")


def describe_item(item: Any) -> str:
    """A short name for an input in errors and predictions (a datasets cell by its path when it has one)."""
    if isinstance(item, dict):
        path = item.get("path")
        return str(path) if path else "<audio cell>"
    if is_cell(item):
        return "<audio decoder>"
    return decode.describe_source(item)


def as_items(inputs: Any) -> tuple[list[Any], bool]:
    """(list of inputs, whether one input was given). A list of numbers is one waveform."""
    single = not isinstance(inputs, (list, tuple)) or (
        len(inputs) > 0 and all(isinstance(x, (int, float)) for x in inputs)
    )
    return ([inputs] if single else list(inputs)), single


def check_predict_options(
    on_error: str, threshold: float | None, default_threshold: float, batch_size: int = 1
) -> float:
    """Validate ``predict``'s options; returns the threshold to use."""
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    threshold = default_threshold if threshold is None else float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold is a probability and must be in [0, 1], got {threshold}")
    return threshold


def error_prediction(source: str, error: WavguardError, threshold: float) -> Prediction:
    """The ``on_error="return"`` entry for an input that failed."""
    return Prediction(source, math.nan, "error", threshold, error=error)


def collect(
    outcomes: Sequence[Prediction | WavguardError],
    sources: Sequence[str],
    single: bool,
    on_error: str,
    threshold: float,
):
    """``predict``'s return value from one outcome per input (a prediction or an error)."""
    results = []
    for source, outcome in zip(sources, outcomes):
        if isinstance(outcome, WavguardError):
            if on_error == "raise" or (single and on_error == "skip"):
                raise outcome  # "skip" cannot skip the only input
            if on_error == "return":
                results.append(error_prediction(source, outcome, threshold))
            continue
        results.append(outcome)
    return results[0] if single else results


class Predicts:
    """The ``predict`` front end shared by detectors and ensembles: options checked, one input or a
    list, bad inputs raised, skipped or returned as error predictions. Subclasses give
    :meth:`_outcomes` (one :class:`Prediction` or wavguard error per input) and
    :attr:`default_threshold`."""

    @property
    def default_threshold(self) -> float:
        raise NotImplementedError

    def _outcomes(
        self,
        items: list[Any],
        sample_rate: int | None,
        *,
        batch_size: int,
        threshold: float,
        on_error: str,
        progress: bool,
        prefetch: bool = True,
    ) -> list[Prediction | WavguardError]:
        raise NotImplementedError

    def predict(
        self,
        inputs: Any,
        sample_rate: int | None = None,
        *,
        batch_size: int = 8,
        threshold: float | None = None,
        on_error: str = "raise",
        progress: bool = False,
        prefetch: bool = True,
    ) -> Prediction | list[Prediction]:
        """Score audio: a path, encoded bytes, an array/tensor, a ``datasets`` audio cell
        (``{"array", "sampling_rate"}`` or ``{"path", "bytes"}``), or a list of them.

        Files of any length, format (wav, flac, ogg, mp3), channel count and sample rate are
        decoded and resampled block by block and scored in windows of ``config.window_seconds``,
        ``batch_size`` windows at a time (across inputs), so memory stays flat on long files.

        Args:
            inputs: one input or a list of inputs. Arrays are (time,), (time, channels) or
                (channels, time), integer or float.
            sample_rate: sample rate (Hz) of array inputs; files carry their own.
            batch_size: windows per forward pass.
            threshold: overrides the stored threshold for the label.
            on_error: for a bad input in a list: ``"raise"`` (stop), ``"skip"`` (leave it out)
                or ``"return"`` (a :class:`Prediction` with ``error`` set, ``label == "error"``).
            progress: show a progress bar over inputs.
            prefetch: decode the next inputs in a background thread while the model scores
                (the scores are the same without it; ``False`` keeps everything on the calling thread).

        Returns:
            a :class:`Prediction` for one input, a list for a list; ``score`` is the calibrated
            probability that the audio is FAKE.
        """
        threshold = check_predict_options(on_error, threshold, self.default_threshold, batch_size)
        items, single = as_items(inputs)
        outcomes = self._outcomes(
            items,
            sample_rate,
            batch_size=batch_size,
            threshold=threshold,
            on_error=on_error,
            progress=progress,
            prefetch=prefetch,
        )
        return collect(outcomes, [describe_item(item) for item in items], single, on_error, threshold)
