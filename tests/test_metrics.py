"""Metrics against hand-computed values (label 1 = fake, higher score = more fake)."""

import math

import numpy as np
import pytest

from wavguard import metrics as M


@pytest.mark.parametrize(
    "labels, scores, eer, threshold",
    [
        # perfectly separated: EER 0 at the lowest fake score
        ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], 0.0, 0.3),
        # exact crossing: at t=0.3 one real of two is flagged (0.5) and one fake of two missed (0.5)
        ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], 0.5, 0.3),
        # tie between a real and a fake at 0.5: the ROC segment goes from (FAR 0, miss 0.5) to
        # (FAR 0.5, miss 0); FAR = miss on it at 0.25
        ([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.8], 0.25, 0.5),
        # 3 real (0.1, 0.4, 0.6), 2 fake (0.5, 0.9): from t=0.6 (FAR 1/3, miss 1/2) to t=0.5
        # (FAR 1/3, miss 0) the miss rate crosses 1/3
        ([0, 0, 0, 1, 1], [0.1, 0.4, 0.6, 0.5, 0.9], 1 / 3, 0.5),
        # fully inverted scores
        ([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4], 1.0, 0.3),
    ],
)
def test_eer_hand_computed(labels, scores, eer, threshold):
    got_eer, got_threshold = M.compute_eer(labels, scores)
    assert got_eer == pytest.approx(eer, abs=1e-12)
    assert got_threshold == pytest.approx(threshold)


def test_eer_needs_both_classes():
    with pytest.raises(ValueError, match="both"):
        M.compute_eer([0, 0], [0.1, 0.2])


def test_auc_counts_ties_as_half():
    # pairs (real, fake): (.5,.5) tie -> 0.5, the other three ordered -> 1: 3.5 / 4
    assert M.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.8]) == pytest.approx(0.875)


def test_thresholded_metrics_hand_computed():
    labels, scores = [0, 1, 0, 1], [0.5, 0.5, 0.2, 0.8]
    # decisions at 0.5: fake, fake, real, fake
    assert M.confusion(labels, scores, 0.5) == [[1, 1], [0, 2]]
    assert M.accuracy(labels, scores, 0.5) == pytest.approx(0.75)
    pc = M.per_class_scores(labels, scores, 0.5)
    assert pc["fake"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert pc["real"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert M.error_rates(labels, scores, 0.5) == pytest.approx((0.5, 0.0))


def test_min_dcf_hand_computed():
    labels, scores = [0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]
    # defaults: cost(t) = 1.9 * P(real flagged) + P(fake accepted)
    # t=inf: 1.0, 0.4: 0.5, 0.3: 1.45, 0.2: 0.95, 0.1: 1.9
    assert M.min_dcf(labels, scores) == pytest.approx((0.5, 0.4))
    # equal priors and costs: cost = P_miss + P_fa -> 1, .5, 1, .5, 1
    dcf, _ = M.min_dcf(labels, scores, p_target=0.5, c_miss=1.0, c_fa=1.0)
    assert dcf == pytest.approx(0.5)
    # a perfect detector costs nothing; a constant one costs 1 (the normalisation)
    assert M.min_dcf([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])[0] == 0.0
    assert M.min_dcf([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5])[0] == pytest.approx(1.0)


def test_asvspoof5_costs_and_bayes_threshold():
    # ASVspoof 5 (evaluation package): Pspoof 0.05, Cmiss 1, Cfa 10; beta = 1 * 0.95 / (10 * 0.05) = 1.9
    assert M.MIN_DCF_DEFAULTS == {"p_target": 0.95, "c_miss": 1.0, "c_fa": 10.0}
    assert M.bayes_threshold() == pytest.approx(math.log(1.9), abs=1e-15)
    assert M.bayes_threshold(p_target=0.5, c_miss=1.0, c_fa=1.0) == 0.0
    with pytest.raises(ValueError, match="p_target"):
        M.bayes_threshold(p_target=1.0)


def test_act_dcf_hand_computed():
    t = M.bayes_threshold()  # log(1.9) = 0.6419
    # reals at -1 (kept) and 1 (flagged): P_miss 1/2; fakes at 0 (accepted) and 2 (caught): P_fa 1/2
    assert M.act_dcf([0, 0, 1, 1], [-1.0, 1.0, 0.0, 2.0]) == pytest.approx((1.9 * 0.5 + 0.5, t))
    # all right: 0; every fake accepted and no real flagged: 1.0 (the cost of accepting everything)
    assert M.act_dcf([0, 1], [-3.0, 3.0])[0] == 0.0
    assert M.act_dcf([0, 0, 1], [0.0, 0.0, 0.0])[0] == 1.0
    # every real flagged, every fake caught: 1.9 (a constant "fake" decision at these costs)
    assert M.act_dcf([0, 1], [1.0, 1.0])[0] == pytest.approx(1.9)
    # a tie at the threshold is accepted as real (ASVspoof accepts bona fide LLR >= -log(beta))
    assert M.act_dcf([0, 1], [t, t])[0] == 1.0
    # equal priors and costs: threshold 0, DCF = P_miss + P_fa = 1/2 + 0
    assert M.act_dcf([0, 0, 1], [-1.0, 0.5, 0.2], p_target=0.5, c_miss=1.0, c_fa=1.0) == (0.5, 0.0)
    with pytest.raises(ValueError, match="both"):
        M.act_dcf([1, 1], [0.0, 1.0])


def test_dcfs_and_cllr_match_the_asvspoof5_formulas_on_bona_fide_scores():
    """The same numbers as ASVspoof 5's definitions, written on its own axis (bona fide scores =
    minus our fake LLRs) with Pspoof 0.05, Cmiss 1, Cfa 10."""
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1], [40, 60])
    llrs = np.concatenate([rng.normal(-1.0, 1.5, 40), rng.normal(1.5, 1.5, 60)])
    bona, spoof = -llrs[labels == 0], -llrs[labels == 1]
    p_spoof, c_miss, c_fa = 0.05, 1.0, 10.0
    norm = min(c_fa * p_spoof, c_miss * (1 - p_spoof))
    tau = -math.log(c_miss * (1 - p_spoof) / (c_fa * p_spoof))
    act = (c_miss * (1 - p_spoof) * np.mean(bona < tau) + c_fa * p_spoof * np.mean(spoof >= tau)) / norm
    assert M.act_dcf(labels, llrs)[0] == pytest.approx(act, abs=1e-12)
    cuts = np.concatenate([[-np.inf], np.sort(np.concatenate([bona, spoof])), [np.inf]])
    costs = [(c_miss * (1 - p_spoof) * np.mean(bona < c) + c_fa * p_spoof * np.mean(spoof >= c)) / norm for c in cuts]
    assert M.min_dcf(labels, llrs)[0] == pytest.approx(min(costs), abs=1e-12)
    cllr = 0.5 * (np.mean(np.log1p(np.exp(-bona))) + np.mean(np.log1p(np.exp(spoof)))) / math.log(2)
    assert M.cllr(labels, llrs) == pytest.approx(cllr, abs=1e-12)


