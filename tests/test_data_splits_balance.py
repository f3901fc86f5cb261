"""Group-disjoint splits, held-out attacks and class balancing (metadata only, no audio needed)."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest

from wavguard.data import (
    attack_disjoint_split,
    class_weights,
    hold_out_attacks,
    oversample,
    speaker_disjoint_split,
    split_by_group,
    undersample,
)
from wavguard.data._schema import build_dataset
from wavguard.errors import ConfigError


def corpus(n_speakers: int = 10, per_speaker: int = 6, attacks=("A01", "A02", "A03", "A04", "A05")):
    """Rows: each speaker has 2 real rows and the rest fake, attacks cycling."""
    paths, labels, speakers, atk = [], [], [], []
    k = 0
    for s in range(n_speakers):
        for j in range(per_speaker):
            paths.append(f"/nowhere/{s}_{j}.wav")
            label = 0 if j < 2 else 1
            labels.append(label)
            speakers.append(f"spk{s:02d}")
            atk.append("bonafide" if label == 0 else attacks[k % len(attacks)])
            k += label
    return build_dataset(paths, labels, {"speaker": speakers, "attack": atk}, with_duration=False)


def groups(dd, column):
    return {name: set(part[column]) for name, part in dd.items()}


def test_speaker_disjoint_split_is_disjoint_complete_and_sized():
    ds = corpus()
    dd = speaker_disjoint_split(ds, (0.6, 0.2, 0.2), seed=3)
    g = groups(dd, "speaker")
    assert (len(g["train"]), len(g["validation"]), len(g["test"])) == (6, 2, 2)
    assert not (g["train"] & g["validation"] or g["train"] & g["test"] or g["validation"] & g["test"])
    assert sum(len(p) for p in dd.values()) == len(ds)
    assert sorted(p for part in dd.values() for p in (a["path"] for a in part["audio"])) == sorted(
        a["path"] for a in ds["audio"]
    )


def test_split_is_deterministic_per_seed_and_varies_across_seeds():
    ds = corpus()
    first = groups(speaker_disjoint_split(ds, seed=7), "speaker")
    assert first == groups(speaker_disjoint_split(ds, seed=7), "speaker")
    tests = {frozenset(groups(speaker_disjoint_split(ds, seed=s), "speaker")["test"]) for s in range(8)}
    assert len(tests) > 1


def test_zero_fraction_drops_the_split_and_small_fractions_still_get_a_group():
    ds = corpus(n_speakers=5)
    dd = split_by_group(ds, "speaker", (0.9, 0.0, 0.1), seed=0)
    assert sorted(dd) == ["test", "train"]
    assert len(set(dd["test"]["speaker"])) == 1 and len(set(dd["train"]["speaker"])) == 4


def test_split_errors():
    ds = corpus(n_speakers=2)
    with pytest.raises(ConfigError, match="2 groups cannot fill 3 splits"):
        speaker_disjoint_split(ds)
    with pytest.raises(ConfigError, match="summing to 1"):
        speaker_disjoint_split(ds, (0.5, 0.2, 0.2))
    with pytest.raises(ConfigError, match="no 'language' column"):
        split_by_group(ds, "language")


def test_attack_disjoint_split_keeps_attacks_apart_and_real_rows_everywhere():
    ds = corpus()
    dd = attack_disjoint_split(ds, (0.6, 0.2, 0.2), seed=1)
    fake = {name: set(p.filter(lambda r: r["label"] == 1)["attack"]) for name, p in dd.items()}
    assert [len(fake[n]) for n in ("train", "validation", "test")] == [3, 1, 1]
    assert not (fake["train"] & fake["test"] or fake["train"] & fake["validation"] or fake["validation"] & fake["test"])
    real = {name: Counter(p["label"])[0] for name, p in dd.items()}
    assert real == {"train": 12, "validation": 4, "test": 4}
    assert dd["test"]["attack"] == attack_disjoint_split(ds, (0.6, 0.2, 0.2), seed=1)["test"]["attack"]


def test_attack_disjoint_split_can_keep_real_speakers_apart():
    dd = attack_disjoint_split(corpus(), (0.6, 0.2, 0.2), seed=2, real_group_column="speaker")
    real = {n: set(p.filter(lambda r: r["label"] == 0)["speaker"]) for n, p in dd.items()}
    assert not (real["train"] & real["test"] or real["train"] & real["validation"])


def test_hold_out_attacks():
    ds = corpus()
    dd = hold_out_attacks(ds, ["A04", "A05"], real_test_fraction=0.25, seed=0)
    assert set(dd["test"].filter(lambda r: r["label"] == 1)["attack"]) == {"A04", "A05"}
    assert set(dd["train"].filter(lambda r: r["label"] == 1)["attack"]) == {"A01", "A02", "A03"}
    assert Counter(dd["test"]["label"])[0] == 5 and Counter(dd["train"]["label"])[0] == 15
    assert len(dd["train"]) + len(dd["test"]) == len(ds)
    assert dd["test"]["audio"] == hold_out_attacks(ds, ["A04", "A05"], real_test_fraction=0.25, seed=0)["test"]["audio"]
    with pytest.raises(ConfigError, match=r"attacks \['A99'\] are not in the dataset"):
        hold_out_attacks(ds, ["A99"])


def imbalanced(n_real: int = 3, n_fake: int = 12):
    labels = [0] * n_real + [1] * n_fake
    return build_dataset([f"/x/{i}.wav" for i in range(len(labels))], labels, with_duration=False)


def test_oversample_balances_and_repeats_only_minority_rows(caplog):
    ds = imbalanced()
    with caplog.at_level(logging.INFO, logger="wavguard.data"):
        out, report = oversample(ds, seed=0)
    assert report.before == {"real": 3, "fake": 12} and report.after == {"real": 12, "fake": 12}
    assert Counter(out["label"]) == {0: 12, 1: 12}
    paths = Counter(a["path"] for a in out["audio"])
    assert all(paths[f"/x/{i}.wav"] == 1 for i in range(3, 15))  # every fake row exactly once
    assert sum(paths[f"/x/{i}.wav"] for i in range(3)) == 12 and all(paths[f"/x/{i}.wav"] >= 1 for i in range(3))
    assert "oversample" in caplog.text and "12" in str(report)
    again, _ = oversample(ds, seed=0)
    assert again["audio"] == out["audio"]


def test_undersample_keeps_minority_and_a_random_majority_subset():
    ds = imbalanced()
    out, report = undersample(ds, seed=4)
    assert report.after == {"real": 3, "fake": 3}
    paths = [a["path"] for a in out["audio"]]
    assert len(set(paths)) == 6 and {f"/x/{i}.wav" for i in range(3)} <= set(paths)
    picks = {frozenset(a["path"] for a in undersample(ds, seed=s)[0]["audio"]) for s in range(6)}
    assert len(picks) > 1


def test_class_weights_are_inverse_frequency():
    weights, report = class_weights(imbalanced(3, 12))
    np.testing.assert_allclose(weights, [15 / (2 * 3), 15 / (2 * 12)])  # [2.5, 0.625]
    assert weights.dtype == np.float32 and report.weights == pytest.approx({"real": 2.5, "fake": 0.625})
    with pytest.raises(ConfigError, match="needs both classes"):
        class_weights(imbalanced(0, 4))
