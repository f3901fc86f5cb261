"""One reader for a ``datasets`` audio cell, used by scoring, evaluation, export checks and training.

A cell is what ``dataset[i]["audio"]`` gives:

* ``{"path", "bytes"}`` (``Audio(decode=False)``, wavguard's own loaders): embedded bytes win over the
  path (after ``save_to_disk`` the path is only a base name);
* ``{"array", "sampling_rate", "path"}`` (``Audio()`` in datasets 2 and 3);
* a torchcodec ``AudioDecoder`` (``Audio()`` in datasets 4 and later);
* a plain path string.

:func:`read_cell` says what to decode; :func:`decode_cell` decodes a whole clip with the decoder every
input goes through (:mod:`wavguard.audio.decode`), so a cell gives the same samples to training and to
``Detector.predict``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidAudioError
from .decode import load_audio, prepare_array

__all__ = ["AudioCell", "is_cell", "read_cell", "decode_cell"]


@dataclass(frozen=True)
class AudioCell:
    """What one cell holds.

    Attributes:
        item: a path (str), encoded file bytes, or an array of samples (time,) / (channels, time).
        sample_rate_hz: the rate of an array item; ``None`` for a path or bytes (the file says).
        name: how messages name the cell (its path when it has one).
    """

    item: Any
    sample_rate_hz: int | None
    name: str


def is_cell(value: Any) -> bool:
    """Whether ``value`` is a datasets audio cell (a dict or a torchcodec decoder), not a plain input."""
    return isinstance(value, dict) or _is_decoder(value)


def read_cell(cell: Any, name: str | None = None) -> AudioCell:
    """What to decode in ``cell`` (see the module docstring).

    Args:
        cell: a datasets audio cell or a path.
        name: how to name it in messages when it carries no path (e.g. ``"row 12"``).

    Raises:
        InvalidAudioError: a cell with none of array + rate, bytes, path; an array without its rate.
    """
    if isinstance(cell, (str, os.PathLike)):
        return AudioCell(os.fspath(cell), None, os.fspath(cell))
    if _is_decoder(cell):
        return _read_decoder(cell, name or "<audio decoder>")
    if not isinstance(cell, dict):
        raise InvalidAudioError(
            name or "<audio cell>",
            f"an audio cell must be a dict, a path or an AudioDecoder, got {type(cell).__name__}",
        )
    path = cell.get("path")
    label = str(path) if path else (name or "<audio cell>")
    samples = cell.get("array", cell.get("raw"))
    if samples is not None:
        if cell.get("sampling_rate") is None:
            raise InvalidAudioError(label, "an audio cell with an array needs its 'sampling_rate' (Hz)")
        return AudioCell(samples, int(cell["sampling_rate"]), label)
    if cell.get("bytes"):
        return AudioCell(bytes(cell["bytes"]), None, label)
    if path:
        return AudioCell(str(path), None, label)
    raise InvalidAudioError(
        label, f"an audio cell needs 'array' and 'sampling_rate', or 'path'/'bytes'; got keys {sorted(cell)}"
    )


def decode_cell(cell: Any, sample_rate_hz: int, name: str | None = None) -> np.ndarray:
    """A whole cell decoded to mono float32 at ``sample_rate_hz``, shape (time,)."""
    read = read_cell(cell, name)
    if read.sample_rate_hz is not None:
        return prepare_array(read.item, read.sample_rate_hz, sample_rate_hz, read.name)
    samples, _ = load_audio(read.item, sample_rate_hz)
    return samples


def _is_decoder(value: Any) -> bool:
    """A torchcodec ``AudioDecoder`` (duck-typed: torchcodec is an optional dependency)."""
    return callable(getattr(value, "get_all_samples", None)) and not isinstance(value, (dict, str, bytes))


def _read_decoder(decoder: Any, name: str) -> AudioCell:
    """All samples of a torchcodec decoder: ``AudioSamples.data`` is (channels, time) float32."""
    try:
        decoded = decoder.get_all_samples()
        data, rate = decoded.data, int(decoded.sample_rate)
    except Exception as exc:  # torchcodec's decode errors (RuntimeError, ValueError, ...)
        raise InvalidAudioError(
            name, f"the AudioDecoder cell could not be decoded ({type(exc).__name__}: {exc})"
        ) from None
    samples = data.detach().cpu().numpy() if hasattr(data, "detach") else np.asarray(data)
    return AudioCell(samples, rate, name)
