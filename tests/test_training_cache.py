"""Frozen mode computes backbone features once: later epochs and later runs reuse the cache."""

from __future__ import annotations

import pytest
from _train_fixtures import make_folder

pytest.importorskip("accelerate")


def test_backbone_runs_once_across_epochs_and_runs(tmp_path, monkeypatch):
    from wavguard.models.backbone import Backbone
    from wavguard.testing import tiny_backbone_dir
    from wavguard.training import TrainConfig, train

    data = make_folder(tmp_path / "data", per_class=8)
    backbone = tiny_backbone_dir("wav2vec2", tmp_path / "bb")
    calls = {"n": 0}
    original = Backbone.forward

    def counting(self, waveforms):
        calls["n"] += 1
        return original(self, waveforms)

    monkeypatch.setattr(Backbone, "forward", counting)

    def run(name, **kw):
        calls["n"] = 0
        settings = dict(
            train_data=str(data),
            validation_data=str(data),
            backbone=str(backbone),
            mode="frozen",
            epochs=3,
            batch_size=8,
            crop_seconds=1.0,
            detector={"head_channels": [8]},
            output_dir=str(tmp_path / name),
            cache_dir=str(tmp_path / "cache"),
            calibration="none",
        )  # calibration scores whole files with the backbone, by design
        cfg = TrainConfig(**{**settings, **kw})
        result = train(cfg)
        return calls["n"], result

    first, result = run("a")
    # 16 clips in batches of 8 -> 2 backbone calls to fill the cache; 3 epochs of training and
    # validation on the same clips call it no more
    assert first == 2
    assert len(result.history) == 3
    second, _ = run("b")
    assert second == 0
    files = list((tmp_path / "cache").rglob("*.safetensors"))
    assert len(files) == 16
    third, _ = run("c", crop_seconds=0.5)  # other crop -> other key -> recompute
    assert third == 2
    assert len(list((tmp_path / "cache").rglob("*.safetensors"))) == 32


def test_cached_features_equal_live_hidden_states(tmp_path):
    import torch

    from wavguard.testing import sine, tiny_detector
    from wavguard.training.cache import FeatureCache

    det = tiny_detector("wav2vec2")
    cache = FeatureCache(tmp_path, {"backbone": "x"})
    wave = torch.from_numpy(sine(0.5))[None]
    states, mask = det.model.hidden_states(wave)
    cache.save("ab" * 32, states[:, 0])
    np_states = cache.load("ab" * 32)
    assert np_states.shape == states[:, 0].shape
    assert torch.equal(np_states, states[:, 0])
    a = FeatureCache(tmp_path, {"backbone": "x", "crop_samples": 1})
    b = FeatureCache(tmp_path, {"backbone": "x", "crop_samples": 2})
    cell = {"path": None, "bytes": b"RIFF...."}
    assert a.key(cell) != b.key(cell) and a.key(cell) == a.key(dict(cell))