def test_cllr_values():
    assert M.cllr([0, 1], [0.0, 0.0]) == pytest.approx(1.0)
    ln3 = math.log(3.0)
    assert M.cllr([0, 1, 0, 1], [-ln3, ln3, -ln3, ln3]) == pytest.approx(math.log2(4 / 3))
    assert M.cllr([0, 1], [-50.0, 50.0]) < 1e-20
    assert M.cllr([0, 1], [5.0, -5.0]) > 1.0  # confidently wrong


def test_bootstrap_ci_seeded_and_sensible():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 200)
    scores = np.concatenate([rng.normal(0, 1, 200), rng.normal(2, 1, 200)])
    eer, _ = M.compute_eer(labels, scores)
    a = M.bootstrap_eer_ci(labels, scores, n_resamples=200, seed=3)
    b = M.bootstrap_eer_ci(labels, scores, n_resamples=200, seed=3)
    c = M.bootstrap_eer_ci(labels, scores, n_resamples=200, seed=4)
    assert a == b and a != c
    low, high = a
    assert low < eer < high
    # binormal with d' = 2: true EER = Phi(-1) = 0.159; the 95% interval is a few points wide
    assert 0.02 < high - low < 0.12
    assert M.bootstrap_eer_ci([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], n_resamples=50) == (0.0, 0.0)


