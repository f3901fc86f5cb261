"""Training data: source loading, clip datasets that crop through the inference decoder, sampling.

Audio is decoded by :func:`wavguard.data.decode_audio` (the decoder ``Detector.predict`` uses),
so training and inference see identical samples. Randomness (crop offsets, augmentation,
sampling order) is a pure function of ``(seed, epoch, index)``: a resumed run draws exactly what
an uninterrupted one would.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..data import check_label_mapping, decode_audio, load_any
from ..data.hub_data import from_iterable, materialize
from ..data.manifest import from_dataset
from ..errors import ConfigError

__all__ = [
    "load_sources",
    "plain_sources",
    "check_columns",
    "ClipDataset",
    "EpochSampler",
    "pad_collate",
    "class_counts",
    "inverse_frequency_weights",
    "crop_offset",
]


def _as_source_list(
    spec: Any, default_split: str | None, defaults: dict[str, Any] | None = None
) -> list[tuple[Any, str | None, dict[str, Any]]]:
    """``(source, split, {"revision", "streaming"})`` per source; a mapping's own keys win over ``defaults``."""
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    base = {"revision": None, "streaming": False, **(defaults or {})}
    out = []
    for item in items:
        if isinstance(item, dict):
            if "source" not in item:
                raise ConfigError(f"data source {item!r} needs a 'source' key")
            unknown = sorted(set(item) - {"source", "split", "revision", "streaming"})
            if unknown:
                raise ConfigError(
                    f"data source {item!r}: unknown key(s) {unknown}; known: source, split, revision, streaming"
                )
            options = {k: item.get(k, base[k]) for k in ("revision", "streaming")}
            out.append((str(item["source"]), item.get("split", default_split), options))
        elif item is not None and not isinstance(item, (str, os.PathLike)):
            out.append((item, None, dict(base)))  # an in-memory datasets.Dataset
        elif item:
            out.append((str(item), default_split, dict(base)))
    return out


def plain_sources(spec: Any) -> Any:
    """Data sources as plain values (YAML-ready): an in-memory ``datasets.Dataset`` becomes a description."""
    if isinstance(spec, (list, tuple)):
        return [plain_sources(s) for s in spec]
    if spec is None or isinstance(spec, (str, dict)):
        return spec
    return f"<{type(spec).__name__} of {len(spec)} rows>" if hasattr(spec, "__len__") else repr(spec)


def check_columns(audio_column: Any, label_column: Any, label_mapping: Any) -> dict[Any, Any] | None:
    """Check the settings that name the data's own columns and label values (see :func:`load_sources`);
    returns ``label_mapping`` as a plain dict (``None`` stays ``None``).

    Raises:
        ConfigError: a column name that is not a non-empty string, the same column twice, or a
            mapping :func:`wavguard.data.check_label_mapping` refuses.
    """
    for name, value in (("audio_column", audio_column), ("label_column", label_column)):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name} must name a column of the data, got {value!r}")
    if audio_column == label_column:
        raise ConfigError(f"audio_column and label_column both name {audio_column!r}; name two columns")
    if label_mapping is None:
        return None
    check_label_mapping(label_mapping)
    return dict(label_mapping)


