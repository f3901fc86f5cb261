"""``load_any``: one entry point that recognises every supported source.

Dispatch rules, in order:

1. a ``datasets.Dataset`` / ``DatasetDict`` object -> :func:`from_dataset`;
2. a file ending in .csv, .tsv, .jsonl, .json or .parquet -> :func:`load_manifest`;
3. a ``save_to_disk`` folder (``dataset_info.json`` + ``state.json``, or ``dataset_dict.json``)
   -> ``datasets.load_from_disk`` then :func:`from_dataset`;
4. a folder with class folders (``real/`` + ``fake/``, optionally under split folders) ->
   :func:`load_folder` (checked before corpora: a FoR version folder is such a folder);
5. a known corpus root, detected by its protocol files (:func:`detect_corpus`) -> its loader;
   a folder matching several corpora raises ``ConfigError``;
6. a folder in the Hub layout (a dataset card with ``configs``, or parquet/arrow files at the top,
   or data files under ``data/``) -> ``datasets.load_dataset`` (:func:`~.hub_data.load_hub_dataset`);
7. a string ``owner/name`` that is no local path -> a Hub dataset through ``datasets.load_dataset``
   (with ``revision`` and ``streaming`` passed on).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._schema import select_split
from .asvspoof import load_asvspoof2019_la, load_asvspoof2021
from .corpora import detect_corpus, load_fake_or_real, load_in_the_wild, load_wavefake
from .folders import is_class_folder, load_folder
from .hub_data import is_hub_id, is_hub_layout, load_hub_dataset
from .manifest import MANIFEST_SUFFIXES, from_dataset, load_manifest

__all__ = ["load_any", "load_corpus", "to_streaming"]

_LOADERS = {
    "asvspoof2019_la": lambda root, split, wd: load_asvspoof2019_la(root, split, with_duration=wd),
    "asvspoof2021_la": lambda root, split, wd: select_split(
        load_asvspoof2021(root, "LA", with_duration=wd), split, str(root)
    ),
    "asvspoof2021_df": lambda root, split, wd: select_split(
        load_asvspoof2021(root, "DF", with_duration=wd), split, str(root)
    ),
    "in_the_wild": lambda root, split, wd: select_split(load_in_the_wild(root, with_duration=wd), split, str(root)),
    "wavefake": lambda root, split, wd: select_split(load_wavefake(root, with_duration=wd), split, str(root)),
    "fake_or_real": lambda root, split, wd: load_fake_or_real(root, split, with_duration=wd),
}


def load_corpus(name: str, root: str | os.PathLike, split: str | None = None, *, with_duration: bool = True):
    """Load a known corpus by name (one of :data:`wavguard.data.CORPORA`) with default options."""
    if name not in _LOADERS:
        raise ConfigError(f"unknown corpus {name!r}; known: {sorted(_LOADERS)}")
    return _LOADERS[name](Path(root), split, with_duration)


def _is_saved_dataset(root: Path) -> bool:
    return (root / "dataset_dict.json").is_file() or (
        (root / "dataset_info.json").is_file() and (root / "state.json").is_file()
    )


def to_streaming(ds, num_shards: int = 1):
    """An ``IterableDataset`` (or ``IterableDatasetDict``) over ``ds`` that reads rows lazily.

    Args:
        num_shards: shards for parallel reading (``DataLoader(num_workers=...)``); at most len(ds).
    """
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        return datasets.IterableDatasetDict({k: to_streaming(v, num_shards) for k, v in ds.items()})
    if isinstance(ds, datasets.IterableDataset):
        return ds
    return ds.to_iterable_dataset(num_shards=max(1, min(int(num_shards), len(ds))))


def load_any(
    source,
    split: str | None = None,
    *,
    streaming: bool = False,
    with_duration: bool = True,
    revision: str | None = None,
    audio_column: str | None = None,
    label_column: str | None = None,
    label_mapping: dict[Any, Any] | None = None,
):
    """Load any supported source into the common schema, without decoding audio.

    Args:
        source: a ``Dataset``/``DatasetDict``, a manifest file, a ``save_to_disk`` folder, a
            class-folder root or a known corpus root (see the module docstring for the rules).
        split: return only this split ("train", "validation"/"dev", "test"/"eval"). A source
            without splits is returned whole (with a logged warning).
        streaming: return an ``IterableDataset`` (rows read lazily) instead of a ``Dataset``.
        with_duration: add ``duration_seconds`` from each file's header (about 1 ms a file;
            turn it off for corpora of hundreds of thousands of files).
        revision: branch, tag or commit of a Hub dataset (sources read by ``load_dataset`` only).
        audio_column, label_column: the source's own audio (or path) and label columns, for sources
            that are tables (``Dataset`` objects, manifests, ``save_to_disk`` and Hub-layout
            folders, Hub ids); default: the usual names. Class folders and known corpora have
            their columns already and do not use them.
        label_mapping: the label column's values (a ``ClassLabel``'s class names) -> 0/1 or
            real/fake, e.g. ``{"bonafide": 0, "spoof": 1}``, for the same sources; a value it leaves
            out is an error naming the column and the values seen.

    Returns:
        ``Dataset`` or ``DatasetDict`` (``IterableDataset``/``IterableDatasetDict`` when
        streaming) with columns audio, label and whatever else the source knows.

    Raises:
        ConfigError: a source that matches no rule, or several corpora at once.
    """
    import datasets

    columns = {"audio_column": audio_column, "label_column": label_column, "label_mapping": label_mapping}
    if isinstance(source, (datasets.Dataset, datasets.DatasetDict)):
        result = select_split(from_dataset(source, **columns), split, "the dataset")
    else:
        root = Path(source)
        if isinstance(source, str) and not root.exists() and is_hub_id(source):
            return load_hub_dataset(source, split, revision=revision, streaming=streaming, **columns)
        if root.is_file():
            if root.suffix.lower() not in MANIFEST_SUFFIXES:
                raise ConfigError(
                    f"{root}: a manifest must end in {', '.join(MANIFEST_SUFFIXES)}; for a corpus pass its folder"
                )
            result = load_manifest(
                root,
                split,
                path_column=audio_column,
                label_column=label_column,
                label_mapping=label_mapping,
                with_duration=with_duration,
            )
        elif not root.is_dir():
            raise ConfigError(f"{root}: no such file or folder (a Hub dataset is named owner/name)")
        elif _is_saved_dataset(root):
            result = select_split(from_dataset(datasets.load_from_disk(str(root)), **columns), split, str(root))
        elif is_class_folder(root):
            result = load_folder(root, split, with_duration=with_duration)
        else:
            corpora = detect_corpus(root)
            if len(corpora) > 1:
                raise ConfigError(
                    f"{root}: holds several corpora ({', '.join(corpora)}); pass one corpus folder, or call its loader"
                )
            if not corpora and is_hub_layout(root):  # after corpora: In-the-Wild's meta.csv is no Hub layout
                return load_hub_dataset(str(root), split, revision=revision, streaming=streaming, **columns)
            if not corpora:
                raise ConfigError(
                    f"{root}: not a recognised data source; expected real/ and fake/ sub-folders (optionally under "
                    "train/validation/test), a .csv/.jsonl manifest, a save_to_disk folder, a folder in the Hub layout "
                    "(parquet files under data/), a Hub dataset id (owner/name), or an ASVspoof 2019 LA, "
                    "ASVspoof 2021 LA/DF, In-the-Wild, WaveFake or Fake-or-Real folder"
                )
            result = load_corpus(corpora[0], root, split, with_duration=with_duration)
    return to_streaming(result) if streaming else result
