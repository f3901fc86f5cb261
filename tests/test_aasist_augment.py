"""``aasist_augment``: a fused detector's AASIST branch gets its own training input (the crop before
the backbone's augmentation, or another augmentation of it, e.g. RawBoost), while the backbone's
input stays what ``augment`` makes of the crop."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from _aasist_marks import needs_weights
from _train_fixtures import aasist_toy_config, make_folder

from wavguard.errors import ConfigError
from wavguard.training.data import ClipDataset, pad_collate

RATE_HZ = 16000
RANDOM_AASIST = {"weights": None, "train": "full"}  # random AASIST: no wheel needed


def halve(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    return samples * 0.5


def negate(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    return -samples


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two 1 s clips (ramps, so every crop offset gives other samples) for 0.5 s crops."""
    tmp = tmp_path_factory.mktemp("aasist-augment")
    rows = []
    for index in range(2):
        path = tmp / f"clip{index}.wav"
        sf.write(path, np.linspace(-0.5, 0.5, RATE_HZ, dtype=np.float32) * (index + 1), RATE_HZ, subtype="FLOAT")
        rows.append({"audio": str(path), "label": index})
    return rows


def _dataset(clips, **kw) -> ClipDataset:
    return ClipDataset(clips, RATE_HZ, 8000, train=True, seed=3, **kw)


def test_the_aasist_branch_gets_the_clean_crop_and_the_backbone_its_augmented_input(clips):
    plain, augmented = _dataset(clips), _dataset(clips, augment=halve)
    both = _dataset(clips, augment=halve, aasist_augment="clean")
    for epoch in (0, 1):
        for data in (plain, augmented, both):
            data.set_epoch(epoch)
        for index in range(2):
            item = both[index]
            torch.testing.assert_close(item["waveform"], augmented[index]["waveform"], rtol=0, atol=0)
            torch.testing.assert_close(item["aasist_waveform"], plain[index]["waveform"], rtol=0, atol=0)
            torch.testing.assert_close(item["waveform"], 0.5 * item["aasist_waveform"], rtol=0, atol=0)
    # the crops are random (a pure function of seed, epoch and index): epoch 1 drew another offset
    plain.set_epoch(0)
    first = plain[0]["waveform"]
    plain.set_epoch(1)
    assert not torch.equal(first, plain[0]["waveform"])


def test_an_aasist_augmentation_is_applied_to_the_clean_crop_and_only_in_training(clips):
    data = _dataset(clips, augment=halve, aasist_augment=negate)
    item = data[1]
    torch.testing.assert_close(item["aasist_waveform"], -2.0 * item["waveform"], rtol=0, atol=0)
    evaluation = ClipDataset(clips, RATE_HZ, 8000, train=False, augment=halve, aasist_augment=negate)
    assert "aasist_waveform" not in evaluation[1]
    with pytest.raises(ConfigError, match="aasist_augment must be 'clean', a callable or None"):
        _dataset(clips, aasist_augment="noisy")


def test_pad_collate_pads_the_aasist_waveforms_on_their_own():
    items = [
        {"waveform": torch.ones(3), "aasist_waveform": torch.full((5,), 2.0), "label": 0, "index": 0},
        {"waveform": torch.ones(4), "aasist_waveform": torch.full((2,), 3.0), "label": 1, "index": 1},
    ]
    batch = pad_collate(items)
    assert batch["waveforms"].shape == (2, 4) and batch["lengths"].tolist() == [3, 4]
    assert batch["aasist_lengths"].tolist() == [5, 2]
    assert batch["aasist_waveforms"].tolist() == [[2.0] * 5, [3.0, 3.0, 0.0, 0.0, 0.0]]
    assert "aasist_waveforms" not in pad_collate([{k: v for k, v in items[0].items() if k != "aasist_waveform"}])


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    from wavguard.testing import tiny_backbone_dir

    return tiny_backbone_dir("whisper", tmp_path_factory.mktemp("aasist-augment-whisper") / "whisper")


