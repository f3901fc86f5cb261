"""Batching for lists of inputs: similar lengths together, decoding prefetched in a thread.

Every path must give today's scores: a list equals its inputs one by one, batched equals
batch_size=1, prefetch equals no prefetch. Batches are formed from the order windows arrive in,
never from timing, so thread scheduling cannot change them; the tolerances only absorb float
rounding of different batch shapes in the network.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf
from test_pipeline import MeanBackend, config

from wavguard.errors import AudioDecodeError, InvalidAudioError, SilentAudioError
from wavguard.scoring.batching import LengthBatcher, Prefetch
from wavguard.scoring.scorer import Scorer
from wavguard.testing import chirp, sine, tiny_detector


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "wavguard-prefetch"]


# -- LengthBatcher -----------------------------------------------------------------------------------
def test_batcher_puts_equal_lengths_together_and_returns_every_item_once():
    batcher: LengthBatcher[int] = LengthBatcher(batch_size=3, lookahead=6)
    lengths = [10, 7, 10, 10, 3, 10, 7, 10]
    taken = []
    for i, n in enumerate(lengths):
        batcher.add(n, i)
        while batcher.ready:
            taken.append(batcher.take())
        assert len(batcher) < 6
    while len(batcher):
        taken.append(batcher.take())
    assert sorted(i for batch in taken for i in batch) == list(range(len(lengths)))
    # the oldest full windows first, then the rest of the 10s with the closest (7), then the tail
    assert taken == [[0, 2, 3], [1, 5, 7], [4, 6]]


def test_batcher_prefers_the_run_with_least_padding():
    batcher: LengthBatcher[str] = LengthBatcher(batch_size=2, lookahead=4)
    for name, n in [("a", 100), ("b", 40), ("c", 41), ("d", 5)]:
        batcher.add(n, name)
    assert batcher.take() == ["b", "c"]  # 1 sample of padding, not 59 (a, c) or 35 (b, d)
    batcher.discard(lambda name: name != "d")
    assert batcher.take() == ["a"]
    assert len(batcher) == 0


# -- Prefetch ------------------------------------------------------------------------------------------
def test_prefetch_yields_in_order_then_raises_the_sources_error():
    def source():
        yield from range(5)
        raise ValueError("boom")

    got = []
    with Prefetch(source(), depth=2) as items, pytest.raises(ValueError, match="boom"):
        for x in items:
            got.append(x)
    assert got == list(range(5))
    assert not prefetch_threads()


def test_prefetch_stops_and_closes_its_source_when_the_consumer_stops_early():
    closed = threading.Event()

    def source():
        try:
            yield from range(10_000)
        finally:
            closed.set()

    items = Prefetch(source(), depth=3)
    assert next(items) == 0
    items.close()
    assert closed.is_set() and not items.alive and not prefetch_threads()


# -- predict: same scores on every path ---------------------------------------------------------------
@pytest.fixture(scope="module")
def whisper_det():
    return tiny_detector("whisper", window_seconds=1.0, hop_seconds=0.5)


@pytest.fixture(scope="module")
def clips():
    """Clips of many lengths, so the last partial windows differ and batches mix files."""
    rng = np.random.default_rng(1)
    out = []
    for k, seconds in enumerate([2.3, 0.7, 1.0, 3.05, 1.6, 0.45, 2.0, 1.3]):
        base = chirp(seconds) if k % 2 else sine(seconds, frequency_hz=180.0 + 40 * k)
        out.append((base + 0.02 * rng.standard_normal(base.shape[0])).astype(np.float32))
    return out


@pytest.fixture(scope="module")
def wav_files(tmp_path_factory, clips):
    root = tmp_path_factory.mktemp("batching")
    paths = []
    for k, clip in enumerate(clips):
        path = root / f"clip{k}.wav"
        rate = 22050 if k % 3 == 0 else 16000  # some files are resampled on the prefetch thread
        if rate != 16000:
            clip = np.interp(np.arange(int(len(clip) * rate / 16000)) * 16000 / rate, np.arange(len(clip)), clip)
        sf.write(path, clip.astype(np.float32), rate, subtype="FLOAT")
        paths.append(str(path))
    return paths


def assert_same(preds_a, preds_b, atol=1e-5):
    assert [p.source for p in preds_a] == [p.source for p in preds_b]
    np.testing.assert_allclose([p.score for p in preds_a], [p.score for p in preds_b], atol=atol, rtol=0)
    np.testing.assert_allclose([p.logit_margin for p in preds_a], [p.logit_margin for p in preds_b], atol=atol, rtol=0)
    for a, b in zip(preds_a, preds_b):
        assert [(s.start_seconds, s.end_seconds) for s in a.segments] == [
            (s.start_seconds, s.end_seconds) for s in b.segments
        ]
        np.testing.assert_allclose([s.score for s in a.segments], [s.score for s in b.segments], atol=atol, rtol=0)
        assert a.duration_seconds == b.duration_seconds


@pytest.mark.parametrize("inputs", ["arrays", "files"])
def test_a_list_scores_as_its_inputs_one_by_one(whisper_det, clips, wav_files, inputs):
    items = clips if inputs == "arrays" else wav_files
    rate = 16000 if inputs == "arrays" else None
    alone = [whisper_det.predict(item, rate, batch_size=1, prefetch=False) for item in items]
    for batch_size in (1, 3, 8):
        for prefetch in (True, False):
            together = whisper_det.predict(items, rate, batch_size=batch_size, prefetch=prefetch)
            assert_same(together, alone)
    assert not prefetch_threads()


def test_prefetch_changes_no_batch_so_scores_match_tightly(whisper_det, wav_files):
    # The batches depend on the order of windows only; with or without the thread they are the
    # same batches, so only the network's own run-to-run rounding could differ.
    with_thread = whisper_det.predict(wav_files, batch_size=4, prefetch=True)
    without = whisper_det.predict(wav_files, batch_size=4, prefetch=False)
    assert_same(with_thread, without, atol=1e-6)


def test_segments_come_back_in_window_order_when_scored_out_of_order():
    backend = MeanBackend()
    scorer = Scorer(backend, config())  # 10-sample windows
    # the first clip's 5-sample tail batches with the second clip before its own full window does
    clips = [
        np.linspace(0.01, 1.0, 15).astype(np.float32),
        np.full(5, 0.3, np.float32),
        np.linspace(1.0, 0.2, 27).astype(np.float32),
    ]
    recorded = []
    original = scorer.pipeline.record

    def spy(state, windows, logits):
        recorded.append((id(state), windows[0].start))
        return original(state, windows, logits)

    scorer.pipeline.record = spy
    together = scorer.predict(clips, sample_rate=1000, batch_size=2)
    per_state: dict[int, list[int]] = {}
    for key, start in recorded:
        per_state.setdefault(key, []).append(start)
    assert any(starts != sorted(starts) for starts in per_state.values())  # the case under test happened
    alone = [scorer.predict(c, sample_rate=1000, batch_size=1) for c in clips]
    for a in together:
        starts = [s.start_seconds for s in a.segments]
        assert starts == sorted(starts)
    assert_same(together, alone, atol=1e-7)


def test_batches_group_full_windows_apart_from_short_last_windows():
    backend = MeanBackend()
    scorer = Scorer(backend, config())
    clips = [np.full(n, 0.1, np.float32) for n in (25, 17, 30, 12, 26, 40)]  # 10-sample windows, partial tails
    scorer.predict(clips, sample_rate=1000, batch_size=4)
    full_batches = [call for call in backend.calls if 10 in call]
    assert sum(len(set(call)) > 1 for call in full_batches) <= 1  # at most the final leftover mixes
    assert max(len(call) for call in backend.calls) <= 4


def test_many_inputs_keep_the_pool_bounded():
    backend = MeanBackend()
    scorer = Scorer(backend, config())
    clips = [np.full(35, 0.1 + 0.001 * k, np.float32) for k in range(200)]
    seen = []
    original = scorer.pipeline.logits

    def spy(windows):
        seen.append(len(windows))
        return original(windows)

    scorer.pipeline.logits = spy
    preds = scorer.predict(clips, sample_rate=1000, batch_size=5)
    assert sum(seen) == 200 * 4 and max(seen) <= 5
    np.testing.assert_allclose([p.logit_margin for p in preds], [1.0 + 0.01 * k for k in range(200)], atol=1e-5)


# -- errors: per input, as before; no thread left behind ---------------------------------------------
def test_bad_inputs_are_reported_per_input_with_prefetch(whisper_det, clips, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wav file")
    silent = np.zeros(16000, np.float32)
    huge = np.full(16000, 1e38, np.float32)
    items = [clips[0], str(broken), clips[1], silent, huge, clips[2]]
    for prefetch in (True, False):
        preds = whisper_det.predict(items, 16000, batch_size=3, on_error="return", prefetch=prefetch)
        assert [p.label == "error" for p in preds] == [False, True, False, True, True, False]
        assert isinstance(preds[1].error, AudioDecodeError)
        assert isinstance(preds[3].error, SilentAudioError)
        assert isinstance(preds[4].error, InvalidAudioError)
        good = whisper_det.predict([clips[0], clips[1], clips[2]], 16000, batch_size=1, prefetch=False)
        assert_same([preds[0], preds[2], preds[5]], good)
        skipped = whisper_det.predict(items, 16000, batch_size=3, on_error="skip", prefetch=prefetch)
        assert_same(skipped, good)
        with pytest.raises(AudioDecodeError):
            whisper_det.predict(items, 16000, batch_size=3, prefetch=prefetch)
        assert not prefetch_threads()


def test_an_unexpected_error_in_decoding_propagates_and_stops_the_thread(clips):
    backend = MeanBackend()
    scorer = Scorer(backend, config(sample_rate_hz=16000, window_seconds=0.5, hop_seconds=0.5))
    original = scorer.pipeline.decode

    def decode(item, sample_rate, source):
        if item is clips[2]:
            raise RuntimeError("disk on fire")
        return original(item, sample_rate, source)

    scorer.pipeline.decode = decode
    for on_error in ("raise", "return"):
        with pytest.raises(RuntimeError, match="disk on fire"):
            scorer.predict(clips, 16000, on_error=on_error)
        assert not prefetch_threads()


def test_a_backend_error_stops_the_prefetch_thread(clips):
    class Failing(MeanBackend):
        def logits(self, windows):
            raise RuntimeError("backend failed")

    scorer = Scorer(Failing(), config(sample_rate_hz=16000, window_seconds=0.5, hop_seconds=0.5))
    with pytest.raises(RuntimeError, match="backend failed"):
        scorer.predict(clips * 10, 16000, batch_size=1)
    assert not prefetch_threads()
