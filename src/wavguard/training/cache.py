"""On-disk cache of frozen-backbone hidden states, so ``"frozen"`` training runs the backbone once.

Each clip's hidden states (L, F, D) of its deterministic crop (the first ``crop_seconds``) are
stored as one safetensors file named by a hash of everything that determines them: the backbone
(id, revision, layers, normalisation, model type, and for a local directory its weight files'
sizes and times), the sample rate, the crop, and the clip's identity (a hash of its bytes, or its
absolute path, size and modification time). Changing any of these computes new features; the
same clip in another run or split reuses them. A fused detector's frozen AASIST branch is cached
the same way: its 160-d embedding of the crop goes into the same file, and a hash of the AASIST
weights into the key. A frozen AASIST alone (``kind="aasist"``) stores that embedding only. An
AASIST branch whose graph part trains (``train="graph"``) stores its encoder's maps (64, 23, T)
instead of the embedding, and the graph part runs on them every step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from .._io import atomic_write
from ..errors import ConfigError
from ..layout import ADAPTER_DIR, BACKBONE_DIR
from ..models.backbone import resolve_model_dir, weights_sha256
from .data import pad_collate
from .writes import writing

__all__ = [
    "FeatureCache",
    "FeatureDataset",
    "feature_collate",
    "clip_identity",
    "backbone_fingerprint",
    "cache_settings",
]

logger = logging.getLogger(__name__)
CACHE_VERSION = 1


def clip_identity(audio: Any) -> str:
    """A stable identity of an ``audio`` cell: its bytes' hash, else path + size + mtime."""
    if isinstance(audio, dict) and audio.get("bytes"):
        return "sha1:" + hashlib.sha1(audio["bytes"]).hexdigest()
    path = audio.get("path") if isinstance(audio, dict) else audio
    if not path:
        raise ConfigError("an audio cell holds neither bytes nor a path")
    try:
        st = os.stat(path)
    except OSError:
        raise ConfigError(f"{path}: audio file not found") from None
    return f"file:{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}"


def backbone_fingerprint(name_or_path: str) -> list[Any]:
    """For a local backbone directory: (file, size, mtime) of its weights, so edits invalidate."""
    if not os.path.isdir(name_or_path):
        return []
    out = []
    for f in sorted(Path(name_or_path).glob("*")):
        if f.suffix in (".safetensors", ".bin", ".json"):
            st = f.stat()
            out.append([f.name, st.st_size, st.st_mtime_ns])
    return out


def cache_settings(cfg, dcfg, crop_samples: int, model: nn.Module | None = None) -> dict[str, Any]:
    """What determines a clip's cached features besides the clip (hashed into every key).

    Args:
        cfg: the run's ``TrainConfig`` (``init_from``); dcfg: the detector's ``DetectorConfig``.
        crop_samples: the cached crop's length.
        model: the detector network; a fused one's AASIST weights are fingerprinted.
    """
    settings = {
        "backbone": dcfg.backbone,
        "revision": dcfg.backbone_revision,
        "num_layers": dcfg.num_layers,
        "normalize": dcfg.normalize,
        "backbone_type": dcfg.backbone_type,
        "sample_rate_hz": dcfg.sample_rate_hz,
        "crop_samples": crop_samples,
        "crop": "start",
        "fingerprint": backbone_fingerprint(dcfg.backbone),
    }
    if cfg.init_from is not None:
        root = resolve_model_dir(cfg.init_from)
        tuned = [backbone_fingerprint(str(root / sub)) for sub in (BACKBONE_DIR, ADAPTER_DIR) if (root / sub).is_dir()]
        if tuned:  # a bundled (fine-tuned) backbone or LoRA adapters give other features than the reference
            settings["init_from"] = [str(root.resolve()), tuned]
    if getattr(model, "aasist", None) is not None:  # only then: other detectors keep their cached features
        settings["aasist"] = weights_sha256(model.aasist.network)
        if model.aasist.caches_maps:  # another tensor per clip: the encoder's maps
            settings["aasist_cached"] = "encoder_maps"
    return settings


