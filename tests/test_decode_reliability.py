"""Silent or raw failures in decoding (issue 27, item 2).

* a cut-off AIFF, AU, W64, RF64 or NIST file (libsndfile caps its frame count to the bytes left and
  reads it short without a word) is refused as truncated, from a path, bytes or a file object;
* formats whose length wavguard cannot check (CAF, IRCAM, VOC...) are refused, not scored;
* float samples far outside [-1, 1] (1e30, integer PCM values stored as floats) are refused with
  what to do; up to ``MAX_FLOAT_PEAK`` passes;
* bfloat16 / float16 / float8 tensors are read as float32; meta, sparse and nested tensors are
  refused with an InvalidAudioError, through ``prepare_array`` and ``Detector.predict``.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from wavguard.audio import decode
from wavguard.errors import AudioDecodeError, InvalidAudioError
from wavguard.testing import chirp

RATE = 16000
_CHIRP = chirp(1.0, RATE)
SPEECH = (0.5 * _CHIRP / np.max(np.abs(_CHIRP))).astype(np.float32)  # peak 0.5

# (libsndfile format, subtype): every container whose header declares a length
FORMATS = [
    ("AIFF", "PCM_16"),
    ("AIFF", "FLOAT"),
    ("AU", "PCM_16"),
    ("AU", "ULAW"),
    ("W64", "PCM_16"),
    ("RF64", "PCM_16"),
    ("NIST", "PCM_16"),
    ("NIST", "PCM_24"),
    ("WAV", "PCM_16"),
    ("WAVEX", "FLOAT"),
]


def _encoded(fmt: str, subtype: str, samples: np.ndarray = SPEECH, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    data = np.stack([samples] * channels, axis=1) if channels > 1 else samples
    sf.write(buf, data, RATE, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, subtype", FORMATS, ids=lambda v: v)
def test_whole_files_decode_to_their_length(fmt, subtype):
    samples, rate = decode.load_audio(_encoded(fmt, subtype))
    assert rate == RATE and samples.shape == (RATE,)
    assert np.allclose(samples, SPEECH, atol=0.05)  # ULAW is the coarsest


@pytest.mark.parametrize("keep", [0.5, 0.9, -2], ids=["half", "90%", "last-sample-cut"])
@pytest.mark.parametrize("fmt, subtype", FORMATS, ids=lambda v: v)
def test_truncated_files_are_refused(fmt, subtype, keep, tmp_path):
    data = _encoded(fmt, subtype, channels=2)
    cut = data[:keep] if isinstance(keep, int) else data[: int(len(data) * keep)]
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(cut)
    for source in (cut, path, io.BytesIO(cut)):
        with pytest.raises(AudioDecodeError, match="truncated"):
            decode.load_audio(source)
    with pytest.raises(
        AudioDecodeError, match=f"{path}: the .* file is truncated: its header declares {len(data)} bytes"
    ):
        list(decode.iter_file_blocks(path, RATE))


def test_a_file_object_is_left_where_it_was():
    data = _encoded("AIFF", "PCM_16")
    fh = io.BytesIO(b"junk" + data)
    fh.seek(4)
    samples, _ = decode.load_audio(fh)
    assert samples.shape == (RATE,)
    fh = io.BytesIO(b"junk" + data[:-100])
    fh.seek(4)
    with pytest.raises(AudioDecodeError, match="truncated"):
        decode.load_audio(fh)
    assert fh.tell() == 4


@pytest.mark.parametrize("fmt", ["WAV", "AIFF"])
def test_a_missing_pad_byte_after_an_odd_sized_chunk_is_not_truncation(fmt):
    odd = _encoded(fmt, "PCM_24", SPEECH[:1001])  # 3,003 bytes of samples: the chunk is padded to even
    samples, _ = decode.load_audio(odd[:-1])
    assert samples.shape == (1001,)


def test_unknown_lengths_of_streaming_writers_are_accepted():
    """An AU data size of 0xFFFFFFFF means 'unknown' (written to a pipe): libsndfile reads to the end."""
    data = bytearray(_encoded("AU", "PCM_16"))
    data[8:12] = struct.pack(">I", 0xFFFFFFFF)
    samples, _ = decode.load_audio(bytes(data))
    assert samples.shape == (RATE,)


@pytest.mark.parametrize(
    "fmt, subtype", [("CAF", "PCM_16"), ("IRCAM", "PCM_16"), ("VOC", "PCM_16"), ("MAT5", "PCM_16")]
)
def test_formats_whose_length_is_not_checked_are_refused(fmt, subtype):
    data = _encoded(fmt, subtype)
    with pytest.raises(AudioDecodeError, match=r"files are not supported.*supported formats: wav, flac, ogg, mp3"):
        decode.load_audio(data)
    with pytest.raises(AudioDecodeError, match="not supported"):
        decode.audio_info(data)


# -- absurd float samples ---------------------------------------------------------------------------
@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
@pytest.mark.parametrize("fmt", ["WAV", "AIFF"])
def test_float_files_with_absurd_samples_are_refused(fmt, subtype, tmp_path):
    loud = SPEECH.astype(np.float64) * 2e30
    path = tmp_path / "loud.bin"
    path.write_bytes(_encoded(fmt, subtype, loud))
    with pytest.raises(InvalidAudioError, match=r"float samples reach 1e\+30, far outside the \[-1, 1\] full scale"):
        decode.load_audio(path)
    with pytest.raises(InvalidAudioError, match="far outside"):
        list(decode.iter_file_blocks(path, RATE))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_arrays_of_integer_values_stored_as_floats_are_refused_with_what_to_do(dtype):
    as_int = np.round(SPEECH * 32767).astype(dtype)
    with pytest.raises(InvalidAudioError, match="divide by 32768"):
        decode.prepare_array(as_int, RATE, RATE)


def test_a_huge_float64_peak_is_named_not_called_infinite():
    with pytest.raises(InvalidAudioError, match=r"reach 1e\+300"):
        decode.prepare_array(SPEECH.astype(np.float64) * 2e300, RATE, RATE)


def test_the_peak_bound_is_generous_for_legit_float_audio():
    assert decode.MAX_FLOAT_PEAK == 64.0
    for peak in (1.0, 1.5, 4.0, 64.0):
        out = decode.prepare_array(SPEECH / 0.5 * peak, RATE, RATE)
        assert abs(float(np.max(np.abs(out))) - peak) <= 1e-3 * peak
    with pytest.raises(InvalidAudioError, match="far outside"):
        decode.prepare_array(SPEECH / 0.5 * 64.5, RATE, RATE)


def test_non_finite_samples_keep_their_own_message():
    bad = SPEECH.copy()
    bad[10] = np.nan
    bad[20] = 1e30
    with pytest.raises(InvalidAudioError, match="NaN or infinite"):
        decode.prepare_array(bad, RATE, RATE)


# -- tensors --------------------------------------------------------------------------------------
torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float8_e4m3fn"])
def test_low_precision_float_tensors_become_float32(dtype):
    if not hasattr(torch, dtype):
        pytest.skip(f"this torch has no {dtype}")
    tensor = torch.from_numpy(SPEECH).to(getattr(torch, dtype)).requires_grad_(dtype != "float8_e4m3fn")
    out = decode.prepare_array(tensor, RATE, RATE)
    assert out.dtype == np.float32 and out.shape == (RATE,)
    # bfloat16 keeps 8 bits of mantissa, float8 3: compare at their own precision
    assert np.allclose(out, SPEECH, atol={"bfloat16": 4e-3, "float16": 1e-3, "float8_e4m3fn": 0.04}[dtype])
    assert decode.to_float32(tensor).dtype == np.float32


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
def test_quantized_tensors_are_dequantized():
    if not hasattr(torch, "quantize_per_tensor"):
        pytest.skip("this torch has no quantized tensors")
    tensor = torch.quantize_per_tensor(torch.from_numpy(SPEECH), 1 / 127, 0, torch.qint8)
    assert np.allclose(decode.prepare_array(tensor, RATE, RATE), SPEECH, atol=1 / 127)


def _bad_tensor(kind: str):
    dense = torch.from_numpy(SPEECH)
    make = {
        "meta": lambda: (torch.empty(RATE, device="meta"), "meta tensor"),
        "sparse-coo": lambda: (dense.to_sparse(), "sparse tensor"),
        "sparse-csr": lambda: (dense.reshape(1, -1).to_sparse_csr(), "sparse tensor"),
        "nested": lambda: (torch.nested.nested_tensor([dense, dense[:100]]), "nested tensor"),
        "nested-jagged": lambda: (
            torch.nested.nested_tensor([dense, dense[:100]], layout=torch.jagged),
            "nested tensor",
        ),
        "complex": lambda: (torch.complex(dense, dense), "complex samples"),
        "huge": lambda: (dense * 1e30, "far outside"),
    }
    return make[kind]()


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: sparse CSR and nested tensors are beta / prototype
@pytest.mark.parametrize("kind", ["meta", "sparse-coo", "sparse-csr", "nested", "nested-jagged", "complex", "huge"])
def test_unusable_tensors_are_refused_as_invalid_audio(kind):
    tensor, message = _bad_tensor(kind)
    with pytest.raises(InvalidAudioError, match=message):
        decode.prepare_array(tensor, RATE, RATE)
    with pytest.raises(InvalidAudioError, match=message):
        decode.to_float32(tensor)


@pytest.fixture(scope="module")
def detector():
    from wavguard.detector import build_baseline_detector

    return build_baseline_detector(seed=0, window_seconds=1.0)


def test_detector_predict_takes_bfloat16_and_refuses_meta(detector):
    tensor = torch.from_numpy(SPEECH)
    expected = detector.predict(tensor, sample_rate=RATE).score
    got = detector.predict(tensor.bfloat16(), sample_rate=RATE).score
    assert abs(got - expected) < 0.05  # the bfloat16 rounding of the samples, not another code path
    with pytest.raises(InvalidAudioError, match="meta tensor"):
        detector.predict(torch.empty(RATE, device="meta"), sample_rate=RATE)
    results = detector.predict([tensor, tensor.to_sparse()], sample_rate=RATE, on_error="return")
    assert results[0].ok and isinstance(results[1].error, InvalidAudioError) and "sparse" in str(results[1].error)
