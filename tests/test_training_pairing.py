"""Paired training end to end: a manifest's source_id groups a real clip with its copies; the
trainer batches them together and trains with the pairwise margin loss."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from _train_fixtures import tiny_config

pytest.importorskip("accelerate")

RATE_HZ = 16000


def _manifest(root: Path, sources: int, seed: int) -> Path:
    """Real chirps and, for each, two "copies" (the chirp plus noise) recording it as source_id."""
    import soundfile as sf

    from wavguard.testing import chirp

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(sources):
        real = chirp(1.0, f0_hz=rng.uniform(100, 400), f1_hz=rng.uniform(1500, 5000), amplitude=0.3)
        sf.write(root / f"r{i}.wav", real, RATE_HZ)
        rows.append({"path": f"r{i}.wav", "label": "real", "source_id": f"r{i}"})
        for k in range(2):
            copy = real + rng.uniform(0.15, 0.3) * rng.standard_normal(real.size).astype(np.float32)
            sf.write(root / f"r{i}_c{k}.wav", copy.astype(np.float32), RATE_HZ)
            rows.append({"path": f"r{i}_c{k}.wav", "label": "fake", "source_id": f"r{i}"})
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "source_id"])
        writer.writeheader()
        writer.writerows(rows)
    return root / "manifest.csv"


def test_paired_training_keeps_groups_together_and_learns(tmp_path):
    from wavguard.testing import tiny_backbone_dir
    from wavguard.training import Trainer
    from wavguard.training.pairing import PairedLoss, PairedSampler

    cfg = tiny_config(
        _manifest(tmp_path / "train", 8, 0),
        _manifest(tmp_path / "val", 4, 1),
        tiny_backbone_dir("wav2vec2", tmp_path / "backbone"),
        tmp_path / "run",
        tmp_path / "cache",
        epochs=8,
        batch_size=6,
        pairing={"margin_weight": 0.5, "margin": 1.0},
    )
    trainer = Trainer(cfg).setup()
    assert isinstance(trainer.train_loss, PairedLoss)
    sampler = trainer.train_sampler
    assert isinstance(sampler, PairedSampler)
    sources = sampler.groups
    for batch in sampler.batches():  # 8 groups of 3 in batches of 6: every group whole
        assert len(batch) == 6 and all(np.sum(sources[batch] == g) == 3 for g in set(sources[batch].tolist()))
    result = trainer.fit()
    assert result.best_eer <= 0.25, result.history
    saved = (result.best_dir / "config.json").read_text()
    assert '"pairing"' not in saved  # training settings live in train_config.yaml, not the detector's config


def test_pairing_settings_are_checked():
    from wavguard.errors import ConfigError
    from wavguard.training import TrainConfig

    with pytest.raises(ConfigError, match="unknown keys"):
        TrainConfig(train_data="x", backbone="b", pairing={"colum": "source_id"})
    with pytest.raises(ConfigError, match="margin_weight must be a number >= 0"):
        TrainConfig(train_data="x", backbone="b", pairing={"margin_weight": -1})
    with pytest.raises(ConfigError, match="balance='oversample'"):
        TrainConfig(train_data="x", backbone="b", pairing=True, balance="oversample")
    assert TrainConfig(train_data="x", backbone="b", pairing=True).pairing == {
        "column": "source_id",
        "margin_weight": 0.0,
        "margin": 1.0,
    }