def load_sources(
    spec: Any,
    default_split: str | None,
    *,
    limit: int | None = None,
    seed: int = 0,
    revision: str | None = None,
    streaming: bool = False,
    limit_name: str = "max_train_clips",
    extra_columns: tuple[str, ...] = (),
    audio_column: str = "audio",
    label_column: str = "label",
    label_mapping: dict[Any, Any] | None = None,
):
    """Load and concatenate data sources into one ``datasets.Dataset`` with ``audio`` and ``label``.

    This is where data enters training (training, validation and test sources alike), so the
    column names and label mapping are applied here, once.

    Args:
        spec: a source, ``{"source", "split", "revision", "streaming"}`` mapping, or a list of them
            (see ``TrainConfig``); a source is anything ``load_any`` reads, Hub ids (``owner/name``) included.
        default_split: split for sources that name none.
        limit: keep ``limit`` clips chosen by a seeded shuffle (stratification is not attempted).
        seed: seed of that shuffle.
        revision: Hub revision for sources that name none.
        streaming: stream sources that do not say otherwise. Training needs random access over
            several epochs, so a streamed source is read once, its first ``limit`` rows (after a
            seeded shuffle of its shards and a 10,000-row buffer), into the local ``datasets`` cache.
        limit_name: the setting that sets ``limit``, for the message when it is missing.
        extra_columns: columns kept besides ``audio`` and ``label`` (the pairing column).
        audio_column, label_column: the sources' own audio and label columns (``TrainConfig``'s
            settings); the defaults keep ``load_any``'s usual names.
        label_mapping: the label values -> 0/1 or real/fake (see ``load_any``).

    Raises:
        ConfigError: a source without ``audio``/``label`` columns, or labels other than 0/1; a
            label value ``label_mapping`` leaves out; a streamed source without ``limit``.
    """
    import datasets

    # the default names are load_any's own first choices: passing them would turn off its other names
    columns = {
        "audio_column": None if audio_column == "audio" else audio_column,
        "label_column": None if label_column == "label" else label_column,
        "label_mapping": label_mapping,
    }
    named = any(value is not None for value in columns.values())
    parts = []
    for source, split, options in _as_source_list(spec, default_split, {"revision": revision, "streaming": streaming}):
        if isinstance(source, datasets.Dataset):  # used as is, unless its own columns are named
            ds = from_dataset(source, **columns) if named else source
        elif isinstance(source, datasets.IterableDataset):
            ds = from_iterable(source, **columns) if named else source
        else:
            try:
                ds = load_any(
                    source, split=split, revision=options["revision"], streaming=bool(options["streaming"]), **columns
                )
            except ConfigError as exc:  # say which source, where the message does not
                raise ConfigError(str(exc) if str(source) in str(exc) else f"{source}: {exc}") from None
        if isinstance(ds, (datasets.DatasetDict, datasets.IterableDatasetDict)):
            if len(ds) != 1:
                raise ConfigError(f"{source}: holds splits {sorted(ds)}; name one (e.g. train_split=train)")
            ds = next(iter(ds.values()))
        if isinstance(ds, datasets.IterableDataset):
            if limit is None:
                raise ConfigError(
                    f"{source}: streamed data must be read into the local cache for training (random access, "
                    f"several epochs): set {limit_name} to how many rows to read, or streaming: false to download it whole"
                )
            ds = materialize(ds, limit, seed=seed, what=str(source))
        missing = {"audio", "label", *extra_columns} - set(ds.column_names)
        if missing:
            raise ConfigError(
                f"{source}: the dataset lacks column(s) {sorted(missing)}; expected audio, label"
                + "".join(f", {c}" for c in extra_columns)
            )
        ds = ds.select_columns(["audio", "label", *extra_columns])
        ds = ds.cast_column("label", datasets.ClassLabel(names=["real", "fake"]))
        parts.append(ds)
    if not parts:
        raise ConfigError(f"no data source in {spec!r}")
    data = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    labels = np.asarray(data["label"])
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ConfigError(f"{spec!r}: labels must be 0 (real) or 1 (fake)")
    return seeded_subset(data, limit, seed)


def seeded_subset(data: Any, limit: int | None, seed: int) -> Any:
    """``limit`` rows of ``data`` after a shuffle seeded by ``seed``; ``data`` itself when it has no more.

    The draw of ``max_train_clips`` / ``max_eval_clips``, so code outside training (a release's
    evaluation) can take exactly the clips a run used.
    """
    if limit is None or len(data) <= int(limit):
        return data
    return data.shuffle(seed=seed).select(range(int(limit)))


