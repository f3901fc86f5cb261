"""Score inputs and data set rows with a detector or an ensemble, one row never stopping the run.

The one scoring path of evaluation, calibration fitting and ensembles: :func:`score_inputs` for a
list of inputs (paths, bytes, arrays), :func:`score_dataset` for a data set's ``audio`` column,
optionally through a degradation channel (:mod:`wavguard.audio.channels`) and split across processes
under ``accelerate launch``. Scores point towards FAKE; margins are uncalibrated FAKE-minus-REAL
logits.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from ..audio.cells import read_cell
from ..audio.channels import parse_channel
from ..audio.decode import describe_source
from ..data import decode_audio
from ..errors import ConfigError, InvalidAudioError, WavguardError

__all__ = [
    "InputScorer",
    "ItemScores",
    "ScoredRow",
    "cell_input",
    "distributed_state",
    "logit",
    "predict_margins",
    "rename_error",
    "score_inputs",
    "score_dataset",
]

#: Rows decoded and scored per call to ``predict`` (bounds the encoded bytes held at once).
_CHUNK_ROWS = 64


@dataclass
class ItemScores:
    """Scores of a list of inputs, aligned with the inputs; failed inputs hold NaN.

    Attributes:
        margins: shape (N,), the uncalibrated FAKE-minus-REAL logit margin of each input (for an
            ensemble: the fused log-odds).
        scores: shape (N,), calibrated probability of FAKE, as ``predict`` returns it.
        log_odds: shape (N,), ``logit(score)`` = ``scale * margin + bias``.
        durations_seconds: shape (N,), audio length (0 for failures).
        errors: length N, ``None`` or the error message of an input that failed.
    """

    margins: np.ndarray
    scores: np.ndarray
    log_odds: np.ndarray
    durations_seconds: np.ndarray
    errors: list[str | None]


class ScoredRow(NamedTuple):
    """One scored data set row (NaN scores and an ``error`` message when it failed)."""

    row: int
    margin: float
    score: float
    log_odds: float
    duration_seconds: float
    source: str
    error: str | None


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) in float64: a probability of FAKE as log-odds (higher = more fake)."""
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


def predict_margins(detector, inputs: Sequence[Any], *, sample_rate: int | None = None, batch_size: int = 8):
    """Uncalibrated FAKE-minus-REAL logit margins of a detector, through ``Detector.predict``.

    The margins are ``Prediction.logit_margin``: they come from the one scoring path (decoding,
    windowing, aggregation) that ``predict`` uses.

    Args:
        detector: a :class:`~wavguard.Detector`.
        inputs: paths, encoded bytes or arrays (see ``Detector.predict``).
        sample_rate: rate (Hz) of array inputs.
        batch_size: windows per forward pass.

    Returns:
        (margins, durations_seconds, errors): arrays of shape (N,) (NaN and 0 for inputs that
        failed) and a list of ``None`` or the :class:`~wavguard.errors.WavguardError` of each input.
    """
    n = len(inputs)
    margins = np.full(n, math.nan)
    durations = np.zeros(n)
    errors: list[Any] = [None] * n
    if n:
        for i, pred in enumerate(detector.predict(list(inputs), sample_rate, batch_size=batch_size, on_error="return")):
            if pred.ok:
                margins[i] = pred.logit_margin
                durations[i] = pred.duration_seconds
            else:
                errors[i] = pred.error
    return margins, durations, errors


class InputScorer(Protocol):
    """What evaluation scores: a detector (:class:`~wavguard.scoring.scorer.Scorer`) or an
    :class:`~wavguard.evaluation.ensemble.Ensemble`."""

    @property
    def sample_rate_hz(self) -> int:
        """The rate (Hz) inputs are decoded at."""
        ...

    def score_inputs(self, inputs: Sequence[Any], *, sample_rate: int | None = None, batch_size: int = 8) -> ItemScores:
        """Scores of a list of inputs, NaN (and the message) for those that failed."""
        ...

    def to(self, device: Any) -> Any:
        """Move the network(s) to ``device``."""
        ...


