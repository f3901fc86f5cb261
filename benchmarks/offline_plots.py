"""Plots of the offline benchmark (``offline_benchmark.py``'s ``results.jsonl``) for docs/benchmarks.md.

    python -m benchmarks.offline_plots runs/benchmark/results.jsonl --out docs/images

They read the grouped shape of ``offline_results.load_results`` (an older ``results.json`` of
that shape works too).

Every EER here points the same way: lower is better; scores are the probability of FAKE.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from wavguard.evaluation.report import _figure, _save

PREFIX = "benchmark_"


def _bars(ax, groups: list[str], series: dict[str, tuple[list[float], list[float]]], ylabel: str) -> None:
    """Grouped bars: one group per entry of ``groups``, one bar per series (mean, std in %)."""
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for k, (name, (means, stds)) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=name)
    ax.axhline(50, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xticks(x, groups)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")


def _stat(runs: list[dict], get) -> tuple[float, float]:
    values = np.asarray([v for v in (get(r) for r in runs) if v is not None and not np.isnan(v)], dtype=float)
    return (100 * values.mean(), 100 * values.std()) if values.size else (np.nan, 0.0)


def plot_eer(results: dict[str, Any], path: Path) -> Path:
    """EER % pooled / seen families / unseen families per system (mean ± std over seeds)."""
    systems = list(results["systems"])
    series = {}
    for key, name in (("eer", "pooled"), ("eer_seen", "seen families"), ("eer_unseen", "unseen families")):
        stats = [_stat(results["systems"][s], lambda r, key=key: r[key]) for s in systems]
        series[name] = ([m for m, _ in stats], [sd for _, sd in stats])
    fig, ax = _figure(6.5, 3.6)
    _bars(ax, [f"({s})" for s in systems], series, "test EER % (lower is better)")
    ax.set_title("Test split (unseen speaker and language): EER by system")
    return _save(fig, path)


def plot_families(results: dict[str, Any], path: Path) -> Path:
    """EER % per generator family (fakes of one family against all real clips) per system."""
    systems = list(results["systems"])
    families = sorted({f for runs in results["systems"].values() for r in runs for f in r["per_family"]})
    seen = set(results.get("seen_families", []))
    series = {}
    for s in systems:
        stats = [_stat(results["systems"][s], lambda r, f=f: r["per_family"].get(f)) for f in families]
        series[f"({s})"] = ([m for m, _ in stats], [sd for _, sd in stats])
    fig, ax = _figure(7.5, 3.6)
    _bars(ax, [f + ("" if f in seen else "\n(unseen)") for f in families], series, "test EER % (lower is better)")
    ax.set_title("EER per generator family")
    return _save(fig, path)


def plot_det(results: dict[str, Any], path: Path) -> Path | None:
    """DET curves of each system's first seed on the test split."""
    from wavguard.evaluation.report import plot_det as det

    if "test_labels" not in results:
        return None
    labels = np.asarray(results["test_labels"])
    curves = []
    for s, runs in results["systems"].items():
        if runs and "scores" in runs[0]:
            curves.append(
                SimpleNamespace(
                    labels=labels, scores=np.asarray(runs[0]["scores"]), name=f"({s})", metrics={"eer": runs[0]["eer"]}
                )
            )
    return det(curves, path, title="DET, test split (first seed)")