class FeatureCache:
    """A folder of per-clip hidden states.

    Args:
        directory: cache root (created on first write).
        settings: what determines the features besides the clip (backbone id, revision, layers,
            normalize, model type, sample rate, crop samples); hashed into every key.
        dtype: storage dtype, ``"float32"`` or ``"float16"``.
    """

    def __init__(self, directory: str | os.PathLike, settings: dict[str, Any], dtype: str = "float32"):
        if dtype not in ("float32", "float16"):
            raise ConfigError(f"cache dtype must be float32 or float16, got {dtype!r}")
        self.directory = Path(directory)
        self.dtype = dtype
        payload = {"version": CACHE_VERSION, "dtype": dtype, **settings}
        self.settings_hash = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def key(self, audio: Any) -> str:
        return hashlib.sha256(f"{self.settings_hash}|{clip_identity(audio)}".encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.safetensors"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def save(
        self,
        key: str,
        states: torch.Tensor | None,
        aasist: torch.Tensor | None = None,
        aasist_maps: torch.Tensor | None = None,
    ) -> None:
        """Store states (L, F, D) and, for a fused detector, the AASIST embedding (E,) or its
        encoder's maps (64, 23, T); AASIST alone stores one of those only (``states=None``)."""
        from safetensors.torch import save_file

        given = {"states": states, "aasist": aasist, "aasist_maps": aasist_maps}
        tensors = {name: value for name, value in given.items() if value is not None}
        if not tensors:
            raise ValueError("nothing to cache: neither hidden states nor an AASIST embedding or maps")
        tensors = {k: v.detach().to("cpu", getattr(torch, self.dtype)).contiguous() for k, v in tensors.items()}
        with writing(self.path(key), "cached backbone features", setting="cache_dir"):
            atomic_write(self.path(key), lambda tmp: save_file(tensors, tmp))

    def load(self, key: str) -> torch.Tensor:
        """States (L, F, D) as float32."""
        return self.load_all(key)["states"]

    def load_all(self, key: str) -> dict[str, torch.Tensor]:
        """Everything stored for a clip, as float32: ``states`` and, fused, ``aasist`` or
        ``aasist_maps`` (AASIST alone: one of these only)."""
        from safetensors.torch import load_file

        try:
            return {k: v.float() for k, v in load_file(str(self.path(key))).items()}
        except FileNotFoundError:
            raise ConfigError(f"{self.path(key)}: cached features vanished; rerun to recompute them") from None

    @torch.no_grad()
    def fill(self, model, clips, keys: list[str], accelerator, batch_size: int, *, progress: bool = True) -> int:
        """Compute and store the features of every clip whose key is missing.

        Args:
            model: the (unwrapped) ``DetectorModel``; run in eval mode on ``accelerator.device``.
                A fused one's AASIST encoder must be frozen: its embeddings (its maps, when the
                graph part trains) are cached too. An ``AasistDetectorModel`` (no backbone)
                caches these only.
            clips: a deterministic ``ClipDataset`` (``train=False``) aligned with ``keys``.
            keys: cache key per clip.
            accelerator: splits the work across processes and waits for all of them.
            batch_size: clips per backbone call.
            progress: draw a tqdm bar (main process only).

        Returns:
            clips this process computed.
        """
        aasist = getattr(model, "aasist", None)
        if aasist is not None and not aasist.encoder_frozen:
            raise ConfigError(
                "the AASIST branch trains (aasist.train='full'), so its embeddings cannot be cached; "
                "set cache_features=false, freeze it or train its graph part only (aasist.train='graph')"
            )
        cache_maps = aasist is not None and aasist.caches_maps
        missing = [i for i, k in enumerate(keys) if not self.has(k)]
        mine = missing[accelerator.process_index :: accelerator.num_processes]
        done = 0
        if mine:
            from tqdm.auto import tqdm

            was_training = model.training
            model.eval()
            bar = tqdm(
                total=len(mine),
                desc="caching features",
                unit="clip",
                disable=not (progress and accelerator.is_local_main_process),
            )
            for start in range(0, len(mine), batch_size):
                rows = mine[start : start + batch_size]
                batch = pad_collate([clips[i] for i in rows])
                waveforms, lengths = batch["waveforms"].to(accelerator.device), batch["lengths"].to(accelerator.device)
                states, frames = None, None
                if hasattr(model, "hidden_states"):  # AASIST alone has no backbone
                    states, mask = model.hidden_states(waveforms, lengths)
                    frames = mask.sum(dim=1).tolist()
                embeddings = None if aasist is None or cache_maps else aasist(waveforms, lengths)
                maps = aasist.encoder_maps(waveforms, lengths) if cache_maps else None
                for j, i in enumerate(rows):
                    self.save(
                        keys[i],
                        None if states is None else states[:, j, : int(frames[j])],
                        None if embeddings is None else embeddings[j],
                        None if maps is None else maps[j],
                    )
                done += len(rows)
                bar.update(len(rows))
            bar.close()
            model.train(was_training)
        accelerator.wait_for_everyone()
        if missing and accelerator.is_main_process:
            logger.info("cached features of %d clips in %s", len(missing), self.directory)
        return done


