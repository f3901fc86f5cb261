import json
import warnings

import numpy as np
import pytest

from wavguard import Detector
from wavguard.export.onnx import export_onnx
from wavguard.export.quantize import QuantizationCheckError
from wavguard.testing import chirp, tiny_detector


@pytest.fixture(scope="module")
def w2v(tmp_path_factory):
    det = tiny_detector("wav2vec2", window_seconds=1.0)
    root = tmp_path_factory.mktemp("onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the unchecked dynamic int8 warns; tested below
        int8 = export_onnx(det, root / "int8", quantize="int8")
    return det, export_onnx(det, root / "fp32"), int8


def _clips():
    rng = np.random.default_rng(0)
    return [
        chirp(2.3) + 0.05 * rng.standard_normal(36800).astype(np.float32),
        0.2 * rng.standard_normal(9000).astype(np.float32),
    ]


def test_fp32_onnx_scores_equal_pytorch(w2v):
    det, fp32_dir, _ = w2v
    onnx_det = Detector.from_pretrained(fp32_dir)  # the generic loader recognises an ONNX directory
    assert onnx_det.backend_name in ("onnx", "onnx-int8")
    assert json.loads((fp32_dir / "onnx.json").read_text())["quantization"] == "fp32"
    for clip in _clips():
        ref, got = det.predict(clip, sample_rate=16000), onnx_det.predict(clip, sample_rate=16000)
        assert got.score == pytest.approx(ref.score, abs=1e-4)
        for a, b in zip(ref.segments, got.segments):
            assert b.score == pytest.approx(a.score, abs=1e-4)
    scorer = onnx_det.stream(sample_rate=16000)
    scorer.push(_clips()[0])
    assert scorer.close().score == pytest.approx(det.predict(_clips()[0], sample_rate=16000).score, abs=1e-4)


def test_onnx_scores_a_clip_whose_last_window_is_shorter_than_the_graph_accepts(w2v):
    det, fp32_dir, _ = w2v
    onnx_det = Detector.from_pretrained(fp32_dir)
    assert det.model.min_samples < 400 == onnx_det.backend.min_samples
    clip = _clips()[0][: 2 * 16000 + 69]  # two 1 s windows and 69 samples
    got, ref = onnx_det.predict(clip, sample_rate=16000), det.predict(clip, sample_rate=16000)
    assert [(s.start_seconds, s.end_seconds) for s in got.segments] == [
        (0.0, 1.0),
        (1.0, 2.0),
        ((32069 - 400) / 16000, 32069 / 16000),
    ]
    for a, b in zip(ref.segments[:2], got.segments[:2]):
        assert b.score == pytest.approx(a.score, abs=1e-4)


def test_int8_is_smaller_and_close(w2v):
    det, fp32_dir, int8_dir = w2v
    assert (int8_dir / "model.onnx").stat().st_size < (fp32_dir / "model.onnx").stat().st_size
    int8 = Detector.from_pretrained(int8_dir)
    for clip in _clips():
        assert int8.predict(clip, sample_rate=16000).score == pytest.approx(
            det.predict(clip, sample_rate=16000).score, abs=0.05
        )


def test_int8_without_data_is_dynamic_and_warns_that_it_is_unchecked(w2v, tmp_path):
    det, _, int8_dir = w2v
    meta = json.loads((int8_dir / "onnx.json").read_text())
    assert (meta["quantization"], meta["int8_method"], meta["quantization_check"]) == ("int8", "dynamic", None)
    checked = export_onnx(det, tmp_path / "checked", quantize="int8", check_data=_clips())  # dynamic, checked
    meta = json.loads((checked / "onnx.json").read_text())
    assert meta["int8_method"] == "dynamic" and meta["quantization_check"]["passed"]
    with pytest.warns(UserWarning, match="not checked against fp32"):
        export_onnx(det, tmp_path / "again", quantize="int8")


def test_static_int8_calibrates_checks_and_records_the_check(w2v, tmp_path):
    det, _, _ = w2v
    clips = _clips()
    out = export_onnx(det, tmp_path / "static", quantize="int8", calibration_data=clips, int8_method="static")
    meta = json.loads((out / "onnx.json").read_text())
    assert meta["int8_method"] == "static"
    check = meta["quantization_check"]
    assert check["passed"] and check["clips"] == 2 and not check["labelled"]
    assert 0 < check["max_score_change"] <= 0.2
    int8 = Detector.from_pretrained(out)
    for clip in clips:
        assert int8.predict(clip, sample_rate=16000).score == pytest.approx(
            det.predict(clip, sample_rate=16000).score, abs=0.05
        )
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "model.onnx",
        "onnx.json",
    ]  # no temporary graphs left