def plot_layers(results: dict[str, Any], path: Path) -> Path | None:
    """Learned softmax layer weights (a, b, d) next to the linear probe's EER per layer (c)."""
    weights = {
        s: np.mean([r["layer_weights"] for r in runs], axis=0)
        for s, runs in results["systems"].items()
        if runs and "layer_weights" in runs[0]
    }
    probe = results["systems"].get("c")
    if not weights and not probe:
        return None
    fig, (left, right) = _figure(8.0, 3.2, ncols=2)
    for s, w in weights.items():
        left.plot(range(len(w)), w, marker="o", label=f"({s})")
    if weights:
        left.axhline(1 / len(next(iter(weights.values()))), color="grey", linestyle=":", linewidth=0.8)
    left.set(xlabel="layer (0 = embeddings)", ylabel="softmax weight", title="learned layer weights")
    if weights:
        left.legend(fontsize="small")
    left.grid(alpha=0.3)
    if probe:
        rows = probe[0]["per_layer"]
        for key, name in (("val_eer", "validation"), ("test_eer", "test")):
            right.plot([r["layer"] for r in rows], [100 * r[key] for r in rows], marker="o", label=name)
        right.legend(fontsize="small")
    right.set(xlabel="layer (0 = embeddings)", ylabel="EER %", title="linear probe per layer (c)")
    right.grid(alpha=0.3)
    return _save(fig, path)


def plot_channels(results: dict[str, Any], path: Path) -> Path | None:
    """EER % under each degradation channel next to clean, first seed of each system."""
    robust = {
        s: next(r["channels"] for r in runs if "channels" in r)
        for s, runs in results["systems"].items()
        if any("channels" in r for r in runs)
    }
    if not robust:
        return None
    names = list(next(iter(robust.values())))
    series = {f"({s})": ([100 * ch[n] for n in names], [0.0] * len(names)) for s, ch in robust.items()}
    fig, ax = _figure(7.0, 3.4)
    _bars(ax, names, series, "EER % (lower is better)")
    ax.set_title("Robustness: seeded degraded copies of the test sample")
    return _save(fig, path)


def plot_depth(results: dict[str, Any], path: Path) -> Path | None:
    """Scoring speed (seconds of audio per second) by number of backbone layers kept."""
    speeds = results.get("truncation_speed")
    if not speeds:
        return None
    fig, ax = _figure(4.5, 3.0)
    layers = [int(k) for k in speeds]
    ax.plot(layers, list(speeds.values()), marker="o")
    ax.set(
        xlabel="Whisper-base encoder layers kept",
        ylabel="audio seconds per second",
        title="scoring speed, 2 CPU threads",
    )
    ax.set_xticks(layers)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_leave_out(results: dict[str, Any], path: Path) -> Path | None:
    """EER % of each left-out generator's test fakes: (a) trained with it, and without it."""
    from benchmarks.offline_results import leave_out_baseline

    left = results.get("leave_out") or {}
    if not left:
        return None
    values = sorted(left)
    with_it = [
        _stat([{"v": v} for v in leave_out_baseline(value, results["systems"].get("a", []))], lambda r: r["v"])
        for value in values
    ]
    without = [_stat(left[value], lambda r: r.get("leave_out_eer")) for value in values]
    series = {
        "(a), heard in training": ([m for m, _ in with_it], [sd for _, sd in with_it]),
        "(a) without it": ([m for m, _ in without], [sd for _, sd in without]),
    }
    fig, ax = _figure(6.0, 3.4)
    _bars(ax, values, series, "EER % of its test fakes")
    ax.set_title("A generator never heard in training")
    return _save(fig, path)


def plot_all(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Every plot that ``results`` has data for, as ``out_dir/benchmark_<name>.png``."""
    out_dir = Path(out_dir)
    made = {}
    for name, fn in (
        ("eer", plot_eer),
        ("families", plot_families),
        ("det", plot_det),
        ("layers", plot_layers),
        ("channels", plot_channels),
        ("depth", plot_depth),
        ("leave_out", plot_leave_out),
    ):
        path = fn(results, out_dir / f"{PREFIX}{name}.png")
        if path is not None:
            made[name] = path
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="results.jsonl of offline_benchmark.py (or an older results.json)")
    parser.add_argument("--out", default="docs/images")
    args = parser.parse_args()
    if args.results.endswith(".jsonl"):
        from benchmarks.offline_results import load_results

        results = load_results(args.results)
    else:
        results = json.loads(Path(args.results).read_text())
    for name, path in plot_all(results, args.out).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
