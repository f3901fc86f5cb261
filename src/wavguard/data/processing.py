"""Decoding audio cells, and mapping a function over decoded audio with on-disk caching.

Audio is decoded only here, with :func:`wavguard.audio.decode.load_audio` (the same decoder training
and inference use), never by ``datasets``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.cells import decode_cell
from ..errors import ConfigError

__all__ = ["decode_audio", "map_audio", "config_hash"]

logger = logging.getLogger("wavguard.data")


def decode_audio(audio: Any, sample_rate_hz: int) -> np.ndarray:
    """Decode one ``audio`` cell (any kind :func:`wavguard.audio.cells.read_cell` reads) to mono float32.

    Returns:
        float32 samples, shape (time,), at ``sample_rate_hz``.

    Raises:
        InvalidAudioError: a cell with nothing to decode. AudioError subclasses: unreadable audio.
    """
    return decode_cell(audio, sample_rate_hz)


def config_hash(*parts: Any) -> str:
    """A stable 16-hex-digit hash of ``parts`` (functions hashed by their code, as ``datasets`` does)."""
    from datasets.fingerprint import Hasher

    hasher = Hasher()
    for part in parts:
        hasher.update(part)
    return hasher.hexdigest()


def map_audio(
    ds,
    fn: Callable[[np.ndarray], dict[str, Any]],
    sample_rate_hz: int,
    *,
    num_proc: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    config: Any = None,
    audio_column: str = "audio",
    desc: str | None = None,
):
    """Decode every row's audio and add the columns ``fn`` returns; cached on disk by a config hash.

    Args:
        ds: a ``Dataset`` in the common schema.
        fn: ``fn(samples) -> {"column": value, ...}``, samples float32 (time,) at ``sample_rate_hz``.
            It must be picklable when ``num_proc > 1``.
        sample_rate_hz: decoding rate.
        num_proc: worker processes (``datasets.Dataset.map``).
        cache_dir: keep the result in ``cache_dir/map_audio-<hash>.arrow``; a later call with the
            same data, ``fn`` (its code), rate and ``config`` loads it instead of recomputing.
        config: anything else that changes the output (e.g. a feature-extractor config); part of the hash.

    Returns:
        ``Dataset`` with the original columns plus ``fn``'s.
    """
    if audio_column not in ds.column_names:
        raise ConfigError(f"the dataset has no {audio_column!r} column (columns: {ds.column_names})")
    key = config_hash(ds._fingerprint, fn, int(sample_rate_hz), config, audio_column)

    def apply(example):
        return fn(decode_audio(example[audio_column], sample_rate_hz))

    kwargs: dict[str, Any] = {"num_proc": num_proc, "desc": desc or "map_audio", "new_fingerprint": key}
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        kwargs.update(cache_file_name=str(Path(cache_dir) / f"map_audio-{key}.arrow"), load_from_cache_file=True)
    return ds.map(apply, **kwargs)
