"""write_report: metrics.json equals the computed metrics, PNGs are real images, report.md has the tables."""

import json

import numpy as np
import pytest

from wavguard.evaluation.evaluate import evaluate_scores
from wavguard.evaluation.report import format_percent, to_json, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    n_real, n_fake = 120, 180
    labels = np.repeat([0, 1], [n_real, n_fake])
    attacks = ["-"] * n_real + [f"A0{i % 3 + 1}" for i in range(n_fake)]
    shift = np.array([0.0] * n_real + [{"A01": 3.0, "A02": 1.5, "A03": 0.5}[a] for a in attacks[n_real:]])
    scores = 1 / (1 + np.exp(-(rng.normal(-1.0, 1.0, labels.size) + shift)))
    speakers = [f"spk{i % 4}" for i in range(labels.size)]
    return evaluate_scores(
        labels,
        scores,
        threshold=0.5,
        columns={"attack": attacks, "speaker": speakers},
        name="synthetic",
        bootstrap_resamples=200,
    )


def test_report_files_and_metrics(result, tmp_path):
    report = write_report(result, tmp_path / "rep")
    out = tmp_path / "rep"
    assert report == out / "report.md"
    data = json.loads((out / "metrics.json").read_text())
    assert data["metrics"]["eer"] == result.metrics["eer"]
    assert data["metrics"]["roc_auc"] == result.metrics["roc_auc"]
    assert data["metrics"]["eer_ci95"] == result.metrics["eer_ci95"]
    assert data["metrics"]["confusion"] == result.metrics["confusion"]
    assert data["groups"]["attack"]["A02"]["eer"] == result.groups["attack"]["A02"]["eer"]
    assert set(data["groups"]["speaker"]) == {"spk0", "spk1", "spk2", "spk3"}
    # the attack that shifts fakes most is the easiest
    eers = {a: s["eer"] for a, s in result.groups["attack"].items()}
    assert eers["A01"] < eers["A02"] < eers["A03"]


def test_pngs_are_valid_and_non_trivial(result, tmp_path):
    from matplotlib.image import imread

    write_report(result, tmp_path)
    for name in ("roc.png", "det.png", "confusion.png", "score_histogram.png", "eer_per_attack.png"):
        path = tmp_path / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        image = imread(path)
        assert image.ndim == 3 and image.shape[0] >= 200 and image.shape[1] >= 300, name
        # a plot, not a blank canvas: many distinct colours, and some dark (axis, text, lines) pixels
        colours = np.unique((image[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
        assert len(colours) > 20, name
        assert (image[..., :3].mean(axis=-1) < 0.3).mean() > 0.003, name


def test_markdown_tables(result, tmp_path):
    text = write_report(result, tmp_path).read_text()
    assert text.startswith("# Evaluation: synthetic")
    assert f"**EER {format_percent(result.metrics['eer'])}**" in text
    m = result.metrics
    # the other ASVspoof 5 metrics next to EER, their costs stated
    assert f"; minDCF {m['min_dcf']:.4g}, actDCF {m['act_dcf']:.4g}, Cllr {m['cllr']:.4g} bits; ROC AUC" in text
    assert "spoof prior 0.05, C_miss 1 for flagging a real clip, C_fa 10 for accepting a fake" in text
    pooled = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ")]
    assert pooled[1:6] == [
        "| EER",
        "| EER threshold",
        "| minDCF (normalised, ASVspoof 5 costs)",
        "| actDCF (normalised, ASVspoof 5 costs)",
        "| Cllr (bits)",
    ]
    assert "| attack | EER | minDCF | actDCF | Cllr | AUC |" in text
    for image in ("roc.png", "det.png", "confusion.png", "score_histogram.png", "eer_per_attack.png"):
        assert f"]({image})" in text
    assert "## Per attack" in text and "## Per speaker" in text
    row = next(line for line in text.splitlines() if line.startswith("| A03 |"))
    assert format_percent(result.groups["attack"]["A03"]["eer"]) in row
    assert "| 120 | 60 |" in row  # all real clips, this attack's fakes


def test_single_class_report_and_json_strictness(tmp_path):
    one_class = evaluate_scores([0, 0, 0], [0.1, 0.7, 0.2], threshold=0.5, bootstrap_resamples=0)
    write_report(one_class, tmp_path)
    assert not (tmp_path / "roc.png").exists() and (tmp_path / "score_histogram.png").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"]["eer"] is None
    assert json.loads(to_json({"a": float("nan"), "b": np.float32(0.5), "c": float("inf")})) == {
        "a": None,
        "b": 0.5,
        "c": None,
    }
