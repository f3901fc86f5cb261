import json

import numpy as np
import pytest

from wavguard import Detector
from wavguard.export import export_onnx
from wavguard.onnx_detector import OnnxDetector
from wavguard.testing import chirp, tiny_detector


@pytest.fixture(scope="module")
def w2v(tmp_path_factory):
    det = tiny_detector("wav2vec2", window_seconds=1.0)
    root = tmp_path_factory.mktemp("onnx")
    return det, export_onnx(det, root / "fp32"), export_onnx(det, root / "int8", quantize="int8")


def _clips():
    rng = np.random.default_rng(0)
    return [chirp(2.3) + 0.05 * rng.standard_normal(36800).astype(np.float32), 0.2 * rng.standard_normal(9000).astype(np.float32)]


def test_fp32_onnx_scores_equal_pytorch(w2v):
    det, fp32_dir, _ = w2v
    onnx_det = Detector.from_pretrained(fp32_dir)  # the generic loader recognises an ONNX directory
    assert isinstance(onnx_det, OnnxDetector)
    assert json.loads((fp32_dir / "onnx.json").read_text())["quantization"] == "fp32"
    for clip in _clips():
        ref, got = det.predict(clip, sample_rate=16000), onnx_det.predict(clip, sample_rate=16000)
        assert got.score == pytest.approx(ref.score, abs=1e-4)
        for a, b in zip(ref.segments, got.segments):
            assert b.score == pytest.approx(a.score, abs=1e-4)
    scorer = onnx_det.stream(sample_rate=16000)
    scorer.push(_clips()[0])
    assert scorer.close().score == pytest.approx(det.predict(_clips()[0], sample_rate=16000).score, abs=1e-4)


def test_int8_is_smaller_and_close(w2v):
    det, fp32_dir, int8_dir = w2v
    assert (int8_dir / "model.onnx").stat().st_size < (fp32_dir / "model.onnx").stat().st_size
    int8 = OnnxDetector.from_pretrained(int8_dir)
    for clip in _clips():
        assert int8.predict(clip, sample_rate=16000).score == pytest.approx(det.predict(clip, sample_rate=16000).score, abs=0.05)


def test_whisper_detector_exports(tmp_path):
    det = tiny_detector("whisper", window_seconds=1.0)
    onnx_det = OnnxDetector.from_pretrained(export_onnx(det, tmp_path / "w"))
    clip = _clips()[0]
    assert onnx_det.predict(clip, sample_rate=16000).score == pytest.approx(det.predict(clip, sample_rate=16000).score, abs=1e-4)


def test_export_cli(w2v, tmp_path, capsys):
    from wavguard.cli import main

    det, _, _ = w2v
    model_dir = det.save_pretrained(tmp_path / "det")
    assert main(["export", str(model_dir), "-o", str(tmp_path / "onnx")]) == 0
    assert "model.onnx" in capsys.readouterr().out
    wav = tmp_path / "clip.wav"
    import soundfile as sf

    sf.write(wav, _clips()[0], 16000)
    assert main(["predict", str(tmp_path / "onnx"), "--data", str(wav)]) == 0
    score = float(capsys.readouterr().out.split("\t")[0])
    assert score == pytest.approx(det.predict(wav).score, abs=1e-4)
