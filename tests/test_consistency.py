"""Consistency training (``TrainConfig.consistency``): the log-odds gap term in exact numbers, the
settings' validation, the batch copier's channel copies (exactly what ``wavguard evaluate
--channels`` makes for the same draw), and a tiny training run whose copies score closer to their
clips than a run without the term."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from wavguard.audio.channels import apply_channel
from wavguard.errors import ConfigError
from wavguard.training.consistency import ConsistencyConfig, ConsistencyTraining, log_odds_gap

RATE_HZ = 16000


def test_log_odds_gap_is_the_mean_squared_difference_of_fake_minus_real_log_odds():
    # clips' log-odds 1 and 3; copies of rows 0 and 1 at -2 and 0: ((-2 - 1)^2 + (0 - 3)^2) / 2 = 9
    logits = torch.tensor([[0.0, 1.0], [0.0, 3.0], [2.0, 0.0], [0.5, 0.5]], requires_grad=True)
    gap = log_odds_gap(logits, torch.tensor([0, 1]))
    assert float(gap) == 9.0
    gap.backward()  # both views get a gradient: d/d(copy's log-odds) = (copy - clip) = -3, the clip's +3
    assert logits.grad.tolist() == [[-3.0, 3.0], [-3.0, 3.0], [3.0, -3.0], [3.0, -3.0]]
    # copies of one row; the later copy is row 3
    assert float(log_odds_gap(logits.detach(), torch.tensor([1]))) == 9.0
    empty = log_odds_gap(logits, torch.tensor([], dtype=torch.long))
    assert float(empty) == 0.0 and empty.requires_grad


def test_settings_normalise_and_refuse_what_cannot_run(tmp_path):
    assert ConsistencyConfig.from_value(None) is None
    assert ConsistencyConfig.from_value(True).to_dict() == {"channels": ["reverb"], "weight": 1.0, "probability": 0.5}
    given = ConsistencyConfig.from_value({"channels": "Reverb_DRR0,telephone", "weight": "2", "probability": "1"})
    assert given.to_dict() == {"channels": ["reverb_drr0", "telephone"], "weight": 2.0, "probability": 1.0}
    for bad, words in (
        ({"channels": ["reverb", "cave"]}, "cave"),
        ({"channels": []}, "list of channel names"),
        ({"weight": -1}, "weight must be >= 0"),
        ({"probability": 0}, "probability must be in (0, 1]"),
        ({"weight": "heavy"}, "weight must be a number"),
        ({"rooms": 3}, "unknown keys ['rooms']"),
        ("reverb", "must be null, true or a mapping"),
    ):
        with pytest.raises(ConfigError) as err:
            ConsistencyConfig.from_value(bad)
        assert words in str(err.value), err.value

    from wavguard.training import TrainConfig

    common = dict(train_data=str(tmp_path), backbone="x", output_dir=str(tmp_path / "o"))
    cfg = TrainConfig(**common, mode="lora", consistency={"channels": ["reverb"]})
    assert cfg.consistency == {"channels": ["reverb"], "weight": 1.0, "probability": 0.5}
    assert cfg.with_overrides(["consistency.weight=3"]).consistency["weight"] == 3.0
    with pytest.raises(ConfigError, match="consistency copies training waveforms.*cache_features=false"):
        TrainConfig(**common, mode="frozen", consistency=True)
    assert TrainConfig(**common, mode="frozen", cache_features=False, consistency=True).consistency["weight"] == 1.0


def _batch(lengths, with_aasist=False):
    rng = np.random.default_rng(0)
    longest = max(lengths)
    waveforms = torch.zeros((len(lengths), longest))
    for row, n in enumerate(lengths):
        waveforms[row, :n] = torch.from_numpy((0.1 * rng.standard_normal(n)).astype(np.float32))
    batch = {
        "waveforms": waveforms,
        "lengths": torch.tensor(lengths),
        "labels": torch.tensor([0, 1, 0, 1][: len(lengths)]),
        "indices": torch.tensor([10, 11, 12, 13][: len(lengths)]),
    }
    if with_aasist:
        batch["aasist_waveforms"] = waveforms.flip(1).clone()
        batch["aasist_lengths"] = torch.tensor([longest] * len(lengths))
    return batch


def test_every_copy_is_the_evaluation_channel_of_its_clip_for_the_same_draw():
    lengths = [8000, 6000, 8000, 3000]
    batch = _batch(lengths, with_aasist=True)
    copier = ConsistencyTraining(
        ConsistencyConfig(channels=("reverb", "noise_snr10"), probability=1.0), RATE_HZ, seed=5
    )
    out = copier(batch, position=3)
    assert out["view_of"].tolist() == [0, 1, 2, 3]
    assert out["waveforms"].shape == (8, 8000)
    assert torch.equal(out["waveforms"][:4], batch["waveforms"])
    assert out["labels"].tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert out["indices"].tolist() == [10, 11, 12, 13, 10, 11, 12, 13]
    assert out["lengths"].tolist() == lengths * 2
    which = torch.randint(2, (4,), generator=_generator(5, 3, 4)).tolist()
    assert sorted(set(which)) == [0, 1]  # this draw uses both channels
    for row, n in enumerate(lengths):
        name = ("reverb", "noise_snr10")[which[row]]
        index = 3 * (1 << 20) + row
        expected = apply_channel(name, batch["waveforms"][row, :n].numpy(), RATE_HZ, seed=5, index=index)
        np.testing.assert_array_equal(out["waveforms"][4 + row, :n].numpy(), expected)
        assert not out["waveforms"][4 + row, n:].any()  # padding stays silent
        aasist = batch["aasist_waveforms"][row].numpy()
        np.testing.assert_array_equal(
            out["aasist_waveforms"][4 + row].numpy(), apply_channel(name, aasist, RATE_HZ, seed=5, index=index)
        )
    # a function of (seed, position): the same batch position gives the same copies, the next another
    assert torch.equal(copier(batch, position=3)["waveforms"], out["waveforms"])
    assert not torch.equal(copier(batch, position=4)["waveforms"][4:], out["waveforms"][4:])


def _generator(seed, position, size):
    generator = torch.Generator().manual_seed(seed * 1_000_003 + position + 7)
    torch.rand(size, generator=generator)  # the clip choice comes first
    return generator


def test_probability_picks_a_seeded_subset_and_the_rest_of_the_batch_is_kept():
    batch = _batch([4000, 4000, 4000, 4000])
    copier = ConsistencyTraining(ConsistencyConfig(probability=0.5), RATE_HZ, seed=0)
    chosen = {tuple(copier(batch, position=p)["view_of"].tolist()) for p in range(40)}
    sizes = [len(c) for c in chosen]
    assert min(sizes) < 4 and max(sizes) > 0 and len(chosen) > 5
    expected = (torch.rand(4, generator=torch.Generator().manual_seed(0 + 11 + 7)) < 0.5).nonzero().flatten()
    out = copier(batch, position=11)
    assert out["view_of"].tolist() == expected.tolist()
    assert out["waveforms"].shape[0] == 4 + expected.numel() == out["labels"].shape[0]
    with pytest.raises(ConfigError, match="cached features"):
        copier({"states": torch.zeros(2, 3, 4), "labels": torch.tensor([0, 1])}, 0)


def test_training_with_the_term_scores_reverberant_copies_closer_to_their_clips(tmp_path):
    """Two tiny LoRA runs, alike but for the weight: the copies' log-odds gap on held-out clips
    through the training channel is smaller with the term, and the detector still learns."""
    pytest.importorskip("accelerate")
    from _train_fixtures import make_folder, tiny_config

    from wavguard import Detector
    from wavguard.audio.channels import parse_channel
    from wavguard.metrics import compute_eer
    from wavguard.testing import tiny_backbone_dir
    from wavguard.training import Trainer

    train = make_folder(tmp_path / "train", per_class=12, seconds=1.0, seed=0)
    val = make_folder(tmp_path / "val", per_class=6, seconds=1.0, seed=1)
    backbone = tiny_backbone_dir("wav2vec2", tmp_path / "bb")
    gaps = {}
    for weight in (0.0, 10.0):
        cfg = tiny_config(
            train,
            val,
            backbone,
            tmp_path / f"w{weight:g}",
            tmp_path / "cache",
            mode="lora",
            epochs=6,
            backbone_learning_rate=1e-3,
            consistency={"channels": ["reverb"], "weight": weight, "probability": 1.0},
            calibration="none",
        )
        result = Trainer(cfg).fit()
        saved = yaml.safe_load((tmp_path / f"w{weight:g}" / "train_config.yaml").read_text())
        assert saved["consistency"] == {"channels": ["reverb"], "weight": weight, "probability": 1.0}
        detector = Detector.from_pretrained(result.best_dir)
        files = sorted(val.rglob("*.wav"))
        labels = np.array([1 if f.parent.name == "fake" else 0 for f in files])
        clips = [sf.read(f, dtype="float32")[0] for f in files]
        reverb = parse_channel("reverb")
        copies = [reverb(c, RATE_HZ, seed=9, index=i) for i, c in enumerate(clips)]
        logit = lambda p: np.log(p / (1 - p))  # noqa: E731
        clean = logit(np.clip([p.score for p in detector.predict(clips, RATE_HZ)], 1e-6, 1 - 1e-6))
        room = logit(np.clip([p.score for p in detector.predict(copies, RATE_HZ)], 1e-6, 1 - 1e-6))
        assert compute_eer(labels, clean)[0] <= 0.2, weight
        gaps[weight] = float(np.mean((clean - room) ** 2))
    assert gaps[10.0] < 0.5 * gaps[0.0], gaps
