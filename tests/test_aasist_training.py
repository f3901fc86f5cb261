"""AASIST detectors train through the ordinary Trainer: alone (frozen or fine-tuned) and fused with a
transformer backbone (frozen features cached with AASIST's embeddings, or end to end)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _aasist_marks import needs_weights
from _train_fixtures import aasist_toy_config, make_folder

from wavguard.errors import ConfigError

pytest.importorskip("accelerate")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from wavguard.testing import tiny_backbone_dir

    tmp = tmp_path_factory.mktemp("aasist-train")
    data = make_folder(tmp / "data", per_class=4, seconds=0.5)  # sines (real) and noise (fake)
    return {"tmp": tmp, "data": data, "whisper": tiny_backbone_dir("whisper", tmp / "whisper")}


def _config(setup, name, **kw):
    return aasist_toy_config(setup["data"], setup["tmp"], name, **kw)


def _train_accuracy(detector, data) -> float:
    paths = sorted(data.glob("*/*.wav"))
    predictions = detector.predict([str(p) for p in paths])
    return float(np.mean([pred.label == path.parent.name for pred, path in zip(predictions, paths)]))


def _epoch_losses(result) -> list[float]:
    return [h["train_epoch_loss"] for h in result.history if "train_epoch_loss" in h]


def _assert_batch_is_the_forward_pass_of_the_first_crops(trainer, batch) -> None:
    """The training module on a cached batch of the first clips gives the logits of the whole
    network on those clips' cached crops (the first 8,000 samples)."""
    from wavguard.training.data import ClipDataset, pad_collate

    model = trainer.detector.model
    crops = ClipDataset(trainer._load_data()[0], 16000, 8000, train=False, min_samples=model.min_samples)
    waves = pad_collate([crops[i] for i in range(len(batch["labels"]))])
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            trainer.module(batch), model(waves["waveforms"], waves["lengths"]), atol=1e-5, rtol=1e-5
        )


def test_train_config_rules_for_aasist(setup):
    for kw, message in [
        ({"kind": "aasist", "mode": "lora"}, "no LoRA"),
        ({"kind": "aasist", "backbone": "x"}, "no backbone"),
        ({"kind": "aasist", "detector": {"aasist": {"train": "full"}}}, "mode says"),
        ({"kind": "aasist", "detector": {"aasist": {"train": "frozen"}}}, "mode says"),
        ({"kind": "aasist", "mode": "full", "detector": {"aasist": {"train": "graph"}}}, "mode says"),
    ]:
        with pytest.raises(ConfigError, match=message):
            _config(setup, "x", **kw)
    assert _config(setup, "x", kind="aasist").uses_feature_cache  # frozen AASIST alone: its embeddings are cached
    assert not _config(setup, "x", kind="aasist", mode="full").uses_feature_cache
    assert not _config(
        setup, "x", kind="aasist", augment={"transforms": [{"name": "gain", "p": 0.5}]}
    ).uses_feature_cache
    fused = dict(backbone=str(setup["whisper"]), mode="frozen")
    assert _config(setup, "x", **fused, detector={"aasist": {}}).uses_feature_cache
    assert not _config(setup, "x", **fused, detector={"aasist": {"train": "full"}}).uses_feature_cache
    # the graph part trains on the cached encoder maps, alone and fused
    graph = {"aasist": {"train": "graph"}}
    assert _config(setup, "x", kind="aasist", detector=graph).aasist_train == "graph"
    assert _config(setup, "x", kind="aasist", detector=graph).uses_feature_cache
    assert _config(setup, "x", **fused, detector=graph).uses_feature_cache
    assert _config(setup, "x", kind="aasist", mode="full").aasist_train == "full"


@pytest.fixture(scope="module")
def alone(setup):
    """A frozen AASIST with a new linear head, trained on the toy task (the overfit test's run)."""
    from wavguard.training import Trainer

    return Trainer(
        _config(setup, "alone", kind="aasist", epochs=3, detector={"window_seconds": 0.5, "aasist": {"head": "linear"}})
    ).fit()


