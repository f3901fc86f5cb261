import subprocess
import sys

import pytest
import torch

from wavguard.models.head import CNNHead, WeightedLayerSum, masked_mean_std


def test_head_does_not_import_transformers():
    code = "import sys, wavguard.models.head; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_weighted_layer_sum_exact():
    layer_sum = WeightedLayerSum(3, layer_norm=False)
    with torch.no_grad():
        layer_sum.logits.copy_(torch.log(torch.tensor([1.0, 2.0, 1.0])))
    states = torch.stack([torch.full((1, 2, 4), v) for v in (1.0, 2.0, 3.0)])
    out = layer_sum(states)
    assert out.shape == (1, 2, 4)
    torch.testing.assert_close(out, torch.full((1, 2, 4), 0.25 * 1 + 0.5 * 2 + 0.25 * 3))
    torch.testing.assert_close(layer_sum.weights.sum(), torch.tensor(1.0))
    with pytest.raises(ValueError):
        layer_sum(states[:2])


def test_masked_mean_std_exact():
    x = torch.tensor([[[1.0, 3.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    out = masked_mean_std(x, mask, eps=0.0)
    torch.testing.assert_close(out, torch.tensor([[2.0, 1.0]]))


@pytest.mark.parametrize("pooling", ["stats", "attentive"])
def test_padded_batch_equals_unpadded(pooling):
    torch.manual_seed(0)
    # float64: the comparison is about masking, not float32 summation order (see test_baseline)
    head = CNNHead(8, channels=(6, 5), kernel_size=3, pooling=pooling).eval().double()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for block in head.blocks:
            block[1].running_mean.uniform_(-1, 1)
            block[1].running_var.uniform_(0.5, 2)
    a, b = torch.randn(1, 7, 8, dtype=torch.float64), torch.randn(1, 12, 8, dtype=torch.float64)
    padded = torch.zeros(2, 12, 8, dtype=torch.float64)
    padded[0, :7], padded[1] = a[0], b[0]
    mask = torch.zeros(2, 12, dtype=torch.bool)
    mask[0, :7], mask[1] = True, True
    joint = head(padded, mask)
    torch.testing.assert_close(joint[0], head(a)[0], atol=1e-9, rtol=0)
    torch.testing.assert_close(joint[1], head(b)[0], atol=1e-9, rtol=0)
    assert joint.shape == (2, 2)


def test_head_rejects_bad_arguments():
    with pytest.raises(ValueError):
        CNNHead(8, kernel_size=4)
    with pytest.raises(ValueError):
        CNNHead(8, pooling="max")
    with pytest.raises(ValueError):
        CNNHead(8, activation="tanh")