def score_inputs(
    model: InputScorer, inputs: Sequence[Any], *, sample_rate: int | None = None, batch_size: int = 8
) -> ItemScores:
    """Score inputs with a detector or an ensemble; one bad input never stops the run (it gets NaN
    scores and its error message). A detector's scores equal what its ``predict`` returns.

    Args:
        model: a :class:`~wavguard.Detector`, an ONNX detector or an ensemble.
        inputs: paths, encoded bytes or arrays (see ``Detector.predict``).
        sample_rate: rate (Hz) of array inputs.
        batch_size: windows per forward pass.
    """
    return model.score_inputs(inputs, sample_rate=sample_rate, batch_size=batch_size)


def cell_input(cell: Any, row: int) -> tuple[Any, str, str | None]:
    """(what to pass to ``predict``, a name for messages, why it cannot be scored or None) for one
    ``audio`` cell, read by :func:`wavguard.audio.cells.read_cell`. An array comes back as an
    ``{"array", "sampling_rate", "path"}`` cell so ``predict`` knows its rate."""
    try:
        read = read_cell(cell, f"row {row}")
    except InvalidAudioError as exc:
        return None, f"row {row}", str(exc)
    if read.sample_rate_hz is not None:
        return {"array": read.item, "sampling_rate": read.sample_rate_hz, "path": read.name}, read.name, None
    return read.item, read.name, None


def rename_error(message: str, name: str, item: Any) -> str:
    """Error messages about in-memory bytes name the data set's file instead."""

    prefix = describe_source(item) + ": "
    return name + ": " + message[len(prefix) :] if message.startswith(prefix) else message


def _degraded(item: Any, name: str, row: int, channel, channel_seed: int, rate: int) -> np.ndarray | str:
    """The decoded clip through ``channel`` (float32 at ``rate``), or why it could not be made."""

    try:
        samples = decode_audio(item, rate)
    except WavguardError as exc:
        return rename_error(str(exc), name, item)
    try:
        return channel(samples, rate, seed=channel_seed, index=row)
    except (WavguardError, ValueError, RuntimeError) as exc:  # soundfile's codec errors are RuntimeErrors
        return f"{name}: channel {channel.name}: {exc}"


def _indexed_chunks(dataset, rows: Sequence[int], audio_column: str) -> Iterator[tuple[list[int], list[Any]]]:
    """(row indices, audio cells) of ``rows`` of a ``Dataset``, ``_CHUNK_ROWS`` at a time."""
    audio_only = dataset.select_columns([audio_column])
    for start in range(0, len(rows), _CHUNK_ROWS):
        chunk = [int(r) for r in rows[start : start + _CHUNK_ROWS]]
        yield chunk, audio_only[chunk][audio_column]


def _streamed_chunks(
    dataset, audio_column: str, rank: int = 0, num_processes: int = 1
) -> Iterator[tuple[list[int], list[Any]]]:
    """(row indices, audio cells) of an ``IterableDataset`` read in order, keeping the rows with
    ``row % num_processes == rank`` (this process's share), ``_CHUNK_ROWS`` at a time."""
    rows = (
        (i, row[audio_column])
        for i, row in enumerate(dataset.select_columns([audio_column]))
        if i % num_processes == rank
    )
    while chunk := list(itertools.islice(rows, _CHUNK_ROWS)):
        yield [i for i, _ in chunk], [cell for _, cell in chunk]


def _score_rows(
    model,
    chunks,
    audio_column: str,
    batch_size: int,
    progress: bool,
    channel=None,
    channel_seed: int = 0,
    total: int | None = None,
) -> list[ScoredRow]:
    """A :class:`ScoredRow` for each row of ``chunks`` ((rows, cells) pairs), each clip through ``channel`` if given."""
    out: list[ScoredRow] = []
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(
            chunks, desc="scoring" if channel is None else f"scoring {channel.name}", unit="chunk", total=total
        )
    rate = model.sample_rate_hz if channel is not None else None
    for chunk, cells in chunks:
        names: list[str] = []
        inputs: dict[int, Any] = {}  # position in chunk -> what predict scores
        failed: dict[int, str] = {}
        for pos, (cell, row) in enumerate(zip(cells, chunk)):
            item, name, problem = cell_input(cell, row)
            names.append(name)
            if item is None:
                failed[pos] = f"the {audio_column!r} cell: {problem}"
            elif channel is None:
                inputs[pos] = item
            else:
                made = _degraded(item, name, row, channel, channel_seed, rate)
                if isinstance(made, str):
                    failed[pos] = made
                else:
                    inputs[pos] = made
        live = list(inputs)
        scored = score_inputs(model, [inputs[pos] for pos in live], sample_rate=rate, batch_size=batch_size)
        by_position = {pos: k for k, pos in enumerate(live)}
        for pos, row in enumerate(chunk):
            k = by_position.get(pos)
            if k is None:
                out.append(ScoredRow(row, math.nan, math.nan, math.nan, 0.0, names[pos], failed[pos]))
                continue
            err = scored.errors[k]
            out.append(
                ScoredRow(
                    row,
                    float(scored.margins[k]),
                    float(scored.scores[k]),
                    float(scored.log_odds[k]),
                    float(scored.durations_seconds[k]),
                    names[pos],
                    None if err is None else rename_error(err, names[pos], inputs[pos]),
                )
            )
    return out


