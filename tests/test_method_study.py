"""The method study's pure parts: row settings, unseen generators, validation summaries, the
results file and its table (no training here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from benchmarks import study_degraded

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def study_module():
    from benchmarks import method_study

    return method_study


RECIPE = {
    "mode": "lora",
    "num_layers": 4,
    "epochs": 6,
    "detector": {"window_seconds": 4.0, "head_channels": [128]},
    "augment": {"transforms": [{"name": "gain", "p": 0.5}]},
    "seed": 0,
    "output_dir": "runs/x",
}
STUDY = {
    "budget": {"epochs": 3, "early_stopping_patience": None},
    "rows": {
        "recipe": {"what": "as is", "set": {}},
        "crop6": {"what": "6 s", "set": {"crop_seconds": 6.0, "detector": {"window_seconds": 6.0}}},
        "no_augment": {"what": "none", "set": {"augment": None}},
        "recipe_max": {"what": "max", "from": "recipe", "detector": {"aggregation": "max"}},
    },
}


def test_row_settings_apply_row_then_budget_and_drop_study_owned_fields(study_module):
    crop6 = study_module.row_settings(RECIPE, STUDY, "crop6")
    assert crop6 == {
        "mode": "lora",
        "num_layers": 4,
        "epochs": 3,
        "early_stopping_patience": None,
        "crop_seconds": 6.0,
        "detector": {"window_seconds": 6.0, "head_channels": [128]},
        "augment": {"transforms": [{"name": "gain", "p": 0.5}]},
    }
    assert study_module.row_settings(RECIPE, STUDY, "no_augment")["augment"] is None
    assert RECIPE["detector"] == {"window_seconds": 4.0, "head_channels": [128]}  # the recipe is not changed


def test_a_rows_own_budget_replaces_the_study_budget_for_that_row_alone(study_module, tmp_path):
    study = {**STUDY, "rows": {**STUDY["rows"], "long": {"what": "30 epochs", "set": {}, "budget": {"epochs": 30}}}}
    long = study_module.row_settings(RECIPE, study, "long")
    assert (long["epochs"], long["early_stopping_patience"]) == (30, None)
    assert study_module.row_settings(RECIPE, study, "recipe")["epochs"] == 3
    assert study["budget"] == {"epochs": 3, "early_stopping_patience": None}  # the study's budget is not changed
    bad = tmp_path / "study.yaml"
    bad.write_text(yaml.safe_dump({"rows": {"x": {"pretrained": "runs/best", "budget": {"epochs": 9}}}}))
    with pytest.raises(SystemExit, match="row 'x' has a `budget` but trains nothing"):
        study_module.load_study(bad)


def test_load_study_refuses_a_rescore_of_an_unknown_row(study_module, tmp_path):
    bad = tmp_path / "study.yaml"
    bad.write_text(yaml.safe_dump({"rows": {"x": {"from": "nothing", "detector": {}}}}))
    with pytest.raises(SystemExit, match="re-scores row 'nothing'"):
        study_module.load_study(bad)
    both = tmp_path / "both.yaml"
    both.write_text(yaml.safe_dump({"rows": {"a": {"set": {}}, "b": {"from": "a", "set": {}}}}))
    with pytest.raises(SystemExit, match="choose one"):
        study_module.load_study(both)


STUDY_FILES = sorted(p.name for p in BENCH.glob("study*.yaml"))


def test_the_shipped_study_files_are_found():
    assert {"study.yaml", "study_aasist.yaml", "study_full.yaml", "study_paired.yaml"} <= set(STUDY_FILES)


@pytest.mark.parametrize("name", STUDY_FILES)
def test_each_shipped_study_file_names_only_trainconfig_fields(study_module, name):
    from wavguard.training import TrainConfig

    study = study_module.load_study(BENCH / name)
    recipe = yaml.safe_load((BENCH.parent / "recipes" / "offline_corpus" / "train.yaml").read_text())
    trained = [row for row, spec in study["rows"].items() if "set" in spec]
    assert trained, f"{name} trains no row"
    for row in trained:
        TrainConfig(**study_module.row_settings(recipe, study, row), train_data="x.csv")  # validates every field


def test_study_rows_set_pairing_against_the_paired_recipe(study_module):
    """train.yaml pairs copies with the margin loss; each study row still trains what it was measured with."""
    from wavguard.training import TrainConfig

    recipe = yaml.safe_load((BENCH.parent / "recipes" / "offline_corpus" / "train.yaml").read_text())

    def pairing(study_file, row):
        study = study_module.load_study(BENCH / study_file)
        return TrainConfig(**study_module.row_settings(recipe, study, row), train_data="x.csv").pairing

    assert pairing("study.yaml", "recipe") is None
    assert pairing("study_aasist.yaml", "aasist_fused_frozen") is None
    assert pairing("study_paired.yaml", "pairs_added") is None
    assert pairing("study_paired.yaml", "paired_batches") == {
        "column": "source_id",
        "margin_weight": 0.0,
        "margin": 1.0,
    }
    assert pairing("study_paired.yaml", "paired_margin") == {"column": "source_id", "margin_weight": 0.5, "margin": 1.0}


def test_held_out_generators_are_families_or_exact_attacks_and_are_checked(study_module):
    import datasets

    mask = study_module.held_out_mask(
        ["hifigan/a", "hifigan/b", "festival/k", "bonafide"],
        ["hifigan", "hifigan", "festival", "bonafide"],
        ["festival", "hifigan/b"],
    )
    assert mask.tolist() == [False, True, True, False]
    train = datasets.Dataset.from_dict(
        {"attack": ["hifigan/a", "bonafide"], "family": ["hifigan", "bonafide"], "label": [1, 0]}
    )
    val = datasets.Dataset.from_dict(
        {
            "attack": ["hifigan/b", "festival/k", "bonafide"],
            "family": ["hifigan", "festival", "bonafide"],
            "label": [1, 1, 0],
        }
    )
    study_module.check_held_out(train, val, ["festival", "hifigan/b"])
    with pytest.raises(SystemExit, match="'hifigan' has 1 train fakes"):
        study_module.check_held_out(train, val, ["hifigan"])
    with pytest.raises(SystemExit, match="'world' has no validation fake"):
        study_module.check_held_out(train, val, ["world"])


def test_validation_summary_exact_eers(study_module):
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.4, 0.9, 0.8, 0.35, 0.05]
    attacks = ["bonafide"] * 4 + ["seen/a", "seen/a", "new/b", "new/b"]
    families = ["bonafide"] * 4 + ["seen", "seen", "new", "new"]
    out = study_module.validation_summary(labels, scores, attacks, families, ["new"])
    assert out["val_per_family"]["seen"] == pytest.approx(0.0)  # both seen fakes above every real clip
    assert out["val_per_attack"]["seen/a"] == pytest.approx(0.0)
    # new/b: 0.35 beats 3 of 4 real clips, 0.05 beats none -> EER 0.5 on [real x4, new x2]
    assert out["val_per_family"]["new"] == pytest.approx(0.5)
    assert out["val_eer_held_out"] == pytest.approx(0.5)
    assert 0.0 < out["val_eer"] < 0.5


def test_results_file_appends_lines_and_skips_a_torn_last_line(study_module, tmp_path):
    results = tmp_path / "out" / "results.jsonl"
    study_module.append_line(results, {"row": "recipe", "seed": 0, "val_eer": 0.25})
    study_module.append_line(results, {"row": "recipe", "seed": 1, "val_eer": 0.35})
    with open(results, "a") as f:
        f.write('{"row": "crop6", "se')  # a run killed while writing
    assert [(r["row"], r["seed"]) for r in study_module.read_lines(results)] == [("recipe", 0), ("recipe", 1)]


def _record(row, seed, eer, unseen, seconds=None):
    r = {
        "row": row,
        "seed": seed,
        "what": STUDY["rows"][row]["what"],
        "val_eer": eer,
        "val_eer_held_out": unseen,
        "val_per_family": {"hifigan": unseen, "lpc": eer / 2},
    }
    if seconds is not None:
        r["train_seconds"] = seconds
        r["trainable"] = 542_000
    return r


def test_render_is_one_line_per_row_in_study_order_with_mean_and_std(study_module):
    records = [
        _record("crop6", 0, 0.20, 0.30, 100.0),
        _record("recipe", 0, 0.10, 0.20, 50.0),
        _record("recipe", 1, 0.20, 0.40, 70.0),
        _record("recipe_max", 0, 0.12, 0.22),
    ]
    table = study_module.render(records, STUDY).splitlines()
    assert (
        table[0]
        == "| row | what | seeds | val EER % pooled | val EER % held-out generators | hifigan | lpc | trainable | train s |"
    )
    assert table[2] == "| recipe | as is | 2 | 15.0 ± 5.0 | 30.0 ± 10.0 | 30.0 ± 10.0 | 7.5 ± 2.5 | 0.542 M | 60 |"
    assert table[3] == "| crop6 | 6 s | 1 | 20.0 | 30.0 | 30.0 | 10.0 | 0.542 M | 100 |"
    assert table[4] == "| recipe_max | max | 1 | 12.0 | 22.0 | 22.0 | 6.0 | - | - |"
    assert len(table) == 5


def test_main_refuses_rows_already_done_without_resume(study_module, tmp_path, capsys):
    out = tmp_path / "study"
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(STUDY))
    study_module.append_line(out / "results.jsonl", _record("recipe", 0, 0.1, 0.2, 5.0))
    with pytest.raises(SystemExit):
        study_module.main(["--manifest", "m.csv", "--out", str(out), "--study", str(study_file), "--rows", "recipe"])
    assert "pass --resume" in capsys.readouterr().err
    assert study_module.main(["--out", str(out), "--study", str(study_file), "--report"]) == 0
    assert "| recipe | as is | 1 | 10.0 |" in capsys.readouterr().out
    assert json.loads((out / "results.jsonl").read_text())["row"] == "recipe"


def _noise_clips(tmp_path, labels: list[int], seed: int):
    """One-second noise WAVs as a validation set: real rows attack ``bonafide``, fakes ``x/a``."""
    import datasets
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(len(labels)):
        path = tmp_path / f"c{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
        paths.append(str(path))
    return datasets.Dataset.from_dict(
        {
            "audio": paths,
            "label": labels,
            "attack": ["x/a" if y else "bonafide" for y in labels],
            "family": ["x" if y else "bonafide" for y in labels],
        }
    )


def test_channel_rescoring_pools_every_clip_through_every_channel(study_module, tmp_path):
    from wavguard.detector import build_baseline_detector

    validation = _noise_clips(tmp_path, [0, 0, 0, 1, 1, 1], seed=0)
    record = {}
    labels, scores, attacks, families = study_degraded.score_channels(
        build_baseline_detector("lfcc", window_seconds=0.5),
        validation,
        {"channels": ["noise_snr10", "telephone"], "channel_clips": 4},
        record,
    )
    assert record["channel_clips"] == 4 and set(record["val_per_channel"]) == {"noise_snr10", "telephone"}
    assert len(labels) == len(scores) == len(attacks) == len(families) == 8  # 4 clips x 2 channels
    sample = validation.shuffle(seed=0).select(range(4))
    assert list(labels) == list(sample["label"]) * 2 and list(attacks) == list(sample["attack"]) * 2
    # the clean reference is the same 4 clips scored without a channel
    from wavguard.evaluation.evaluate import evaluate_detector

    clean = evaluate_detector(
        build_baseline_detector("lfcc", window_seconds=0.5), sample, group_columns=(), bootstrap_resamples=0
    )
    assert record["val_eer_clean_sample"] == pytest.approx(clean.metrics["eer"], abs=1e-9)


def test_channel_rescoring_writes_each_pass_and_the_median_score_of_each_class(study_module, tmp_path):
    import numpy as np

    from wavguard.detector import build_baseline_detector
    from wavguard.evaluation.scorefile import read_scores

    validation = _noise_clips(tmp_path, [0, 0, 1, 1, 0, 1], seed=3)
    record = {}
    stem = tmp_path / "scores" / "row-seed0"
    labels, scores, _, _ = study_degraded.score_channels(
        build_baseline_detector("lfcc", window_seconds=0.5),
        validation,
        {"channels": ["reverb"], "channel_clips": 4},
        record,
        stem,
    )
    reverb = read_scores(tmp_path / "scores" / "row-seed0-reverb.tsv")
    clean = read_scores(tmp_path / "scores" / "row-seed0-clean-sample.tsv")
    np.testing.assert_array_equal(reverb.scores, scores)
    np.testing.assert_array_equal(reverb.labels, labels)
    assert len(clean.scores) == 4
    medians = record["val_class_medians"]
    assert set(medians) == {"clean", "reverb"}
    for name, file in (("clean", clean), ("reverb", reverb)):
        assert medians[name]["real"] == pytest.approx(float(np.median(file.scores[file.labels == 0])), abs=1e-12)
        assert medians[name]["fake"] == pytest.approx(float(np.median(file.scores[file.labels == 1])), abs=1e-12)


def test_a_front_end_row_passes_the_clean_sample_and_every_channel_through_it(study_module, tmp_path):
    pytest.importorskip("nara_wpe")
    from benchmarks.dereverb import front_end_channel

    from wavguard.detector import build_baseline_detector
    from wavguard.evaluation.evaluate import evaluate_channels

    validation = _noise_clips(tmp_path, [0, 1, 0, 1, 1, 0], seed=4)
    detector = build_baseline_detector("lfcc", window_seconds=0.5)
    record = {}
    study_degraded.score_channels(
        detector, validation, {"channels": ["reverb"], "channel_clips": 4, "front_end": "wpe"}, record
    )
    sample = validation.shuffle(seed=0).select(range(4))
    expected = evaluate_channels(
        detector,
        sample,
        [front_end_channel(None, "wpe"), front_end_channel("reverb", "wpe")],
        group_columns=(),
        bootstrap_resamples=0,
    )
    assert record["front_end"] == "wpe"
    assert record["val_eer_clean_sample"] == pytest.approx(expected["clean"].metrics["eer"], abs=1e-9)
    assert record["val_per_channel"]["reverb"] == pytest.approx(expected["reverb"].metrics["eer"], abs=1e-9)
    bad = tmp_path / "study.yaml"
    bad.write_text(yaml.safe_dump({"rows": {"x": {"pretrained": "runs/best", "front_end": "wpe"}}}))
    with pytest.raises(SystemExit, match="row 'x' has a `front_end`, which only a row with `channels` uses"):
        study_module.load_study(bad)
    bad.write_text(yaml.safe_dump({"rows": {"x": {"pretrained": "d", "channels": ["reverb"], "front_end": "dsp"}}}))
    with pytest.raises(SystemExit, match="row 'x' has front_end 'dsp'; valid: wpe"):
        study_module.load_study(bad)


def test_a_pretrained_row_scores_a_saved_detector_on_the_backend_it_names(study_module, tmp_path):
    from wavguard.detector import build_baseline_detector

    saved = tmp_path / "saved"
    build_baseline_detector("lfcc", window_seconds=0.5).save_pretrained(saved)
    validation = _noise_clips(tmp_path, [0, 1, 0, 1, 0, 1], seed=2)
    study = {
        "held_out": [],
        "rows": {
            "saved": {
                "what": "a saved detector",
                "pretrained": str(saved),
                "backend": "torch",
                "channels": ["telephone"],
                "channel_clips": 4,
            }
        },
    }
    record = study_module.run_row("saved", 0, study, {}, {"validation": validation}, tmp_path / "out")
    assert record["backend"] == "torch" and record["pretrained"] == str(saved.resolve())
    assert set(record["val_per_channel"]) == {"telephone"} and record["channel_clips"] == 4
    assert 0.0 <= record["val_eer_clean_sample"] <= 1.0
    study["rows"]["saved"]["backend"] = "onnx"
    from wavguard.errors import ConfigError

    with pytest.raises(ConfigError, match="backend must be one of auto, torch, int8, got 'onnx'"):
        study_module.run_row("saved", 0, study, {}, {"validation": validation}, tmp_path / "out")


def test_attack_rescoring_scores_the_attacked_sample(study_module, tmp_path):
    import numpy as np

    from wavguard.detector import build_baseline_detector

    validation = _noise_clips(tmp_path, [0, 1, 0, 1, 0, 1], seed=1)
    record = {}
    labels, scores, attacks, _ = study_degraded.score_attacked(
        build_baseline_detector("lfcc", window_seconds=0.5),
        validation,
        {"attack": {"method": "fgsm", "snr_db": 30}, "clips": 4},
        record,
    )
    sample = validation.shuffle(seed=0).select(range(4))
    assert record["attack"] == {"method": "fgsm", "steps": 3, "snr_db": 30} and record["attack_clips"] == 4
    assert list(labels) == list(sample["label"]) and list(attacks) == list(sample["attack"])
    assert len(scores) == 4 and np.all((np.asarray(scores) >= 0) & (np.asarray(scores) <= 1))


def test_load_study_checks_untrained_pretrained_and_fusion_rows(study_module, tmp_path):
    def load(rows):
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump({"rows": rows}))
        return study_module.load_study(path)

    load(
        {"a": {"untrained": True, "set": {}}, "b": {"pretrained": "dir", "backend": "torch"}, "f": {"fuse": ["a", "b"]}}
    )
    for rows, message in [
        ({"a": {"untrained": True}}, "give the detector's settings"),
        ({"a": {"pretrained": "dir", "set": {}}}, "choose one"),
        ({"a": {"set": {}}, "b": {"from": "a", "backend": "int8"}}, "only a `pretrained` row uses"),
        ({"a": {"set": {}}, "f": {"fuse": ["a"]}}, "at least two other rows"),
        ({"a": {"set": {}}, "f": {"fuse": ["a", "nothing"]}}, r"\['nothing'\] are not"),
        ({"a": {"set": {}}, "b": {"set": {}}, "f": {"fuse": ["a", "b"], "folds": 1}}, "folds must be at least 2"),
    ]:
        with pytest.raises(SystemExit, match=message):
            load(rows)


def test_the_aasist_study_file_names_only_trainconfig_fields(study_module):
    from wavguard.training import TrainConfig

    study = study_module.load_study(BENCH / "study_aasist.yaml")
    recipe = yaml.safe_load((BENCH.parent / "recipes" / "offline_corpus" / "train.yaml").read_text())
    configs = {
        row: TrainConfig(**study_module.row_settings(recipe, study, row), train_data="x.csv")
        for row, spec in study["rows"].items()
        if "set" in spec
    }
    assert configs["aasist_zero_shot"].kind == configs["aasist_linear_frozen"].kind == "aasist"
    assert configs["aasist_linear_frozen"].uses_feature_cache  # a frozen AASIST's embeddings are computed once
    assert configs["aasist_fused_frozen"].detector["aasist"]["train"] == "frozen"
    assert study["rows"]["score_fusion"]["fuse"] == ["release", "aasist_zero_shot"]
    # the raw branch's own input: the clean crop, or RawBoost of it; Whisper's keeps the recipe's augment
    clean, rawboost = configs["fused_lora_graph_clean_aasist"], configs["fused_lora_graph_rawboost"]
    assert clean.aasist_augment_fn == "clean" and clean.augment == configs["fused_lora_graph"].augment is not None
    assert [t["name"] for t in rawboost.aasist_augment["transforms"]] == [
        "rawboost_convolutive",
        "rawboost_impulsive",
        "rawboost_stationary",
    ]
    # system (g) on validation: AASIST alone, trained whole, on clean crops, at its own learning rate
    whole = configs["aasist_full_clean"]
    assert (whole.kind, whole.mode, whole.augment, whole.backbone_learning_rate) == ("aasist", "full", None, 1e-4)
    assert whole.detector["aasist"] == {"weights": "offline:aasist", "head": "published"}
    assert not whole.uses_feature_cache  # the encoder trains: nothing to cache
    # system (h) on validation, AASIST at the backbone's rate or at its own
    fused, own_rate = configs["fused_lora_full_clean_aasist"], configs["fused_lora_full_clean_aasist_lr"]
    assert fused.aasist_train == own_rate.aasist_train == "full" and fused.aasist_augment == "clean"
    assert (fused.aasist_learning_rate, own_rate.aasist_learning_rate) == (None, 1e-4)
    assert fused.backbone_learning_rate == own_rate.backbone_learning_rate == 5e-4


def test_group_folds_keep_each_group_whole_and_balance_the_folds(study_module):
    groups = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2
    folds = study_module.group_folds(groups, 2)
    for name in "abcd":
        assert len({f for g, f in zip(groups, folds) if g == name}) == 1
    assert sorted(int((folds == k).sum()) for k in (0, 1)) == [7, 7]  # a+d and b+c
    assert list(study_module.group_folds(groups, 2)) == list(folds)  # deterministic


def test_cross_validated_fusion_scores_each_fold_with_weights_fitted_on_the_others(study_module):
    import numpy as np

    from wavguard.evaluation.calibration import fit_fusion

    rng = np.random.default_rng(0)
    labels = np.tile([0, 1], 20)
    features = np.column_stack([labels * 2.0 + rng.standard_normal(40), -labels + rng.standard_normal(40)])
    folds = np.repeat([0, 1], 20)
    fused, fits = study_module.cross_validated_fusion(features, labels, folds)
    for fold in (0, 1):
        weights, bias = fit_fusion(features[folds != fold], labels[folds != fold])
        np.testing.assert_allclose(fused[folds == fold], features[folds == fold] @ weights + bias)
        assert fits[fold]["weights"] == pytest.approx(list(weights)) and fits[fold]["clips"] == 20
    assert fits[0]["weights"][0] > 0 > fits[0]["weights"][1]  # each member's direction is learned
    with pytest.raises(SystemExit, match="lacks real or fake"):
        study_module.cross_validated_fusion(features, labels, np.where(labels == 1, 0, 1))


def test_a_fusion_row_reads_its_members_score_files_and_writes_its_own(study_module, tmp_path):
    import datasets
    import numpy as np

    from wavguard.evaluation.evaluate import evaluate_scores
    from wavguard.evaluation.scorefile import read_scores, write_scores

    labels = [0, 1] * 6
    validation = datasets.Dataset.from_dict(
        {
            "id": [f"u{i}" for i in range(12)],
            "label": labels,
            "speaker": [f"s{i // 4}" for i in range(12)],
            "attack": ["bonafide" if y == 0 else "x/a" for y in labels],
            "family": ["bonafide" if y == 0 else "x" for y in labels],
        }
    )
    rng = np.random.default_rng(1)
    for member in ("a", "b"):
        scores = 1 / (1 + np.exp(-(np.asarray(labels) * 2.0 - 1 + rng.standard_normal(12))))
        result = evaluate_scores(labels, scores, bootstrap_resamples=0)
        result.rows = np.arange(12)
        write_scores(result, study_module.scores_path(tmp_path, member, 0), validation)
    record = {"row": "f"}
    got_labels, scores = study_module._fuse({"fuse": ["a", "b"]}, 0, validation, tmp_path, record)
    assert list(got_labels) == labels and record["folds"] == 2 and record["fold_column"] == "speaker"
    assert len(record["fold_fits"]) == 2 and sum(f["clips"] for f in record["fold_fits"]) == 12
    assert set(record["members_val_eer_per_fold"]) == {"a", "b"} and set(record["val_eer_per_fold"]) == {"0", "1"}
    written = read_scores(study_module.scores_path(tmp_path, "f", 0))
    assert written.ids == validation["id"] and np.allclose(written.scores, scores)
    with pytest.raises(SystemExit, match="run it first"):
        study_module._fuse({"fuse": ["a", "missing"]}, 0, validation, tmp_path, {"row": "g"})


def test_per_channel_eer_compares_real_and_fake_clips_of_one_channel(study_module):
    labels = [0, 0, 1, 1, 0, 1, 1]
    scores = [0.1, 0.2, 0.9, 0.8, 0.7, 0.6, 0.5]
    out = study_degraded.per_channel_eer(labels, scores, ["tel", "tel", "tel", "tel", "studio", "studio", "only_fake"])
    assert out == {"tel": pytest.approx(0.0), "studio": pytest.approx(1.0)}


def test_render_channels_is_one_line_per_row_with_channel_eers(study_module):
    records = [
        _record("recipe", 0, 0.1, 0.2) | {"val_per_source_channel": {"tel": 0.1, "studio": 0.3}},
        _record("recipe", 1, 0.1, 0.2) | {"val_per_source_channel": {"tel": 0.2, "studio": 0.5}},
        _record("crop6", 0, 0.1, 0.2),
    ]
    table = study_module.render_channels(records, STUDY).splitlines()
    assert table[0] == "| row | seeds | studio | tel |"
    assert table[2] == "| recipe | 2 | 40.0 ± 10.0 | 15.0 ± 5.0 |" and len(table) == 3
    assert study_module.render_channels([_record("crop6", 0, 0.1, 0.2)], STUDY) == ""


def test_render_degraded_gives_clean_and_channel_eers_with_their_ratio(study_module):
    degraded = {"channel_clips": 300, "val_per_channel": {"telephone": 0.2, "reverb": 0.3}}
    records = [
        _record("recipe_max", 0, 0.25, 0.2) | degraded | {"val_eer_clean_sample": 0.1},
        _record("recipe_max", 1, 0.27, 0.2)
        | degraded
        | {"val_eer_clean_sample": 0.1, "val_per_channel": {"telephone": 0.3, "reverb": 0.3}},
        _record("crop6", 0, 0.1, 0.2) | {"val_per_channel": {"telephone": 0.2}},  # scored before the clean sample
    ]
    table = study_module.render_degraded(records, STUDY).splitlines()
    assert table[0] == "| row | seeds | clips | clean | telephone | reverb | pooled |"
    assert table[2] == "| recipe_max | 2 | 300 | 10.0 | 25.0 (2.50x) | 30.0 (3.00x) | 26.0 |" and len(table) == 3
    assert study_module.render_degraded([records[2]], STUDY) == ""


@pytest.mark.parametrize(
    ("train", "mode", "expected"),
    # 322: the 160 -> 2 head; 86,470: AASIST's graph part (all but the front end, the encoder and its
    # unused output layer); 297,544: all of AASIST but that output layer
    [("frozen", "frozen", 322), ("graph", "frozen", 322 + 86_470), ("full", "full", 322 + 297_544)],
)
def test_trainable_count_counts_what_an_aasist_row_trains(study_module, train, mode, expected):
    from wavguard.detector import build_aasist_detector

    detector = build_aasist_detector(None, "linear", train)
    assert study_module.trainable_count(detector.model, mode) == expected
