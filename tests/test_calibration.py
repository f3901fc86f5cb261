"""Calibration: fitted scale/bias, ECE and Brier, thresholds at the EER or a target false-alarm rate."""

import numpy as np
import pytest
from evaluation_data import make_dataset, write_clips

from wavguard.errors import ConfigError
from wavguard.evaluation import calibration as C
from wavguard.evaluation.evaluate import evaluate_detector
from wavguard.testing import tiny_detector


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _overconfident(n=20000, seed=0):
    """True log-odds z ~ N(0, 1.5^2), labels drawn from sigmoid(z), observed margins 4 * z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, n)
    labels = (rng.random(n) < _sigmoid(z)).astype(int)
    return 4.0 * z, labels


def test_ece_and_brier_hand_computed():
    labels, probs = [0, 1, 0, 1], [0.1, 0.9, 0.4, 0.6]
    # 2 bins: [0, .5) holds .1, .4 (no fakes): |0 - .5|; [.5, 1] holds .9, .6 (two fakes): |2 - 1.5|
    assert C.expected_calibration_error(labels, probs, n_bins=2) == pytest.approx(0.25)
    assert C.brier_score(labels, probs) == pytest.approx((0.01 + 0.01 + 0.16 + 0.16) / 4)
    assert C.expected_calibration_error([1, 0], [1.0, 0.0]) == 0.0
    with pytest.raises(ValueError, match="probabilities"):
        C.expected_calibration_error([0, 1], [0.2, 1.5])


def test_platt_recovers_known_parameters():
    rng = np.random.default_rng(1)
    m = rng.normal(0.0, 3.0, 20000)
    labels = (rng.random(m.size) < _sigmoid(0.5 * m - 1.0)).astype(int)
    scale, bias = C.fit_platt(m, labels)
    assert scale == pytest.approx(0.5, abs=0.03) and bias == pytest.approx(-1.0, abs=0.06)


def test_calibration_fixes_overconfident_logits():
    margins, labels = _overconfident()
    before = C.expected_calibration_error(labels, _sigmoid(margins))
    scale, bias = C.fit_platt(margins, labels)
    t_scale, t_bias = C.fit_temperature(margins, labels)
    after = C.expected_calibration_error(labels, C.apply_calibration(margins, scale, bias))
    after_t = C.expected_calibration_error(labels, C.apply_calibration(margins, t_scale, t_bias))
    # measured: ECE 0.181 before, 0.0099 after Platt, 0.0094 after temperature (15 bins);
    # Brier 0.217 -> 0.177; fitted scale 0.2485 (the true 1 / 4)
    assert before > 0.12
    assert after < 0.015 and after_t < 0.015
    assert scale == pytest.approx(0.25, abs=0.015) and t_scale == pytest.approx(0.25, abs=0.015)
    assert t_bias == 0.0 and abs(bias) < 0.05
    assert C.brier_score(labels, C.apply_calibration(margins, scale, bias)) < C.brier_score(labels, _sigmoid(margins))


def test_separable_data_gives_a_finite_scale():
    scale, bias = C.fit_platt([-2.0, -1.0, 1.0, 2.0], [0, 0, 1, 1])
    assert 0 < scale < 50 and np.isfinite(bias)
    assert C.fit_calibration([-1.0, 1.0], [0, 1], "none") == (1.0, 0.0)
    with pytest.raises(ConfigError, match="isotonic"):
        C.fit_calibration([-1.0, 1.0], [0, 1], "isotonic")


# -- a fit never flips the score (issue 26 item 4) ---------------------------------------------
FIVE_MARGINS, FIVE_LABELS = [2.0, 1.5, -1.0, -2.0, 0.5], [0, 0, 1, 1, 0]  # 3 real, 2 fake: reals score HIGH


@pytest.mark.parametrize("method", ["platt", "temperature"])
def test_five_clips_fall_back_to_no_calibration(method, caplog):
    assert C.fit_platt(FIVE_MARGINS, FIVE_LABELS)[0] < 0  # the raw fit would flip the score
    with caplog.at_level("WARNING", logger="wavguard.evaluation.calibration"):
        assert C.fit_calibration(FIVE_MARGINS, FIVE_LABELS, method) == (1.0, 0.0)
    assert (
        f"{method} calibration needs at least 10 validation clips of each class, got 3 real and 2 fake" in caplog.text
    )
    assert "no calibration (scale 1, bias 0)" in caplog.text
    # enough clips for the caller's floor: the raw fit is checked instead, and still never flips
    assert C.fit_calibration(FIVE_MARGINS, FIVE_LABELS, method, min_clips_per_class=2) == (1.0, 0.0)


def test_a_negative_platt_scale_falls_back_to_temperature(caplog):
    # 10 reals with margins 3..4, 30 fakes with margins 1..2: Platt fits a negative scale (a large
    # bias carries the fakes); temperature scaling (no bias) keeps a small positive one
    margins = np.concatenate([np.linspace(3.0, 4.0, 10), np.linspace(1.0, 2.0, 30)])
    labels = np.repeat([0, 1], [10, 30])
    assert C.fit_platt(margins, labels)[0] < 0
    t_scale, _ = C.fit_temperature(margins, labels)
    with caplog.at_level("WARNING", logger="wavguard.evaluation.calibration"):
        assert C.fit_calibration(margins, labels, "platt") == (t_scale, 0.0)
    assert t_scale > 0 and "which is not positive: it would flip the score" in caplog.text
    assert "temperature scaling (scale" in caplog.text and "used instead" in caplog.text


def test_no_positive_fit_falls_back_to_none(caplog, monkeypatch):
    margins = np.concatenate([np.linspace(1.0, 2.0, 12), np.linspace(-2.0, -1.0, 12)])  # reals high, fakes low
    labels = np.repeat([0, 1], [12, 12])
    with caplog.at_level("WARNING", logger="wavguard.evaluation.calibration"):
        assert C.fit_calibration(margins, labels, "platt") == (1.0, 0.0)
        assert C.fit_calibration(margins, labels, "temperature") == (1.0, 0.0)
    assert caplog.text.count("no calibration (scale 1, bias 0)") == 2
    monkeypatch.setattr(C, "fit_platt", lambda m, y: (float("nan"), 0.0))
    scale, bias = C.fit_calibration(*_overconfident(400), "platt")
    assert 0 < scale < 1 and bias == 0.0 and "non-finite fit" in caplog.text


@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.1, 0.333, 0.5, 1.0])
def test_threshold_at_target_false_alarm_rate(target):
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], [300, 100])
    scores = np.concatenate([rng.random(300), rng.random(100) * 0.5 + 0.5])
    t = C.select_threshold(labels, scores, target)
    far = np.mean(scores[labels == 0] >= t)
    assert target - 1 / 300 < far <= target + 1e-12


def test_threshold_at_eer_and_bad_targets():
    assert C.select_threshold([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.8]) == 0.5
    with pytest.raises(ConfigError, match="false-alarm"):
        C.select_threshold([0, 1], [0.1, 0.9], 1.5)
    with pytest.raises(ConfigError, match="'eer'"):
        C.select_threshold([0, 1], [0.1, 0.9], "far")


def test_calibrate_detector_writes_config(tmp_path):
    detector = tiny_detector("wav2vec2", seed=1, window_seconds=0.5)
    ds = make_dataset(write_clips(tmp_path))
    # 8 real and 8 fake clips are below the floor of 10 per class: no calibration, and it says so
    fallback = C.calibrate_detector(detector, ds, method="platt", threshold=0.25)
    assert (fallback.method, fallback.requested_method, fallback.scale, fallback.bias) == ("none", "platt", 1.0, 0.0)
    assert "got 8 real and 8 fake" in fallback.fallback
    assert (detector.config.calibration_scale, detector.config.calibration_bias) == (1.0, 0.0)
    assert "calibration_prior_fake" not in detector.config.extra
    result = C.calibrate_detector(detector, ds, method="platt", threshold=0.25, min_clips_per_class=8)
    assert result.method == "platt" and result.fallback is None and result.scale > 0
    assert detector.config.extra["calibration_prior_fake"] == 0.5  # 8 fake of 16: Platt's bias carries it
    cfg = detector.config
    assert (cfg.calibration_scale, cfg.calibration_bias, cfg.threshold) == (result.scale, result.bias, result.threshold)
    assert result.num_clips == 16
    # the detector now scores with the fitted calibration, and flags 2 of the 8 real clips
    after = evaluate_detector(detector, ds, bootstrap_resamples=0)
    np.testing.assert_allclose(after.scores, C.apply_calibration(after.margins, result.scale, result.bias), atol=1e-12)
    assert after.metrics["false_alarm_rate"] == result.false_alarm_rate == 0.25
    assert result.ece_after == pytest.approx(C.expected_calibration_error(after.labels, after.scores))
    assert result.brier_after == pytest.approx(C.brier_score(after.labels, after.scores))
    assert after.metrics["eer"] == pytest.approx(evaluate_detector(detector, ds, bootstrap_resamples=0).metrics["eer"])
