"""Evaluation reports: ``metrics.json``, PNG plots and a ``report.md`` that embeds them.

Layout written by :func:`write_report`::

    OUT_DIR/
      report.md            summary with tables (pooled, per attack, per speaker / condition)
      metrics.json         EvaluationResult.to_dict(): every number in report.md, and more
      roc.png              ROC curve (fake = positive class), EER point marked
      det.png              DET curve on normal-deviate (probit) axes
      confusion.png        confusion matrix at the decision threshold
      score_histogram.png  score distributions of real and fake clips, threshold marked
      eer_per_attack.png   EER of each attack (only with an ``attack`` column)
      eer_per_channel.png  EER clean and through each degradation channel (only with channels)

Plots use matplotlib's object API on the Agg canvas (no pyplot state, no display needed).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_text

__all__ = [
    "write_report",
    "to_json",
    "plot_roc",
    "plot_det",
    "plot_confusion",
    "plot_score_histograms",
    "plot_eer_per_attack",
    "plot_eer_per_channel",
    "format_ratio",
    "format_percent",
    "format_value",
    "markdown_table",
]

_DET_TICKS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.4,
    0.6,
    0.8,
    0.9,
    0.95,
)  # 0.2 % left out: it crowds 0.1 and 0.5


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN and inf to ``None``."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(data: Any) -> str:
    """Strict JSON text (NaN/inf written as ``null``), indented, keys in insertion order."""
    return json.dumps(_clean(data), indent=2, allow_nan=False) + "\n"


def format_percent(value: float | None, digits: int = 2) -> str:
    """``0.0312 -> "3.12%"``; ``None -> "n/a"``."""
    return "n/a" if value is None else f"{100.0 * value:.{digits}f}%"


def format_ratio(value: float | None) -> str:
    """An EER ratio: ``1.234 -> "1.23"``, ``inf -> "inf"``, ``None -> "n/a"``."""
    if value is None:
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.2f}"


def _figure(width_in: float = 5.0, height_in: float = 4.0, ncols: int = 1):
    """(figure, axes) without pyplot's global state; axes is one Axes, or a list when ``ncols`` > 1."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes[0] if ncols == 1 else axes


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def plot_roc(results: Sequence[Any], path: str | os.PathLike, title: str = "ROC (fake = positive)") -> Path:
    """ROC curves of one or more :class:`~wavguard.evaluation.results.EvaluationResult` in one plot.

    x: false-alarm rate (real clips flagged fake); y: detection rate (fake clips caught).
    """
    from sklearn.metrics import roc_curve

    fig, ax = _figure()
    for result in results:
        fpr, tpr, _ = roc_curve(result.labels, result.scores)
        m = result.metrics
        label = (
            f"{result.name} (AUC {m['roc_auc']:.3f}, EER {format_percent(m['eer'])})"
            if m.get("eer") is not None
            else result.name
        )
        line = ax.plot(fpr, tpr, label=label)[0]
        if m.get("eer") is not None:
            ax.plot([m["eer"]], [1.0 - m["eer"]], "o", color=line.get_color())
    ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=0.8)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="false-alarm rate (real flagged fake)",
        ylabel="detection rate (fake caught)",
        title=title,
    )
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_det(results: Sequence[Any], path: str | os.PathLike, title: str = "DET curve") -> Path:
    """DET curves (miss rate vs false-alarm rate on probit axes, ``scipy.stats.norm.ppf``)."""
    from scipy.stats import norm
    from sklearn.metrics import det_curve

    lo, hi = 1e-3, 0.99
    fig, ax = _figure()
    for result in results:
        fpr, fnr, _ = det_curve(result.labels, result.scores)
        line = ax.plot(norm.ppf(np.clip(fpr, lo, hi)), norm.ppf(np.clip(fnr, lo, hi)), label=result.name)[0]
        if result.metrics.get("eer") is not None:
            e = norm.ppf(np.clip(result.metrics["eer"], lo, hi))
            ax.plot([e], [e], "o", color=line.get_color())
    ticks = norm.ppf(_DET_TICKS)
    labels = [f"{100 * t:g}" for t in _DET_TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set(xlim=(norm.ppf(lo), norm.ppf(hi)), ylim=(norm.ppf(lo), norm.ppf(hi)), title=title)
    ax.set_xlabel("false-alarm rate, % (real flagged fake)")
    ax.set_ylabel("miss rate, % (fake let through)")
    ax.plot([norm.ppf(lo), norm.ppf(hi)], [norm.ppf(lo), norm.ppf(hi)], ":", color="grey", linewidth=0.8)
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_confusion(result: Any, path: str | os.PathLike) -> Path:
    """Confusion matrix at ``result.threshold``: rows true class, columns predicted class."""
    matrix = np.asarray(result.metrics["confusion"])
    fig, ax = _figure(4.0, 3.6)
    ax.imshow(matrix, cmap="Blues", vmin=0)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks([0, 1], ["real", "fake"])
    ax.set_yticks([0, 1], ["real", "fake"])
    ax.set(xlabel="predicted", ylabel="true", title=f"threshold {result.threshold:.3g}")
    return _save(fig, path)


def plot_score_histograms(result: Any, path: str | os.PathLike) -> Path:
    """Histograms of P(fake) for real and for fake clips, decision threshold marked."""
    fig, ax = _figure(5.0, 3.6)
    bins = np.linspace(0.0, 1.0, 41)
    for label, name, color in ((0, "real", "tab:blue"), (1, "fake", "tab:red")):
        values = result.scores[result.labels == label]
        if values.size:
            ax.hist(values, bins=bins, alpha=0.6, color=color, label=f"{name} (n={values.size})")
    ax.axvline(result.threshold, color="black", linestyle="--", label=f"threshold {result.threshold:.3g}")
    ax.set(xlabel="score = P(fake)", ylabel="clips", title="score distributions")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_eer_per_attack(result: Any, path: str | os.PathLike) -> Path:
    """Bar chart of EER (%) per attack, pooled EER as a line."""
    per_attack = result.groups.get("attack", {})
    names = list(per_attack)
    values = [100.0 * (per_attack[n]["eer"] or 0.0) for n in names]
    fig, ax = _figure(max(4.0, 0.5 * len(names) + 2.0), 3.6)
    ax.bar(range(len(names)), values, color="tab:orange")
    ax.set_xticks(
        range(len(names)), names, rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center"
    )
    if result.metrics.get("eer") is not None:
        ax.axhline(100.0 * result.metrics["eer"], color="black", linestyle="--", label="pooled")
        ax.legend(fontsize="small")
    ax.set(xlabel="attack", ylabel="EER (%)", title="EER per attack (vs all real clips)")
    return _save(fig, path)


def plot_eer_per_channel(result: Any, path: str | os.PathLike) -> Path:
    """Bar chart of EER (%) on clean audio and through each degradation channel, clean EER as a line."""
    rows = result.robustness()
    names = ["clean"] + [r["channel"] for r in rows]
    values = [100.0 * (result.metrics.get("eer") or 0.0)] + [100.0 * (r["eer"] or 0.0) for r in rows]
    colours = ["tab:blue"] + ["tab:red"] * len(rows)
    fig, ax = _figure(max(4.0, 0.7 * len(names) + 2.0), 3.6)
    bars = ax.bar(range(len(names)), values, color=colours)
    for bar, row in zip(bars[1:], rows):
        ax.annotate(
            f"x{format_ratio(row['eer_ratio'])}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize="small",
        )
    ax.set_xticks(
        range(len(names)), names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center"
    )
    if result.metrics.get("eer") is not None:
        ax.axhline(100.0 * result.metrics["eer"], color="black", linestyle="--", label="clean")
        ax.legend(fontsize="small")
    ax.set(xlabel="channel", ylabel="EER (%)", title="EER per degradation channel (x = ratio to clean)")
    ax.set_ylim(0, max(values + [1.0]) * 1.15)
    return _save(fig, path)


def _robustness_lines(result: Any, images: dict[str, str]) -> list[str]:
    m = result.metrics
    seed = next(iter(result.channels.values())).channel_seed
    lines = [
        "## Robustness",
        "",
        f"The same clips through each degradation channel (wavguard.audio.channels, seed {seed}), at the model's "
        "sample rate; ratio = channel EER / clean EER.",
        "",
    ]
    rows = [
        [
            "clean",
            "no degradation",
            format_value(m.get("eer"), "pct"),
            format_value(m.get("roc_auc")),
            format_value(m.get("min_dcf")),
            "1.00",
            str(int(result.labels.size)),
            str(len(result.failures)),
        ]
    ]
    for r in result.robustness():
        rows.append(
            [
                r["channel"],
                (r["description"] or "").replace("|", "\\|"),
                format_value(r["eer"], "pct"),
                format_value(r["roc_auc"]),
                format_value(r["min_dcf"]),
                format_ratio(r["eer_ratio"]),
                str(r["num_scored"]),
                str(r["num_failed"]),
            ]
        )
    lines += markdown_table(["channel", "degradation", "EER", "AUC", "minDCF", "EER ratio", "clips", "failed"], rows)
    if "eer_per_channel" in images:
        lines += [f"![EER per channel]({images['eer_per_channel']})", ""]
    return lines


def _adversarial_lines(result: Any) -> list[str]:
    a = result.adversarial_summary()
    attacked = result.adversarial
    steps = f", {a['steps']} steps" if a.get("method") == "pgd" else ""
    lines = [
        "## Adversarial robustness",
        "",
        f"The same clips after a white-box {str(a.get('method')).upper()} attack on this detector at "
        f"{a.get('snr_db'):g} dB SNR{steps} (wavguard.evaluation.adversarial): each clip is perturbed to push its "
        "score the wrong way (real clips towards FAKE, fake clips towards REAL). Scores still point towards FAKE. "
        f"Achieved SNR: at least {format_value(a.get('achieved_snr_db_min'))} dB.",
        "",
    ]
    rows = [
        [
            "clean",
            format_value(a["clean_eer"], "pct"),
            format_value(a["clean_roc_auc"]),
            "1.00",
            str(int(result.labels.size)),
        ],
        [
            "attacked",
            format_value(a["eer"], "pct"),
            format_value(a["roc_auc"]),
            format_ratio(a["eer_ratio"]),
            str(int(attacked.labels.size)),
        ],
    ]
    return lines + markdown_table(["audio", "EER", "AUC", "EER ratio", "clips"], rows)


_DCF_NOTE = (
    "minDCF and actDCF are normalised detection costs with the ASVspoof 5 parameters (spoof prior 0.05, "
    "C_miss 1 for flagging a real clip, C_fa 10 for accepting a fake; actDCF at the Bayes threshold "
    "llr > log(1.9)); actDCF and Cllr use llr = logit(score) - {prior}, the log-likelihood ratio in "
    "favour of FAKE. Lower is better for all three."
)


def _prior_text(prior_log_odds: float) -> str:
    if prior_log_odds == 0.0:
        return "0 (no calibration prior recorded: equal priors)"
    return f"{prior_log_odds:.4g} (the log-odds of the fake prior of the calibration data)"


def format_value(value: Any, kind: str = "num") -> str:
    """A metric for a report table: ``"n/a"`` for None, a percentage for ``kind="pct"``, 4 digits otherwise."""
    if value is None:
        return "n/a"
    if kind == "pct":
        return format_percent(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table as lines (header, rule, rows, then a blank line)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines + [""]


def _group_rows(summaries: dict[str, dict[str, Any]]) -> list[list[str]]:
    return [
        [
            name.replace("|", "\\|"),
            format_value(s["eer"], "pct"),
            format_value(s["min_dcf"]),
            format_value(s.get("act_dcf")),
            format_value(s["cllr"]),
            format_value(s["roc_auc"]),
            format_value(s["accuracy"], "pct"),
            format_value(s["false_alarm_rate"], "pct"),
            format_value(s["miss_rate"], "pct"),
            str(s["num_real"]),
            str(s["num_fake"]),
        ]
        for name, s in summaries.items()
    ]


def _markdown(result: Any, images: dict[str, str]) -> str:
    m = result.metrics
    ci = m.get("eer_ci95")
    lines = [
        f"# Evaluation: {result.name}",
        "",
        "Scores are the probability that a clip is FAKE (higher = more fake); label 1 = fake. "
        f"Thresholded metrics use threshold {result.threshold:.4g} (a clip is fake when score >= threshold).",
        "",
        f"**EER {format_percent(m['eer'])}**"
        + (f" (95% bootstrap interval {format_percent(ci[0])} to {format_percent(ci[1])})" if ci else "")
        + f" at threshold {format_value(m['eer_threshold'])}; minDCF {format_value(m['min_dcf'])}, actDCF {format_value(m.get('act_dcf'))}, "
        f"Cllr {format_value(m['cllr'])} bits; ROC AUC {format_value(m['roc_auc'])}; "
        f"{m['num_clips']} clips ({m['num_real']} real, {m['num_fake']} fake)"
        + (f"; {len(result.failures)} failed" if result.failures else "")
        + ".",
        "",
        _DCF_NOTE.format(prior=_prior_text(getattr(result, "prior_log_odds", 0.0))),
        "",
        "## Pooled",
        "",
    ]
    pooled = [
        ("EER", format_value(m["eer"], "pct")),
        ("EER threshold", format_value(m["eer_threshold"])),
        ("minDCF (normalised, ASVspoof 5 costs)", format_value(m["min_dcf"])),
        ("actDCF (normalised, ASVspoof 5 costs)", format_value(m.get("act_dcf"))),
        ("Cllr (bits)", format_value(m["cllr"])),
        ("ROC AUC", format_value(m["roc_auc"])),
        ("threshold", format_value(m["threshold"])),
        ("accuracy", format_value(m["accuracy"], "pct")),
        ("false-alarm rate (real flagged fake)", format_value(m["false_alarm_rate"], "pct")),
        ("miss rate (fake let through)", format_value(m["miss_rate"], "pct")),
    ]
    for cls in ("real", "fake"):
        pc = m["per_class"][cls]
        pooled.append(
            (f"{cls}: precision / recall / F1", f"{pc['precision']:.3f} / {pc['recall']:.3f} / {pc['f1']:.3f}")
        )
    if result.audio_seconds_per_second is not None:
        pooled.append(("scoring speed (s of audio per s)", f"{result.audio_seconds_per_second:.3g}"))
    lines += markdown_table(["metric", "value"], pooled)
    for key in ("roc", "det", "histogram", "confusion"):
        if key in images:
            lines += [f"![{key}]({images[key]})", ""]
    header = ["group", "EER", "minDCF", "actDCF", "Cllr", "AUC", "accuracy", "false alarms", "misses", "real", "fake"]
    for column, summaries in result.groups.items():
        if column == "attack":
            lines += ["## Per attack", "", "Each attack's fake clips against all real clips (ASVspoof convention).", ""]
        else:
            lines += [f"## Per {column}", "", f"Each {column}'s own clips; n/a where it has a single class.", ""]
        lines += markdown_table([column] + header[1:], _group_rows(summaries))
        if column == "attack" and "eer_per_attack" in images:
            lines += [f"![EER per attack]({images['eer_per_attack']})", ""]
    if getattr(result, "channels", None):
        lines += _robustness_lines(result, images)
    if getattr(result, "adversarial", None) is not None:
        lines += _adversarial_lines(result)
    if result.failures:
        lines += ["## Failed files", ""]
        lines += [f"- row {f['row']}: {f['error']}" for f in result.failures[:50]]
        if len(result.failures) > 50:
            lines.append(f"- ... and {len(result.failures) - 50} more (see metrics.json)")
        lines.append("")
    return "\n".join(lines)


def write_report(result: Any, out_dir: str | os.PathLike) -> Path:
    """Write ``metrics.json``, the PNG plots and ``report.md`` for one evaluation.

    With ``result.channels`` (``evaluate_detector(channels=...)``) the report gets a Robustness
    table (EER, AUC, minDCF and EER ratio per channel next to clean) and ``eer_per_channel.png``,
    and ``metrics.json`` holds ``robustness`` and every channel's metrics under ``channels``. With
    ``result.adversarial`` (``evaluate_detector(adversarial_snr_db=...)``) it gets an Adversarial
    robustness table (attacked EER next to clean) and ``metrics.json`` an ``adversarial`` entry.

    Args:
        result: an :class:`~wavguard.evaluation.results.EvaluationResult`.
        out_dir: created if missing; existing report files are replaced.

    Returns:
        the path of ``report.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", to_json(result.to_dict()))
    images: dict[str, str] = {}
    has_both = result.metrics.get("eer") is not None
    if has_both:
        images["roc"] = plot_roc([result], out / "roc.png").name
        images["det"] = plot_det([result], out / "det.png").name
    images["histogram"] = plot_score_histograms(result, out / "score_histogram.png").name
    images["confusion"] = plot_confusion(result, out / "confusion.png").name
    if result.groups.get("attack"):
        images["eer_per_attack"] = plot_eer_per_attack(result, out / "eer_per_attack.png").name
    if getattr(result, "channels", None):
        images["eer_per_channel"] = plot_eer_per_channel(result, out / "eer_per_channel.png").name
    return atomic_write_text(out / "report.md", _markdown(result, images))
