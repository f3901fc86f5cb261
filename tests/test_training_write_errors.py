"""A disk that fills up or a folder that turns read-only mid-run (issue 27): training ends with one
OutputWriteError naming the path, what happened and what to do, which the CLI prints as one line.

Tests run as root here, where chmod does not stop writes, so each failure is simulated where the
write happens (the function that writes raises what the OS would), on the spectrogram CNN (fast).
"""

from __future__ import annotations

import errno
import os

import pytest
from _train_fixtures import make_folder

pytest.importorskip("accelerate")

from wavguard.cli import main  # noqa: E402
from wavguard.detector import Detector  # noqa: E402
from wavguard.errors import OutputWriteError, WavguardError  # noqa: E402
from wavguard.training import TrainConfig, Trainer  # noqa: E402
from wavguard.training import checkpoint as checkpoint_mod  # noqa: E402
from wavguard.training import loop as loop_mod  # noqa: E402
from wavguard.training import writes as writes_mod  # noqa: E402
from wavguard.training.writes import write_error, writing  # noqa: E402


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("writes")
    data = make_folder(tmp / "data", per_class=4, seconds=1.0)
    path = tmp / "recipe.yaml"
    path.write_text(
        f"train_data: {data}\nkind: spectrogram\nmode: full\nepochs: 2\nbatch_size: 4\ncrop_seconds: 0.5\n"
        "checkpoint_every_steps: 1\nwarmup_ratio: 0.0\ndetector: {window_seconds: 1.0}\n"
    )
    return path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("wavguard: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_full_disk_while_checkpointing(recipe, tmp_path, monkeypatch, capsys):
    def full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_mod, "atomic_write_text", full)
    out = tmp_path / "run"
    assert main(["train", str(recipe), f"output_dir={out}"]) == 1
    line = _one_line_error(capsys)
    assert f"could not write the checkpoint to {out / 'checkpoints' / 'step-00000001'}: the disk is full" in line
    assert "free space on that disk" in line and "--resume" in line


def test_read_only_folder_while_logging_metrics(recipe, tmp_path, monkeypatch, capsys):
    real_open = open

    def read_only(path, mode="r", *args, **kwargs):
        if "a" in mode or "w" in mode:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(loop_mod, "open", read_only, raising=False)
    out = tmp_path / "run"
    assert main(["train", str(recipe), f"output_dir={out}", "log_every_steps=1"]) == 1
    line = _one_line_error(capsys)
    assert f"could not write the metrics log to {out / 'metrics.jsonl'}: the file system is read-only" in line
    assert "make the folder writable again (or set output_dir to another folder)" in line


def test_full_disk_while_saving_the_best_detector_from_the_disk_itself(recipe, tmp_path, monkeypatch):
    """torch.save on a full disk says only ``unexpected pos``: the disk tells what happened."""

    def torch_on_a_full_disk(self, directory, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    real_statvfs = os.statvfs

    def no_space(path):
        s = real_statvfs(path)
        return os.statvfs_result(
            (s.f_bsize, s.f_frsize, s.f_blocks, 0, 0, s.f_files, s.f_ffree, s.f_favail, s.f_flag, s.f_namemax)
        )

    monkeypatch.setattr(Detector, "save_pretrained", torch_on_a_full_disk)
    monkeypatch.setattr(writes_mod.os, "statvfs", no_space)
    cfg = TrainConfig.from_yaml(recipe).with_overrides([f"output_dir={tmp_path / 'run'}", "epochs=1"])
    with pytest.raises(OutputWriteError) as caught:
        Trainer(cfg).fit()
    error = caught.value
    assert isinstance(error, WavguardError) and isinstance(error, OSError)
    assert error.errno == errno.ENOSPC and error.path == str(tmp_path / "run" / "best")
    assert str(error).startswith(f"could not write the best detector to {tmp_path / 'run' / 'best'}: the disk is full")
    assert "unexpected pos 704" in str(error)  # the library's own words, for the record
    assert isinstance(error.__cause__, RuntimeError)


@pytest.mark.parametrize(
    "raised, code",
    [
        (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
        (PermissionError(errno.EACCES, "Permission denied"), errno.EACCES),
        (OSError(errno.EROFS, "Read-only file system"), errno.EROFS),
        (OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)), errno.EDQUOT),
        (Exception("Error while serializing: I/O error: No space left on device (os error 28)"), errno.ENOSPC),
        (RuntimeError("saving failed"), None),  # the disk is fine: not a write error
        (ValueError("a bug"), None),
    ],
)
def test_what_a_failed_write_was(raised, code, tmp_path):
    error = write_error(raised, tmp_path / "x.bin", "a file")
    assert (error.errno if error is not None else None) == code
    with pytest.raises(OutputWriteError if code else type(raised)) as caught, writing(tmp_path / "x.bin", "a file"):
        raise raised
    if code is None:
        assert caught.value is raised  # passed through unchanged


def test_the_cache_names_its_own_setting(tmp_path):
    with (
        pytest.raises(OutputWriteError, match="set cache_dir to a folder on another disk"),
        writing(tmp_path / "ab" / "key.safetensors", "cached backbone features", setting="cache_dir"),
    ):
        raise OSError(errno.ENOSPC, "No space left on device")