@needs_weights
def test_aasist_alone_learns_the_training_clips(setup, alone):
    from safetensors.torch import load_file

    from wavguard import Detector

    losses = _epoch_losses(alone)
    assert losses[-1] < 0.5 * losses[0], losses
    best = Detector.from_pretrained(alone.best_dir)
    assert best.config.aasist == {"weights": "offline:aasist", "train": "frozen", "head": "linear"}
    assert sorted(load_file(str(alone.best_dir / "model.safetensors"))) == ["head.bias", "head.weight"]
    assert _train_accuracy(best, setup["data"]) == 1.0


@needs_weights
def test_a_saved_aasist_detector_fine_tunes_and_stores_its_weights(setup, alone):
    from safetensors.torch import load_file

    from wavguard import Detector
    from wavguard.training import Trainer

    best = Detector.from_pretrained(alone.best_dir)
    tuned = Trainer(_config(setup, "alone-full", kind="aasist", mode="full", epochs=1, init_from=str(alone.best_dir)))
    tuned_result = tuned.fit()
    state = load_file(str(tuned_result.best_dir / "model.safetensors"))
    assert any(k.startswith("aasist.network.") for k in state)  # fine-tuned: stored, not named
    official = best.model.aasist.network.state_dict()
    changed = [
        k
        for k, v in state.items()
        if k.startswith("aasist.network.")
        and v.is_floating_point()
        and not torch.equal(v, official[k.removeprefix("aasist.network.")])
    ]
    assert changed
    again = Detector.from_pretrained(tuned_result.best_dir)
    assert again.config.aasist["train"] == "full"
    windows = [np.sin(np.arange(8000) / 9.0).astype(np.float32)]
    np.testing.assert_allclose(again.backend.logits(windows), tuned.detector.backend.logits(windows), atol=1e-5)


@needs_weights
def test_fused_frozen_caches_aasist_embeddings_and_learns(setup):
    from safetensors.torch import load_file

    from wavguard import Detector
    from wavguard.training import Trainer

    cfg = _config(
        setup,
        "fused-frozen",
        backbone=str(setup["whisper"]),
        mode="frozen",
        detector={"head_channels": [16], "window_seconds": 0.5, "aasist": {}},
    )
    trainer = Trainer(cfg)
    result = trainer.fit()
    losses = _epoch_losses(result)
    assert losses[-1] < 0.5 * losses[0], losses
    cached = load_file(str(trainer.cache.path(trainer.train_dataset.keys[0])))
    assert cached["aasist"].shape == (160,) and cached["states"].dim() == 3
    best = Detector.from_pretrained(result.best_dir)
    assert not any(k.startswith("aasist.") for k in load_file(str(result.best_dir / "model.safetensors")))
    assert _train_accuracy(best, setup["data"]) == 1.0


@needs_weights
def test_fused_lora_and_fine_tuned_aasist_train_end_to_end(setup):
    from wavguard import Detector
    from wavguard.training import Trainer

    pytest.importorskip("peft")
    cfg = _config(
        setup,
        "fused-lora",
        backbone=str(setup["whisper"]),
        mode="lora",
        epochs=2,
        detector={"head_channels": [16], "window_seconds": 0.5, "aasist": {"train": "full"}},
    )
    trainer = Trainer(cfg)
    before = {k: v.clone() for k, v in trainer.setup().detector.model.aasist.network.state_dict().items()}
    result = trainer.fit()
    assert (result.best_dir / "adapter").is_dir()
    after = trainer.detector.model.aasist.network.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())
    again = Detector.from_pretrained(result.best_dir)
    windows = [np.sin(np.arange(8000) / 7.0).astype(np.float32), np.cos(np.arange(6000) / 5.0).astype(np.float32)]
    np.testing.assert_allclose(again.backend.logits(windows), trainer.detector.backend.logits(windows), atol=1e-5)


