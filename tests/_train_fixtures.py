"""Shared fixtures of the training tests: tiny two-class audio folders and a tiny backbone."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RATE_HZ = 16000


def make_folder(root: Path, per_class: int = 12, seconds: float = 1.0, seed: int = 0) -> Path:
    """``root/real/*.wav`` sines of varying pitch and ``root/fake/*.wav`` white noise."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    for name in ("real", "fake"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(per_class):
        tone = 0.3 * np.sin(2 * np.pi * (180 + 35 * i) * t)
        noise = np.clip(0.3 * rng.standard_normal(t.size), -1, 1)
        sf.write(root / "real" / f"real_{i:02d}.wav", tone.astype(np.float32), RATE_HZ)
        sf.write(root / "fake" / f"fake_{i:02d}.wav", noise.astype(np.float32), RATE_HZ)
    return root


def _arrow_folder_dataset(source, split=None):
    """A class-folder dataset built with pyarrow (no audio encoding, so no torchcodec needed)."""
    import datasets
    import pyarrow as pa

    root = Path(source)
    rows = [(str(f), label) for label, name in ((0, "real"), (1, "fake")) for f in sorted((root / name).rglob("*.wav"))]
    audio = pa.array([{"bytes": None, "path": p} for p, _ in rows], type=pa.struct({"bytes": pa.binary(), "path": pa.string()}))
    table = pa.table({"audio": audio, "label": pa.array([lab for _, lab in rows], pa.int64())})
    features = datasets.Features({"audio": datasets.Audio(decode=False), "label": datasets.ClassLabel(names=["real", "fake"])})
    return datasets.Dataset(table).cast(features)


def ensure_folder_loader(tmp: Path) -> None:
    """Where ``wavguard.data.load_any`` cannot build a folder dataset here (the minimal loader
    needs torchcodec under datasets >= 4), substitute a pyarrow-built equivalent."""
    import wavguard.data

    probe = make_folder(Path(tmp) / "probe", per_class=1, seconds=0.1)
    try:
        wavguard.data.load_any(str(probe))
    except ImportError:
        wavguard.data.load_any = _arrow_folder_dataset
