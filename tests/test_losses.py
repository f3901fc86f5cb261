"""Training losses: exact OC-softmax values on hand-made embeddings, and its mapping onto the 2 logits."""

from __future__ import annotations

import math

import pytest
import torch

from wavguard.errors import ConfigError
from wavguard.models.head import CNNHead
from wavguard.training.losses import (
    OCSOFTMAX_DEFAULTS,
    OCSoftmaxLoss,
    WeightedCrossEntropy,
    build_loss,
    constrain_ocsoftmax_head,
    loss_options,
    ocsoftmax_logits,
    ocsoftmax_loss,
)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


#: 2-D embeddings and a centre along +x: cosines 1, 0, -1, 0.6 (the centre's length does not matter).
EMBEDDINGS = torch.tensor([[1.0, 0.0], [0.0, 3.0], [-2.0, 0.0], [0.6, 0.8]])
CENTER = torch.tensor([2.0, 0.0])
COSINES = [1.0, 0.0, -1.0, 0.6]
LABELS = torch.tensor([0, 0, 1, 1])  # real, real, fake, fake


def test_ocsoftmax_loss_exact_values():
    # real: softplus(20 (0.9 - s)); fake: softplus(20 (s - 0.2))
    per_clip = [softplus(-2.0), softplus(18.0), softplus(-24.0), softplus(8.0)]
    cosines = torch.tensor(COSINES)
    assert float(ocsoftmax_loss(cosines, LABELS)) == pytest.approx(sum(per_clip) / 4, rel=1e-6)
    assert sum(per_clip) / 4 == pytest.approx(6.5318159, rel=1e-7)
    # class weights (real 1, fake 3): a weighted mean, as cross-entropy's weights
    weighted = (per_clip[0] + per_clip[1] + 3 * per_clip[2] + 3 * per_clip[3]) / 8
    assert float(ocsoftmax_loss(cosines, LABELS, weight=torch.tensor([1.0, 3.0]))) == pytest.approx(weighted, rel=1e-6)
    # other margins and scale
    other = [softplus(10 * (0.5 - 1.0)), softplus(10 * 0.5), softplus(10 * (-1.0 + 0.3)), softplus(10 * (0.6 + 0.3))]
    assert float(ocsoftmax_loss(cosines, LABELS, m_real=0.5, m_fake=-0.3, alpha=10.0)) == pytest.approx(
        sum(other) / 4, rel=1e-6
    )


def test_ocsoftmax_logits_point_towards_fake():
    logits = ocsoftmax_logits(EMBEDDINGS, CENTER)
    assert torch.equal(logits[:, 0], torch.zeros(4))
    # FAKE - REAL = alpha (t - s), t = (0.9 + 0.2) / 2: positive (fake) far from the centre
    expected = [20.0 * (0.55 - s) for s in COSINES]
    assert logits[:, 1].tolist() == pytest.approx(expected, abs=1e-5)
    assert logits[0, 1] < 0 < logits[2, 1]


def test_constrained_head_gives_the_oc_logits_and_loss():
    """A linear layer held in OC form maps unit embeddings to (0, alpha (t - cos)): the loss read
    from the logits equals the loss of the cosines."""
    loss = OCSoftmaxLoss()
    linear = torch.nn.Linear(2, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.3, 0.1], [-1.7, 0.1]]))  # FAKE - REAL = (-2, 0): centre +x
    loss.constrain(linear)
    assert linear.weight[0].tolist() == [0.0, 0.0] and linear.bias.tolist() == pytest.approx([0.0, 11.0])
    assert float(linear.weight[1].detach().norm()) == pytest.approx(20.0)
    unit = torch.nn.functional.normalize(EMBEDDINGS, dim=1)
    logits = linear(unit)
    torch.testing.assert_close(logits, ocsoftmax_logits(EMBEDDINGS, CENTER), atol=1e-5, rtol=0)
    assert loss.cosines(logits).tolist() == pytest.approx(COSINES, abs=1e-6)
    assert float(loss(logits, LABELS).detach()) == pytest.approx(
        float(ocsoftmax_loss(torch.tensor(COSINES), LABELS)), rel=1e-5
    )
    before = linear.weight.clone()
    constrain_ocsoftmax_head(linear, 20.0, 0.55)  # idempotent
    torch.testing.assert_close(linear.weight, before)


def test_cnn_head_with_unit_embedding():
    torch.manual_seed(0)
    head = CNNHead(8, channels=(6,), kernel_size=3, normalize_embedding=True).eval()
    features = torch.randn(3, 10, 8)
    emb = head.embed(features)
    assert emb.shape == (3, 12)
    assert emb.norm(dim=1).tolist() == pytest.approx([1.0] * 3)
    torch.testing.assert_close(head(features), head.classifier(emb))


def test_cross_entropy_is_the_default_weighted_loss():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5], [-1.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    ce = build_loss("ce", None, torch.tensor([2.0, 1.0]))
    assert isinstance(ce, WeightedCrossEntropy)
    nll = [
        -math.log(math.exp(2) / (math.exp(2) + math.exp(-1))),
        math.log(2.0),
        -math.log(math.exp(1) / (math.exp(1) + math.exp(-1))),
    ]
    assert float(ce(logits, labels)) == pytest.approx((2 * nll[0] + nll[1] + nll[2]) / 4, rel=1e-6)


def test_loss_options_are_validated():
    assert loss_options("ocsoftmax", {}) == OCSOFTMAX_DEFAULTS == {"m_real": 0.9, "m_fake": 0.2, "alpha": 20.0}
    assert loss_options("ocsoftmax", {"alpha": "10"})["alpha"] == 10.0
    assert loss_options("ce", None) == {}
    with pytest.raises(ConfigError, match="do not apply"):
        loss_options("ce", {"alpha": 3})
    with pytest.raises(ConfigError, match="m_fake < m_real"):
        loss_options("ocsoftmax", {"m_real": 0.1, "m_fake": 0.2})
    with pytest.raises(ConfigError, match="alpha"):
        loss_options("ocsoftmax", {"alpha": 0})
    with pytest.raises(ConfigError, match="loss must be one of"):
        loss_options("focal", {})


def test_oc_detector_saves_loads_and_exports_with_identical_scores(tmp_path):
    """An OC-softmax detector is an ordinary detector: config.json carries the cosine head, the
    weights are the usual tensors, and reloaded and ONNX-exported copies score identically."""
    import json

    from wavguard import Detector
    from wavguard.testing import chirp, tiny_detector
    from wavguard.training.losses import prepare_model_for_loss

    det = tiny_detector("wav2vec2", window_seconds=1.0)
    plain = sorted(det.model.state_dict())
    det.config = prepare_model_for_loss(det.model, det.config, OCSoftmaxLoss())
    assert sorted(det.model.state_dict()) == plain  # no new tensors
    det.save_pretrained(tmp_path / "oc")
    assert json.loads((tmp_path / "oc" / "config.json").read_text())["head_normalize_embedding"] is True
    clips = [chirp(2.3), chirp(0.7, f0_hz=300.0)]
    expected = [p.logit_margin for p in det.predict(clips, sample_rate=16000)]  # margins: scores saturate untrained
    reloaded = Detector.from_pretrained(tmp_path / "oc")
    assert [p.logit_margin for p in reloaded.predict(clips, sample_rate=16000)] == expected
    pytest.importorskip("onnxruntime")
    from wavguard.export.onnx import export_onnx

    exported = Detector.from_pretrained(export_onnx(reloaded, tmp_path / "onnx"))
    assert [p.logit_margin for p in exported.predict(clips, sample_rate=16000)] == pytest.approx(expected, abs=1e-4)
