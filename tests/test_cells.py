"""wavguard.audio.cells: one reader for every kind of datasets audio cell."""

import numpy as np
import pytest
import soundfile as sf

from wavguard.audio.cells import decode_cell, read_cell
from wavguard.errors import InvalidAudioError
from wavguard.testing import chirp, tiny_detector

RATE_HZ = 16000


@pytest.fixture()
def wav(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, chirp(1.5), RATE_HZ, subtype="FLOAT")
    return path


def test_each_kind_of_cell_says_what_to_decode(wav):
    assert read_cell(str(wav)).item == str(wav)
    assert read_cell({"path": str(wav), "bytes": None}).item == str(wav)
    embedded = read_cell({"path": "clip.wav", "bytes": wav.read_bytes()})
    assert embedded.item == wav.read_bytes() and embedded.name == "clip.wav"  # bytes win over a base-name path
    array = read_cell({"array": np.zeros(5), "sampling_rate": 8000}, "row 3")
    assert (array.sample_rate_hz, array.name) == (8000, "row 3")
    assert read_cell({"raw": np.zeros(5), "sampling_rate": 8000}).sample_rate_hz == 8000  # transformers' spelling
    with pytest.raises(InvalidAudioError, match="needs its 'sampling_rate'"):
        read_cell({"array": np.zeros(5)})
    with pytest.raises(InvalidAudioError, match="got keys"):
        read_cell({"path": None, "bytes": None}, "row 7")
    with pytest.raises(InvalidAudioError, match="must be a dict, a path or an AudioDecoder"):
        read_cell(3.5)


def test_every_cell_decodes_to_the_same_samples(wav):
    expected, _ = sf.read(wav, dtype="float32")
    for cell in (
        str(wav),
        {"path": str(wav)},
        {"bytes": wav.read_bytes(), "path": "x.wav"},
        {"array": expected, "sampling_rate": RATE_HZ},
    ):
        np.testing.assert_allclose(decode_cell(cell, RATE_HZ), expected, atol=1e-6)


def test_a_datasets_audio_decoder_cell_scores_like_its_file(wav):
    """datasets 4+ gives torchcodec AudioDecoder cells for Audio(): predict and training read them."""
    datasets = pytest.importorskip("datasets")
    pytest.importorskip("torchcodec", reason="datasets decodes Audio() through torchcodec")
    from wavguard.data import decode_audio
    from wavguard.scoring.datasets import score_dataset

    ds = datasets.Dataset.from_dict({"audio": [str(wav)], "label": [1]}).cast_column("audio", datasets.Audio())
    cell = ds[0]["audio"]
    assert callable(getattr(cell, "get_all_samples", None))  # an AudioDecoder, not a dict
    det = tiny_detector("wav2vec2", window_seconds=1.0)
    by_file = det.predict(str(wav))
    by_cell = det.predict(cell)
    assert by_cell.score == pytest.approx(by_file.score, abs=1e-4)  # torchcodec and libsndfile: same float WAV
    expected, _ = sf.read(wav, dtype="float32")
    np.testing.assert_allclose(decode_audio(cell, RATE_HZ), expected, atol=1e-5)
    [row] = score_dataset(det, ds)
    assert row.error is None and row.score == pytest.approx(by_file.score, abs=1e-4)


def test_a_cell_with_nothing_to_decode_fails_its_row_only(wav):
    datasets = pytest.importorskip("datasets")
    from wavguard.scoring.datasets import score_dataset

    ds = datasets.Dataset.from_dict({"audio": [{"path": str(wav), "bytes": None}, {"path": None, "bytes": None}]})
    good, bad = score_dataset(tiny_detector("wav2vec2", window_seconds=1.0), ds)
    assert good.error is None and np.isfinite(good.score)
    assert np.isnan(bad.score) and "'audio' cell" in bad.error and "row 1" in bad.error


def test_training_and_scoring_decode_a_file_to_identical_samples(tmp_path):
    """Training decodes a whole clip (decode_cell), scoring block by block (ScoringPipeline.decode):
    the same function underneath, so the same samples, bit for bit, resampling included."""
    rng = np.random.default_rng(0)
    clip = 0.3 * np.sin(np.arange(44100 * 7) / 44100 * 2 * np.pi * 440) + 0.01 * rng.standard_normal(44100 * 7)
    path = tmp_path / "a44.wav"
    sf.write(path, clip.astype(np.float32), 44100)
    det = tiny_detector("wav2vec2", window_seconds=1.0)
    scored = np.concatenate(list(det.pipeline.decode({"path": str(path)}, None, "a44.wav")))
    np.testing.assert_array_equal(decode_cell({"path": str(path)}, RATE_HZ), scored)