def test_frozen_aasist_alone_trains_on_cached_embeddings_equal_to_its_forward_pass(setup, tmp_path):
    from safetensors.torch import load_file

    from wavguard.training import Trainer
    from wavguard.training.cache import feature_collate

    cfg = _config(
        setup,
        "alone-cached",
        kind="aasist",
        epochs=1,
        cache_dir=str(tmp_path / "cache"),
        detector={"window_seconds": 0.5, "aasist": {"weights": None, "head": "linear"}},
    )  # random AASIST
    trainer = Trainer(cfg).setup()
    cached = trainer.train_dataset
    assert sorted(load_file(str(trainer.cache.path(cached.keys[0])))) == ["aasist"]  # no backbone states
    batch = feature_collate([cached[i] for i in range(3)])
    assert set(batch) == {"aasist", "labels", "indices"} and batch["aasist"].shape == (3, 160)
    _assert_batch_is_the_forward_pass_of_the_first_crops(trainer, batch)
    losses = _epoch_losses(trainer.fit())
    assert len(losses) == 1 and np.isfinite(losses[0])


def test_the_cache_refuses_an_aasist_branch_that_trains(setup, tmp_path):
    from wavguard.testing import tiny_detector
    from wavguard.training.cache import FeatureCache

    det = tiny_detector("whisper", window_seconds=0.5, aasist={"weights": None, "train": "full"})
    with pytest.raises(ConfigError, match="cannot be cached"):
        FeatureCache(tmp_path, {}).fill(det.model, [], ["k"], accelerator=None, batch_size=1)


def test_graph_mode_trains_aasists_graph_part_on_cached_encoder_maps(setup, tmp_path):
    """``aasist.train="graph"``: the cache holds the encoder's maps, the graph part runs on them
    and gives the logits of the whole network; only the graph part and the head move; the saved
    folder stores the weights and reloads to the same logits."""
    from safetensors.torch import load_file

    from wavguard import Detector
    from wavguard.training import Trainer
    from wavguard.training.cache import feature_collate

    cfg = _config(
        setup,
        "alone-graph",
        kind="aasist",
        epochs=2,
        cache_dir=str(tmp_path / "cache"),
        detector={"window_seconds": 0.5, "aasist": {"weights": None, "head": "linear", "train": "graph"}},
    )  # random AASIST
    trainer = Trainer(cfg).setup()
    cached = trainer.train_dataset
    stored = load_file(str(trainer.cache.path(cached.keys[0])))
    assert sorted(stored) == ["aasist_maps"] and stored["aasist_maps"].shape == (64, 23, 3)  # 8,000 samples
    batch = feature_collate([cached[i] for i in range(3)])
    assert set(batch) == {"aasist_maps", "aasist_frames", "labels", "indices"}
    model = trainer.detector.model
    _assert_batch_is_the_forward_pass_of_the_first_crops(trainer, batch)
    before = {k: v.clone() for k, v in model.aasist.network.state_dict().items()}
    result = trainer.fit()
    after = trainer.detector.model.aasist.network.state_dict()
    moved = {k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])}
    assert moved and all(not k.startswith(("encoder.", "first_bn.")) for k in moved), sorted(moved)
    assert any(k.startswith("GAT_layer_S.") for k in moved)
    again = Detector.from_pretrained(result.best_dir)
    assert again.config.aasist["train"] == "graph"
    assert any(k.startswith("aasist.network.GAT") for k in load_file(str(result.best_dir / "model.safetensors")))
    windows = [np.sin(np.arange(8000) / 9.0).astype(np.float32), np.cos(np.arange(6000) / 5.0).astype(np.float32)]
    np.testing.assert_allclose(again.backend.logits(windows), trainer.detector.backend.logits(windows), atol=1e-5)


@needs_weights
def test_graph_mode_learns_the_training_clips(setup):
    from wavguard import Detector
    from wavguard.training import Trainer

    result = Trainer(
        _config(
            setup,
            "alone-graph-learns",
            kind="aasist",
            epochs=4,
            detector={"window_seconds": 0.5, "aasist": {"head": "linear", "train": "graph"}},
        )
    ).fit()
    losses = _epoch_losses(result)
    assert losses[-1] < 0.5 * losses[0], losses
    assert _train_accuracy(Detector.from_pretrained(result.best_dir), setup["data"]) == 1.0