def test_a_failed_int8_check_writes_no_model_unless_forced(w2v, tmp_path):
    det, _, _ = w2v
    with pytest.raises(QuantizationCheckError, match="moved by .* more than 1e-09.*not written"):
        export_onnx(det, tmp_path / "refused", quantize="int8", calibration_data=_clips(), max_score_change=1e-9)
    assert list((tmp_path / "refused").iterdir()) == []
    with pytest.warns(UserWarning, match="written anyway"):
        out = export_onnx(
            det, tmp_path / "forced", quantize="int8", calibration_data=_clips(), max_score_change=1e-9, force=True
        )
    check = json.loads((out / "onnx.json").read_text())["quantization_check"]
    assert not check["passed"] and "more than 1e-09" in check["reason"]


def test_static_int8_needs_calibration_data(w2v, tmp_path):
    from wavguard.errors import ConfigError

    with pytest.raises(ConfigError, match="needs calibration_data"):
        export_onnx(w2v[0], tmp_path / "x", quantize="int8", int8_method="static")


def test_whisper_detector_exports(tmp_path):
    det = tiny_detector("whisper", window_seconds=1.0)
    onnx_det = Detector.from_pretrained(export_onnx(det, tmp_path / "w"))
    clip = _clips()[0]
    assert onnx_det.predict(clip, sample_rate=16000).score == pytest.approx(
        det.predict(clip, sample_rate=16000).score, abs=1e-4
    )


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


def test_export_cli_int8_checks_on_labelled_data_and_refuses_when_the_eer_rises(w2v, tmp_path, capsys):
    import soundfile as sf

    from wavguard.cli import main

    det, _, _ = w2v
    model_dir = det.save_pretrained(tmp_path / "det")
    rng = np.random.default_rng(1)
    for label in ("real", "fake"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(3):
            noise = (0.3 if label == "fake" else 0.01) * rng.standard_normal(20000).astype(np.float32)
            sf.write(tmp_path / "data" / label / f"{i}.wav", chirp(1.25, f0_hz=100 + 40 * i) + noise, 16000)
    args = ["export", str(model_dir), "--quantize", "int8", "--calibration-data", str(tmp_path / "data")]
    assert main([*args, "-o", str(tmp_path / "ok"), "--json"]) == 0
    check = json.loads(capsys.readouterr().out)["check"]
    assert check["labelled"] and check["clips"] == 6 and check["passed"]
    assert check["eer_int8"] <= check["eer_fp32"] + 0.005
    # an allowed EER increase below zero cannot be met: the CLI refuses with the check's numbers
    assert main([*args, "-o", str(tmp_path / "no"), "--max-eer-increase", "-100"]) != 0
    err = capsys.readouterr().err
    assert "EER rose by" in err and "not written" in err
    assert not (tmp_path / "no" / "model.onnx").exists()


def test_predict_scores_with_the_folders_checked_int8_graph_by_default(w2v, tmp_path, capsys):
    import soundfile as sf

    from wavguard.cli import main
    from wavguard.layout import FAST_PATH_DIR

    det, _, _ = w2v
    model_dir = det.save_pretrained(tmp_path / "det")
    fast = export_onnx(det, model_dir / FAST_PATH_DIR, quantize="int8", check_data=_clips())
    wav = tmp_path / "clip.wav"
    sf.write(wav, _clips()[0], 16000)
    int8_score = Detector.from_pretrained(fast).predict(wav).score
    torch_score = Detector.from_pretrained(model_dir, backend="torch").predict(wav).score
    assert int8_score != torch_score  # int8 moves the score a little: the two paths can be told apart

    def scored(*extra):
        assert main(["predict", str(model_dir), "--data", str(wav), "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)["score"]

    assert scored() == pytest.approx(int8_score, abs=1e-9)
    assert Detector.from_pretrained(model_dir).predict(wav).score == pytest.approx(int8_score, abs=1e-9)
    assert scored("--backend", "torch") == pytest.approx(torch_score, abs=1e-9)
    meta = json.loads((fast / "onnx.json").read_text())
    meta["quantization_check"]["passed"] = False  # a graph whose check failed is never used by default
    (fast / "onnx.json").write_text(json.dumps(meta))
    assert scored() == pytest.approx(torch_score, abs=1e-9)
    assert Detector.from_pretrained(model_dir).backend_name == "torch"  # the same rule in Python (wavguard.loading)
