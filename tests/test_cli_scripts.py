"""The CLI in scripts (issue 26, item 5): -v/-q on either side of the command, and a bad option
shows the subcommand's usage."""

import logging
import warnings

import pytest

from wavguard.cli import main


@pytest.fixture(scope="module")
def model_dir(w2v_detector, tmp_path_factory):
    return w2v_detector.save_pretrained(tmp_path_factory.mktemp("model") / "det")


@pytest.fixture
def noisy_loader(monkeypatch):
    """load_scorer that also emits a Python warning and a wavguard log warning, like a real load can."""
    import wavguard.cli._args as cli_args

    real = cli_args.load_scorer

    def load(args, model, **kwargs):
        warnings.warn("a library warning", UserWarning)
        logging.getLogger("wavguard.loading").warning("a logged warning")
        return real(args, model, **kwargs)

    monkeypatch.setattr(cli_args, "load_scorer", load)


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_drops_warnings_and_logs(model_dir, audio_files, noisy_loader, where, caplog, capsys):
    argv = ["predict", str(model_dir), "--data", str(audio_files["wav"])]
    argv = ["-q", *argv] if where == "before" else [*argv, "-q"]
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        assert main(argv) == 0
    assert not caught and not [r for r in caplog.records if r.levelno < logging.ERROR]
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and not err
    assert logging.getLogger("wavguard").level == logging.NOTSET  # restored for in-process callers


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
    assert main(argv[len(before):len(argv) - len(after)]) == 0
    assert "scoring with backend" not in caplog.text


def test_verbose_and_quiet_together_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["-v", "predict", "M", "--data", "x.wav", "-q"])
    assert info.value.code == 2 and "-q/--quiet" in capsys.readouterr().err


# -- a bad option shows the subcommand's usage ---------------------------------------------------
@pytest.mark.parametrize("argv, command", [
    (["predict", "M", "--data", "x.wav", "--bogus"], "predict"),
    (["train", "custom_folder", "--bogus", "epochs=1"], "train"),
    (["-q", "export", "M", "-o", "OUT", "--bogus"], "export"),
    (["predict", "M", "--data", "x.wav", "--backend", "gpu"], "predict"),
])
def test_a_bad_option_prints_the_subcommands_usage(argv, command, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith(f"usage: wavguard {command} ") and f"wavguard {command}: error:" in err
    assert "COMMAND" not in err  # not the top-level usage
