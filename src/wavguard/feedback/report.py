"""The old-versus-new report of ``wavguard update``: ``report.md``, ``update.json`` and plots.

Layout::

    REPORT_DIR/
      report.md     decision, clip counts, old vs new metrics (pooled and per hold-out source)
      update.json   the same numbers: decision, counts, each model's full metrics
      roc.png       both models' ROC curves; det.png: both DET curves
      old/, new/    each model's full evaluation report (wavguard.evaluation.report.write_report)
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..evaluation.report import format_percent, format_value, markdown_table, plot_det, plot_roc, to_json, write_report

__all__ = ["render", "write_update_report", "model_summary"]

_ROWS = (
    ("EER", "eer", "pct"),
    ("ROC AUC", "roc_auc", "num"),
    ("threshold (the model's own)", "threshold", "num"),
    ("accuracy at its threshold", "accuracy", "pct"),
    ("false-alarm rate (real flagged fake)", "false_alarm_rate", "pct"),
    ("miss rate (fake let through)", "miss_rate", "pct"),
    ("minDCF (normalised)", "min_dcf", "num"),
)


def model_summary(result: Any) -> dict[str, Any]:
    """JSON-ready headline numbers of one model on the hold-out set, with per-class counts."""
    m = result.metrics
    return {
        "eer": m["eer"],
        "eer_ci95": m.get("eer_ci95"),
        "roc_auc": m["roc_auc"],
        "threshold": result.threshold,
        "accuracy": m["accuracy"],
        "false_alarm_rate": m["false_alarm_rate"],
        "miss_rate": m["miss_rate"],
        "min_dcf": m["min_dcf"],
        "num_real": m["num_real"],
        "num_fake": m["num_fake"],
        "per_class": m["per_class"],
        "confusion": m["confusion"],
        "groups": result.groups,
        "num_failed": len(result.failures),
    }


def _change(old: Any, new: Any, kind: str) -> str:
    if old is None or new is None:
        return "n/a"
    delta = new - old
    return f"{100 * delta:+.2f} pts" if kind == "pct" else f"{delta:+.4g}"


def render(old: Any, new: Any, counts: dict[str, Any], accepted: bool, reason: str, entry: dict[str, Any]) -> str:
    """The markdown of ``report.md``."""
    fb, tr, ho = counts["feedback"], counts["train"], counts["holdout"]
    lines = [
        "# Model update: old vs new on the hold-out set",
        "",
        f"**{'ACCEPTED' if accepted else 'REFUSED'}**: {reason[reason.index(':') + 2 :] if ':' in reason else reason}.",
        "",
        "Rule: with bar = old EER - min_improvement, the new model is kept when its EER < bar, refused when "
        "EER > bar; at the bar (EERs within 1e-9) it is kept only if its ROC AUC is not lower. "
        "Scores are P(fake); each model's accuracy uses its own threshold.",
        "",
        f"Started from `{entry['from_model']}` on {entry['date']}; feedback from `{entry['feedback_db']}`.",
        "",
        "## Clips",
        "",
    ]
    rows = [
        ["feedback rows in the database", str(fb["rows"])],
        ["feedback used (distinct audio)", f"{fb['used']} ({fb['used_real']} real, {fb['used_fake']} fake)"],
        ["feedback rows without audio (not used)", str(fb["without_audio"])],
        ["feedback rows superseded by a newer label for the same audio", str(fb["duplicates"])],
        ["feedback rows with undecodable audio (not used)", str(fb["unreadable"])],
        ["replay data available", str(counts["replay_pool"])],
        [
            "training mix",
            f"{tr['total']} ({tr['real']} real, {tr['fake']} fake; {tr['feedback']} feedback, {tr['replay']} replay)",
        ],
        [
            "hold-out" + (" (split of feedback + replay)" if ho["from"] == "split" else f" (`{ho['from']}`)"),
            f"{ho['total']} ({ho['real']} real, {ho['fake']} fake"
            + (f"; {ho['feedback']} feedback, {ho['replay']} replay)" if "feedback" in ho else ")"),
        ],
    ]
    lines += markdown_table(["", "clips"], rows)
    lines += ["## Hold-out metrics", ""]
    table = []
    for title, key, kind in _ROWS:
        a = old.threshold if key == "threshold" else old.metrics.get(key)
        b = new.threshold if key == "threshold" else new.metrics.get(key)
        table.append([title, format_value(a, kind), format_value(b, kind), _change(a, b, kind)])
    for cls in ("real", "fake"):
        a, b = old.metrics["per_class"][cls], new.metrics["per_class"][cls]
        table.append(
            [
                f"{cls}: recall at threshold",
                format_value(a["recall"], "pct"),
                format_value(b["recall"], "pct"),
                _change(a["recall"], b["recall"], "pct"),
            ]
        )
    table.append(
        [
            "clips (real / fake)",
            f"{old.metrics['num_real']} / {old.metrics['num_fake']}",
            f"{new.metrics['num_real']} / {new.metrics['num_fake']}",
            "",
        ]
    )
    lines += markdown_table(["metric", "old", "new", "change"], table)
    lines += ["![ROC](roc.png)", ""]
    for column, groups in old.groups.items():
        lines += [f"## Per {column}", "", f"Each {column}'s own clips (EER n/a where a {column} has one class).", ""]
        rows = []
        for value, a in groups.items():
            b = new.groups.get(column, {}).get(value, {})
            rows.append(
                [
                    str(value),
                    format_value(a.get("eer"), "pct"),
                    format_value(b.get("eer"), "pct"),
                    format_value(a.get("accuracy"), "pct"),
                    format_value(b.get("accuracy"), "pct"),
                    str(a.get("num_real")),
                    str(a.get("num_fake")),
                ]
            )
        lines += markdown_table([column, "old EER", "new EER", "old accuracy", "new accuracy", "real", "fake"], rows)
    lines += [
        "Full reports of each model: [old](old/report.md), [new](new/report.md). "
        f"EER 95% intervals: old {_ci(old)}, new {_ci(new)}.",
        "",
    ]
    return "\n".join(lines)


def _ci(result: Any) -> str:
    ci = result.metrics.get("eer_ci95")
    return f"{format_percent(ci[0])} to {format_percent(ci[1])}" if ci else "n/a"


def write_update_report(
    directory: str | Path,
    old: Any,
    new: Any,
    counts: dict[str, Any],
    accepted: bool,
    reason: str,
    entry: dict[str, Any],
    markdown: str,
) -> Path:
    """Write the report into ``directory`` (an earlier report there is replaced); returns ``report.md``."""
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    write_report(old, directory / "old")
    write_report(new, directory / "new")
    plot_roc([old, new], directory / "roc.png", title="Hold-out ROC: old vs new")
    plot_det([old, new], directory / "det.png", title="Hold-out DET: old vs new")
    data = {
        "accepted": accepted,
        "reason": reason,
        "update": entry,
        "counts": counts,
        "old": model_summary(old),
        "new": model_summary(new),
    }
    atomic_write_text(directory / "update.json", to_json(data))
    return atomic_write_text(directory / "report.md", markdown)
