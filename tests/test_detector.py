import copy
import math
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import torch

from wavguard import (
    AudioDecodeError,
    AudioFileNotFoundError,
    AudioTooShortError,
    ConfigError,
    Detector,
    DetectorConfig,
    EmptyAudioError,
    InvalidAudioError,
    ModelLoadError,
    Prediction,
    SilentAudioError,
)
from wavguard.audio.windows import aggregate_logits, window_spans
from wavguard.testing import TINY_MODEL_TYPES, chirp, sine, tiny_backbone_dir, tiny_detector


def test_predict_file_gives_probability_label_and_segments(w2v_detector, audio_files):
    pred = w2v_detector.predict(audio_files["wav"])
    assert isinstance(pred, Prediction) and pred.ok
    assert 0.0 <= pred.score <= 1.0
    assert pred.label == ("fake" if pred.score >= w2v_detector.config.threshold else "real")
    assert pred.duration_seconds == pytest.approx(2.5)
    assert [(s.start_seconds, s.end_seconds) for s in pred.segments] == [(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]


def test_score_is_calibrated_mean_of_window_logits(w2v_detector):
    wave = chirp(2.5)
    spans = window_spans(wave.shape[0], 16000, 16000)
    logits = np.stack([w2v_detector.score_windows([wave[s:e]])[0] for s, e in spans])
    margin = aggregate_logits(logits)[1] - aggregate_logits(logits)[0]
    pred = w2v_detector.predict(wave, sample_rate=16000)
    assert pred.score == pytest.approx(1 / (1 + math.exp(-margin)), abs=1e-5)
    for seg, row in zip(pred.segments, logits):
        assert seg.score == pytest.approx(1 / (1 + math.exp(-(row[1] - row[0]))), abs=1e-5)


def test_partial_window_in_a_batch_equals_alone(w2v_detector):
    # float64, so the comparison checks masking, not float32 summation order (thread scheduling)
    det = copy.deepcopy(w2v_detector)
    det.model.double()
    full, partial = chirp(1.0), sine(0.37)
    both = det.score_windows([full, partial])
    np.testing.assert_allclose(both[0], det.score_windows([full])[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(both[1], det.score_windows([partial])[0], rtol=0, atol=1e-6)


def test_every_format_and_batch_equals_single(w2v_detector, audio_files):
    paths = [audio_files[k] for k in ("wav", "mp3", "flac", "ogg")]
    batch = w2v_detector.predict(paths, batch_size=3)
    singles = [w2v_detector.predict(p, batch_size=1) for p in paths]
    assert [p.source for p in batch] == [str(p) for p in paths]
    for b, s in zip(batch, singles):
        assert b.score == pytest.approx(s.score, abs=1e-5)
    assert batch[2].duration_seconds == pytest.approx(3.0)  # the 44.1 kHz stereo flac


def test_file_equals_array_and_torch_input(w2v_detector, audio_files):
    samples, rate = sf.read(audio_files["flac"], dtype="float32")  # stereo 44.1 kHz
    from_file = w2v_detector.predict(audio_files["flac"]).score
    from_numpy = w2v_detector.predict(samples, sample_rate=rate).score
    from_torch = w2v_detector.predict(torch.from_numpy(samples.T.copy()), sample_rate=rate).score
    assert from_numpy == pytest.approx(from_file, abs=1e-3)
    assert from_torch == pytest.approx(from_numpy, abs=1e-6)


@pytest.mark.parametrize("aggregation", ["max", "topk"])
def test_other_aggregations(audio_files, aggregation):
    det = tiny_detector("wav2vec2", window_seconds=0.5, aggregation=aggregation, top_k=2)
    pred = det.predict(audio_files["wav"])
    scores = sorted((s.score for s in pred.segments), reverse=True)
    if aggregation == "max":
        assert pred.score == pytest.approx(scores[0], abs=1e-6)
    else:
        assert scores[1] - 1e-6 <= pred.score <= scores[0] + 1e-6


def _peak_bytes_scoring(det, path):
    tracemalloc.start()
    pred = det.predict(path, batch_size=8)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return pred, peak


def test_long_file_memory_stays_flat(tmp_path):
    det = tiny_detector("wav2vec2", window_seconds=1.0, head_channels=(4,))
    rng = np.random.default_rng(0)
    paths = {}
    for minutes in (1, 4):
        paths[minutes] = tmp_path / f"{minutes}min.wav"
        with sf.SoundFile(paths[minutes], "w", 16000, 1, subtype="PCM_16") as f:
            for _ in range(60 * minutes):  # written block by block
                f.write(0.1 * rng.standard_normal(16000))
    short_pred, short_peak = _peak_bytes_scoring(det, paths[1])
    long_pred, long_peak = _peak_bytes_scoring(det, paths[4])
    assert len(short_pred.segments) == 60 and len(long_pred.segments) == 240
    decoded_bytes = 240 * 16000 * 4
    assert long_peak < 1.25 * short_peak, (short_peak, long_peak)  # flat in the file's length
    assert long_peak < decoded_bytes / 4


@pytest.mark.parametrize("model_type", TINY_MODEL_TYPES)
def test_save_load_round_trip_gives_identical_predictions(model_type, tmp_path, audio_files):
    det = tiny_detector(model_type, window_seconds=1.0, threshold=0.42)
    out = det.save_pretrained(tmp_path / "det")
    assert {p.name for p in out.iterdir()} == {
        "config.json",
        "model.safetensors",
        "backbone",
        "preprocessor_config.json",
    }
    loaded = Detector.from_pretrained(out)
    assert loaded.config == det.config
    paths = [audio_files["wav"], audio_files["flac"]]
    for a, b in zip(det.predict(paths), loaded.predict(paths)):
        assert a.score == pytest.approx(b.score, abs=1e-6)
        assert b.threshold == 0.42


def test_pretrained_backbone_is_referenced_not_copied(tmp_path, audio_files):
    backbone_dir = tiny_backbone_dir("hubert", tmp_path / "hubert")
    det = Detector.from_backbone(str(backbone_dir), seed=3, window_seconds=1.0, num_layers=1, head_channels=(8,))
    assert det.backbone_is_reference and det.config.num_layers == 1
    out = det.save_pretrained(tmp_path / "det")
    assert not (out / "backbone").exists()
    loaded = Detector.from_pretrained(out)
    assert loaded.model.backbone.num_layers == 1
    assert loaded.predict(audio_files["wav"]).score == pytest.approx(det.predict(audio_files["wav"]).score, abs=1e-6)
    bundled = det.save_pretrained(tmp_path / "bundle", bundle_backbone=True)
    assert (bundled / "backbone" / "config.json").is_file()
    again = Detector.from_pretrained(bundled)
    assert again.predict(audio_files["wav"]).score == pytest.approx(det.predict(audio_files["wav"]).score, abs=1e-6)


def test_load_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        Detector.from_pretrained(tmp_path)
    det = tiny_detector("wav2vec2")
    out = det.save_pretrained(tmp_path / "det")
    (out / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="no model.safetensors"):
        Detector.from_pretrained(out)


def test_config_validation_messages():
    with pytest.raises(ConfigError, match="hop_seconds"):
        DetectorConfig(window_seconds=1.0, hop_seconds=2.0)
    with pytest.raises(ConfigError, match="threshold"):
        DetectorConfig(threshold=1.5)
    with pytest.raises(ConfigError, match="freeze"):
        DetectorConfig(freeze="some")
    data = DetectorConfig().to_dict()
    data["from_the_future"] = 1
    assert DetectorConfig.from_dict(data) == DetectorConfig()


def test_every_bad_input_names_the_input(w2v_detector, tmp_path, audio_files):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "text.mp3"
    text.write_text("not audio" * 50)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(32000), 16000)
    short = tmp_path / "short.wav"
    sf.write(short, sine(0.001), 16000)  # 16 samples < the tiny backbone's 60-sample receptive field
    nan = sine(1.0)
    nan[5] = np.inf
    cases = [
        (tmp_path / "missing.wav", AudioFileNotFoundError),
        (tmp_path, AudioFileNotFoundError),
        (empty, EmptyAudioError),
        (text, AudioDecodeError),
        (silent, SilentAudioError),
        (short, AudioTooShortError),
    ]
    for source, error in cases:
        with pytest.raises(error, match=str(source).replace("\\", "\\\\")):
            w2v_detector.predict(source)
    with pytest.raises(InvalidAudioError, match="NaN or infinite"):
        w2v_detector.predict(nan, sample_rate=16000)
    with pytest.raises(InvalidAudioError, match="shape"):
        w2v_detector.predict(np.zeros((2, 2, 100)), sample_rate=16000)


def test_one_bad_file_does_not_lose_the_others(w2v_detector, tmp_path, audio_files):
    missing = tmp_path / "missing.wav"
    inputs = [audio_files["wav"], missing, audio_files["ogg"]]
    returned = w2v_detector.predict(inputs, on_error="return")
    assert [p.label != "error" for p in returned] == [True, False, True]
    assert isinstance(returned[1].error, AudioFileNotFoundError) and math.isnan(returned[1].score)
    assert returned[1].to_dict()["score"] is None
    skipped = w2v_detector.predict(inputs, on_error="skip")
    assert [p.source for p in skipped] == [str(audio_files["wav"]), str(audio_files["ogg"])]
    assert skipped[0].score == pytest.approx(returned[0].score)
    with pytest.raises(AudioFileNotFoundError):
        w2v_detector.predict(inputs, on_error="raise")
    with pytest.raises(ConfigError):
        w2v_detector.predict(inputs, on_error="ignore")


def test_threshold_and_calibration(w2v_detector, audio_files):
    pred = w2v_detector.predict(audio_files["wav"], threshold=0.0)
    assert pred.label == "fake" and pred.threshold == 0.0
    assert w2v_detector.predict(audio_files["wav"], threshold=1.0).label == "real" or pred.score == 1.0
    logits = np.array([[0.0, 2.0], [1.0, 0.0]])
    np.testing.assert_allclose(w2v_detector.calibrate(logits), [1 / (1 + math.exp(-2)), 1 / (1 + math.exp(1))])
    with pytest.raises(ConfigError):
        w2v_detector.predict(audio_files["wav"], threshold=2.0)


def test_saved_files_have_ordinary_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        out = tiny_detector("wav2vec2").save_pretrained(tmp_path / "det")
    finally:
        os.umask(umask)
    for name in ("config.json", "model.safetensors"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644