def distributed_state(distributed: bool | None, **process_group: Any):
    """accelerate's process state (``PartialState``) when scoring is split across processes, else
    ``None``. ``distributed=None`` splits when launched so (``WORLD_SIZE`` > 1: ``accelerate launch``,
    ``torchrun``); ``False`` never; ``True`` always (accelerate must be installed). ``process_group``
    (e.g. ``timeout``) goes to ``init_process_group`` when this call is the first to set it up."""
    if distributed is False:
        return None
    if distributed is None and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    # without CUDA, accelerate sets up CPU processes (gloo) only when asked for the CPU explicitly
    state = PartialState(cpu=not torch.cuda.is_available(), **process_group)
    return state if state.num_processes > 1 or distributed else None


def score_dataset(
    model: Any,
    dataset,
    *,
    batch_size: int = 8,
    audio_column: str = "audio",
    distributed: bool | None = None,
    progress: bool = False,
    channel: Any = None,
    channel_seed: int = 0,
) -> list[ScoredRow]:
    """Score every row of ``dataset``; identical result on one process or under ``accelerate launch``.

    With a ``channel`` (a name or :class:`~wavguard.audio.channels.Channel`), each clip is decoded at
    the model's sample rate (:func:`wavguard.data.decode_audio`), degraded with
    ``channel(samples, rate, seed=channel_seed, index=row)`` and scored as an array.

    Under several processes (``distributed=None`` detects ``accelerate launch`` / ``torchrun`` by
    ``WORLD_SIZE``), rows are split with accelerate's ``split_between_processes``, each process
    scores its share on its own device (the model is moved there), and ``gather_object`` hands
    every process all rows, sorted by row index, so the result equals a single-process run.

    An ``IterableDataset`` (``streaming=True``) is read once, in order, ``_CHUNK_ROWS`` rows at a
    time; under several processes each reads the stream and scores every N-th row.

    Returns:
        one :class:`ScoredRow` per data set row, in row order.
    """
    columns = dataset.column_names or []
    if audio_column not in columns:
        raise ConfigError(f"the data set has no {audio_column!r} column (columns: {', '.join(columns)})")
    if channel is not None:
        channel = parse_channel(channel)
    streamed = not hasattr(dataset, "__len__")  # an IterableDataset: rows are read once, in order
    rows = [] if streamed else list(range(len(dataset)))
    total = None if streamed else math.ceil(len(rows) / _CHUNK_ROWS)
    state = distributed_state(distributed)
    if state is None:
        chunks = _streamed_chunks(dataset, audio_column) if streamed else _indexed_chunks(dataset, rows, audio_column)
        return _score_rows(model, chunks, audio_column, batch_size, progress, channel, channel_seed, total)
    from accelerate.utils import gather_object

    if state.device.type != "cpu":
        model.to(state.device)
    show = progress and state.is_main_process
    if streamed:
        chunks = _streamed_chunks(dataset, audio_column, state.process_index, state.num_processes)
        local = _score_rows(model, chunks, audio_column, batch_size, show, channel, channel_seed)
    else:
        with state.split_between_processes(rows) as mine:
            local = _score_rows(
                model,
                _indexed_chunks(dataset, list(mine), audio_column),
                audio_column,
                batch_size,
                show,
                channel,
                channel_seed,
            )
    gathered = gather_object(local)
    return sorted((ScoredRow(*r) for r in gathered), key=lambda r: r.row)
