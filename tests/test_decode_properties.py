"""Property tests of the decoder and the windowing (issue 17, "Also").

On random valid and corrupted WAV (and Ogg) bytes the decoder gives either a wavguard error or a
valid result (mono float32, finite, a positive rate), never another exception; the windows of
any signal cut into any blocks cover its samples exactly.

Bounded by ``max_examples`` and derandomised, so CI runs the same examples every time in a few
seconds: no wall-clock deadline (a shared 2-core runner would make one fail by chance) and no
example database.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from wavguard.audio.decode import audio_info, iter_file_blocks, load_audio  # noqa: E402
from wavguard.audio.windows import iter_windows, window_spans  # noqa: E402
from wavguard.errors import WavguardError  # noqa: E402

BOUNDED = settings(
    max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)

SUBTYPES = ("PCM_16", "PCM_U8", "PCM_24", "FLOAT")


def _wav(frames: int, channels: int, rate: int, subtype: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    samples = (0.5 * rng.standard_normal((frames, channels))).clip(-1, 1).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def _ogg(seed: int) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    sf.write(buf, (0.3 * rng.standard_normal(8000)).astype(np.float32), 16000, format="OGG", subtype="VORBIS")
    return buf.getvalue()


OGG = [_ogg(0), _ogg(1)]


@st.composite
def corrupted(draw) -> bytes:
    """A valid WAV or Ogg file, then none or several corruptions of its header and bytes."""
    if draw(st.integers(0, 4)) == 0:
        data = bytearray(OGG[draw(st.integers(0, 1))])
    else:
        data = bytearray(
            _wav(
                draw(st.integers(0, 1500)),
                draw(st.integers(1, 3)),
                draw(st.sampled_from([8000, 16000, 22050, 44100, 48000])),
                draw(st.sampled_from(SUBTYPES)),
                draw(st.integers(0, 9)),
            )
        )
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "field", "append"]))
        if kind == "truncate" and len(data) > 1:
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif kind == "flip" and data:
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        elif kind == "field" and len(data) >= 44:
            # RIFF size, fmt tag/channels/rate/byte rate/block align/bits, data size: the header fields
            offset, width = draw(
                st.sampled_from([(4, 4), (20, 2), (22, 2), (24, 4), (28, 4), (32, 2), (34, 2), (40, 4)])
            )
            value = (
                draw(st.sampled_from([0, 1, 2, 3, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
                if draw(st.booleans())
                else draw(st.integers(0, 2 ** (8 * width) - 1))
            )
            data[offset : offset + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
        elif kind == "append":
            data += draw(st.binary(max_size=64))
    return bytes(data)


def _check_valid(samples: np.ndarray, rate: int) -> None:
    assert samples.dtype == np.float32 and samples.ndim == 1 and samples.size > 0
    assert np.all(np.isfinite(samples)) and rate > 0


@BOUNDED
@given(corrupted())
def test_decoder_gives_a_wavguard_error_or_valid_audio(data):
    try:
        samples, rate = load_audio(data)
    except WavguardError:
        pass
    else:
        _check_valid(samples, rate)
        assert np.any(samples)  # silence is an error, not a result
    try:
        rate, frames, channels = audio_info(data)
    except WavguardError:
        pass
    else:
        assert rate > 0 and frames >= 0 and channels >= 1


@BOUNDED
@given(corrupted())
def test_block_decoder_agrees_with_the_whole_file_decoder(data):
    """Block by block (at the file's own rate: no resampling) gives the same samples, or an error."""
    try:
        whole, rate = load_audio(data)
    except WavguardError:
        whole = None
    try:
        info_rate = audio_info(data)[0]
        blocks = list(iter_file_blocks(data, info_rate, block_seconds=0.01))
    except WavguardError:
        blocks = None
    if whole is not None and blocks is not None:
        np.testing.assert_array_equal(np.concatenate(blocks), whole)
    elif blocks is not None:  # only silence separates them: load_audio refuses it, blocks leave it to the caller
        assert not np.any(np.concatenate(blocks)) if blocks else True


@BOUNDED
@given(corrupted(), st.floats(0.0001, 0.05), st.floats(0.1, 1.0), st.integers(1, 50))
def test_windows_of_decoded_audio_cover_every_sample(data, window_seconds, hop_fraction, min_window):
    try:
        samples, rate = load_audio(data)
    except WavguardError:
        return
    window = max(1, int(window_seconds * rate))
    hop = max(1, int(window * hop_fraction))
    _check_cover(samples, window, hop, min(min_window, window), [samples])


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.integers(0, 3000),
    st.integers(1, 400),
    st.floats(0.01, 1.0),
    st.integers(1, 400),
    st.lists(st.integers(0, 700), max_size=12),
)
def test_windows_cover_the_samples_exactly(num_samples, window, hop_fraction, min_window, cuts):
    signal = np.arange(num_samples, dtype=np.float32)
    hop = max(1, int(window * hop_fraction))
    edges = sorted({min(c * 5, num_samples) for c in cuts} | {0, num_samples})
    blocks = [signal[a:b] for a, b in zip(edges[:-1], edges[1:])] + [signal[:0]]
    _check_cover(signal, window, hop, min(min_window, window), blocks)


def _check_cover(signal: np.ndarray, window: int, hop: int, min_window: int, blocks) -> None:
    n = signal.shape[0]
    windows = list(iter_windows(blocks, window, hop, min_window))
    spans = [(w.start, w.end) for w in windows]
    assert spans == window_spans(n, window, hop, min_window)
    for w in windows:
        np.testing.assert_array_equal(w.samples, signal[w.start : w.end])  # each window is the signal there
        assert 0 < w.samples.shape[0] <= window
    if n == 0:
        assert spans == []
        return
    assert spans[0][0] == 0 and spans[-1][1] == n  # from the first sample to the last
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start <= end  # no gap: every sample is in some window
    starts = [s for s, _ in spans]
    assert starts == sorted(set(starts))  # in order, no window twice
    assert all(e - s == window for s, e in spans[:-1])  # only the last may be partial
    if n >= min_window:
        assert spans[-1][1] - spans[-1][0] >= min_window


def test_the_strategy_reaches_both_outcomes():
    """The corruption strategy is not trivially all-errors or all-valid."""
    ok = bad = 0
    for data in [
        _wav(800, 1, 16000, "PCM_16", 0),
        _wav(800, 2, 8000, "FLOAT", 1)[:300],
        b"RIFF" + b"\0" * 60,
        OGG[0],
        OGG[0][:-100],
    ]:
        try:
            load_audio(data)
            ok += 1
        except WavguardError:
            bad += 1
    assert ok == 2 and bad == 3
    assert struct.calcsize("<I") == 4
