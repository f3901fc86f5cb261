"""The int8 check's judgement on known scores (the graphs themselves are tested in test_export.py)."""

from types import SimpleNamespace

import numpy as np
import pytest

from wavguard.export.quantize import check_int8
from wavguard.models.onnx_graph import WindowReader


class _Scores:
    """A stand-in detector whose scores of the inputs 0..N-1 are given."""

    def __init__(self, scores, threshold=0.5):
        self.scores = np.asarray(scores, dtype=float)
        self.config = SimpleNamespace(threshold=threshold)
        self.sample_rate_hz = 16000

    def score_inputs(self, items, *, sample_rate=None, batch_size=8):
        return SimpleNamespace(scores=self.scores[np.asarray(items, dtype=int)])


def test_check_passes_when_scores_barely_move():
    fp32, int8 = _Scores([0.1, 0.2, 0.8, 0.9]), _Scores([0.11, 0.19, 0.8, 0.95])
    check = check_int8(fp32, int8, [0, 1, 2, 3])
    assert check.passed and check.reason == "" and check.clips == 4 and not check.labelled
    assert check.max_score_change == pytest.approx(0.05)
    assert check.mean_score_change == pytest.approx((0.01 + 0.01 + 0 + 0.05) / 4)
    assert check.label_agreement == 1.0


def test_check_fails_on_a_large_score_change_and_counts_flipped_labels():
    check = check_int8(_Scores([0.1, 0.2, 0.8, 0.9]), _Scores([0.1, 0.6, 0.8, 0.9]), [0, 1, 2, 3], max_score_change=0.3)
    assert not check.passed
    assert check.reason == "a clip's score moved by 0.400, more than 0.3"
    assert check.label_agreement == 0.75


def test_check_judges_the_eer_on_labelled_rows(monkeypatch):
    import datasets

    from wavguard.export import quantize

    data = datasets.Dataset.from_dict({"audio": ["0", "1", "2", "3"], "label": [0, 0, 1, 1]})
    fp32, int8 = _Scores([0.1, 0.2, 0.8, 0.9]), _Scores([0.1, 0.85, 0.8, 0.9])  # int8 puts a real clip above a fake

    def scored_rows(model, dataset, batch_size=8):  # what score_dataset returns, from the given scores
        return [SimpleNamespace(score=float(model.scores[int(p)]), error=None) for p in dataset["audio"]]

    monkeypatch.setattr(quantize, "score_dataset", scored_rows)
    check = check_int8(fp32, int8, data, max_score_change=1.0)
    assert check.labelled and check.eer_fp32 == 0.0 and check.eer_int8 == pytest.approx(0.5)
    assert not check.passed and check.reason == "EER rose by 50.00 points, more than 0.50"


def test_calibration_reader_feeds_one_window_per_call_then_stops():
    reader = WindowReader([np.zeros(5, np.float32), np.ones(3, np.float32)])
    assert reader.get_next()["waveforms"].shape == (1, 5)
    assert reader.get_next()["waveforms"].shape == (1, 3)
    assert reader.get_next() is None
