import json
import subprocess
import sys

import pytest

from wavguard import Detector
from wavguard.cli import main


@pytest.fixture(scope="module")
def model_dir(w2v_detector, tmp_path_factory):
    return w2v_detector.save_pretrained(tmp_path_factory.mktemp("model") / "det")


def test_predict_prints_score_label_path(model_dir, audio_files, capsys):
    assert main(["predict", str(model_dir), "--data", str(audio_files["wav"]), str(audio_files["mp3"])]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    expected = Detector.from_pretrained(model_dir).predict([audio_files["wav"], audio_files["mp3"]])
    assert len(lines) == 2
    for line, pred in zip(lines, expected):
        score, label, path = line.split("\t")
        assert float(score) == pytest.approx(pred.score, abs=1e-4)
        assert label == pred.label and path == pred.source


def test_predict_json_and_threshold(model_dir, audio_files, capsys):
    assert main(["predict", str(model_dir), "--data", str(audio_files["flac"]), "--json", "--threshold", "0"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["label"] == "fake" and record["threshold"] == 0.0
    assert len(record["segments"]) == 3 and record["segments"][-1]["end_seconds"] == pytest.approx(3.0)


def test_bad_files_go_to_stderr_and_good_ones_still_print(model_dir, audio_files, tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_text("garbage" * 30)
    code = main(["predict", str(model_dir), "--data", str(bad), str(audio_files["ogg"]), str(tmp_path / "gone.flac")])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.count("\n") == 1 and str(audio_files["ogg"]) in out
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 2
    assert "broken.wav: cannot be decoded as audio" in err_lines[0]
    assert "gone.flac: no such file" in err_lines[1]


def test_missing_model_is_one_clear_line(tmp_path, audio_files, capsys):
    assert main(["predict", str(tmp_path), "--data", str(audio_files["wav"])]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"wavguard: error: {tmp_path}: not a wavguard detector folder (no config.json, model.onnx or ensemble.json)"
    )


def test_console_script_runs(model_dir, audio_files):
    out = subprocess.run(
        [sys.executable, "-m", "wavguard.cli", "predict", str(model_dir), "--data", str(audio_files["wav"])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().endswith(str(audio_files["wav"]))
    assert subprocess.run(
        [sys.executable, "-m", "wavguard.cli", "--version"], capture_output=True, text=True
    ).stdout.startswith("wavguard ")