def test_paired_bootstrap_of_an_eer_difference_draws_the_same_clips_for_both_systems():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], 300)
    a = np.concatenate([rng.normal(0, 1, 300), rng.normal(2, 1, 300)])
    b = a + rng.normal(0, 0.1, a.size)  # nearly the same system
    difference, low, high = M.bootstrap_eer_difference_ci(labels, a, b, n_resamples=300, seed=5)
    assert difference == pytest.approx(M.compute_eer(labels, b)[0] - M.compute_eer(labels, a)[0], abs=1e-12)
    assert low <= difference <= high
    single_low, single_high = M.bootstrap_eer_ci(labels, a, n_resamples=300, seed=5)
    # the clip draw is shared, so the difference's interval is narrower than one system's own (drawn
    # independently for each system it would be about 1.4x as wide: measured 0.030 against 0.055)
    assert high - low < 0.75 * (single_high - single_low)
    assert M.bootstrap_eer_difference_ci(labels, a, b, n_resamples=300, seed=5) == (difference, low, high)
    assert M.bootstrap_eer_difference_ci(labels, a, a, n_resamples=50) == (0.0, 0.0, 0.0)
    # b ranks one real clip above one fake: EER 0.5 on these four clips, against 0 for a
    four = M.bootstrap_eer_difference_ci([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.35, 0.3, 0.4], n_resamples=50)
    assert four[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="1-D of equal length"):
        M.bootstrap_eer_difference_ci([0, 1], [0.1, 0.9], [0.1, 0.9, 0.5])


def test_summarize_keys_and_values():
    labels, scores = [0, 1, 0, 1], [0.5, 0.5, 0.2, 0.8]
    s = M.summarize(labels, scores, threshold=0.5, llrs=[0.0, 0.0, 0.0, 0.0])
    assert list(s)[0] == "eer"
    assert s["eer"] == pytest.approx(0.25) and s["eer_threshold"] == 0.5
    assert s["roc_auc"] == pytest.approx(0.875)
    assert s["cllr"] == pytest.approx(1.0)
    assert s["act_dcf"] == 1.0  # llr 0 < log(1.9): everything accepted as real
    # the ASVspoof 5 metrics sit next to EER, in this order
    assert list(s)[:7] == ["eer", "eer_threshold", "min_dcf", "min_dcf_threshold", "act_dcf", "cllr", "roc_auc"]
    assert M.summarize(labels, scores, threshold=0.5)["act_dcf"] is None  # no LLRs
    assert s["accuracy"] == pytest.approx(0.75)
    assert (s["num_clips"], s["num_real"], s["num_fake"]) == (4, 2, 2)
    assert s["false_alarm_rate"] == 0.5 and s["miss_rate"] == 0.0
    # no threshold: the EER threshold is used
    assert M.summarize(labels, scores)["threshold"] == 0.5


def test_summarize_single_class_keeps_thresholded_metrics():
    s = M.summarize([0, 0, 0], [0.1, 0.6, 0.7], threshold=0.5)
    assert s["eer"] is None and s["roc_auc"] is None and s["min_dcf"] is None
    assert s["false_alarm_rate"] == pytest.approx(2 / 3) and s["miss_rate"] is None
    with pytest.raises(ValueError, match="threshold"):
        M.summarize([0, 0], [0.1, 0.2])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="labels must be 0"):
        M.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        M.roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="equal length"):
        M.accuracy([0, 1], [0.1], 0.5)


def test_per_attack_uses_all_real_clips():
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.4, 0.35, 0.45, 0.05, 0.5]
    attacks = ["-", "bonafide", None, "-", "A", "A", "B", "B"]
    out = M.metrics_by_attack(labels, scores, attacks, threshold=0.5)
    assert list(out) == ["A", "B"]
    # A: reals .1 .2 .3 .4 vs fakes .35 .45 -> from t=.4 (FAR .25, miss .5) to t=.35 (FAR .25, miss 0)
    assert out["A"]["eer"] == pytest.approx(0.25) and out["A"]["eer_threshold"] == 0.35
    # B: fakes .05 .5 -> at t=.3 FAR .5 and miss .5
    assert out["B"]["eer"] == pytest.approx(0.5) and out["B"]["eer_threshold"] == 0.3
    assert out["A"]["num_real"] == 4 and out["A"]["num_fake"] == 2


def test_per_group_own_clips_only():
    labels = [0, 1, 0, 1, 0, 0]
    scores = [0.1, 0.9, 0.6, 0.4, 0.2, 0.7]
    speakers = ["s1", "s1", "s2", "s2", "s3", "s3"]
    out = M.metrics_by_group(labels, scores, speakers, threshold=0.5)
    assert list(out) == ["s1", "s2", "s3"]
    assert out["s1"]["eer"] == 0.0 and out["s1"]["accuracy"] == 1.0
    assert out["s2"]["eer"] == 1.0 and out["s2"]["accuracy"] == 0.0
    assert out["s3"]["eer"] is None and out["s3"]["false_alarm_rate"] == 0.5
    with pytest.raises(ValueError, match="s3"):
        M.metrics_by_group(labels, scores, speakers)
