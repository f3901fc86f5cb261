import io

import numpy as np
import pytest
import soundfile as sf
import torch

from wavguard.audio import decode as audio
from wavguard.errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    EmptyAudioError,
    InvalidAudioError,
    SilentAudioError,
)
from wavguard.testing import sine


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_load_every_format_at_model_rate(audio_files, fmt):
    samples, rate = audio.load_audio(audio_files[fmt], 16000)
    assert rate == 16000 and samples.dtype == np.float32 and samples.ndim == 1
    expected = 48000 if fmt == "flac" else 40000  # the flac fixture is 3 s, the others 2.5 s
    assert abs(samples.shape[0] - expected) < 2000  # mp3 adds encoder delay padding
    assert 0.05 < np.sqrt(np.mean(samples**2)) < 0.5


def test_stereo_44k_is_averaged_and_resampled(audio_files):
    samples, rate = audio.load_audio(audio_files["flac"], 16000)
    assert rate == 16000 and samples.shape == (48000,)
    native, native_rate = audio.load_audio(audio_files["flac"])
    assert native_rate == 44100 and native.shape == (132300,)
    left_right = sf.read(audio_files["flac"], dtype="float32")[0]
    np.testing.assert_allclose(native, left_right.mean(axis=1), atol=1e-6)


def test_resampling_keeps_a_tone_at_its_frequency():
    tone = sine(1.0, 44100, frequency_hz=1000.0)
    out = audio.resample(tone, 44100, 16000)
    assert out.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins for a 1 s signal


def test_blocks_equal_whole_file(audio_files):
    whole, _ = audio.load_audio(audio_files["flac"], 16000)
    blocks = list(audio.iter_file_blocks(audio_files["flac"], 16000, block_seconds=0.37))
    assert len(blocks) > 5
    joined = np.concatenate(blocks)
    assert joined.shape == whole.shape
    np.testing.assert_allclose(joined, whole, atol=2e-3)


def test_bytes_and_file_objects(audio_files):
    data = audio_files["wav"].read_bytes()
    a, _ = audio.load_audio(data, 16000)
    b, _ = audio.load_audio(io.BytesIO(data), 16000)
    c, _ = audio.load_audio(audio_files["wav"], 16000)
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, c)


def test_integer_and_channel_layouts():
    tone = sine(0.5, 8000)
    as_int16 = np.round(tone * 32767).astype(np.int16)
    mono = audio.prepare_array(as_int16, 8000, 8000)
    np.testing.assert_allclose(mono, tone, atol=1 / 32767)
    np.testing.assert_allclose(audio.to_float32(np.array([0, 128, 255], dtype=np.uint8)), [-1.0, 0.0, 127 / 128])
    np.testing.assert_allclose(audio.to_float32(np.array([-(2**31)], dtype=np.int32)), [-1.0])
    stereo_tc = np.stack([tone, -tone + 0.2], axis=1)  # (time, channels)
    stereo_ct = stereo_tc.T.copy()  # (channels, time), the torch convention
    expected = np.full_like(tone, 0.1)
    np.testing.assert_allclose(audio.prepare_array(stereo_tc, 8000, 8000), expected, atol=1e-6)
    np.testing.assert_allclose(audio.prepare_array(torch.from_numpy(stereo_ct), 8000, 8000), expected, atol=1e-6)


def test_missing_directory_and_empty_files(tmp_path):
    with pytest.raises(AudioFileNotFoundError, match="no such file"):
        audio.load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioFileNotFoundError, match="is a directory"):
        audio.load_audio(tmp_path)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="empty.wav: the file is empty"):
        audio.load_audio(empty)
    zero_frames = tmp_path / "zero.wav"
    sf.write(zero_frames, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(EmptyAudioError, match="zero samples"):
        audio.load_audio(zero_frames)


def test_not_audio_and_truncated(tmp_path, audio_files):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 20)
    with pytest.raises(AudioDecodeError, match="notes.wav: cannot be decoded as audio"):
        audio.load_audio(text)
    data = audio_files["wav"].read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioDecodeError, match="cut.wav: the WAV file is truncated"):
        audio.load_audio(cut)
    with pytest.raises(AudioDecodeError, match="truncated"):
        list(audio.iter_file_blocks(cut, 16000))
    mp3 = audio_files["mp3"].read_bytes()
    cut_mp3 = tmp_path / "cut.mp3"
    cut_mp3.write_bytes(mp3[: len(mp3) // 2])
    with pytest.raises(AudioDecodeError, match="cut.mp3"):
        audio.load_audio(cut_mp3)


def test_non_finite_silent_and_bad_shapes(tmp_path):
    bad = sine(0.5)
    bad[100] = np.nan
    with pytest.raises(InvalidAudioError, match="1 samples are NaN or infinite"):
        audio.prepare_array(bad, 16000, 16000)
    nan_file = tmp_path / "nan.wav"
    sf.write(nan_file, bad, 16000, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match="nan.wav"):
        audio.load_audio(nan_file)
    with pytest.raises(SilentAudioError, match="every sample is zero"):
        audio.prepare_array(np.zeros(16000, dtype=np.int16), 16000, 16000)
    with pytest.raises(InvalidAudioError, match="shape"):
        audio.prepare_array(np.zeros((2, 3, 100)), 16000, 16000)
    with pytest.raises(InvalidAudioError, match="neither axis looks like channels"):
        audio.prepare_array(np.ones((100, 100)), 16000, 16000)
    with pytest.raises(InvalidAudioError, match="sample_rate"):
        audio.prepare_array(sine(0.1), None, 16000)
    with pytest.raises(InvalidAudioError, match="dtype"):
        audio.prepare_array(np.array(["a", "b"]), 16000, 16000)
