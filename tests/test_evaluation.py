"""evaluate_detector: every row scored exactly as Detector.predict scores it, metrics on top."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from evaluation_data import make_dataset, write_clips

from wavguard import metrics as M
from wavguard.errors import ConfigError
from wavguard.evaluation.evaluate import evaluate_detector, evaluate_scores, score_inputs
from wavguard.testing import sine, tiny_detector

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def detector():
    return tiny_detector("wav2vec2", seed=0, window_seconds=0.5)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return write_clips(tmp_path_factory.mktemp("clips"))


def test_scores_equal_predict_and_metrics_equal_summarize(detector, clips):
    detector.config.calibration_scale, detector.config.calibration_bias = 2.5, -0.3
    detector.config.extra = {"calibration_prior_fake": 0.25}  # calibrated on 1 fake in 4
    try:
        result = evaluate_detector(detector, make_dataset(clips), batch_size=3, bootstrap_resamples=100)
        expected = np.array([p.score for p in detector.predict([r["audio"] for r in clips], batch_size=3)])
    finally:
        detector.config.calibration_scale, detector.config.calibration_bias = 1.0, 0.0
        detector.config.extra = {}
    np.testing.assert_allclose(result.scores, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.log_odds, 2.5 * result.margins - 0.3, atol=1e-9)
    np.testing.assert_allclose(1 / (1 + np.exp(-result.log_odds)), expected, atol=1e-12)
    labels = np.array([r["label"] for r in clips])
    assert (result.labels == labels).all() and result.rows.tolist() == list(range(16))
    eer, thr = M.compute_eer(labels, expected)
    assert result.metrics["eer"] == eer and result.metrics["eer_threshold"] == thr
    assert result.metrics["roc_auc"] == pytest.approx(M.roc_auc(labels, expected))
    assert result.metrics["threshold"] == 0.5
    assert result.metrics["eer_ci95"][0] <= eer <= result.metrics["eer_ci95"][1]
    # LLRs = calibrated log-odds minus the prior log-odds of the calibration data (logit(0.25) = -log 3)
    assert result.prior_log_odds == pytest.approx(-np.log(3.0))
    np.testing.assert_allclose(result.llrs, result.log_odds + np.log(3.0), atol=1e-12)
    assert result.metrics["cllr"] == pytest.approx(M.cllr(labels, result.llrs), abs=1e-12)
    assert result.metrics["act_dcf"] == M.act_dcf(labels, result.llrs)[0]
    assert list(result.groups) == ["attack", "speaker"]
    a1 = np.array([r["label"] == 0 or r["attack"] == "A1" for r in clips])
    assert result.groups["attack"]["A1"]["eer"] == M.compute_eer(labels[a1], expected[a1])[0]
    assert set(result.groups["speaker"]) == {"s0", "s1"}
    assert result.audio_seconds == pytest.approx(
        sum(p.duration_seconds for p in detector.predict([r["audio"] for r in clips]))
    )
    assert result.audio_seconds_per_second > 0


def test_embedded_bytes_score_like_paths_and_failures_are_reported(detector, clips, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really audio")
    rows = [dict(r) for r in clips[:4]] + [dict(r) for r in clips[-4:]]
    for r in rows[::2]:
        r["audio"] = {"path": Path(r["audio"]).name, "bytes": Path(r["audio"]).read_bytes()}
    rows.insert(3, {"audio": str(broken), "label": 1, "attack": "A1", "speaker": "s0"})
    rows.insert(5, {"audio": {"path": "gone.wav", "bytes": b"\x00garbage"}, "label": 0, "attack": "-", "speaker": "s1"})
    result = evaluate_detector(detector, make_dataset(rows), bootstrap_resamples=0)
    assert [f["row"] for f in result.failures] == [3, 5]
    assert str(broken) in result.failures[0]["error"] and result.failures[1]["error"].startswith("gone.wav: ")
    assert result.labels.size == 8 and 3 not in result.rows and 5 not in result.rows
    expected = [p.score for p in detector.predict([r["audio"] for r in clips[:4] + clips[-4:]])]
    np.testing.assert_allclose(result.scores, expected, atol=1e-12)
    assert "eer_ci95" not in result.metrics


def test_store_metrics_and_group_column_errors(detector, clips):
    ds = make_dataset(clips)
    result = evaluate_detector(detector, ds, group_columns=("speaker",), store_metrics=True, bootstrap_resamples=0)
    try:
        assert list(detector.config.metrics)[0] == "eer"
        assert detector.config.metrics["eer"] == result.metrics["eer"]
        assert detector.config.metrics["roc_auc"] == result.metrics["roc_auc"]
    finally:
        detector.config.metrics = {}
    assert list(result.groups) == ["speaker"]
    with pytest.raises(ConfigError, match="codec"):
        evaluate_detector(detector, ds, group_columns=("codec",))
    with pytest.raises(ConfigError, match="'label'"):
        evaluate_detector(detector, ds.remove_columns("label"))
    with pytest.raises(ConfigError, match="0 \\(real\\) or 1"):
        evaluate_detector(detector, make_dataset([{**clips[0], "label": 2}]))


def test_score_inputs_arrays_and_failures(detector):
    out = score_inputs(detector, [sine(0.4), np.zeros(8000, np.float32)], sample_rate=16000)
    assert np.isfinite(out.scores[0]) and np.isnan(out.scores[1])
    assert out.errors[0] is None and "silence" in out.errors[1]
    assert out.scores[0] == pytest.approx(detector.predict(sine(0.4), sample_rate=16000).score, abs=1e-12)


def test_evaluate_scores_without_a_model():
    result = evaluate_scores(
        [0, 1, 0, 1], [0.5, 0.5, 0.2, 0.8], columns={"attack": ["-", "A", "-", "B"]}, bootstrap_resamples=0
    )
    assert result.metrics["eer"] == pytest.approx(0.25)
    assert set(result.groups["attack"]) == {"A", "B"}
    json.dumps(result.to_dict())  # JSON-ready


@pytest.mark.slow
def test_two_processes_give_the_single_process_result(detector, clips, tmp_path):
    # on a machine without GPUs, `--multi_gpu` starts CPU processes (gloo); `--cpu` would start only one
    model_dir = detector.save_pretrained(tmp_path / "model")
    ds = make_dataset(clips)
    ds.save_to_disk(str(tmp_path / "data"))
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(f"""
        import json, datasets
        from accelerate import PartialState
        from wavguard import Detector
        from wavguard.evaluation.evaluate import evaluate_detector
        det = Detector.from_pretrained({str(model_dir)!r})
        result = evaluate_detector(det, datasets.load_from_disk({str(tmp_path / "data")!r}), bootstrap_resamples=0)
        state = PartialState()
        with open({str(tmp_path)!r} + f"/out{{state.process_index}}.json", "w") as fh:
            json.dump({{"n": state.num_processes, "scores": result.scores.tolist(), "rows": result.rows.tolist(), "eer": result.metrics["eer"]}}, fh)
    """)
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(Path(__file__).parents[1] / "src"),
    }
    cmd = [
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
        str(script),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = evaluate_detector(detector, ds, bootstrap_resamples=0)
    for rank in (0, 1):
        out = json.loads((tmp_path / f"out{rank}.json").read_text())
        assert out["n"] == 2 and out["rows"] == list(range(16))
        np.testing.assert_allclose(out["scores"], single.scores, atol=1e-6)
        assert out["eer"] == pytest.approx(single.metrics["eer"])
