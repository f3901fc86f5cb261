"""``wavguard predict MODEL --data ... --out scores.parquet``: one score file for a large archive,
scored in resumable shards, split across the processes of ``accelerate launch`` (issue 26, item 8).

accelerate 1.16's ``accelerate launch --cpu --num_processes 2`` starts one process unless an MPI
launcher is configured; ``--multi_gpu --num_processes 2`` with no GPU visible starts two CPU
processes (torchrun, gloo), the setup a multi-GPU launch has, so that is what the launch test runs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from wavguard.cli import _archive, main
from wavguard.data import manifest_paths
from wavguard.errors import ConfigError
from wavguard.scoring import archive
from wavguard.testing import chirp

SRC = Path(__file__).resolve().parents[1] / "src"
SHARD_SIZE = 4  # 13 files -> shards of 4, 4, 4 and 1


@pytest.fixture(scope="module")
def model_dir(w2v_detector, tmp_path_factory):
    return w2v_detector.save_pretrained(tmp_path_factory.mktemp("model") / "det")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """12 short chirps in noise (0.5 s to 1.6 s) and one file that is not audio, ``bad.wav``."""
    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    for i in range(12):
        seconds = 0.5 + 0.1 * i
        noise = 0.01 * rng.standard_normal(int(round(seconds * 16000))).astype(np.float32)
        sf.write(root / f"c{i:02d}.wav", chirp(seconds, f1_hz=1000.0 + 200 * i) + noise, 16000)
    (root / "bad.wav").write_bytes(b"RIFF, but no audio")
    return root


@pytest.fixture(scope="module")
def one_process(model_dir, clips, tmp_path_factory):
    """The score file and shard folder of one process, shards of 4."""
    out = tmp_path_factory.mktemp("one") / "scores.parquet"
    assert (
        main(["predict", str(model_dir), "--data", str(clips), "--out", str(out), "--shard-size", str(SHARD_SIZE)]) == 0
    )
    return out


def _copy_shards(source: Path, out: Path, keep: list[int]) -> None:
    """``out``'s shard folder holding ``source``'s manifest and the shards ``keep``, dated an hour back."""
    target = archive.shard_dir(out)
    target.mkdir(parents=True)
    shutil.copy2(archive.shard_dir(source) / archive.MANIFEST_NAME, target)
    for k in keep:
        copied = shutil.copy2(archive.shard_path(archive.shard_dir(source), k), target)
        os.utime(copied, ns=(os.stat(copied).st_atime_ns, os.stat(copied).st_mtime_ns - 3600 * 10**9))


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in archive.shard_dir(out).iterdir()}


def test_one_process_writes_a_row_per_file_with_predicts_scores(one_process, model_dir, clips, capsys):
    table = pd.read_parquet(one_process)
    assert tuple(table.columns) == archive.COLUMNS
    files = sorted(str(p) for p in clips.iterdir())
    assert table["path"].tolist() == files  # input order: the folder's files, sorted
    bad = table.iloc[0]
    assert Path(bad["path"]).name == "bad.wav" and bad["label"] == "error" and "cannot be decoded" in bad["error"]
    assert np.isnan(bad["score"]) and np.isnan(bad["duration_seconds"])
    capsys.readouterr()
    assert main(["predict", str(model_dir), "--data", str(clips), "--json"]) == 1  # the bad file: exit 1 without --out
    printed = {line["source"]: line for line in map(json.loads, capsys.readouterr().out.splitlines())}
    good = table.iloc[1:]
    assert good["error"].isna().all() and (good["backend"] == "torch").all()
    np.testing.assert_allclose(good["score"], [printed[p]["score"] for p in good["path"]], rtol=0, atol=1e-6)
    assert good["label"].tolist() == [printed[p]["label"] for p in good["path"]]
    assert good["duration_seconds"].tolist() == [printed[p]["duration_seconds"] for p in good["path"]]
    manifest = json.loads((archive.shard_dir(one_process) / archive.MANIFEST_NAME).read_text())
    assert (manifest["files"], manifest["shard_size"], manifest["threshold"]) == (13, SHARD_SIZE, 0.5)
    assert sorted(p.name for p in archive.shard_dir(one_process).glob("shard-*")) == [
        f"shard-0000{k}.jsonl" for k in range(4)
    ]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_csv_tsv_and_json_lines_hold_the_same_rows(one_process, model_dir, clips, tmp_path, suffix):
    out = tmp_path / f"scores{suffix}"
    _copy_shards(one_process, out, keep=[0, 1, 2, 3])  # every shard finished: only the merge runs
    assert (
        main(["predict", str(model_dir), "--data", str(clips), "--out", str(out), "--shard-size", str(SHARD_SIZE)]) == 0
    )
    read = {
        ".csv": pd.read_csv,
        ".tsv": lambda p: pd.read_csv(p, sep="\t"),
        ".jsonl": lambda p: pd.read_json(p, lines=True),
    }
    pd.testing.assert_frame_equal(
        read[suffix](out), pd.read_parquet(one_process), check_dtype=False
    )  # scores bit for bit


def test_a_manifest_lists_the_files_in_its_order(one_process, model_dir, clips, tmp_path):
    names = ["c03.wav", "bad.wav", "c00.wav", "missing.wav"]
    pd.DataFrame({"path": [str(clips / n) for n in names[:3]] + ["missing.wav"], "speaker": list("abcd")}).to_csv(
        tmp_path / "list.csv", index=False
    )
    out = tmp_path / "scores.parquet"
    assert main(["predict", str(model_dir), "--data", str(tmp_path / "list.csv"), "--out", str(out)]) == 0
    table = pd.read_parquet(out)
    assert table["path"].tolist() == [str(clips / n) for n in names[:3]] + [
        str(tmp_path / "missing.wav")
    ]  # relative: to the manifest
    assert table["label"][1] == "error" and table["label"][3] == "error" and "missing.wav" in table["error"][3]
    before = pd.read_parquet(one_process).set_index("path")["score"]
    np.testing.assert_allclose(table["score"][[0, 2]], before[table["path"][[0, 2]]], rtol=0, atol=1e-6)
    pd.DataFrame({"file": ["a.wav", "/x/b.flac"]}).to_parquet(tmp_path / "list.parquet")
    assert manifest_paths(tmp_path / "list.parquet") == [str(tmp_path / "a.wav"), "/x/b.flac"]
    (tmp_path / "holes.csv").write_text("path,speaker\na.wav,x\n,y\nb.wav,z\n")
    with pytest.raises(ConfigError, match=r"1 rows have an empty 'path': row 3\. Give every row a path"):
        manifest_paths(tmp_path / "holes.csv")


def test_a_rerun_scores_only_the_shards_that_are_missing(one_process, model_dir, clips, tmp_path, caplog):
    out = tmp_path / "scores.parquet"
    _copy_shards(one_process, out, keep=[0, 2])
    leftover = archive.shard_dir(out) / ".shard-00001.jsonl.x1y2.tmp"  # what a process killed mid-write leaves
    leftover.write_text("{")
    kept = {k: v for k, v in _mtimes(out).items() if k.startswith("shard-")}
    with caplog.at_level(logging.INFO, logger="wavguard.scoring"):
        assert (
            main(["-v", "predict", str(model_dir), "--data", str(clips), "--out", str(out), "--shard-size", "4"]) == 0
        )
    assert "skipping 2 finished shards of 4" in caplog.text and "shards to score: 2 of 4" in caplog.text
    after = _mtimes(out)
    assert {k: after[k] for k in kept} == kept  # shards 0 and 2 were not written again
    assert sorted(after) == [archive.MANIFEST_NAME] + [f"shard-0000{k}.jsonl" for k in range(4)]  # no .tmp left
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(one_process))


def test_shards_of_another_run_are_refused_until_overwrite(one_process, model_dir, clips, tmp_path, capsys):
    out = tmp_path / "scores.parquet"
    _copy_shards(one_process, out, keep=[0, 1])
    before = _mtimes(out)
    other_model = Path(shutil.copytree(model_dir, tmp_path / "other"))
    config = json.loads((other_model / "config.json").read_text())
    config["calibration_bias"] = config["calibration_bias"] + 1.0
    (other_model / "config.json").write_text(json.dumps(config))
    files = sorted(str(p) for p in clips.iterdir())
    for model, data, extra, said in [
        (other_model, [str(clips)], [], "another model ("),
        (model_dir, files[:-1], [], "another list of files (13 files, sha256"),
        (model_dir, [str(clips)], ["--threshold", "0.3"], "another threshold (0.5; this run: 0.3)"),
    ]:
        argv = ["predict", str(model), "--data", *data, "--out", str(out), "--shard-size", "4", *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert said in err and "add --overwrite to score everything again" in err and "manifest.json" in err, err
    assert _mtimes(out) == before
    assert (
        main(["predict", str(other_model), "--data", str(clips), "--out", str(out), "--shard-size", "4", "--overwrite"])
        == 0
    )
    assert (
        pd.read_parquet(out)["score"].iloc[1] > pd.read_parquet(one_process)["score"].iloc[1]
    )  # bias + 1: scored anew
    archive.shard_path(archive.shard_dir(out), 2).write_text('{"path": "somewhere-else.wav"}\n')
    assert main(["predict", str(other_model), "--data", str(clips), "--out", str(out), "--shard-size", "4"]) == 2
    assert "does not hold the 4 files this shard stands for" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, said",
    [
        (["--out", "s.xlsx"], "s.xlsx: the score file must end in .parquet, .csv, .tsv, .jsonl"),
        (["--out", "s.parquet", "--json"], "--json prints to stdout and --out writes a file"),
        (["--out", "s.parquet", "--shard-size", "0"], "--shard-size is a number of files and must be at least 1"),
    ],
)
def test_bad_options_are_usage_errors_before_the_model_loads(argv, said, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "no-such-model", "--data", "x.wav", *argv]) == 2
    assert said in capsys.readouterr().err


def test_the_cli_default_shard_size_is_the_librarys():
    assert _archive.DEFAULT_SHARD_SIZE == archive.DEFAULT_SHARD_SIZE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two interpreters start and load the model: about 16 s
def test_two_processes_under_accelerate_launch_write_the_one_process_file(one_process, model_dir, clips, tmp_path):
    pytest.importorskip("accelerate")
    out = tmp_path / "scores.parquet"
    _copy_shards(one_process, out, keep=[0])  # resuming under a launch too
    kept = _mtimes(out)["shard-00000.jsonl"]
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
    ]
    command = [
        "-m",
        "wavguard",
        "-v",
        "predict",
        str(model_dir),
        "--data",
        str(clips),
        "--out",
        str(out),
        "--shard-size",
        "4",
    ]
    result = subprocess.run(launch + command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "skipping 1 finished shards of 4" in result.stderr
    assert "process 0 of 2, shards to score: 2 of 4" in result.stderr
    assert "process 1 of 2, shards to score: 1 of 4" in result.stderr  # every 2nd unfinished shard: [1, 3] and [2]
    assert result.stderr.count("wavguard: wrote") == 1  # the main process merges
    assert _mtimes(out)["shard-00000.jsonl"] == kept
    two, one = pd.read_parquet(out), pd.read_parquet(one_process)
    np.testing.assert_allclose(two["score"], one["score"], rtol=0, atol=1e-6)
    pd.testing.assert_frame_equal(two.drop(columns="score"), one.drop(columns="score"))
