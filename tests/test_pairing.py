"""Paired batches (a real clip and its copies together) and the pairwise margin loss."""

import numpy as np
import pytest
import torch

from wavguard.errors import ConfigError
from wavguard.training.pairing import PairedSampler, group_ids, pair_margin_loss


def test_group_ids_share_equal_keys_and_keep_empty_keys_apart():
    ids = group_ids(["a", "b", "a", "", None, "b"])
    assert ids[0] == ids[2] and ids[1] == ids[5] and ids[0] != ids[1]
    assert len({int(ids[3]), int(ids[4]), int(ids[0]), int(ids[1])}) == 4


def test_every_group_sits_in_one_batch_and_every_row_comes_once():
    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 5, 5, 6, 7, 7, 7])
    sampler = PairedSampler(groups, batch_size=4, seed=1)
    order = list(sampler)
    assert sorted(order) == list(range(len(groups)))
    batches = [order[i : i + 4] for i in range(0, len(order), 4)]
    assert batches == sampler.batches()  # the DataLoader's consecutive cut gives the sampler's batches
    full = [b for b in batches if len(b) == 4]
    placed = {}
    for k, batch in enumerate(batches[:-1]):
        for row in batch:
            placed.setdefault(int(groups[row]), set()).add(k)
    split = [g for g, where in placed.items() if len(where) > 1]
    assert len(full) >= 3 and len(split) <= 1  # only where partial batches meet at the end


def test_the_order_is_a_function_of_seed_and_epoch():
    groups = np.repeat(np.arange(20), 3)
    a, b = PairedSampler(groups, 6, seed=0), PairedSampler(groups, 6, seed=0)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)
    with pytest.raises(ConfigError, match="batch_size >= 2"):
        PairedSampler(groups, 1)


def test_pair_margin_loss_exact_values():
    logits = torch.tensor([[0.0, 1.0], [0.0, 1.5], [0.0, 3.0], [0.0, -1.0]])  # margins 1, 1.5, 3, -1
    labels = torch.tensor([0, 1, 1, 0])
    groups = torch.tensor([7, 7, 7, 9])  # pairs: (0,1) gap 0.5, (0,2) gap 2; row 3 has no partner
    loss = pair_margin_loss(logits, labels, groups, margin=1.0)
    assert loss.item() == pytest.approx((0.5 + 0.0) / 2)
    assert pair_margin_loss(logits, labels, torch.tensor([1, 2, 3, 4])).item() == 0.0
    logits.requires_grad_(True)
    pair_margin_loss(logits, labels, groups).backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[-0.5, 0.5], [0.5, -0.5], [0.0, 0.0], [0.0, 0.0]])
