"""benchmarks/paired_eer.py: two score files of the same clips joined on id, in any order, their
EERs and paired difference in exact numbers, and clear refusals of files that do not pair."""

from __future__ import annotations

import pytest
from benchmarks import paired_eer

from wavguard.errors import ConfigError


def _write(path, rows):
    lines = ["# wavguard-scores: 1", "id\tscore\tlabel"] + [f"{utt}\t{score!r}\t{label}" for utt, score, label in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


BASE = [("r1", 0.1, "real"), ("r2", 0.6, "real"), ("f1", 0.4, "fake"), ("f2", 0.9, "fake")]
# the same clips in another order; every fake now above every real
NEW = [("f2", 0.95, "fake"), ("r2", 0.3, "real"), ("f1", 0.7, "fake"), ("r1", 0.2, "real")]


def test_joined_on_id_with_exact_eers_and_a_pooled_row(tmp_path, capsys):
    base, new = _write(tmp_path / "base.tsv", BASE), _write(tmp_path / "new.tsv", NEW)
    ids, labels, a, b = paired_eer.join_scores(base, new)
    assert ids == ["r1", "r2", "f1", "f2"] and labels.tolist() == [0, 0, 1, 1]
    assert b.tolist() == [0.2, 0.3, 0.7, 0.95]
    rows = paired_eer.compare_pairs([str(base), str(new), str(new), str(base)], resamples=200)
    assert [r["name"] for r in rows] == ["new.tsv", "base.tsv", "pooled"]
    first = rows[0]
    assert (first["clips"], first["eer_base"], first["eer_new"], first["difference"]) == (4, 50.0, 0.0, -50.0)
    assert first["low"] <= -0.0 and first["high"] <= 0.0  # never worse on any draw of these clips
    assert rows[1]["difference"] == 50.0 and rows[2]["clips"] == 8
    assert paired_eer.main([str(base), str(new), "--resamples", "100"]) == 0
    assert "| new.tsv | 4 | 50.00 | 0.00 | -50.00 [" in capsys.readouterr().out


def test_files_that_do_not_pair_are_refused(tmp_path, capsys):
    base = _write(tmp_path / "base.tsv", BASE)
    with pytest.raises(ConfigError, match=r"score different clips \(1 only in the first, 0 only in the second"):
        paired_eer.join_scores(base, _write(tmp_path / "short.tsv", NEW[:3]))
    relabelled = [(u, s, "fake" if u == "r2" else lab) for u, s, lab in NEW]
    with pytest.raises(ConfigError, match="label clip 'r2' differently"):
        paired_eer.join_scores(base, _write(tmp_path / "relabelled.tsv", relabelled))
    with pytest.raises(ConfigError, match="repeats utterance ids"):
        paired_eer.join_scores(base, _write(tmp_path / "twice.tsv", NEW + NEW[:1]))
    assert paired_eer.main([str(base)]) == 2
    assert "give the score files in pairs" in capsys.readouterr().err
