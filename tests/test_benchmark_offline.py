"""The offline benchmark: its results file (append, resume, report), leave-one-out filter, system
configs, and the tables and plots rendered from a small synthetic results.jsonl. No training here
except the end-to-end test (marked slow)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _aasist_marks import needs_weights


@pytest.fixture(scope="module")
def modules():
    pytest.importorskip("matplotlib")
    from benchmarks import offline_benchmark, offline_plots, offline_results, offline_systems

    return SimpleNamespace(
        bench=offline_benchmark, plots=offline_plots, results=offline_results, systems=offline_systems
    )


def _run(system: str, seed: int, eer: float, leave_out: str | None = None, layers: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    run = {
        "type": "run",
        "system": system,
        "seed": seed,
        "leave_out": leave_out,
        "eer": eer,
        "eer_seen": eer - 0.05,
        "eer_unseen": eer + 0.05,
        "roc_auc": 1 - eer,
        "val_eer": eer - 0.1,
        "per_attack": {"hifigan/universal22k": eer + 0.2, "griffinlim/mel80": eer},
        "per_family": {"griffinlim": eer, "world": eer + 0.1},
        "per_language": {"nl": eer},
        "per_channel": {"studio_16k": eer, "telephone_8k": eer + 0.3},
        "seen_families": ["griffinlim", "hifigan"],
        "params": 21_000_000,
        "trainable": 400_000,
        "train_seconds": 60.0,
        "speed": 50.0,
        "scores": rng.uniform(size=8).tolist(),
    }
    if layers:
        run["layer_weights"] = [0.5, 0.3, 0.2]
    if leave_out:
        run["leave_out_eer"] = eer + 0.3
    return run


def _write(mod, path: Path) -> Path:
    per_layer = [{"layer": k, "val_eer": 0.3 + 0.01 * k, "test_eer": 0.4 - 0.01 * k} for k in range(3)]
    probe = {**_run("c", 0, 0.4, layers=False), "per_layer": per_layer, "layer": 0, "speed": None}
    a1 = _run("a", 1, 0.3)
    a0 = {**_run("a", 0, 0.2), "channels": {"clean": 0.2, "mp3_24k": 0.25}}
    f0 = {**_run("f", 0, 0.45, layers=False), "params": 7938, "trainable": 7938}
    lines = [
        {"type": "corpus", "test_labels": [0, 0, 0, 0, 1, 1, 1, 1], "sizes": {"train": 8, "validation": 8, "test": 8}},
        a1,
        probe,
        f0,
        a0,  # seeds out of order: the report sorts them
        _run("a", 0, 0.25, leave_out="hifigan/universal22k"),
        _run("a", 1, 0.35, leave_out="hifigan/universal22k"),
        {"type": "depth_speed", "truncation_speed": {"2": 90.0, "6": 40.0}},
    ]
    for line in lines:
        mod.results.append_line(path, line)
    return path


def test_report_tables_from_the_results_file(modules, tmp_path):
    results = modules.results.load_results(_write(modules, tmp_path / "results.jsonl"))
    assert [r["seed"] for r in results["systems"]["a"]] == [0, 1]
    assert list(results["leave_out"]) == ["hifigan/universal22k"]
    text = modules.bench.render_markdown(results)
    # (a): EER 20% and 30% over two seeds -> 25.0 ± 5.0; validation 10% and 20% -> 15.0 ± 5.0
    assert (
        "| (a) recipe detector (Whisper-base + LoRA + CNN head) | 2 | 15.0 ± 5.0 | 25.0 ± 5.0 | 20.0 ± 5.0 | "
        "30.0 ± 5.0 | 0.750 | 21.00 M | 0.400 M | 60 | 50.0 |"
    ) in text
    assert "| (c) linear probe (best layer) | 1 | 30.0 ± 0.0 | 40.0 ± 0.0 |" in text and "| 60 | n/a |" in text
    assert (
        "| (f) notebook method: log-mel CNN + pitch/stretch/noise augmentation | 1 | 35.0 ± 0.0 | 45.0 ± 0.0 |" in text
    )
    assert "| (a) | 25.0 ± 5.0 | 35.0 ± 5.0 |" in text  # per family: griffinlim, world
    assert (
        "| system | studio_16k | telephone_8k |" in text and "| (a) | 25.0 ± 5.0 | 55.0 ± 5.0 |" in text
    )  # per channel
    # leave-one-out: with it (a's per_attack: 40 %, 50 %) -> 45.0; without it 55 %, 65 % -> 60.0 ± 5.0; pooled 30.0 ± 5.0
    assert "| hifigan/universal22k | 45.0 | 60.0 ± 5.0 | 30.0 ± 5.0 | 2 / 2 |" in text
    assert "| (a) | 20.0 | 25.0 |" in text  # robustness: clean, mp3_24k
    assert "| val | 30.0 | 31.0 | 32.0 |" in text and "| test | 40.0 | 39.0 | 38.0 |" in text
    assert "| audio s/s | 90.0 | 40.0 |" in text


def test_every_plot_is_written(modules, tmp_path):
    results = modules.results.load_results(_write(modules, tmp_path / "results.jsonl"))
    made = modules.plots.plot_all(results, tmp_path / "plots")
    assert sorted(made) == ["channels", "depth", "det", "eer", "families", "layers", "leave_out"]
    for path in made.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.name.startswith("benchmark_")


def test_appending_survives_a_line_cut_short(modules, tmp_path):
    path = tmp_path / "r.jsonl"
    modules.results.append_line(path, {"type": "run", "system": "a", "seed": 0, "leave_out": None})
    with open(path, "a") as f:
        f.write('{"type": "run", "system": "b", "se')  # a crash mid-write
    modules.results.append_line(path, {"type": "run", "system": "e", "seed": 2, "leave_out": None})
    records = modules.results.read_lines(path)
    assert modules.results.done_runs(records) == {("a", 0, None), ("e", 2, None)}
    assert path.read_text().count("\n") == 3


def test_runs_to_do_skip_finished_runs_only_with_resume(modules):
    todo = modules.results.runs_to_do
    done = {("a", 0, None), ("a", 1, "piper")}
    requested = [("a", 0, None), ("a", 1, None), ("a", 0, "piper"), ("a", 1, "piper"), ("a", 1, None)]
    assert todo(requested, done, resume=True) == [("a", 1, None), ("a", 0, "piper")]
    assert todo(requested[1:3], done, resume=False) == [("a", 1, None), ("a", 0, "piper")]
    with pytest.raises(ValueError, match=r"already has \(a\) seed 0, \(a\) seed 1 without piper: pass --resume"):
        todo(requested, done, resume=False, results="r.jsonl")


def test_a_results_file_of_another_corpus_is_refused(modules):
    corpus = {"type": "corpus", "test_labels": [0, 1], "sizes": {"train": 4, "validation": 2, "test": 2}}
    assert modules.results.check_corpus([], corpus) is True
    assert modules.results.check_corpus([corpus, {"type": "run"}], dict(corpus)) is False
    with pytest.raises(ValueError, match="another corpus"):
        modules.results.check_corpus([corpus], {**corpus, "test_labels": [1, 0]})


@pytest.fixture()
def split():
    datasets = pytest.importorskip("datasets")
    attacks = [
        "bonafide",
        "hifigan/universal22k",
        "hifigan/lj22k",
        "piper/joe",
        "piper/joe-ipa-cs",
        "bonafide",
        "lpc/o12",
    ]
    return datasets.Dataset.from_dict(
        {
            "label": [0 if a == "bonafide" else 1 for a in attacks],
            "attack": attacks,
            "family": [a.split("/")[0] for a in attacks],
            "row": list(range(len(attacks))),
        }
    )


def test_leave_out_removes_exactly_that_attack_or_family(modules, split):
    systems = modules.systems
    assert systems.without_fakes(split, "hifigan/universal22k")["row"] == [0, 2, 3, 4, 5, 6]
    assert systems.without_fakes(split, "piper")["row"] == [0, 1, 2, 5, 6]
    assert systems.leave_out_mask(split, "hifigan").tolist() == [False, True, True, False, False, False, False]
    assert systems.auto_leave_out(split) == ["hifigan/lj22k", "hifigan/universal22k", "piper"]


def test_leave_out_matching_nothing_is_a_clear_error(modules, split):
    with pytest.raises(
        ValueError,
        match=r"--leave-out 'hifigan/ts16k' matches no fake of the train split; its attacks are \['hifigan/lj22k'",
    ):
        modules.systems.without_fakes(split, "hifigan/ts16k")
    with pytest.raises(ValueError, match="matches no fake"):
        modules.systems.without_fakes(split, "bonafide")  # real clips are never left out
    assert modules.systems.without_fakes(split, "world", required=False)["row"] == list(
        range(7)
    )  # validation may lack it
    args = SimpleNamespace(leave_out=["piper", "flite"], seeds=[0], systems=["a"])
    with pytest.raises(ValueError, match="'flite' matches no fake"):
        modules.bench.requested_runs(args, split)
    args.leave_out = ["auto"]
    assert modules.bench.requested_runs(args, split) == [
        ("a", 0, "hifigan/lj22k"),
        ("a", 0, "hifigan/universal22k"),
        ("a", 0, "piper"),
    ]


def test_summaries_per_channel_and_leave_out_eer(modules):
    datasets = pytest.importorskip("datasets")
    test = datasets.Dataset.from_dict(
        {
            "label": [0, 0, 0, 1, 1, 1],
            "family": ["bonafide"] * 3 + ["hifigan", "hifigan", "lpc"],
            "attack": ["bonafide"] * 3 + ["hifigan/ts16k", "hifigan/lj22k", "lpc/o12"],
            "language": ["en"] * 6,
            "channel": ["studio", "studio", "phone", "studio", "studio", "radio"],
        }
    )
    scores = [0.1, 0.6, 0.2, 0.9, 0.5, 0.8]
    out = modules.bench.summaries(test["label"], scores, test, {"lpc"}, leave_out="hifigan/lj22k")
    assert out["per_channel"] == {"studio": 0.5}  # phone (real only) and radio (fake only) skipped
    assert out["leave_out_eer"] == pytest.approx(1 / 3) and out["leave_out_test_fakes"] == 1
    assert out["eer_seen"] == 0.0 and out["per_family"]["lpc"] == 0.0


def test_system_configs_follow_the_recipe(modules, tmp_path):
    from wavguard.audio.augment import build_augmenter
    from wavguard.training import TrainConfig

    bench, systems = modules.bench, modules.systems
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "backbone: offline:whisper-base\nmode: lora\nepochs: 6\nnum_layers: 4\nloss: ocsoftmax\n"
        "adversarial: {method: fgsm}\naugment: {transforms: [{name: gain, p: 0.5}]}\noutput_dir: x\nseed: 3\n"
    )
    args = bench._parser().parse_args(["--recipe", str(recipe), "--epochs", "2", "--set", "lora_rank=4"])
    settings = bench.recipe_settings(args)
    assert settings["epochs"] == 2 and settings["num_layers"] == 4 and settings["lora_rank"] == 4
    assert "output_dir" not in settings and "seed" not in settings
    b = systems.system_settings("b", settings, 15)
    assert (b["mode"], b["augment"], b["adversarial"], b["epochs"]) == ("frozen", None, None, 15)
    f = systems.system_settings("f", settings, 15)
    assert f["detector"]["spectrogram"] == {"feature": "logmel"} and f["augment"] == systems.NOTEBOOK_AUGMENT
    assert systems.system_settings("e", settings, 15)["augment"] == settings["augment"]
    assert build_augmenter(systems.NOTEBOOK_AUGMENT).names == ["pitch_shift", "time_stretch", "gaussian_snr"]
    for system in "abdefghi":
        cfg = TrainConfig.from_dict({**systems.system_settings(system, settings, 15), "train_data": "data/"})
        assert cfg.kind == {"e": "spectrogram", "f": "spectrogram", "g": "aasist", "i": "aasist"}.get(
            system, "transformer"
        )
    g, i = systems.system_settings("g", settings, 15), systems.system_settings("i", settings, 15)
    assert (g["mode"], i["mode"], g["backbone_learning_rate"], g["epochs"]) == ("full", "frozen", 1e-4, 2)
    assert g["crop_seconds"] == g["detector"]["window_seconds"] == 4.0375  # the 64,600 samples AASIST was trained on
    assert g["detector"]["aasist"] == {"weights": "offline:aasist", "head": "published"}
    assert g["augment"] == settings["augment"] and "backbone" not in g and "loss" not in g
    h = systems.system_settings("h", settings, 15)
    assert h["detector"]["aasist"] == {"weights": "offline:aasist", "train": "full"}
    assert {k: v for k, v in h.items() if k != "detector"} == {k: v for k, v in settings.items() if k != "detector"}
    assert bench._parser().parse_args([]).systems == ["a", "b", "c", "d", "e", "f"]  # g-i only when named


def _tiny_corpus(root: Path) -> Path:
    import soundfile as sf

    rng = np.random.default_rng(0)
    rows = ["path,label,split,speaker,attack,family,language,channel"]
    attacks = {
        "train": ["griffinlim/m80", "hifigan/universal22k"],
        "validation": ["griffinlim/m80", "hifigan/universal22k"],
        "test": ["griffinlim/m80", "hifigan/universal22k"],
    }
    for split, fakes in attacks.items():
        for k in range(8):
            fake = k % 2 == 1
            attack = fakes[(k // 2) % 2] if fake else "bonafide"
            t = np.arange(8000) / 16000
            wave = (0.3 * np.sin(2 * np.pi * (200 + 50 * k) * t) if fake else 0.1 * rng.standard_normal(8000)).astype(
                np.float32
            )
            name = f"wav/{split}-{k}.wav"
            (root / "wav").mkdir(parents=True, exist_ok=True)
            sf.write(root / name, wave, 16000)
            rows.append(
                f"{name},{'fake' if fake else 'real'},{split},s{split},{attack},{attack.split('/')[0]},en,"
                f"{'studio' if k < 4 else 'phone'}"
            )
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


@pytest.mark.slow
def test_end_to_end_seeds_append_resume_and_leave_out(modules, tmp_path):
    """Two seeds of (e) as separate commands, a resume that does nothing, a leave-out run of a
    spectrogram "recipe" (fast), and the report: about ten seconds on 2 CPU cores."""
    bench = modules.bench
    manifest = _tiny_corpus(tmp_path / "corpus")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "kind: spectrogram\nmode: full\nepochs: 1\nbatch_size: 4\ncrop_seconds: 0.5\ndetector: {window_seconds: 0.5}\n"
    )
    common = [
        "--manifest",
        str(manifest),
        "--out",
        str(tmp_path / "out"),
        "--recipe",
        str(recipe),
        "--frozen-epochs",
        "1",
        "--speed-files",
        "2",
    ]
    bench.main([*common, "--systems", "e", "--seeds", "0"])
    bench.main([*common, "--systems", "e", "--seeds", "1"])
    results = tmp_path / "out" / "results.jsonl"
    with pytest.raises(SystemExit, match="already has \\(e\\) seed 1"):
        bench.main([*common, "--systems", "e", "--seeds", "1"])
    bench.main([*common, "--systems", "e", "--seeds", "0", "1", "--resume"])
    bench.main([*common, "--leave-out", "hifigan/universal22k", "--seeds", "0"])
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["type"], r.get("system"), r.get("seed"), r.get("leave_out")) for r in lines] == [
        ("corpus", None, None, None),
        ("run", "e", 0, None),
        ("run", "e", 1, None),
        ("run", "a", 0, "hifigan/universal22k"),
    ]
    assert lines[3]["leave_out_test_fakes"] == 2 and lines[3]["seen_families"] == ["griffinlim"]
    assert (lines[1]["train_clips"], lines[3]["train_clips"], lines[3]["validation_clips"]) == (
        8,
        6,
        6,
    )  # 2 hifigan fakes each
    assert set(lines[1]["per_channel"]) == {"studio", "phone"}
    # an interrupted training: OUT/runs/e-seed0 holds an epoch-1 checkpoint, the run now asks for 2 epochs
    run = tmp_path / "out" / "runs" / "e-seed0"
    epoch1 = (run / "metrics.jsonl").read_text().splitlines()[0]
    bench.main(
        [
            *common,
            "--frozen-epochs",
            "2",
            "--systems",
            "e",
            "--seeds",
            "0",
            "--resume",
            "--results",
            str(tmp_path / "other.jsonl"),
        ]
    )
    resumed = json.loads((tmp_path / "other.jsonl").read_text().splitlines()[1])
    assert (resumed["resumed"], resumed["epochs_run"]) == (True, 2)
    assert (run / "metrics.jsonl").read_text().splitlines()[0] == epoch1  # epoch 1 was not trained again
    assert "epochs: 1\n" in (run / "train_config.yaml").read_text()  # a fresh start would have rewritten it
    bench.main(["--out", str(tmp_path / "out"), "--report"])
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| (e) spectrogram CNN (LFCC) | 2 |" in text and "| hifigan/universal22k | n/a |" in text


@needs_weights
def test_published_aasist_is_scored_without_training(modules, tmp_path):
    """(i): AASIST as published, built and scored on validation and test, nothing trained."""
    from wavguard.detector import build_aasist_detector
    from wavguard.metrics import compute_eer

    bench = modules.bench
    manifest = _tiny_corpus(tmp_path / "corpus")
    results = tmp_path / "out" / "results.jsonl"
    bench.main(
        ["--manifest", str(manifest), "--out", str(tmp_path / "out"), "--systems", "i", "--seeds", "0"]
        + ["--speed-files", "2"]
    )
    run = json.loads(results.read_text().splitlines()[1])
    assert (run["system"], run["trainable"], run["train_seconds"], run["validation_clips"]) == ("i", 0, 0.0, 8)
    assert not (tmp_path / "out" / "runs" / "i-seed0").exists()  # nothing trained, nothing saved
    published = build_aasist_detector("offline:aasist", "published", window_seconds=64_600 / 16_000)
    direct = [p.score for p in published.predict([tmp_path / "corpus" / f"wav/test-{k}.wav" for k in range(8)])]
    assert run["scores"] == pytest.approx(direct, abs=1e-5)  # the published network, as it is
    labels = np.array([0, 1] * 4)  # odd clips are the fakes
    assert run["eer"] == pytest.approx(compute_eer(labels, np.array(run["scores"]))[0], abs=1e-9)
    assert run["params"] == sum(p.numel() for p in published.model.parameters())
    assert run["config"]["mode"] == "frozen"


def test_score_saved_scores_a_saved_detector_the_benchmark_way(modules, tmp_path, capsys):
    from benchmarks import score_saved

    from wavguard.metrics import compute_eer
    from wavguard.testing import tiny_detector

    manifest = _tiny_corpus(tmp_path / "corpus")
    det = tiny_detector("wav2vec2", window_seconds=0.5)
    saved = str(det.save_pretrained(tmp_path / "det"))
    out = tmp_path / "scores.json"
    results = score_saved.main(
        ["--manifest", str(manifest), "--detector", f"one={saved}", "--detector", f"two={saved}", "--json", str(out)]
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    files = [str(tmp_path / "corpus" / f"wav/test-{k}.wav") for k in range(8)]
    labels = np.array([k % 2 for k in range(8)])
    expected = compute_eer(labels, np.array([p.score for p in det.predict(files)]))[0]
    for name in ("one", "two"):
        assert results[name]["clips"] == 8 and results[name]["eer"] == pytest.approx(expected, abs=1e-6)
        assert results[name]["seen_families"] == ["griffinlim", "hifigan"]
        assert set(results[name]["per_family"]) == {"griffinlim", "hifigan"}
    table = capsys.readouterr().out
    assert "| detector | EER % pooled | seen families | unseen families | ROC AUC | griffinlim | hifigan |" in table
    assert f"| one | {100 * expected:.1f} |" in table
    # a scored split that shares a real speaker with train is refused: the score would not be fair
    text = manifest.read_text().replace(",test,stest,bonafide", ",test,strain,bonafide")
    manifest.write_text(text)
    with pytest.raises(SystemExit, match="shares real speakers with train"):
        score_saved.main(["--manifest", str(manifest), "--detector", f"one={saved}"])
