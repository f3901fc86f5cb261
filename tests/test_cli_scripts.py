"""The CLI in scripts (issue 26, item 5): predict takes folders and globs, -v/-q on either side of
the command, --json reports failures as JSON lines, progress bars stay out of redirected logs, and a
bad option shows the subcommand's usage."""

import json
import logging
import shutil
import subprocess
import sys
import warnings

import pytest

from wavguard.cli import main


@pytest.fixture(scope="module")
def model_dir(w2v_detector, tmp_path_factory):
    return w2v_detector.save_pretrained(tmp_path_factory.mktemp("model") / "det")


@pytest.fixture
def tree(audio_files, tmp_path):
    """clips/a.wav, clips/sub/b.flac, clips/sub/deeper/c.ogg, clips/notes.txt, clips/._a.wav (macOS metadata)."""
    root = tmp_path / "clips"
    (root / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(audio_files["wav"], root / "a.wav")
    shutil.copy(audio_files["flac"], root / "sub" / "b.FLAC")  # extensions match in any case
    shutil.copy(audio_files["ogg"], root / "sub" / "deeper" / "c.ogg")
    (root / "notes.txt").write_text("not audio")
    (root / "._a.wav").write_bytes(b"\0" * 64)
    return root


def _sources(out):
    return [line.split("\t")[2] for line in out.splitlines()]


# -- predict: folders and globs ---------------------------------------------------------------
def test_predict_scores_every_audio_file_under_a_folder(model_dir, tree, capsys):
    assert main(["predict", str(model_dir), "--data", str(tree)]) == 0
    out, err = capsys.readouterr()
    assert _sources(out) == [str(tree / "a.wav"), str(tree / "sub" / "b.FLAC"), str(tree / "sub" / "deeper" / "c.ogg")]
    assert not err


def test_predict_expands_glob_patterns(model_dir, tree, capsys):
    assert main(["predict", str(model_dir), "--data", str(tree / "**" / "*.ogg"), str(tree / "*.wav")]) == 0
    assert _sources(capsys.readouterr().out) == [str(tree / "sub" / "deeper" / "c.ogg"), str(tree / "a.wav")]
    assert main(["predict", str(model_dir), "--data", str(tree / "s*")]) == 0  # a matched folder is expanded too
    assert _sources(capsys.readouterr().out) == [str(tree / "sub" / "b.FLAC"), str(tree / "sub" / "deeper" / "c.ogg")]


def test_a_folder_or_pattern_without_audio_is_an_error_and_the_rest_is_scored(model_dir, tree, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["predict", str(model_dir), "--data", str(empty), str(tree / "*.mp3"), str(tree / "a.wav")])
    out, err = capsys.readouterr()
    assert code == 1 and _sources(out) == [str(tree / "a.wav")]
    assert err.splitlines() == [
        f"wavguard: error: {empty}: a folder without audio files (.wav, .flac, .ogg, .mp3)",
        f"wavguard: error: {tree / '*.mp3'}: a pattern that matches no audio files (.wav, .flac, .ogg, .mp3)",
    ]


def test_an_existing_file_is_taken_literally_even_with_glob_characters(model_dir, audio_files, tmp_path, capsys):
    odd = tmp_path / "take[1].wav"
    shutil.copy(audio_files["wav"], odd)
    assert main(["predict", str(model_dir), "--data", str(odd)]) == 0
    assert _sources(capsys.readouterr().out) == [str(odd)]


# -- predict --json: failures as JSON lines -----------------------------------------------------
def test_json_reports_failed_files_on_stdout(model_dir, tree, tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_text("garbage" * 30)
    empty = tmp_path / "empty"
    empty.mkdir()
    data = [str(bad), str(tree / "a.wav"), str(tmp_path / "gone.flac"), str(empty)]
    assert main(["predict", str(model_dir), "--data", *data, "--json"]) == 1
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert not err
    assert [r["source"] for r in records] == data  # input order, failures in their place
    ok = records[1]
    assert ok["error"] is None and 0.0 <= ok["score"] <= 1.0 and ok["segments"]
    for record, message in zip(
        [records[0], records[2], records[3]],
        ["cannot be decoded as audio", "no such file", "a folder without audio files"],
    ):
        assert message in record["error"] and record["source"] in record["error"]
        assert record["score"] is None and record["label"] == "error" and record["segments"] == []
        assert record["threshold"] == ok["threshold"]


# -- -v / -q on either side of the command ------------------------------------------------------
@pytest.fixture
def noisy_loader(monkeypatch):
    """load_scorer that also emits a Python warning and a wavguard log warning, like a real load can."""
    import wavguard.cli._args as cli_args

    real = cli_args.load_scorer

    def load(args, model, **kwargs):
        warnings.warn("a library warning", UserWarning, stacklevel=2)
        logging.getLogger("wavguard.loading").warning("a logged warning")
        return real(args, model, **kwargs)

    monkeypatch.setattr(cli_args, "load_scorer", load)


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_drops_warnings_and_logs(model_dir, audio_files, noisy_loader, where, caplog, capsys):
    argv = ["predict", str(model_dir), "--data", str(audio_files["wav"])]
    argv = ["-q", *argv] if where == "before" else [*argv, "-q"]
    level = logging.getLogger("wavguard").level
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        assert main(argv) == 0
    assert not caught and not [r for r in caplog.records if r.levelno < logging.ERROR]
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and not err
    assert logging.getLogger("wavguard").level == level  # restored for in-process callers


def test_without_quiet_the_warnings_show(model_dir, audio_files, noisy_loader, caplog, capsys):
    with pytest.warns(UserWarning, match="a library warning"), caplog.at_level(logging.WARNING):
        assert main(["predict", str(model_dir), "--data", str(audio_files["wav"])]) == 0
    assert "a logged warning" in caplog.text


@pytest.mark.parametrize("before, after", [(["-v"], []), ([], ["-v"]), ([], ["--verbose"])])
def test_verbose_on_either_side(model_dir, audio_files, before, after, caplog, capsys):
    argv = [*before, "predict", str(model_dir), "--data", str(audio_files["wav"]), *after]
    assert main(argv) == 0  # no caplog.at_level: -v itself turns wavguard's INFO logs on
    assert f"{model_dir}: scoring with backend torch" in caplog.text
    caplog.clear()
    assert main(argv[len(before) : len(argv) - len(after)]) == 0
    assert "scoring with backend" not in caplog.text


def test_verbose_and_quiet_together_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["-v", "predict", "M", "--data", "x.wav", "-q"])
    assert info.value.code == 2 and "-q/--quiet" in capsys.readouterr().err


# -- a bad option shows the subcommand's usage ---------------------------------------------------
@pytest.mark.parametrize(
    "argv, command",
    [
        (["predict", "M", "--data", "x.wav", "--bogus"], "predict"),
        (["train", "custom_folder", "--bogus", "epochs=1"], "train"),
        (["-q", "export", "M", "-o", "OUT", "--bogus"], "export"),
        (["predict", "M", "--data", "x.wav", "--backend", "gpu"], "predict"),
    ],
)
def test_a_bad_option_prints_the_subcommands_usage(argv, command, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith(f"usage: wavguard {command} ") and f"wavguard {command}: error:" in err
    assert "COMMAND" not in err  # not the top-level usage


# -- progress bars stay out of redirected output ---------------------------------------------------
def test_a_redirected_run_writes_no_bars(model_dir, tree, tmp_path):
    """The real console: stderr to a file, no --progress -> no tqdm bar, no carriage returns."""
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:
        code = subprocess.run(
            [sys.executable, "-m", "wavguard.cli", "predict", str(model_dir), "--data", str(tree)],
            stdout=subprocess.PIPE,
            stderr=fh,
            text=True,
            timeout=300,
        ).returncode
    text = log.read_text()
    assert code == 0 and "%|" not in text and "\r" not in text
