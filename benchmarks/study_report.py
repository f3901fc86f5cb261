"""The method study's tables (``method_study.py --report``), from its results file alone: one line
per row, mean ± population std over the row's seeds, EER in percent (scores point to FAKE; lower is
better).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["render", "render_channels", "render_degraded"]


def _mean_std(values: list[float]) -> str:
    arr = np.asarray([v for v in values if v is not None and not np.isnan(v)], dtype=float)
    if not arr.size:
        return "n/a"
    return f"{100 * arr.mean():.1f}" if arr.size == 1 else f"{100 * arr.mean():.1f} ± {100 * arr.std():.1f}"


def _count(parameters: int) -> str:
    """Trainable parameters: in millions, or as they are below a thousand (a linear head)."""
    return f"{parameters / 1e6:.3f} M" if parameters >= 1000 else str(int(parameters))


def _by_row(records: list[dict[str, Any]], study: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(row, its records) for every row with records: the study file's order, then rows it no longer has."""
    by_row: dict[str, list[dict]] = {}
    for r in records:
        by_row.setdefault(r["row"], []).append(r)
    order = [*study["rows"], *sorted(set(by_row) - set(study["rows"]))]
    return [(row, by_row[row]) for row in order if row in by_row]


def render(records: list[dict[str, Any]], study: dict[str, Any]) -> str:
    """The study table: one line per row (mean ± std over its seeds), in the study file's order."""
    families = sorted({f for r in records for f in r["val_per_family"]})
    lines = [
        "| row | what | seeds | val EER % pooled | val EER % held-out generators | "
        + " | ".join(families)
        + " | trainable | train s |",
        "| --- | --- | --- | --- | --- |" + " --- |" * (len(families) + 2),
    ]
    for row, runs in _by_row(records, study):
        seconds = [r["train_seconds"] for r in runs if "train_seconds" in r]
        lines.append(
            f"| {row} | {runs[0]['what']} | {len(runs)} | {_mean_std([r['val_eer'] for r in runs])} | "
            f"{_mean_std([r['val_eer_held_out'] for r in runs])} | "
            + " | ".join(_mean_std([r["val_per_family"].get(f, float("nan")) for r in runs]) for f in families)
            + (f" | {_count(runs[0]['trainable'])}" if "trainable" in runs[0] else " | -")
            + (f" | {np.mean(seconds):.0f} |" if seconds else " | - |")
        )
    return "\n".join(lines)


def render_channels(records: list[dict[str, Any]], study: dict[str, Any]) -> str:
    """EER within each recording channel of the validation clips, one line per row (mean over its
    seeds); empty when no record has them (rows scored before they were recorded)."""
    records = [r for r in records if r.get("val_per_source_channel")]
    if not records:
        return ""
    channels = sorted({c for r in records for c in r["val_per_source_channel"]})
    lines = ["| row | seeds | " + " | ".join(channels) + " |", "| --- | --- |" + " --- |" * len(channels)]
    for row, runs in _by_row(records, study):
        lines.append(
            f"| {row} | {len(runs)} | "
            + " | ".join(_mean_std([r["val_per_source_channel"].get(c, float("nan")) for r in runs]) for c in channels)
            + " |"
        )
    return "\n".join(lines)


def render_degraded(records: list[dict[str, Any]], study: dict[str, Any]) -> str:
    """Rows scored through degradation channels: EER on the clean sample, through each channel, each
    with its ratio to clean, and all channels' scores pooled (means over the row's seeds); empty when
    no record has both (rows scored before the clean sample was recorded)."""
    records = [r for r in records if r.get("val_per_channel") and r.get("val_eer_clean_sample") is not None]
    if not records:
        return ""
    channels = list(dict.fromkeys(c for r in records for c in r["val_per_channel"]))
    lines = [
        "| row | seeds | clips | clean | " + " | ".join(channels) + " | pooled |",
        "| --- | --- | --- | --- |" + " --- |" * (len(channels) + 1),
    ]
    for row, runs in _by_row(records, study):
        clean = float(np.mean([r["val_eer_clean_sample"] for r in runs]))
        cells = []
        for c in channels:
            values = [r["val_per_channel"][c] for r in runs if c in r["val_per_channel"]]
            if not values:
                cells.append("n/a")
                continue
            ratio = f" ({np.mean(values) / clean:.2f}x)" if clean > 0 else ""
            cells.append(f"{100 * np.mean(values):.1f}{ratio}")
        pooled = 100 * float(np.mean([r["val_eer"] for r in runs]))
        lines.append(
            f"| {row} | {len(runs)} | {runs[0]['channel_clips']} | {100 * clean:.1f} | "
            + " | ".join(cells)
            + f" | {pooled:.1f} |"
        )
    return "\n".join(lines)
