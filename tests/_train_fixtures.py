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


