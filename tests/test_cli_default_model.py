"""The CLI with no model named: `wavguard predict clip.wav`, `serve`, `demo` and `info` use the built-in
detector; `predict`'s grammar tells a model from audio. The built-in folder is a tiny detector here
(tests/test_builtin_detector.py loads the real one)."""

from __future__ import annotations

import json

import pytest

from wavguard import Detector, loading
from wavguard.cli import build_parser, main
from wavguard.layout import DEFAULT_DETECTOR
from wavguard.testing import tiny_detector


@pytest.fixture(scope="module")
def builtin_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("detectors")
    folder = tiny_detector("wav2vec2", window_seconds=1.0).save_pretrained(
        root / loading.BUILTIN_DETECTORS[DEFAULT_DETECTOR]
    )
    (folder / "README.md").write_text("# tiny built-in\n\nA card.\n")
    return root


@pytest.fixture
def builtin(builtin_root, monkeypatch):
    monkeypatch.setattr(loading, "BUILTIN_ROOT", builtin_root)
    return builtin_root / loading.BUILTIN_DETECTORS[DEFAULT_DETECTOR]


@pytest.fixture(scope="module")
def other_dir(tmp_path_factory):
    return tiny_detector("wav2vec2", seed=3, window_seconds=1.0).save_pretrained(tmp_path_factory.mktemp("other"))


def _scores(out: str) -> dict[str, float]:
    return {line.split("\t")[2]: float(line.split("\t")[0]) for line in out.strip().splitlines()}


def test_predict_with_no_model_scores_with_the_builtin_detector(builtin, audio_files, capsys):
    wav, mp3 = str(audio_files["wav"]), str(audio_files["mp3"])
    assert main(["predict", wav, mp3]) == 0
    got = _scores(capsys.readouterr().out)
    want = Detector.from_pretrained(builtin).predict([wav, mp3])
    assert got == {p.source: pytest.approx(p.score, abs=1e-4) for p in want}
    assert main(["predict", "--data", wav]) == 0  # the --data spelling, no model
    assert _scores(capsys.readouterr().out)[wav] == pytest.approx(got[wav], abs=1e-6)


def test_a_first_word_that_is_a_detector_is_the_model(builtin, other_dir, audio_files, capsys):
    wav = str(audio_files["wav"])
    want = Detector.from_pretrained(other_dir).predict(wav).score
    for argv in (
        ["predict", str(other_dir), wav],
        ["predict", str(other_dir), "--data", wav],
        ["predict", DEFAULT_DETECTOR, wav],
    ):
        assert main(argv) == 0, argv
        score = _scores(capsys.readouterr().out)[wav]
        expected = Detector.from_pretrained(builtin).predict(wav).score if DEFAULT_DETECTOR in argv else want
        assert score == pytest.approx(expected, abs=1e-4), argv
    assert want != pytest.approx(
        Detector.from_pretrained(builtin).predict(wav).score, abs=1e-3
    )  # the test can tell them apart


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict"], "nothing to score"),
        (["predict", "{other}"], "is a detector: name the audio to score"),
        (["predict", "{other}", "{other}", "--data", "{wav}"], "name at most one MODEL"),
        (["predict", "{other}", "{wav}", "--data", "{wav}"], "name at most one MODEL"),
    ],
)
def test_predict_grammar_errors_say_what_to_do(argv, message, other_dir, audio_files, capsys):
    argv = [a.format(other=other_dir, wav=audio_files["wav"]) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_serve_and_demo_default_to_the_builtin_detector():
    parser = build_parser()
    assert parser.parse_args(["serve"]).model == DEFAULT_DETECTOR
    assert parser.parse_args(["demo", "--port", "1"]).model == DEFAULT_DETECTOR
    assert parser.parse_args(["serve", "some/dir"]).model == "some/dir"


def test_info_prints_the_summary_and_the_card(builtin, capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"name: {DEFAULT_DETECTOR}" in out and "builtin: True" in out and "backend: torch" in out
    assert out.rstrip().endswith("A card.")
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["directory"] == str(builtin) and data["card"].startswith("# tiny built-in")
    assert data["threshold"] == Detector.from_pretrained(builtin).default_threshold
    assert main(["info", "--list"]) == 0
    assert capsys.readouterr().out.split() == [DEFAULT_DETECTOR, "(default)"]


def test_info_on_a_folder_without_a_card_says_so(other_dir, capsys):
    assert main(["info", str(other_dir)]) == 0
    assert "(no model card: README.md is not in" in capsys.readouterr().out


def test_transformers_pipeline_takes_the_builtin_path(builtin, audio_files):
    from transformers import pipeline

    import wavguard

    assert wavguard.builtin_path() == builtin
    clf = pipeline("audio-classification", model=wavguard.builtin_path())  # a Path, as the docs write it
    top = clf(str(audio_files["wav"]))[0]
    score = Detector.from_pretrained(DEFAULT_DETECTOR).predict(audio_files["wav"]).score
    assert top["score"] == pytest.approx(score if top["label"] == "fake" else 1 - score, abs=1e-4)
    with pytest.raises(wavguard.ModelLoadError, match="not a built-in detector; the built-in ones are"):
        wavguard.builtin_path("nope")


def test_a_reader_that_stops_early_gets_no_traceback():
    """`wavguard info | head -1`: the reader closes the pipe; the command ends quietly, as a process
    that SIGPIPE ended (141), instead of printing a BrokenPipeError traceback."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the command writes: every write fails, deterministically
    try:
        done = subprocess.run(
            [sys.executable, "-m", "wavguard", "info"], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141 and done.stderr == ""
