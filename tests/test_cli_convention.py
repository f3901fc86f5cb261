"""One CLI convention (positional MODEL, --data, -o/--out, --json, --progress, --device, --revision,
key=value overrides) for every subcommand, and the old spellings still working with a warning.

The library call behind each command is replaced by a recorder, so these tests check what the
command line hands to the library (fast); predict runs for real on the tiny detector.
"""

import json

import pytest

from wavguard import Detector
from wavguard.cli import main
from wavguard.errors import WavguardError


class Captured(WavguardError):
    """Raised by a recorder: the command got as far as the library call (main returns 1)."""


@pytest.fixture
def record(monkeypatch):
    """``record(target, name)`` replaces ``target.name`` by a recorder; returns the dict it fills."""

    def install(target, name):
        seen = {}

        def fake(*args, **kwargs):
            seen["args"], seen["kwargs"] = args, kwargs
            raise Captured("captured")

        monkeypatch.setattr(target, name, fake)
        return seen

    return install


def _warned(err: str) -> bool:
    return "is deprecated and will be removed in the next release" in err


@pytest.fixture(scope="module")
def model_dir(w2v_detector, tmp_path_factory):
    return w2v_detector.save_pretrained(tmp_path_factory.mktemp("model") / "det")


# -- predict: runs for real -----------------------------------------------------------------
def test_predict_old_spellings_give_the_same_lines_and_a_warning(model_dir, audio_files, capsys):
    wav, flac = str(audio_files["wav"]), str(audio_files["flac"])
    assert main(["predict", str(model_dir), "--data", wav, flac]) == 0
    new_out, new_err = capsys.readouterr()
    assert not _warned(new_err) and len(new_out.splitlines()) == 2
    for old in (["predict", wav, flac, "--model", str(model_dir)], ["predict", wav, flac, "-m", str(model_dir)],
                ["predict", str(model_dir), wav, flac]):
        assert main(old) == 0
        out, err = capsys.readouterr()
        assert out == new_out and _warned(err) and len(err.strip().splitlines()) == 1, old


def test_predict_progress_bar_on_request_only(model_dir, audio_files, capsys):
    wav = str(audio_files["wav"])
    assert main(["predict", str(model_dir), "--data", wav, "--progress"]) == 0
    assert "%|" in capsys.readouterr().err  # tqdm's bar
    assert main(["predict", str(model_dir), "--data", wav, "--no-progress"]) == 0
    assert "%|" not in capsys.readouterr().err
    assert main(["predict", str(model_dir), "--data", wav]) == 0  # stderr is not a terminal under pytest
    assert "%|" not in capsys.readouterr().err


def test_predict_usage_errors(model_dir, audio_files, capsys):
    assert main(["predict", str(model_dir)]) == 2
    assert "give them with --data" in capsys.readouterr().err
    assert main(["predict", "other", "--data", str(audio_files["wav"]), "-m", str(model_dir)]) == 2
    assert "wavguard predict MODEL --data FILE..." in capsys.readouterr().err


# -- commands that load one detector with Detector.from_pretrained ----------------------------
@pytest.mark.parametrize("argv, expected, old", [
    (["stream", "M", "--sample-rate", "8000", "--device", "cpu", "--revision", "v1"], ("M", "v1", "cpu"), False),
    (["stream", "--model", "M", "--sample-rate", "8000"], ("M", None, None), True),
    (["stream", "-m", "M", "--sample-rate", "8000"], ("M", None, None), True),
    (["serve", "M", "--device", "cpu", "--revision", "v1"], ("M", "v1", "cpu"), False),
    (["export", "M", "-o", "OUT", "--revision", "v1"], ("M", "v1", None), False),
    (["export", "M", "--out", "OUT"], ("M", None, None), False),
])
def test_model_commands_pass_model_revision_device(argv, expected, old, record, capsys):
    seen = record(Detector, "from_pretrained")
    assert main(argv) == 1
    err = capsys.readouterr().err
    args, kwargs = seen["args"], seen["kwargs"]
    assert (args[0], args[1] if len(args) > 1 else kwargs.get("revision"), kwargs.get("device")) == expected
    assert _warned(err) == old


def test_demo_takes_model_revision_device(record, monkeypatch, capsys):
    import wavguard.demo

    monkeypatch.setattr(wavguard.demo, "gradio_available", lambda: True)
    seen = record(Detector, "from_pretrained")
    assert main(["demo", "M", "--revision", "v1", "--device", "cpu"]) == 1
    assert seen["args"][:2] == ("M", "v1") and seen["kwargs"]["device"] == "cpu"


# -- evaluate / compare / audit: --data, -o, --progress -------------------------------------
@pytest.fixture
def evaluate_recorders(record, monkeypatch):
    import wavguard.cli.evaluate as cli_evaluate
    import wavguard.evaluation.evaluate as evaluation

    loaded = {}
    monkeypatch.setattr(cli_evaluate._args, "load_scorer", lambda args, name, ensembles=True: loaded.update(model=(name, args.revision, args.device)) or "MODEL")
    monkeypatch.setattr(cli_evaluate, "load_data", lambda source, split: loaded.update(data=source) or "DATA")
    return loaded, record(evaluation, "evaluate_detector")


