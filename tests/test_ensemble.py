"""Ensemble fusion, its Detector-like predict, save/load, and compare_detectors."""

import json

import numpy as np
import pytest
from evaluation_data import make_dataset, write_clips

from wavguard import Prediction
from wavguard import metrics as M
from wavguard.errors import AudioDecodeError, ConfigError
from wavguard.evaluation.calibration import fit_fusion
from wavguard.evaluation.ensemble import Ensemble, compare_detectors, count_parameters, training_seconds
from wavguard.evaluation.evaluate import evaluate_detector
from wavguard.testing import tiny_detector


def _logit(p):
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


@pytest.fixture(scope="module")
def members():
    a = tiny_detector("wav2vec2", seed=0, window_seconds=0.5)
    b = tiny_detector("wav2vec2", seed=3, window_seconds=0.5, calibration_scale=3.0, calibration_bias=0.2)
    return a, b


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return write_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def ensemble(members, clips):
    return Ensemble.fit(list(members), make_dataset(clips))


def test_fusion_of_two_noisy_views_beats_each():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 2000)
    signal = np.where(labels == 1, 1.0, -1.0)
    views = np.column_stack([signal + rng.normal(0, 1.5, labels.size), signal + rng.normal(0, 1.5, labels.size)])
    weights, bias = fit_fusion(views, labels)
    fused = views @ weights + bias
    eers = [M.compute_eer(labels, views[:, k])[0] for k in range(2)]
    # independent noise: the sum has sqrt(2) better SNR (EER Phi(-0.94) = 0.17 vs Phi(-0.67) = 0.25)
    assert M.compute_eer(labels, fused)[0] < min(eers) - 0.05
    assert weights[0] == pytest.approx(weights[1], rel=0.15)


def test_fit_matches_members_log_odds(members, clips, ensemble):
    ds = make_dataset(clips)
    feats = np.column_stack([evaluate_detector(d, ds, bootstrap_resamples=0).log_odds for d in members])
    labels = np.array([c["label"] for c in clips])
    weights, bias = fit_fusion(feats, labels)
    np.testing.assert_allclose(ensemble.weights, weights, rtol=1e-9)
    assert ensemble.bias == pytest.approx(bias)
    fused = 1 / (1 + np.exp(-(feats @ weights + bias)))
    assert ensemble.threshold == pytest.approx(M.compute_eer(labels, fused)[1])


def test_predict_is_the_weighted_sum_of_member_log_odds(members, clips, ensemble):
    paths = [c["audio"] for c in clips]
    preds = ensemble.predict(paths)
    assert all(isinstance(p, Prediction) for p in preds) and len(preds) == len(paths)
    member_scores = np.column_stack([[p.score for p in d.predict(paths)] for d in members])
    expected = 1 / (1 + np.exp(-(_logit(member_scores) @ ensemble.weights + ensemble.bias)))
    np.testing.assert_allclose([p.score for p in preds], expected, atol=1e-9)
    assert [p.label for p in preds] == ["fake" if p.score >= ensemble.threshold else "real" for p in preds]
    assert {p.label for p in preds} == {"real", "fake"}
    one = ensemble.predict(paths[0], threshold=0.0)
    assert isinstance(one, Prediction) and one.label == "fake" and one.source == paths[0]
    assert one.duration_seconds == pytest.approx(members[0].predict(paths[0]).duration_seconds)


def test_predict_errors(ensemble, clips, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    inputs = [clips[0]["audio"], str(bad)]
    with pytest.raises(AudioDecodeError, match="bad.wav"):
        ensemble.predict(inputs)
    returned = ensemble.predict(inputs, on_error="return")
    assert returned[0].ok and not returned[1].ok and returned[1].label == "error" and np.isnan(returned[1].score)
    assert [p.source for p in ensemble.predict(inputs, on_error="skip")] == [clips[0]["audio"]]
    with pytest.raises(ConfigError, match="on_error"):
        ensemble.predict(inputs, on_error="ignore")
    with pytest.raises(ConfigError, match="one weight per member"):
        Ensemble(ensemble.detectors, [1.0])


@pytest.mark.parametrize("by_reference", [False, True])
def test_save_load_round_trip(members, ensemble, clips, tmp_path, by_reference):
    paths = [c["audio"] for c in clips[:6]]
    if by_reference:
        dirs = [str(d.save_pretrained(tmp_path / f"m{k}")) for k, d in enumerate(members)]
        ens = Ensemble(list(members), ensemble.weights, ensemble.bias, threshold=ensemble.threshold, sources=dirs)
    else:
        ens = ensemble
    out = ens.save_pretrained(tmp_path / "ens")
    data = json.loads((out / "ensemble.json").read_text())
    assert data["members"] == (dirs if by_reference else ["member_0", "member_1"])
    assert data["weights"] == ensemble.weights.tolist() and data["bias"] == ensemble.bias
    loaded = Ensemble.from_pretrained(out)
    np.testing.assert_allclose(
        [p.score for p in loaded.predict(paths)], [p.score for p in ensemble.predict(paths)], atol=1e-9
    )
    assert loaded.threshold == ensemble.threshold


def test_compare_detectors(members, ensemble, clips, tmp_path):
    ds = make_dataset(clips)
    a, b = members
    a.config.extra["training"] = {"training_seconds": 12.5}
    try:
        summary = compare_detectors({"a": a, "b": b, "fused": ensemble}, ds, tmp_path, bootstrap_resamples=50)
    finally:
        a.config.extra.pop("training")
    names = [r["name"] for r in summary["models"]]
    assert names == ["a", "b", "fused"] and summary["attacks"] == ["A1", "A2"]
    row_a = summary["models"][0]
    alone = evaluate_detector(a, ds, bootstrap_resamples=0)
    assert row_a["eer"] == alone.metrics["eer"]
    assert row_a["eer_per_attack"]["A2"] == alone.groups["attack"]["A2"]["eer"]
    assert row_a["parameters"] == sum(p.numel() for p in a.model.parameters()) > row_a["trainable_parameters"] > 0
    assert row_a["training_seconds"] == 12.5 and summary["models"][1]["training_seconds"] is None
    assert summary["models"][2]["parameters"] == count_parameters(a)[0] + count_parameters(b)[0]
    assert row_a["audio_seconds_per_second"] > 0
    assert json.loads((tmp_path / "compare.json").read_text())["models"][0]["eer"] == row_a["eer"]
    table = (tmp_path / "compare.md").read_text()
    assert "| model | EER | EER 95% CI | EER A1 | EER A2 | AUC |" in table
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "det.png").is_file()
    assert training_seconds(ensemble) is None
