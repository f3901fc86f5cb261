"""One CLI convention (positional MODEL, --data, -o/--out, --json, --progress, --device, --revision,
key=value overrides) for every subcommand, and one spelling of each: other spellings are usage errors.

The library call behind each command is replaced by a recorder, so these tests check what the
command line hands to the library (fast); predict runs for real on the tiny detector.
"""

import json
from types import SimpleNamespace

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


@pytest.fixture
def record_loads(monkeypatch):
    """Replaces the loader every command goes through; returns the (model, revision, device) it was asked for."""
    import wavguard.evaluation.ensemble as ensemble

    loads = []

    def fake(model, revision=None, *, backend="auto", device=None):
        loads.append((model, revision, device))
        return SimpleNamespace(backend_name="torch")

    monkeypatch.setattr(ensemble, "load_scorer", fake)
    return loads


@pytest.fixture(scope="module")
def model_dir(w2v_detector, tmp_path_factory):
    return w2v_detector.save_pretrained(tmp_path_factory.mktemp("model") / "det")


# -- predict: runs for real -----------------------------------------------------------------
def test_predict_prints_a_line_per_file(model_dir, audio_files, capsys):
    wav, flac = str(audio_files["wav"]), str(audio_files["flac"])
    assert main(["predict", str(model_dir), "--data", wav, flac]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2 and not err


def test_predict_progress_bar_on_request_only(model_dir, audio_files, capsys):
    wav = str(audio_files["wav"])
    assert main(["predict", str(model_dir), "--data", wav, "--progress"]) == 0
    assert "%|" in capsys.readouterr().err  # tqdm's bar
    assert main(["predict", str(model_dir), "--data", wav, "--no-progress"]) == 0
    assert "%|" not in capsys.readouterr().err
    assert main(["predict", str(model_dir), "--data", wav]) == 0  # stderr is not a terminal under pytest
    assert "%|" not in capsys.readouterr().err


def test_predict_with_a_model_and_no_audio_is_a_usage_error(model_dir, capsys):
    assert main(["predict", str(model_dir)]) == 2
    assert "is a detector: name the audio to score" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "A.wav", "B.wav", "--model", "M"], "unrecognized arguments: --model M"),
        (["stream", "--model", "M", "--sample-rate", "8000"], "unrecognized arguments: --model"),
        (["stream", "M", "-m", "M", "--sample-rate", "8000"], "unrecognized arguments: -m M"),
        (["evaluate", "M", "D", "-o", "R"], "required: --data"),
        (["audit", "D", "--data", "D"], "unrecognized arguments: D"),
        (["train", "r.yaml", "--set", "lr=0.1"], "unrecognized arguments: --set lr=0.1"),
        (["update", "M", "--feedback", "DB", "-o", "NEW", "--set", "lr=0.1"], "unrecognized arguments: --set lr=0.1"),
    ],
)
def test_other_spellings_are_usage_errors(argv, message, capsys):
    """One grammar: the model positional, data through --data (predict also takes audio positionally,
    after an optional MODEL: tests/test_cli_default_model.py), settings as key=value."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


# -- commands that load one detector with Detector.from_pretrained ----------------------------
@pytest.mark.parametrize(
    "argv, expected",
    [
        (["stream", "M", "--sample-rate", "8000", "--device", "cpu", "--revision", "v1"], ("M", "v1", "cpu")),
        (["serve", "M", "--device", "cpu", "--revision", "v1"], ("M", "v1", "cpu")),
        (["export", "M", "-o", "OUT", "--revision", "v1"], ("M", "v1", None)),
        (["export", "M", "--out", "OUT"], ("M", None, None)),
    ],
)
def test_model_commands_pass_model_revision_device(argv, expected, record):
    seen = record(Detector, "from_pretrained")
    assert main(argv) == 1
    args, kwargs = seen["args"], seen["kwargs"]
    assert (args[0], args[1] if len(args) > 1 else kwargs.get("revision"), kwargs.get("device")) == expected


def test_demo_takes_model_revision_device(record, monkeypatch, capsys):
    import wavguard.demo

    monkeypatch.setattr(wavguard.demo, "gradio_available", lambda: True)
    seen = record(Detector, "from_pretrained")
    assert main(["demo", "M", "--revision", "v1", "--device", "cpu"]) == 1
    assert seen["args"][:2] == ("M", "v1") and seen["kwargs"]["device"] == "cpu"


# -- evaluate / compare / audit: --data, -o, --progress -------------------------------------
@pytest.fixture
def evaluate_recorders(record, record_loads, monkeypatch):
    import wavguard.cli.evaluate as cli_evaluate
    import wavguard.evaluation.evaluate as evaluation

    data = []
    monkeypatch.setattr(cli_evaluate, "load_data", lambda source, split: data.append(source) or "DATA")
    return record_loads, data, record(evaluation, "evaluate_detector")


def test_evaluate_passes_model_data_and_options(evaluate_recorders):
    loads, data, seen = evaluate_recorders
    assert main(["evaluate", "M", "--data", "D", "-o", "R", "--progress", "--device", "cpu", "--revision", "v1"]) == 1
    assert loads == [("M", "v1", "cpu")] and data == ["D"]
    assert seen["kwargs"]["progress"] is True


def test_evaluate_without_data_is_a_usage_error(evaluate_recorders, capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "M", "-o", "R"])
    assert info.value.code == 2 and "required: --data" in capsys.readouterr().err


def test_compare_passes_progress_and_revision(record, record_loads, monkeypatch):
    import wavguard.cli.compare as cli_compare
    import wavguard.evaluation.ensemble as ensemble

    monkeypatch.setattr(cli_compare, "load_data", lambda source, split: "DATA")
    seen = record(ensemble, "compare_detectors")
    assert (
        main(["compare", "A", "B", "--data", "D", "-o", "OUT", "--no-progress", "--revision", "v1", "--device", "cpu"])
        == 1
    )
    assert record_loads == [("A", "v1", "cpu"), ("B", "v1", "cpu")] and seen["kwargs"]["progress"] is False


def test_audit_takes_data(record):
    import wavguard.data

    seen = record(wavguard.data, "load_any")
    assert main(["audit", "--data", "D"]) == 1
    assert seen["args"] == ("D",)


# -- overrides: key=value -------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, expected",
    [
        (["train", "r.yaml", "lr=0.1", "-o", "runs/x", "epochs=2"], ["lr=0.1", "epochs=2", "output_dir=runs/x"]),
        (["train", "r.yaml", "--out", "runs/x"], ["output_dir=runs/x"]),
    ],
)
def test_train_overrides_and_out(argv, expected, record):
    import wavguard.training

    seen = record(wavguard.training.TrainConfig, "from_yaml")
    assert main(argv) == 1
    assert seen["args"] == ("r.yaml", expected)


def test_update_overrides(record):
    import wavguard.feedback.update as update

    seen = record(update, "update_detector")
    assert (
        main(
            [
                "update",
                "M",
                "--feedback",
                "DB",
                "-o",
                "NEW",
                "head_learning_rate=0.01",
                "--epochs",
                "2",
                "warmup_ratio=0",
            ]
        )
        == 1
    )
    model, db, out, config = seen["args"]
    assert (model, db, out, config.epochs) == ("M", "DB", "NEW", 2)
    assert config.train_settings == {"head_learning_rate": 0.01, "warmup_ratio": 0}


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
