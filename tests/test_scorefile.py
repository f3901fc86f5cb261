"""Score files: written from an evaluation, read back into the same metrics without the model."""

import json
import math
import re

import numpy as np
import pytest
from evaluation_data import make_dataset, write_clips

from wavguard.errors import ConfigError
from wavguard.evaluation.evaluate import evaluate_detector, evaluate_scores
from wavguard.evaluation.report import write_report
from wavguard.evaluation.scorefile import evaluate_score_file, read_scores, write_scores
from wavguard.testing import tiny_detector

#: What differs between a scored run and its score file: timing and the rows that failed.
_RUN_ONLY = {"audio_seconds", "scoring_seconds", "audio_seconds_per_second", "failures", "num_failed"}


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A calibrated tiny detector (prior recorded) on 16 clips with id, family and channel columns."""
    rows = write_clips(tmp_path_factory.mktemp("clips"))
    for i, r in enumerate(rows):
        r["id"] = f"utt\t{i}" if i == 3 else (f"line\nbreak\\{i}" if i == 9 else f"utt_{i:02d}")
        r["family"] = None if r["label"] == 0 else ("vocoder" if r["attack"] == "A1" else "tts")
        r["channel"] = "landline" if i % 3 else "voip"
    dataset = make_dataset(rows)
    detector = tiny_detector("wav2vec2", seed=1, window_seconds=0.5, calibration_scale=3.0, calibration_bias=-0.5)
    detector.config.extra = {"calibration_prior_fake": 0.2}
    return evaluate_detector(detector, dataset, bootstrap_resamples=200, name="tiny"), dataset


def test_the_file_has_a_header_and_one_escaped_line_per_utterance(scored, tmp_path):
    result, dataset = scored
    path = write_scores(result, tmp_path / "out" / "scores.tsv", dataset)
    lines = path.read_text().splitlines()
    meta = [line for line in lines if line.startswith("# ")]
    assert meta == [
        "# wavguard-scores: 1",
        '# model: "tiny"',
        f"# threshold: {result.threshold!r}",
        f"# prior_log_odds: {math.log(0.25)!r}",
        '# group_by: ["attack", "speaker"]',
    ]
    # attack first, then the data set's family and channel (known columns), then the other groups
    assert lines[len(meta)].split("\t") == ["id", "score", "llr", "label", "attack", "family", "channel", "speaker"]
    body = [line.split("\t") for line in lines[len(meta) + 1 :]]
    assert len(body) == 16 and all(len(cells) == 8 for cells in body)
    assert body[3][0] == "utt\\t3" and body[9][0] == "line\\nbreak\\\\9" and body[0][0] == "utt_00"
    assert [c[3] for c in body] == ["real"] * 8 + ["fake"] * 8
    assert body[0][5] == "" and body[8][5] == "vocoder" and body[0][6] == "voip"  # unknown family: empty
    # numbers read back bit for bit; the llr is the log-odds minus the calibration prior's
    assert [float(c[1]) for c in body] == result.scores.tolist()
    assert [float(c[2]) for c in body] == (result.log_odds - math.log(0.25)).tolist()
    back = read_scores(path)
    assert back.ids[3] == "utt\t3" and back.ids[9] == "line\nbreak\\9"
    assert back.columns["family"][0] is None and back.columns["channel"][0] == "voip"


def test_from_scores_gives_the_scored_runs_metrics_and_report(scored, tmp_path):
    result, dataset = scored
    again = evaluate_score_file(write_scores(result, tmp_path / "scores.tsv", dataset), bootstrap_resamples=200)
    assert again.metrics == result.metrics  # exactly: EER and its interval, minDCF, actDCF, Cllr, ...
    assert again.groups == result.groups and list(again.groups) == ["attack", "speaker"]
    assert (again.name, again.threshold, again.prior_log_odds) == ("tiny", result.threshold, result.prior_log_odds)
    assert result.metrics["act_dcf"] is not None and result.metrics["cllr"] is not None
    write_report(result, tmp_path / "a")
    write_report(again, tmp_path / "b")
    first, second = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("a", "b"))
    assert {k: v for k, v in first.items() if k not in _RUN_ONLY} == {
        k: v for k, v in second.items() if k not in _RUN_ONLY
    }
    strip = lambda text: [line for line in text.splitlines() if not line.startswith("| scoring speed")]  # noqa: E731
    assert strip((tmp_path / "a" / "report.md").read_text()) == strip((tmp_path / "b" / "report.md").read_text())
    # other groupings and thresholds on request
    by_family = evaluate_score_file(
        tmp_path / "scores.tsv", group_columns=["family", "channel"], threshold=0.9, bootstrap_resamples=0
    )
    assert list(by_family.groups) == ["family", "channel"] and by_family.threshold == 0.9
    assert set(by_family.groups["channel"]) == {"landline", "voip"}


def test_a_hand_written_file_with_only_scores_and_labels(tmp_path):
    path = tmp_path / "other-system.tsv"
    path.write_text("score\tlabel\tattack\n0.1\tbonafide\t-\n0.8\tspoof\tA1\n0.4\t1\tA2\n0.3\t0\t-\n")
    result = evaluate_score_file(path, bootstrap_resamples=0)
    expected = evaluate_scores(
        [0, 1, 1, 0],
        [0.1, 0.8, 0.4, 0.3],
        threshold=0.5,
        columns={"attack": ["-", "A1", "A2", "-"]},
        bootstrap_resamples=0,
    )
    assert result.metrics == expected.metrics and result.groups == expected.groups
    assert result.name == "other-system" and result.sources == ["0", "1", "2", "3"]
    np.testing.assert_allclose(result.llrs, np.log([0.1 / 0.9, 0.8 / 0.2, 0.4 / 0.6, 0.3 / 0.7]), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id\tscore\tlabel\na\t0.2\tmaybe\n", ":2: label must be fake/real"),
        ("id\tscore\tlabel\na\t0.2\n", ":2: 2 cells, the header has 3"),
        ("id\tscore\tlabel\na\t1.7\tfake\n", "score must be P(fake), in [0, 1]"),
        ("id\tscore\tlabel\na\tnan\tfake\n", ":2: score must be finite"),
        ("id\tlabel\na\tfake\n", "needs 'score' and 'label'"),
        ("id\tscore\tlabel\na\\x\t0.2\tfake\n", "unknown escape"),
        ("# threshold: 0.5\n", "no header line"),
        ("id\tscore\tlabel\n", "no scores after the header"),
    ],
)
def test_a_broken_file_names_the_line(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        evaluate_score_file(path)
    with pytest.raises(ConfigError, match="no such score file"):
        read_scores(tmp_path / "missing.tsv")
    with pytest.raises(ConfigError, match="no column"):
        evaluate_score_file(_good(tmp_path), group_columns=["codec"])


def _good(tmp_path):
    path = tmp_path / "good.tsv"
    path.write_text("id\tscore\tlabel\na\t0.2\treal\nb\t0.7\tfake\n")
    return path