@pytest.mark.parametrize("argv, old", [
    (["evaluate", "M", "--data", "D", "-o", "R", "--progress", "--device", "cpu", "--revision", "v1"], False),
    (["evaluate", "M", "D", "--out", "R", "--progress", "--device", "cpu", "--revision", "v1"], True),
])
def test_evaluate_new_and_old_spellings(argv, old, evaluate_recorders, capsys):
    loaded, seen = evaluate_recorders
    assert main(argv) == 1
    assert loaded == {"model": ("M", "v1", "cpu"), "data": "D"}
    assert seen["kwargs"]["progress"] is True
    assert _warned(capsys.readouterr().err) == old


def test_evaluate_without_data_is_a_usage_error(evaluate_recorders, capsys):
    assert main(["evaluate", "M", "-o", "R"]) == 2
    assert "give it with --data" in capsys.readouterr().err
    assert main(["evaluate", "M", "D", "--data", "E", "-o", "R"]) == 2
    assert "data given twice" in capsys.readouterr().err


def test_compare_passes_progress_and_revision(record, monkeypatch, capsys):
    import wavguard.cli.compare as cli_compare
    import wavguard.evaluation.ensemble as ensemble

    loads = []
    monkeypatch.setattr(cli_compare._args, "load_scorer", lambda args, name, ensembles=True: loads.append((name, args.revision, args.device)) or name)
    monkeypatch.setattr(cli_compare, "load_data", lambda source, split: "DATA")
    seen = record(ensemble, "compare_detectors")
    assert main(["compare", "A", "B", "--data", "D", "-o", "OUT", "--no-progress", "--revision", "v1", "--device", "cpu"]) == 1
    assert loads == [("A", "v1", "cpu"), ("B", "v1", "cpu")] and seen["kwargs"]["progress"] is False


@pytest.mark.parametrize("argv, old", [(["audit", "--data", "D"], False), (["audit", "D"], True)])
def test_audit_new_and_old_spellings(argv, old, record, capsys):
    import wavguard.data

    seen = record(wavguard.data, "load_any")
    assert main(argv) == 1
    assert seen["args"] == ("D",) and _warned(capsys.readouterr().err) == old


# -- overrides: key=value (new) and --set (old) ---------------------------------------------
@pytest.mark.parametrize("argv, expected, old", [
    (["train", "r.yaml", "lr=0.1", "-o", "runs/x", "epochs=2"], ["lr=0.1", "epochs=2", "output_dir=runs/x"], False),
    (["train", "r.yaml", "--out", "runs/x"], ["output_dir=runs/x"], False),
    (["train", "r.yaml", "--set", "lr=0.1", "epochs=2"], ["lr=0.1", "epochs=2"], True),
])
def test_train_overrides_and_out(argv, expected, old, record, capsys):
    import wavguard.training

    seen = record(wavguard.training.TrainConfig, "from_yaml")
    assert main(argv) == 1
    assert seen["args"] == ("r.yaml", expected)
    assert _warned(capsys.readouterr().err) == old


@pytest.mark.parametrize("argv, old", [
    (["update", "M", "--feedback", "DB", "-o", "NEW", "head_learning_rate=0.01", "--epochs", "2", "warmup_ratio=0"], False),
    (["update", "M", "--feedback", "DB", "--out", "NEW", "--set", "head_learning_rate=0.01", "--set", "warmup_ratio=0"], True),
])
def test_update_overrides_new_and_old(argv, old, record, capsys):
    import wavguard.feedback.update as update

    seen = record(update, "update_detector")
    assert main(argv) == 1
    assert seen["args"] == ("M", "DB", "NEW")
    assert seen["kwargs"]["train_settings"] == {"head_learning_rate": 0.01, "warmup_ratio": 0}
    assert _warned(capsys.readouterr().err) == old


def test_an_unknown_word_is_still_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["export", "M", "-o", "OUT", "stray"])
    assert info.value.code == 2 and "unrecognized arguments: stray" in capsys.readouterr().err


def test_every_command_follows_the_convention():
    """Each subcommand's help names the shared options where they apply."""
    from wavguard.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    options = {name: {o for a in p._actions for o in a.option_strings} for name, p in sub.items()}
    for name in ("predict", "evaluate", "compare", "stream", "serve", "demo", "export"):
        assert {"--device", "--revision"} <= options[name] or name == "export", name
    for name in ("predict", "evaluate", "compare", "audit", "stream", "export", "train", "update"):
        assert "--json" in options[name], name
    for name in ("evaluate", "compare", "export", "train", "update", "convert-whisper"):
        assert {"-o", "--out"} <= options[name], name
    for name in ("predict", "evaluate", "compare"):
        assert {"--progress", "--no-progress"} <= options[name], name
    assert "--data" in options["predict"] and "--data" in options["audit"] and "--data" in options["evaluate"]
    assert json.loads(json.dumps(sorted(options)))  # every command parsed