class FeatureDataset(Dataset):
    """Cached hidden states with labels. Items: {"states": (L, F, D), "label": int, "index": int}
    and, fused, "aasist": (E,) or "aasist_maps": (64, 23, T); AASIST alone: {"aasist" or
    "aasist_maps", "label", "index"}."""

    def __init__(self, cache: FeatureCache, keys: list[str], labels: np.ndarray):
        if len(keys) != len(labels):
            raise ValueError("keys and labels must align")
        self.cache = cache
        self.keys = list(keys)
        self._labels = np.asarray(labels, dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:  # features are fixed; kept for a uniform interface
        pass

    def __len__(self) -> int:
        return len(self.keys)

    def labels(self) -> np.ndarray:
        return self._labels

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.cache.load_all(self.keys[index]), "label": int(self._labels[index]), "index": int(index)}


def feature_collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Pad cached states along frames.

    Returns:
        {"states": (L, B, F_max, D), "mask": (B, F_max) bool, "labels": (B,), "indices": (B,)} and,
        fused, "aasist": (B, E) or "aasist_maps": (B, 64, 23, T_max) zero-padded along time with
        "aasist_frames": (B,); AASIST alone: those AASIST entries, "labels" and "indices"
    """
    labels = {
        "labels": torch.tensor([it["label"] for it in items], dtype=torch.long),
        "indices": torch.tensor([it["index"] for it in items], dtype=torch.long),
    }
    aasist = _collate_aasist(items)
    if "states" not in items[0]:
        return {**aasist, **labels}
    num_layers, _, dim = items[0]["states"].shape
    frames = [it["states"].shape[1] for it in items]
    states = torch.zeros(num_layers, len(items), max(frames), dim, dtype=torch.float32)
    mask = torch.zeros(len(items), max(frames), dtype=torch.bool)
    for row, it in enumerate(items):
        states[:, row, : frames[row]] = it["states"]
        mask[row, : frames[row]] = True
    return {
        "states": states,
        "mask": mask,
        **aasist,
        **labels,
    }


def _collate_aasist(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """The cached AASIST entries of a batch: {"aasist": (B, E)}, {"aasist_maps": (B, 64, 23,
    T_max), "aasist_frames": (B,)} or {} (no AASIST branch)."""
    if "aasist" in items[0]:
        return {"aasist": torch.stack([it["aasist"] for it in items])}
    if "aasist_maps" not in items[0]:
        return {}
    frames = [it["aasist_maps"].shape[-1] for it in items]
    maps = torch.zeros(len(items), *items[0]["aasist_maps"].shape[:-1], max(frames))
    for row, it in enumerate(items):
        maps[row, ..., : frames[row]] = it["aasist_maps"]
    return {"aasist_maps": maps, "aasist_frames": torch.tensor(frames, dtype=torch.long)}
