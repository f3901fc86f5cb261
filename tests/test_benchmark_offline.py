"""The offline benchmark's tables and plots, rendered from a small synthetic results.json."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def modules():
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(BENCH))
    try:
        import offline_benchmark
        import offline_plots

        yield offline_benchmark, offline_plots
    finally:
        sys.path.remove(str(BENCH))


def _run(eer: float, seed: int, layers: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    run = {"eer": eer, "eer_seen": eer - 0.05, "eer_unseen": eer + 0.05, "roc_auc": 1 - eer, "val_eer": eer - 0.1,
           "per_family": {"griffinlim": eer, "world": eer + 0.1}, "per_language": {"nl": eer},
           "params": 21_000_000, "trainable": 400_000, "train_seconds": 60.0, "speed": 50.0,
           "scores": rng.uniform(size=8).tolist()}
    if layers:
        run["layer_weights"] = [0.5, 0.3, 0.2]
    return run


def _results() -> dict:
    per_layer = [{"layer": k, "val_eer": 0.3 + 0.01 * k, "test_eer": 0.4 - 0.01 * k} for k in range(3)]
    probe = {**_run(0.4, 9, layers=False), "per_layer": per_layer, "layer": 0}
    a0, a1 = _run(0.2, 0), _run(0.3, 1)
    a0["channels"] = {"clean": 0.2, "mp3_24k": 0.25}
    return {"systems": {"a": [a0, a1], "c": [probe]}, "seen_families": ["griffinlim"],
            "test_labels": [0, 0, 0, 0, 1, 1, 1, 1], "truncation_speed": {"2": 90.0, "6": 40.0}}


def test_markdown_tables_give_mean_and_std_over_seeds(modules):
    bench, _ = modules
    text = bench.render_markdown(_results())
    # (a): EER 20% and 30% over two seeds -> 25.0 ± 5.0; validation 10% and 20% -> 15.0 ± 5.0
    assert "| (a) Whisper-base + LoRA + CNN head | 15.0 ± 5.0 | 25.0 ± 5.0 | 20.0 ± 5.0 | 30.0 ± 5.0 | 0.750 |" in text
    assert "| (a) | 25.0 ± 5.0 | 35.0 ± 5.0 |" in text  # per family: griffinlim, world
    assert "| (a) | 20.0 | 25.0 |" in text  # robustness: clean, mp3_24k
    assert "| val | 30.0 | 31.0 | 32.0 |" in text and "| test | 40.0 | 39.0 | 38.0 |" in text
    assert "| audio s/s | 90.0 | 40.0 |" in text


def test_every_plot_is_written(modules, tmp_path):
    _, plots = modules
    made = plots.plot_all(_results(), tmp_path)
    assert sorted(made) == ["channels", "depth", "det", "eer", "families", "layers"]
    for path in made.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.name.startswith("benchmark_")