def test_the_fused_network_runs_aasist_on_its_own_input(whisper):
    from wavguard import Detector

    model = Detector.from_backbone(str(whisper), head_channels=[8], aasist=RANDOM_AASIST, seed=0).model.eval()
    generator = torch.Generator().manual_seed(0)
    waves, noise = (torch.randn(2, 8000, generator=generator) * 0.1 for _ in range(2))
    lengths = torch.tensor([8000, 6000])
    with torch.no_grad():
        same = model(waves, lengths)
        torch.testing.assert_close(model(waves, lengths, waves, lengths), same, rtol=0, atol=0)
        states, mask = model.hidden_states(waves, lengths)
        other = model(waves, lengths, noise, lengths)
        torch.testing.assert_close(other, model.classify(states, mask, model.aasist(noise, lengths)), rtol=0, atol=0)
    assert not torch.allclose(other, same)
    plain = Detector.from_backbone(str(whisper), head_channels=[8], seed=0).model
    with pytest.raises(ConfigError, match="no AASIST branch"):
        plain(waves, lengths, waves, lengths)


def _config(tmp, whisper, **kw):
    """The AASIST tests' toy run, fused with a tiny Whisper (frozen) and a random AASIST that trains."""
    fused = {"backbone": str(whisper), "mode": "frozen"}
    detector = {"detector": {"head_channels": [16], "window_seconds": 0.5, "aasist": RANDOM_AASIST}}
    return aasist_toy_config(tmp / "data", tmp, "run", **(fused | detector | kw))


def test_train_config_rules_for_aasist_augment(tmp_path, whisper):
    rawboost = {"transforms": [{"name": "rawboost_convolutive", "p": 1.0}]}
    cfg = _config(tmp_path, whisper, aasist_augment=rawboost)
    assert not cfg.uses_feature_cache  # the AASIST branch's input changes every epoch
    assert type(cfg.aasist_augment_fn).__name__ == "Augmenter"
    assert _config(tmp_path, whisper, aasist_augment="clean").aasist_augment_fn == "clean"
    frozen = {"detector": {"head_channels": [16], "aasist": {"weights": None}}}  # AASIST frozen: cacheable
    assert _config(tmp_path, whisper, **frozen).uses_feature_cache
    assert not _config(tmp_path, whisper, **frozen, aasist_augment="clean").uses_feature_cache
    assert _config(tmp_path, whisper).aasist_augment_fn is None
    assert _config(tmp_path, whisper, aasist_augment=negate).to_dict()["aasist_augment"] == f"{__name__}:negate"
    for kw, message in [
        ({"detector": {"head_channels": [16]}}, "needs kind='transformer' with detector.aasist"),
        ({"detector": {"aasist": None}}, "detector.aasist=None"),
        ({"adversarial": {"method": "fgsm"}, "cache_features": False}, "adversarial=True"),
        ({"aasist_augment": {"transforms": [{"name": "warble"}]}}, "aasist_augment: unknown augmentation 'warble'"),
        ({"aasist_augment": "no_such_module:f"}, "aasist_augment='no_such_module:f': cannot import it"),
    ]:
        with pytest.raises(ConfigError, match=message):
            _config(tmp_path, whisper, **({"aasist_augment": "clean"} | kw))


@needs_weights
def test_fused_training_feeds_each_branch_its_own_input_and_learns(tmp_path, whisper):
    """The backbone trains on halved crops, AASIST on the clean ones; the toy task is learnt."""
    from wavguard import Detector
    from wavguard.training import Trainer

    pytest.importorskip("accelerate")
    make_folder(tmp_path / "data", per_class=4, seconds=0.5)  # sines (real) and noise (fake)
    trainer = Trainer(
        _config(
            tmp_path,
            whisper,
            augment=f"{__name__}:halve",
            aasist_augment="clean",
            detector={"head_channels": [16], "window_seconds": 0.5, "aasist": {}},  # official weights, frozen
        )
    )
    model = trainer.setup().detector.model
    calls: list[tuple[torch.Tensor, ...]] = []
    hook = model.register_forward_pre_hook(lambda module, args: calls.append(args) if module.training else None)
    result = trainer.fit()
    hook.remove()
    assert len(calls) == 6  # one training batch per epoch, each with the AASIST branch's own input
    for waves, lengths, aasist_waves, aasist_lengths in calls:
        assert waves.abs().max() > 0.01
        torch.testing.assert_close(aasist_waves, 2.0 * waves, rtol=0, atol=0)
        assert torch.equal(lengths, aasist_lengths)
    losses = [h["train_epoch_loss"] for h in result.history if "train_epoch_loss" in h]
    assert losses[-1] < 0.5 * losses[0], losses
    best = Detector.from_pretrained(result.best_dir)
    paths = sorted((tmp_path / "data").glob("*/*.wav"))
    predictions = best.predict([str(p) for p in paths])
    assert [p.label for p in predictions] == [path.parent.name for path in paths]
