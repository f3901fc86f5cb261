"""The library refuses absurd sample rates (issue 17, item 1): files, bytes, file objects, arrays
and streams raise SampleRateError naming the input and the rate, before any sample is decoded."""

import io
import time

import numpy as np
import pytest
from _bad_audio import encoded, flac_with, int16_wav

from wavguard import SampleRateError
from wavguard.audio import decode
from wavguard.testing import chirp, tiny_detector


@pytest.fixture(scope="module")
def detector():
    return tiny_detector("wav2vec2", window_seconds=1.0)


@pytest.mark.parametrize("rate", [1, 999, 768_001, 2_000_000])
def test_files_bytes_and_file_objects_with_absurd_header_rates_are_refused(tmp_path, rate):
    data = int16_wav(rate)
    path = tmp_path / f"rate{rate}.wav"
    path.write_bytes(data)
    for make in (lambda: path, lambda: str(path), lambda: data, lambda: io.BytesIO(data)):
        for call in (
            decode.audio_info,
            lambda s: decode.load_audio(s, 16000),
            lambda s: list(decode.iter_file_blocks(s, 16000)),
        ):
            with pytest.raises(SampleRateError, match=f"{rate} Hz"):
                call(make())
    with pytest.raises(SampleRateError, match=str(path)):
        decode.load_audio(path)


def test_a_flac_header_claiming_1_hz_is_refused():
    with pytest.raises(SampleRateError, match="1 Hz is outside the supported 1000-768000 Hz"):
        decode.audio_info(flac_with(chirp(1.0), header_rate_hz=1), name="one-hertz.flac")


def test_the_1_hz_report_is_refused_fast_without_decoding():
    """The report: a 20 KB int16 WAV saying 1 Hz took 0.64 GB to resample to 16 kHz."""
    start = time.perf_counter()
    with pytest.raises(SampleRateError):
        decode.load_audio(int16_wav(1, 20_000), 16000)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("rate", [1000, 768_000])
def test_the_range_ends_are_accepted(rate):
    samples, out_rate = decode.load_audio(int16_wav(rate, 2 * rate), 16000)  # one second
    assert out_rate == 16000 and abs(samples.shape[0] - 16000) <= 1


@pytest.mark.parametrize("rate", [0, -16000, 1, 999, 768_001, 16000.5, float("nan"), "16000", True])
def test_arrays_with_a_bad_rate_are_refused(rate):
    with pytest.raises(SampleRateError, match="sample rate"):
        decode.prepare_array(chirp(0.5), rate, 16000)


def test_array_rates_that_are_whole_floats_or_numpy_ints_are_fine():
    assert decode.prepare_array(chirp(0.5), np.int64(16000), 16000).shape == (8000,)
    assert decode.prepare_array(chirp(0.5), 16000.0, 16000).shape == (8000,)


def test_streams_refuse_absurd_rates(detector):
    for rate in (1, 999, 768_001):
        with pytest.raises(SampleRateError, match=f"{rate} Hz"):
            detector.stream(sample_rate=rate, source="mic")
    assert detector.stream(sample_rate=8000).close is not None  # 8 kHz is fine


def test_predict_refuses_them_and_keeps_good_results(detector, tmp_path):
    bad = tmp_path / "one-hertz.wav"
    bad.write_bytes(int16_wav(1))
    with pytest.raises(SampleRateError, match="one-hertz.wav: a sample rate of 1 Hz"):
        detector.predict(bad)
    with pytest.raises(SampleRateError):
        detector.predict(chirp(1.0), sample_rate=1)
    good = encoded(chirp(1.5))
    results = detector.predict([good, bad, int16_wav(2_000_000)], on_error="return")
    assert results[0].ok
    assert [type(r.error) for r in results[1:]] == [SampleRateError, SampleRateError]


def test_blocks_stay_small_whatever_the_rate_and_channels():
    stereo = np.stack([chirp(3.0, 192_000)] * 2, axis=1)
    blocks = list(decode.iter_file_blocks(encoded(stereo, 192_000), 192_000, block_seconds=5.0))
    assert max(b.shape[0] for b in blocks) <= decode.MAX_BLOCK_SAMPLES // 2
    assert sum(b.shape[0] for b in blocks) == 3 * 192_000
