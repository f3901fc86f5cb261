"""Broken checkpoints and output paths (issue 17, item 6), on the spectrogram CNN (no backbone: fast).

* a truncated newest checkpoint falls back to the newest intact one, and the log says which was skipped;
* ``--resume`` without an intact checkpoint refuses (exit 2) unless ``--resume-or-start``;
* an output path that is a file, lies under a file or cannot be written fails before any training;
* ``--resume`` with another batch size or other data warns;
* without validation data the CLI says "validation EER n/a (no validation set)".
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest
from _train_fixtures import copy_run, make_folder, train_again

pytest.importorskip("accelerate")

from wavguard.errors import ConfigError  # noqa: E402
from wavguard.training import checkpoint as checkpoint_mod  # noqa: E402
from wavguard.training import trainer as trainer_mod  # noqa: E402


@pytest.fixture()
def base(checkpointed_run):
    """The shared finished run (``conftest.checkpointed_run``): checkpoints step-2, step-3 and step-4."""
    return checkpointed_run


def _truncate(path: Path, keep_fraction: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def test_cli_says_n_a_without_a_validation_set(base, tmp_path, capsys):
    assert train_again(base, tmp_path / "again", "epochs=1") == 0
    out = capsys.readouterr().out
    assert "validation EER n/a (no validation set)" in out and "inf" not in out


def test_truncated_newest_checkpoint_falls_back_to_the_newest_intact_one(base, tmp_path, caplog):
    out = copy_run(base, tmp_path)
    newest = out / "checkpoints" / "step-00000004"
    weights = sorted(newest.glob("*.safetensors"))
    assert weights, sorted(p.name for p in newest.iterdir())
    _truncate(weights[0])
    assert checkpoint_mod.checkpoint_problem(newest).startswith(f"{weights[0].name} is truncated")
    assert checkpoint_mod.checkpoint_problem(out / "checkpoints" / "step-00000003") is None
    with caplog.at_level(logging.INFO, logger="wavguard"):
        assert train_again(base, out, "--resume", "epochs=3") == 0
    log = caplog.text
    assert f"skipping checkpoint {newest}: {weights[0].name} is truncated" in log
    assert "resuming from" in log and "step-00000003" in log


@pytest.mark.parametrize("damage", ["optimizer", "state", "manifest-size"])
def test_other_damage_is_caught_without_loading(base, tmp_path, damage):
    out = copy_run(base, tmp_path)
    newest = out / "checkpoints" / "step-00000004"
    if damage == "optimizer":
        _truncate(next(p for p in newest.iterdir() if p.name.startswith("optimizer")))
        expected = "optimizer"
    elif damage == "state":
        (newest / checkpoint_mod.STATE_NAME).write_text('{"epoch": 1, "global_')
        expected = "cannot be read"
    else:  # a file cut without a format check catching it: the recorded size does
        victim = (
            next(p for p in newest.iterdir() if p.suffix == ".pkl")
            if any(p.suffix == ".pkl" for p in newest.iterdir())
            else next(p for p in newest.iterdir() if p.name.startswith("scheduler"))
        )
        victim.write_bytes(victim.read_bytes() + b"\0")
        expected = "changed"
    assert expected in checkpoint_mod.checkpoint_problem(newest)
    assert checkpoint_mod.latest_checkpoint(out).name == "step-00000003"


def test_resume_without_a_checkpoint_refuses_unless_resume_or_start(base, tmp_path, capsys, caplog):
    out = tmp_path / "fresh"
    assert train_again(base, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "no checkpoint to resume from" in err and "--resume-or-start" in err
    assert not (out / "best").exists()
    with caplog.at_level(logging.WARNING, logger="wavguard"):
        assert train_again(base, out, "--resume-or-start", "epochs=1") == 0
    assert "starting from scratch (--resume-or-start)" in caplog.text
    assert (out / "best" / "config.json").is_file()


def test_resume_when_every_checkpoint_is_damaged_refuses(base, tmp_path, capsys):
    out = copy_run(base, tmp_path)
    for folder in (out / "checkpoints").iterdir():
        (folder / checkpoint_mod.STATE_NAME).unlink()
    assert train_again(base, out, "--resume") == 2
    assert "none is complete" in capsys.readouterr().err


@pytest.fixture()
def no_training(monkeypatch):
    """Training must not start: Trainer.setup (data, model) fails loudly if it is reached."""

    def refuse(self):
        raise AssertionError("setup ran: the output path was not checked first")

    monkeypatch.setattr(trainer_mod.Trainer, "setup", refuse)


def test_output_path_that_is_a_file_fails_first(base, tmp_path, no_training, capsys):
    target = tmp_path / "taken.txt"
    target.write_text("not a folder")
    assert train_again(base, target) == 2
    err = capsys.readouterr().err
    assert f"output_dir='{target}' is a file" in err and "Traceback" not in err
    assert train_again(base, target / "sub" / "run") == 2
    assert f"lies under '{target}', which is a file" in capsys.readouterr().err


def test_read_only_output_path_fails_first(base, tmp_path, no_training, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        probe = tempfile.NamedTemporaryFile(dir=locked)  # noqa: SIM115 - root may write anyway: then simulate the refusal
        probe.close()
        real_mkstemp = tempfile.mkstemp

        def read_only(*args, dir=None, **kwargs):
            if dir is not None and Path(dir).resolve().is_relative_to(locked.resolve()):
                raise PermissionError(13, "Permission denied", str(dir))
            return real_mkstemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(checkpoint_mod.tempfile, "mkstemp", read_only)
    except PermissionError:
        pass
    try:
        assert train_again(base, locked) == 2
        err = capsys.readouterr().err
        assert f"output_dir='{locked}' cannot be written (Permission denied)" in err
        with pytest.raises(ConfigError, match="cannot be written"):
            checkpoint_mod.check_output_dir(locked)
    finally:
        locked.chmod(0o755)


def test_resume_with_another_batch_size_or_data_warns(base, tmp_path, caplog):
    out = copy_run(base, tmp_path)
    with caplog.at_level(logging.WARNING, logger="wavguard"):
        assert train_again(base, out, "--resume", "epochs=3", "batch_size=2") == 0
    assert "other settings than the checkpoint recorded: batch_size 4 -> 2" in caplog.text
    caplog.clear()
    other = make_folder(tmp_path / "other", per_class=5, seconds=1.0, seed=3)
    with caplog.at_level(logging.WARNING, logger="wavguard"):
        assert train_again(base, out, "--resume", "epochs=4", "batch_size=2", f"train_data={other}") == 0
    warned = caplog.text
    assert "train_data" in warned and "train_clips 8 -> 10" in warned and "batch_size" not in warned
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wavguard"):  # the same settings again: no warning
        assert train_again(base, out, "--resume", "epochs=5", "batch_size=2", f"train_data={other}") == 0
    assert "other settings" not in caplog.text


def test_data_digest_ignores_where_the_data_folder_lies():
    from datasets import Dataset

    def data(root: str, sizes: list[int], labels: list[int]):
        names = ["real/a.wav", "fake/b.wav", "fake/c.wav"]
        audio = [{"path": f"{root}/{n}", "bytes": b"x" * size} for n, size in zip(names, sizes)]
        return Dataset.from_dict({"audio": audio, "label": labels})

    here = checkpoint_mod.data_record("s", data("/work/main/out/build", [3, 5, 7], [0, 1, 1]))
    moved = checkpoint_mod.data_record("s", data("/elsewhere/build", [3, 5, 7], [0, 1, 1]))
    assert here == moved and (here["train_clips"], here["train_fake_clips"]) == (3, 2)
    assert (
        checkpoint_mod.data_record("s", data("/elsewhere/build", [3, 5, 8], [0, 1, 1]))["train_digest"]
        != here["train_digest"]
    )
    assert (
        checkpoint_mod.data_record("s", data("/work/main/out/build", [3, 5, 7], [0, 0, 1]))["train_digest"]
        != here["train_digest"]
    )
