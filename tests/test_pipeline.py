"""The scoring pipeline's stages with a backend whose logits are known exactly."""

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from wavguard import DetectorConfig
from wavguard.errors import AudioTooShortError, ConfigError, EmptyAudioError, SilentAudioError
from wavguard.models.backends import Backend, TorchBackend
from wavguard.scoring.pipeline import ScoringPipeline, sigmoid
from wavguard.scoring.predicts import as_items
from wavguard.scoring.scorer import Scorer
from wavguard.testing import tiny_detector


class MeanBackend:
    """Logits (0, 10 * mean(window)): the FAKE margin of a window is ten times its mean sample."""

    name = "mean"
    min_samples = 4
    device = torch.device("cpu")

    def __init__(self):
        self.calls = []

    def to(self, device):
        return self

    def logits(self, windows):
        self.calls.append([w.shape[0] for w in windows])
        return np.array([[0.0, 10.0 * float(np.mean(w))] for w in windows], dtype=np.float32)


def config(**overrides):
    base = dict(sample_rate_hz=1000, window_seconds=0.01, hop_seconds=0.01, normalize=False)  # 10-sample windows
    return DetectorConfig(**{**base, **overrides})


class Net(torch.nn.Module):
    min_samples = 4

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))

    def forward(self, waveforms, lengths):
        sums = waveforms.sum(dim=1) / lengths.to(waveforms.dtype)
        return torch.stack([torch.zeros_like(sums), self.scale * sums], dim=1)


def test_backends_satisfy_the_protocol():
    assert isinstance(MeanBackend(), Backend)
    assert isinstance(TorchBackend(Net()), Backend)


def test_torch_backend_pads_and_passes_lengths():
    logits = TorchBackend(Net()).logits([np.full(10, 0.1, np.float32), np.full(4, -0.2, np.float32)])
    assert logits.dtype == np.float32 and logits.shape == (2, 2)
    np.testing.assert_allclose(logits[:, 1], [1.0, -2.0], rtol=1e-6)


def test_stages_give_exact_window_and_aggregate_scores():
    backend = MeanBackend()
    pipe = ScoringPipeline(config(calibration_scale=2.0, calibration_bias=-1.0), backend)
    samples = np.concatenate([np.full(10, 0.1), np.full(10, -0.1), np.full(5, 0.3)]).astype(np.float32)
    state = pipe.start("clip")
    windows = list(pipe.windows(samples, 1000, state))
    assert [(w.start, w.end) for w in windows] == [(0, 10), (10, 20), (20, 25)]
    segments = pipe.record(state, windows, pipe.logits([w.samples for w in windows]))
    margins = np.array([1.0, -1.0, 3.0])
    np.testing.assert_allclose([s.score for s in segments], sigmoid(2.0 * margins - 1.0), rtol=1e-6)
    pred = pipe.finish(state, threshold=0.5)
    assert pred.logit_margin == pytest.approx(1.0, rel=1e-6)  # mean of the window logits
    assert pred.score == pytest.approx(1 / (1 + math.exp(-1.0)), rel=1e-6)
    assert pred.label == "fake" and pred.duration_seconds == pytest.approx(0.025)
    spans = [t for s in pred.segments for t in (s.start_seconds, s.end_seconds)]  # flat: approx takes no nested tuples
    assert spans == pytest.approx([0.0, 0.01, 0.01, 0.02, 0.02, 0.025])


def test_predict_batches_windows_across_inputs():
    backend = MeanBackend()
    scorer = Scorer(backend, config())
    clips = [np.full(25, 0.1, np.float32), np.full(10, 0.2, np.float32)]
    preds = scorer.predict(clips, sample_rate=1000, batch_size=2)
    assert backend.calls == [[10, 10], [5, 10]]  # windows of both clips share batches
    assert [p.logit_margin for p in preds] == pytest.approx([1.0, 2.0], rel=1e-6)


def test_feeding_blocks_in_any_pieces_equals_one_block():
    pipe = ScoringPipeline(config(), MeanBackend())
    samples = np.sin(np.arange(57, dtype=np.float32))
    whole = pipe.start("a")
    one = list(pipe.feed(whole, samples)) + pipe.end(whole)
    pieces = pipe.start("b")
    many = []
    for chunk in np.array_split(samples, [3, 4, 30, 31]):
        many += pipe.feed(pieces, chunk)
    many += pipe.end(pieces)
    assert [(w.start, w.end) for w in one] == [(w.start, w.end) for w in many]
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a.samples, b.samples)


@pytest.mark.parametrize(
    "samples, error",
    [
        (np.zeros(0, np.float32), EmptyAudioError),
        (np.zeros(30, np.float32), SilentAudioError),
        (np.ones(3, np.float32), AudioTooShortError),
    ],
)
def test_end_refuses_what_cannot_be_scored(samples, error):
    pipe = ScoringPipeline(config(), MeanBackend())
    state = pipe.start("clip")
    pipe.feed(state, samples)
    with pytest.raises(error, match="clip"):
        pipe.end(state)


def test_on_error_return_keeps_good_results_and_names_the_bad_input():
    scorer = Scorer(MeanBackend(), config())
    preds = scorer.predict(
        [np.full(20, 0.1, np.float32), np.zeros(20, np.float32)], sample_rate=1000, on_error="return"
    )
    assert preds[0].ok and preds[0].logit_margin == pytest.approx(1.0, rel=1e-6)
    assert preds[1].label == "error" and isinstance(preds[1].error, SilentAudioError)
    with pytest.raises(ConfigError, match="on_error"):
        scorer.predict([np.ones(20)], sample_rate=1000, on_error="ignore")


def test_a_list_of_numbers_is_one_waveform():
    assert as_items([0.1, 0.2, 0.3]) == ([[0.1, 0.2, 0.3]], True)
    assert as_items(["a.wav", "b.wav"]) == (["a.wav", "b.wav"], False)


def test_assigning_a_new_config_rebuilds_the_pipeline():
    scorer = Scorer(MeanBackend(), config())
    clip = np.full(20, 0.1, np.float32)
    before = scorer.predict(clip, sample_rate=1000).score
    scorer.config = scorer.config.replace(calibration_scale=3.0)
    assert scorer.predict(clip, sample_rate=1000).score == pytest.approx(float(sigmoid(3.0)), rel=1e-6)
    assert before == pytest.approx(float(sigmoid(1.0)), rel=1e-6)


def test_bfloat16_detector_scores_close_to_float32():
    det = tiny_detector("wav2vec2", window_seconds=1.0)
    clip = (0.3 * np.sin(np.linspace(0, 800, 24000))).astype(np.float32)
    fp32 = det.predict(clip, sample_rate=16000)
    det.model.to(torch.bfloat16)
    bf16 = det.predict(clip, sample_rate=16000)
    assert bf16.ok and len(bf16.segments) == len(fp32.segments)
    assert bf16.score == pytest.approx(fp32.score, abs=0.05)  # bf16 keeps ~3 significant digits
