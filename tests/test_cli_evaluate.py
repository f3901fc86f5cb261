"""`wavguard evaluate` and `wavguard compare` on tiny saved detectors and a folder data set."""

import json
import os

import pytest
import soundfile as sf

from wavguard.cli import main
from wavguard.config import DetectorConfig
from wavguard.evaluation.ensemble import Ensemble
from wavguard.evaluation.evaluate import evaluate_detector
from wavguard.testing import chirp, sine, tiny_detector

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """ROOT/real/*.wav (tones) and ROOT/fake/*.wav (chirps)."""
    root = tmp_path_factory.mktemp("data")
    (root / "real").mkdir()
    (root / "fake").mkdir()
    for i in range(5):
        sf.write(root / "real" / f"r{i}.wav", sine(0.5, frequency_hz=200 + 90 * i), 16000)
        sf.write(root / "fake" / f"f{i}.wav", chirp(0.5, f0_hz=150 + 40 * i), 16000)
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return [
        str(tiny_detector("wav2vec2", seed=s, window_seconds=0.5).save_pretrained(root / f"det{s}")) for s in (0, 1)
    ]


@pytest.fixture
def folder_loader():
    from wavguard import data

    return data.load_any


def test_evaluate_prints_eer_and_writes_report(models, folder, folder_loader, tmp_path, capsys):
    out = tmp_path / "report"
    assert (
        main(["evaluate", models[0], "--data", str(folder), "-o", str(out), "--batch-size", "4", "--bootstrap", "50"])
        == 0
    )
    printed = capsys.readouterr().out
    from wavguard import Detector

    expected = evaluate_detector(
        Detector.from_pretrained(models[0]), folder_loader(str(folder)), batch_size=4, bootstrap_resamples=0
    )
    m = expected.metrics
    assert f"EER {100 * m['eer']:.2f}% at threshold {m['eer_threshold']:.4g}; ROC AUC {m['roc_auc']:.4f}" in printed
    assert "(10 clips: 5 real, 5 fake)" in printed
    data = json.loads((out / "metrics.json").read_text())
    assert data["metrics"]["eer"] == m["eer"] and data["num_scored"] == 10
    for name in ("report.md", "roc.png", "det.png", "confusion.png", "score_histogram.png"):
        assert (out / name).is_file(), name
    assert DetectorConfig.load(models[0]).metrics == {}  # not stored unless asked


def test_evaluate_store_metrics_and_failures(models, folder, folder_loader, tmp_path, capsys):
    bad = folder / "fake" / "zz_broken.wav"
    bad.write_bytes(b"RIFF....WAVE but nothing else")
    try:
        code = main(
            ["evaluate", models[1], "--data", str(folder), "-o", str(tmp_path), "--store-metrics", "--bootstrap", "0"]
        )
    finally:
        bad.unlink()
    captured = capsys.readouterr()
    assert code == 1 and "1 file(s) could not be scored" in captured.err and "zz_broken.wav" in captured.err
    stored = DetectorConfig.load(models[1]).metrics
    data = json.loads((tmp_path / "metrics.json").read_text())
    # config.json is written with sorted keys; the model card puts EER first
    assert stored["eer"] == data["metrics"]["eer"] and stored["roc_auc"] == data["metrics"]["roc_auc"]
    assert data["num_failed"] == 1 and "zz_broken.wav" in data["failures"][0]["error"]
    assert "metrics stored in" in captured.out


def test_evaluate_writes_scores_and_reports_from_them_without_the_model(models, folder, tmp_path, capsys):
    scored, replayed, scores = tmp_path / "scored", tmp_path / "replayed", tmp_path / "scores.tsv"
    assert (
        main(
            [
                "evaluate",
                models[0],
                "--data",
                str(folder),
                "-o",
                str(scored),
                "--scores",
                str(scores),
                "--bootstrap",
                "50",
            ]
        )
        == 0
    )
    first = capsys.readouterr().out
    lines = scores.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if not line.startswith("# "))
    assert lines[start].split("\t")[:4] == ["id", "score", "llr", "label"]
    rows = [line.split("\t") for line in lines[start + 1 :]]
    assert sorted(r[0] for r in rows) == sorted([f"r{i}" for i in range(5)] + [f"f{i}" for i in range(5)])  # file names
    assert all(0.0 <= float(r[1]) <= 1.0 for r in rows) and {r[3] for r in rows} == {"real", "fake"}
    assert main(["evaluate", "--from-scores", str(scores), "-o", str(replayed), "--bootstrap", "50"]) == 0
    second = capsys.readouterr().out
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (scored, replayed))
    assert (
        a["metrics"] == b["metrics"]
        and a["groups"] == b["groups"]
        and (a["name"], a["threshold"]) == (b["name"], b["threshold"])
    )
    assert first.splitlines()[0] == second.splitlines()[0]  # the same EER line
    assert (replayed / "report.md").is_file() and (replayed / "roc.png").is_file()
    assert main(["evaluate", models[0], "--from-scores", str(scores), "-o", str(replayed)]) == 2
    assert "it does not score: drop MODEL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # without --from-scores, MODEL and --data stay required
        main(["evaluate", "--data", str(folder), "-o", str(replayed)])
    assert info.value.code == 2 and "required: model" in capsys.readouterr().err.lower()


def test_evaluate_bad_model_is_a_clean_error(folder, folder_loader, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing"), "--data", str(folder), "-o", str(tmp_path / "r")]) == 1
    assert "wavguard: error:" in capsys.readouterr().err


def test_compare_two_detectors_and_an_ensemble(models, folder, folder_loader, tmp_path, capsys):
    from wavguard import Detector

    dets = [Detector.from_pretrained(m) for m in models]
    ens_dir = Ensemble(dets, [0.5, 0.5], 0.0, sources=models).save_pretrained(tmp_path / "ens")
    out = tmp_path / "cmp"
    code = main(
        [
            "compare",
            *models,
            str(ens_dir),
            "--data",
            str(folder),
            "--out",
            str(out),
            "--names",
            "a",
            "b",
            "ab",
            "--bootstrap",
            "0",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "compare.json").read_text())
    assert [r["name"] for r in summary["models"]] == ["a", "b", "ab"]
    alone = evaluate_detector(dets[0], folder_loader(str(folder)), bootstrap_resamples=0)
    assert summary["models"][0]["eer"] == alone.metrics["eer"]
    assert f"a   EER {100 * alone.metrics['eer']:.2f}%" in printed
    assert (out / "compare.md").read_text().startswith("# Detector comparison")
    assert (out / "roc.png").is_file()
    assert (
        main(["compare", *models, "--data", str(folder), "--out", str(out), "--names", "x"]) == 2
    )  # ConfigError: usage
