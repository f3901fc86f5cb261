import numpy as np
import pytest

from wavguard.audio.windows import WindowBuffer, aggregate_logits, fake_margin, iter_windows, window_spans
from wavguard.errors import ConfigError


def test_window_spans_exact():
    assert window_spans(10, 4, 3) == [(0, 4), (3, 7), (6, 10)]
    assert window_spans(11, 4, 3) == [(0, 4), (3, 7), (6, 10), (9, 11)]
    assert window_spans(8, 4, 4) == [(0, 4), (4, 8)]
    assert window_spans(9, 4, 4) == [(0, 4), (4, 8), (8, 9)]
    assert window_spans(3, 4, 2) == [(0, 3)]
    assert window_spans(4, 4, 2) == [(0, 4)]
    assert window_spans(0, 4, 2) == []


def test_window_spans_short_tail_borrows_from_previous_window():
    # the tail (8, 9) is shorter than 3 samples, so it starts 2 samples earlier
    assert window_spans(9, 4, 4, min_window_samples=3) == [(0, 4), (4, 8), (6, 9)]
    assert window_spans(11, 4, 4, min_window_samples=3) == [(0, 4), (4, 8), (8, 11)]


@pytest.mark.parametrize("window,hop", [(4, 4), (4, 3), (5, 2), (16000, 8000)])
@pytest.mark.parametrize("min_window", [1, 3])
def test_window_buffer_matches_spans_for_any_block_sizes(window, hop, min_window):
    rng = np.random.default_rng(1)
    for n in [1, 3, window, window + 1, 3 * window + 2, 50_017]:
        signal = rng.standard_normal(n).astype(np.float32)
        cuts = np.sort(rng.integers(0, n + 1, size=5))
        blocks = np.split(signal, cuts)
        windows = list(iter_windows(blocks, window, hop, min_window))
        expected = window_spans(n, window, hop, min(min_window, n))
        assert [(w.start, w.end) for w in windows] == expected
        for w in windows:
            np.testing.assert_array_equal(w.samples, signal[w.start : w.end])


def test_window_buffer_memory_is_bounded():
    buffer = WindowBuffer(100, 50)
    for _ in range(1000):
        list(buffer.push(np.ones(37, dtype=np.float32)))
        assert buffer._buffer.shape[0] < 100 + 37


def test_bad_window_sizes():
    with pytest.raises(ConfigError):
        window_spans(10, 0, 1)
    with pytest.raises(ConfigError):
        window_spans(10, 4, 5)


def test_aggregate_logits_exact():
    logits = np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 3.0], [1.0, 1.5]])
    np.testing.assert_allclose(aggregate_logits(logits, "mean"), [0.75, 1.375])
    np.testing.assert_allclose(aggregate_logits(logits, "max"), [0.0, 3.0])
    # margins: 1, -2, 3, 0.5 -> top 2 are rows 2 and 0
    np.testing.assert_allclose(aggregate_logits(logits, "topk", top_k=2), [0.0, 2.0])
    np.testing.assert_allclose(aggregate_logits(logits, "topk", top_k=10), [0.75, 1.375])
    np.testing.assert_allclose(fake_margin(logits), [1.0, -2.0, 3.0, 0.5])
    with pytest.raises(ConfigError):
        aggregate_logits(logits, "median")
    with pytest.raises(ValueError):
        aggregate_logits(np.zeros((0, 2)))