@needs_weights
def test_fused_frozen_whisper_with_aasists_graph_part_trains_on_the_cache(setup):
    """Whisper frozen and AASIST's graph part training, fused: the cache holds the hidden states
    and AASIST's encoder maps, the Whisper weights and AASIST's encoder never move."""
    from safetensors.torch import load_file

    from wavguard import Detector
    from wavguard.training import Trainer

    cfg = _config(
        setup,
        "fused-graph",
        backbone=str(setup["whisper"]),
        mode="frozen",
        backbone_learning_rate=1e-2,
        detector={"head_channels": [16], "window_seconds": 0.5, "aasist": {"train": "graph"}},
    )
    trainer = Trainer(cfg)
    model = trainer.setup().detector.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = trainer.fit()
    losses = _epoch_losses(result)
    assert losses[-1] < 0.5 * losses[0], losses
    cached = load_file(str(trainer.cache.path(trainer.train_dataset.keys[0])))
    assert sorted(cached) == ["aasist_maps", "states"] and cached["aasist_maps"].shape[:2] == (64, 23)
    after = trainer.detector.model.state_dict()
    moved = {k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])}
    assert any(k.startswith("aasist.network.HtrgGAT") for k in moved) and any(k.startswith("head.") for k in moved)
    assert not any(k.startswith(("backbone.", "aasist.network.encoder.", "aasist.network.first_bn.")) for k in moved)
    best = Detector.from_pretrained(result.best_dir)
    assert best.config.aasist["train"] == "graph"
    assert _train_accuracy(best, setup["data"]) == 1.0


def test_aasist_learning_rate_needs_aasist_weights_that_train(setup):
    fused = dict(backbone=str(setup["whisper"]), mode="lora")
    for kw, message in [
        ({**fused}, "none train here"),  # no AASIST
        ({**fused, "detector": {"aasist": {"train": "frozen"}}}, "none train here"),
        ({"kind": "aasist"}, "none train here"),  # frozen AASIST alone: only the head trains
        ({"kind": "aasist", "mode": "full", "aasist_learning_rate": -1e-4}, "must be positive"),
    ]:
        with pytest.raises(ConfigError, match=message):
            _config(setup, "x", **({"aasist_learning_rate": 1e-5} | kw))
    for kw in ({**fused, "detector": {"aasist": {"train": "graph"}}}, {"kind": "aasist", "mode": "full"}):
        assert _config(setup, "x", aasist_learning_rate=1e-5, **kw).aasist_learning_rate == 1e-5
    # init_from a saved detector: whether it has an AASIST that trains is known once it is loaded
    inherited = _config(setup, "x", mode="lora", init_from="some/dir", aasist_learning_rate=1e-5)
    assert inherited.aasist_learning_rate == 1e-5
    # ... and the optimizer refuses a loaded detector without one
    from wavguard.training.build import build_optimizer

    plain = torch.nn.Module()
    plain.head, plain.encoder = torch.nn.Linear(4, 2), torch.nn.Linear(4, 4)
    with pytest.raises(ConfigError, match="no AASIST weights that train"):
        build_optimizer(inherited, plain, torch.nn.CrossEntropyLoss())


def test_aasist_weights_train_at_their_own_learning_rate_next_to_the_adapters(setup):
    """AdamW puts every trainable AASIST weight of a fused detector at ``aasist_learning_rate`` and
    every LoRA adapter at ``backbone_learning_rate``; unset, AASIST shares the backbone's rate."""
    from wavguard.training import Trainer

    pytest.importorskip("peft")
    detector = {"head_channels": [16], "window_seconds": 0.5, "aasist": {"weights": None, "train": "full"}}

    def rates(name, **kw):
        cfg = _config(setup, name, backbone=str(setup["whisper"]), mode="lora", detector=detector, **kw)
        trainer = Trainer(cfg).setup()
        model, optimizer = trainer.detector.model, trainer.optimizer
        rate = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
        aasist = {rate[id(p)] for p in model.aasist.parameters()}
        adapters = {rate[id(p)] for n, p in model.named_parameters() if "lora_" in n}
        assert sum(p.numel() for p in model.aasist.parameters()) > 0 and adapters
        assert all(id(p) in rate for p in model.parameters() if p.requires_grad)  # nothing left out
        return aasist, adapters

    assert rates("rate-own", aasist_learning_rate=2e-5) == ({2e-5}, {1e-3})
    assert rates("rate-shared") == ({1e-3}, {1e-3})