def class_counts(labels: np.ndarray) -> np.ndarray:
    """(real, fake) counts, shape (2,)."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=2)[:2]


def inverse_frequency_weights(labels: np.ndarray) -> np.ndarray:
    """Per-class weights ``N / (2 * count)`` (balanced classes give 1.0 each), shape (2,)."""
    counts = class_counts(labels).astype(np.float64)
    if (counts == 0).any():
        raise ConfigError(
            f"the training data needs both classes, got {int(counts[0])} real and {int(counts[1])} fake clips"
        )
    return counts.sum() / (2.0 * counts)


def crop_offset(num_samples: int, crop_samples: int, rng: np.random.Generator | None) -> int:
    """Start of a crop: random (uniform over valid starts) with ``rng``, else 0."""
    if rng is None or num_samples <= crop_samples:
        return 0
    return int(rng.integers(0, num_samples - crop_samples + 1))


class ClipDataset(Dataset):
    """Decoded, cropped clips of a ``datasets.Dataset``.

    Args:
        data: rows with ``audio`` ({"path", "bytes"} or a path) and ``label``.
        sample_rate_hz: decode rate (the detector's).
        crop_samples: crop length; shorter clips stay whole (padded to ``min_samples``).
        train: random crops and ``augment``; otherwise the first ``crop_samples``.
        seed: with the epoch and the index, seeds each clip's crop and augmentation.
        augment: ``augment(samples, sample_rate_hz) -> samples`` (training only).
        aasist_augment: a fused detector's AASIST branch gets its own input (training only):
            ``"clean"``, the crop before ``augment``, or a callable like ``augment`` applied to
            that crop; ``None``: the branch sees the backbone's input (no extra item).
        min_samples: clips shorter than this (the backbone's receptive field) are zero-padded.
        preprocess: applied to each decoded clip before cropping (``Detector._preprocess``), so
            training repeats the preprocessing recorded in the detector config.

    Items:
        {"waveform": float32 (S,), "label": int, "index": int}, plus ``"aasist_waveform"``
        float32 (S',) with ``aasist_augment``.
    """

    def __init__(
        self,
        data,
        sample_rate_hz: int,
        crop_samples: int,
        *,
        train: bool,
        seed: int = 0,
        augment: Callable[[np.ndarray, int], np.ndarray] | None = None,
        aasist_augment: str | Callable[[np.ndarray, int], np.ndarray] | None = None,
        min_samples: int = 1,
        preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.data = data
        self.sample_rate_hz = int(sample_rate_hz)
        self.crop_samples = int(crop_samples)
        self.train = train
        self.seed = int(seed)
        self.augment = augment if train else None
        if aasist_augment is not None and aasist_augment != "clean" and not callable(aasist_augment):
            raise ConfigError(f"aasist_augment must be 'clean', a callable or None, got {aasist_augment!r}")
        self.aasist_augment = aasist_augment if train else None
        self.min_samples = int(min_samples)
        self.preprocess = preprocess
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.data)

    def labels(self) -> np.ndarray:
        return np.asarray(self.data["label"], dtype=np.int64)

    def audio_cell(self, index: int) -> Any:
        return self.data[int(index)]["audio"]

    def load(self, index: int) -> np.ndarray:
        """The decoded (uncropped, unaugmented) clip, float32 (S,)."""

        return decode_audio(self.audio_cell(index), self.sample_rate_hz)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.data[int(index)]

        samples = decode_audio(row["audio"], self.sample_rate_hz)
        if self.preprocess is not None:  # the detector's own preprocessing (e.g. denoising)
            samples = self.preprocess(samples)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)]) if self.train else None
        start = crop_offset(samples.shape[0], self.crop_samples, rng)
        crop = samples = samples[start : start + self.crop_samples]
        if self.augment is not None:
            samples = self._augment(self.augment, samples, rng, "augment")
        item = {"waveform": self._as_tensor(samples), "label": int(row["label"]), "index": int(index)}
        if self.aasist_augment is not None:  # drawn after augment's seed: the backbone's input is unchanged
            raw = (
                crop
                if self.aasist_augment == "clean"
                else self._augment(self.aasist_augment, crop, rng, "aasist_augment")
            )
            item["aasist_waveform"] = self._as_tensor(raw)
        return item

    def _as_tensor(self, samples: np.ndarray) -> torch.Tensor:
        """float32 (S,), zero-padded to ``min_samples``."""
        if samples.shape[0] < self.min_samples:
            samples = np.pad(samples, (0, self.min_samples - samples.shape[0]))
        return torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))

    def _augment(self, augment: Callable, samples: np.ndarray, rng: np.random.Generator, name: str) -> np.ndarray:
        """Run ``augment`` with the global numpy/random state seeded from ``rng``, then restore it."""
        np_state, py_state = np.random.get_state(), random.getstate()
        seed = int(rng.integers(0, 2**31 - 1))
        np.random.seed(seed)
        random.seed(seed)
        from ..audio.augment import Augmenter

        try:
            if isinstance(augment, Augmenter):
                out = augment(samples, self.sample_rate_hz, seed=seed)
            else:
                out = augment(samples, self.sample_rate_hz)
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
        out = np.asarray(out, dtype=np.float32)
        if out.ndim != 1 or not np.isfinite(out).all():
            raise ConfigError(
                f"{name} returned {out.shape} samples with non-finite values; it must return finite mono audio"
            )
        return out


class EpochSampler(Sampler[int]):
    """Shuffled (or class-balanced) indices, a pure function of ``(seed, epoch)``.

    Args:
        num_items: dataset size.
        seed: base seed.
        weights: per-item sampling weights: draws ``num_items`` indices with replacement
            (oversampling); ``None`` gives a permutation.
        shuffle: ``False`` yields 0..N-1 in order.
    """

    def __init__(self, num_items: int, seed: int = 0, weights: np.ndarray | None = None, shuffle: bool = True):
        self.num_items = int(num_items)
        self.seed = int(seed)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_items

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.num_items))
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.weights is not None:
            order = torch.multinomial(self.weights, self.num_items, replacement=True, generator=generator)
        else:
            order = torch.randperm(self.num_items, generator=generator)
        return iter(order.tolist())


def pad_collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Zero-pad waveforms into a batch.

    Returns:
        {"waveforms": (B, S_max) float32, "lengths": (B,) int64, "labels": (B,) int64, "indices": (B,)},
        plus ``"aasist_waveforms"`` (B, S'_max) and ``"aasist_lengths"`` (B,) when the items have
        an ``"aasist_waveform"`` (:class:`ClipDataset` with ``aasist_augment``).
    """
    waveforms, lengths = _pad([it["waveform"] for it in items])
    batch = {
        "waveforms": waveforms,
        "lengths": lengths,
        "labels": torch.tensor([it["label"] for it in items], dtype=torch.long),
        "indices": torch.tensor([it["index"] for it in items], dtype=torch.long),
    }
    if "aasist_waveform" in items[0]:
        batch["aasist_waveforms"], batch["aasist_lengths"] = _pad([it["aasist_waveform"] for it in items])
    return batch


def _pad(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, S_max) float32 zero-padded after each row, and the rows' lengths (B,) int64."""
    lengths = torch.tensor([row.shape[0] for row in rows], dtype=torch.long)
    out = torch.zeros(len(rows), int(lengths.max()), dtype=torch.float32)
    for index, row in enumerate(rows):
        out[index, : row.shape[0]] = row
    return out, lengths
