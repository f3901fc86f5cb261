"""Checkpoint integrity and fixed settings on resume (issue 27, item 1), on the spectrogram CNN (fast).

* every checkpoint carries ``manifest.json`` (SHA-256 of each file), written last;
* same-size corruption (64 flipped bytes in ``model.safetensors``, a scrambled ``random_states_0.pkl``)
  is caught: resume falls back to the newest intact checkpoint with a warning naming the file, and
  refuses when none is intact;
* a checkpoint written before manifests (``files.json`` only) still resumes, with a warning;
* a checkpoint whose save stopped before its manifest is skipped;
* ``--resume`` with another learning rate, weight decay, scheduler, warmup or mode is refused
  (ConfigError naming the setting, the old and the new value) before any data or model is built.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from _train_fixtures import copy_run, train_again

pytest.importorskip("accelerate")

from wavguard.errors import ConfigError  # noqa: E402
from wavguard.training import TrainConfig, Trainer  # noqa: E402
from wavguard.training import checkpoint as checkpoint_mod  # noqa: E402
from wavguard.training import integrity as integrity_mod  # noqa: E402
from wavguard.training import trainer as trainer_mod  # noqa: E402

NEWEST, OLDER = "step-00000004", "step-00000003"


@pytest.fixture()
def base(checkpointed_run):
    """The shared finished run (``conftest.checkpointed_run``): checkpoints step-2, step-3 and step-4."""
    return checkpointed_run


def _flip(path: Path, count: int = 64) -> None:
    """Invert ``count`` bytes in the middle of ``path``: same size, other content."""
    data = bytearray(path.read_bytes())
    start = max(0, len(data) // 2 - count // 2)
    for i in range(start, min(len(data), start + count)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_every_checkpoint_has_a_manifest_of_sha256_digests(base):
    for folder in (base["out"] / "checkpoints").iterdir():
        manifest = json.loads((folder / integrity_mod.MANIFEST_NAME).read_text())
        assert manifest["algorithm"] == "sha256"
        listed = manifest["files"]
        on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {integrity_mod.MANIFEST_NAME}
        assert set(listed) == on_disk and checkpoint_mod.STATE_NAME in listed
        assert any(name.endswith(".safetensors") for name in listed)
        for name, entry in listed.items():
            data = (folder / name).read_bytes()
            assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_manifest_is_written_last(base, tmp_path, monkeypatch):
    written: list[str] = []
    real = checkpoint_mod.atomic_write_text

    def spy(path, text):
        written.append(Path(path).name)
        return real(path, text)

    monkeypatch.setattr(checkpoint_mod, "atomic_write_text", spy)  # trainer_state.json
    monkeypatch.setattr(integrity_mod, "atomic_write_text", spy)  # manifest.json
    assert train_again(base, tmp_path / "again", "epochs=1", "checkpoint_every_steps=0") == 0
    assert written and written[-1] == integrity_mod.MANIFEST_NAME
    assert written.index(checkpoint_mod.STATE_NAME) < written.index(integrity_mod.MANIFEST_NAME)


def test_flipped_bytes_in_the_newest_weights_fall_back_with_a_warning(base, tmp_path, caplog):
    out = copy_run(base, tmp_path)
    newest = out / "checkpoints" / NEWEST
    weights = newest / "model.safetensors"
    size = weights.stat().st_size
    _flip(weights)
    assert weights.stat().st_size == size
    problem = checkpoint_mod.checkpoint_problem(newest)
    assert problem is not None and problem.startswith("model.safetensors") and "SHA-256" in problem
    with caplog.at_level(logging.INFO, logger="wavguard"):
        assert train_again(base, out, "--resume", "epochs=3") == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(newest) in m and "model.safetensors" in m for m in warnings), warnings
    assert any("resuming from" in r.getMessage() and OLDER in r.getMessage() for r in caplog.records)


def test_same_size_corrupt_random_states_are_caught(base, tmp_path):
    out = copy_run(base, tmp_path)
    newest = out / "checkpoints" / NEWEST
    states = newest / "random_states_0.pkl"
    assert states.is_file(), sorted(p.name for p in newest.iterdir())
    _flip(states)
    problem = checkpoint_mod.checkpoint_problem(newest)
    assert problem is not None and "random_states_0.pkl" in problem
    assert checkpoint_mod.latest_checkpoint(out).name == OLDER


def test_no_intact_checkpoint_refuses_clearly(base, tmp_path, capsys):
    out = copy_run(base, tmp_path)
    for folder in (out / "checkpoints").iterdir():
        _flip(folder / "model.safetensors")
    assert train_again(base, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "no checkpoint to resume from" in err and "intact" in err
    with pytest.raises(ConfigError, match="intact"):
        checkpoint_mod.resume_candidates(out, start_if_missing=False)


def test_a_save_that_stopped_before_its_manifest_is_skipped(base, tmp_path, caplog):
    out = copy_run(base, tmp_path)
    newest = out / "checkpoints" / NEWEST
    (newest / integrity_mod.MANIFEST_NAME).unlink()
    assert "manifest.json" in checkpoint_mod.checkpoint_problem(newest)
    with caplog.at_level(logging.WARNING, logger="wavguard"):
        assert checkpoint_mod.latest_checkpoint(out).name == OLDER
    assert f"skipping checkpoint {newest}" in caplog.text


def _make_legacy(folder: Path) -> None:
    """Rewrite a checkpoint as wavguard wrote it before manifests: ``files.json`` of sizes, no marker."""
    (folder / integrity_mod.MANIFEST_NAME).unlink()
    state = json.loads((folder / checkpoint_mod.STATE_NAME).read_text())
    state["extra"].pop("manifest", None)
    (folder / checkpoint_mod.STATE_NAME).write_text(json.dumps(state))
    sizes = {
        str(p.relative_to(folder)): p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and p.name != checkpoint_mod.STATE_NAME
    }
    (folder / integrity_mod.FILES_NAME).write_text(json.dumps(sizes))


def test_checkpoint_without_manifest_from_before_still_resumes_with_a_warning(base, tmp_path, caplog):
    out = copy_run(base, tmp_path)
    for folder in (out / "checkpoints").iterdir():
        _make_legacy(folder)
    newest = out / "checkpoints" / NEWEST
    assert checkpoint_mod.checkpoint_problem(newest) is None
    with caplog.at_level(logging.INFO, logger="wavguard"):
        assert train_again(base, out, "--resume", "epochs=3") == 0
    assert f"checkpoint {newest} has no manifest.json" in caplog.text
    assert any("resuming from" in r.getMessage() and NEWEST in r.getMessage() for r in caplog.records)
    # the size check of files.json still holds for such a checkpoint
    older = out / "checkpoints" / OLDER
    if older.is_dir():
        weights = older / "model.safetensors"
        weights.write_bytes(weights.read_bytes() + b"\0")
        assert "changed" in checkpoint_mod.checkpoint_problem(older)


@pytest.fixture()
def no_setup(monkeypatch):
    """A refused resume must fail before data and model are built."""

    def refuse(self):
        raise AssertionError("setup ran before the changed setting was refused")

    monkeypatch.setattr(trainer_mod.Trainer, "setup", refuse)


@pytest.mark.parametrize(
    "override, key, old, new",
    [
        ("head_learning_rate=0.002", "head_learning_rate", "0.001", "0.002"),
        ("backbone_learning_rate=0.0001", "backbone_learning_rate", "5e-05", "0.0001"),
        ("weight_decay=0.1", "weight_decay", "0.01", "0.1"),
        ("scheduler=linear", "scheduler", "'cosine'", "'linear'"),
        ("warmup_ratio=0.2", "warmup_ratio", "0.0", "0.2"),
    ],
)
def test_resume_with_another_optimizer_setting_is_refused(base, tmp_path, no_setup, capsys, override, key, old, new):
    out = copy_run(base, tmp_path)
    assert train_again(base, out, "--resume", "epochs=3", override) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{key} was {old}, now {new} (checkpoint {out / 'checkpoints' / NEWEST})" in err, err
    assert f"{key}={old.strip(chr(39))}" in err  # says how to resume


def test_refusal_names_mode_through_the_python_api(base, tmp_path, no_setup):
    out = copy_run(base, tmp_path)
    cfg = TrainConfig.from_yaml(base["recipe"]).with_overrides(
        [f"output_dir={out}", "epochs=3", "mode=frozen", "kind=transformer", "backbone=x"]
    )
    with pytest.raises(ConfigError, match=r"mode was 'full', now 'frozen'"):
        Trainer(cfg).fit(resume=True)


def test_refused_settings_are_checked_only_when_recorded(base, tmp_path):
    """A checkpoint from before the settings were recorded cannot be compared: it resumes as before."""
    recorded = {"batch_size": 4}
    checkpoint_mod.refuse_changed_settings(recorded, {"head_learning_rate": 0.5}, Path("step-1"))
    checkpoint_mod.refuse_changed_settings(None, {"head_learning_rate": 0.5}, Path("step-1"))
    with pytest.raises(ConfigError, match=r"head_learning_rate was 0.001, now 0.5 \(checkpoint step-1\)"):
        checkpoint_mod.refuse_changed_settings(
            {"head_learning_rate": 1e-3}, {"head_learning_rate": 0.5}, Path("step-1")
        )


def test_same_settings_resume_without_refusal(base, tmp_path, caplog):
    out = copy_run(base, tmp_path)
    with caplog.at_level(logging.WARNING, logger="wavguard"):
        assert train_again(base, out, "--resume", "epochs=3", "head_learning_rate=0.001") == 0
    assert "other settings" not in caplog.text and "skipping" not in caplog.text
