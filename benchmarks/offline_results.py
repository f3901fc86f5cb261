"""The offline benchmark's results file: one JSON line per finished run, and the tables made from it.

Every command of ``offline_benchmark.py`` appends to one file (default ``OUT/results.jsonl``), so
seeds, systems and leave-one-out runs can run as separate commands, on separate days, and a
crashed command loses only the run it was in. Line types (the ``type`` key):

  corpus       the test split's labels and the split sizes, written once; a later command on
               another corpus is refused (its lines would not be comparable)
  run          one (system, seed[, leave_out]) run: ``system``, ``seed``, ``leave_out`` (null, or the
               attack / family left out of training), its EERs, AUC, scores, sizes, timings, and
               where and how it ran (load average, torch threads, git commit, timestamp)
  depth_speed  scoring speed of the backbone truncated to a few depths (not per seed)

``load_results`` turns the lines into ``{"systems": {system: [runs by seed]}, "leave_out":
{value: [runs by seed]}, "test_labels", "sizes", "truncation_speed"}``, which ``render_markdown``
and ``offline_plots.plot_all`` read.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SYSTEMS = {
    "a": "recipe detector (Whisper-base + LoRA + CNN head)",
    "b": "Whisper-base frozen + CNN head",
    "c": "linear probe (best layer)",
    "d": "(a) from random initialisation",
    "e": "spectrogram CNN (LFCC)",
    "f": "notebook method: log-mel CNN + pitch/stretch/noise augmentation",
    "g": "AASIST alone, fine-tuned (raw waveform)",
    "h": "fused: (a) with an AASIST branch, one head, trained end to end",
    "i": "AASIST's published weights, no training",
    "j": "transformers' audio-classification example (WhisperForAudioClassification, 30 s padding)",
}
#: what a plain run trains: systems g-j are asked for by name (each costs 10x or more on a CPU)
DEFAULT_SYSTEMS = ("a", "b", "c", "d", "e", "f")

RunKey = tuple[str, int, "str | None"]


def append_line(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line with a single write, flushed and fsynced; the file is never rewritten.

    A line cut short by a crash is closed with a newline first, so it cannot swallow this one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=_plain, allow_nan=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = "\n" + line
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_lines(path: str | Path) -> list[dict[str, Any]]:
    """Every intact line of the results file (none when it does not exist); a damaged line is skipped with a warning."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            records.append(json.loads(text))
        except ValueError:
            logger.warning("%s:%d: not a JSON line (a write cut short?); skipped", path, number)
    return records


def run_key(record: dict[str, Any]) -> RunKey:
    return str(record["system"]), int(record["seed"]), record.get("leave_out")


def done_runs(records: list[dict[str, Any]]) -> set[RunKey]:
    return {run_key(r) for r in records if r.get("type") == "run"}


def runs_to_do(
    requested: list[RunKey], done: set[RunKey], resume: bool, results: str | Path = "the results file"
) -> list[RunKey]:
    """The requested runs not yet in the results file, in order (duplicates dropped).

    Raises:
        ValueError: without ``resume``, when some requested run is already in the file.
    """
    todo = list(dict.fromkeys(requested))
    already = [k for k in todo if k in done]
    if already and not resume:
        names = ", ".join(_key_text(k) for k in already)
        raise ValueError(
            f"{results} already has {names}: pass --resume to skip finished runs (and resume "
            "an interrupted one), or another --results file"
        )
    return [k for k in todo if k not in done]


def _key_text(key: RunKey) -> str:
    system, seed, leave_out = key
    return f"({system}) seed {seed}" + (f" without {leave_out}" if leave_out else "")


def check_corpus(records: list[dict[str, Any]], corpus: dict[str, Any]) -> bool:
    """True when ``corpus`` must still be written; ValueError when the file holds another corpus."""
    known = [r for r in records if r.get("type") == "corpus"]
    if not known:
        return True
    old = known[0]
    if old.get("sizes") != corpus["sizes"] or old.get("test_labels") != corpus["test_labels"]:
        raise ValueError(
            f"the results file holds runs on another corpus (splits {old.get('sizes')}, "
            f"this one {corpus['sizes']}): use another --results file"
        )
    return False


def load_results(path: str | Path) -> dict[str, Any]:
    """The results file grouped for rendering: runs per system and per left-out attack, by seed."""
    records = read_lines(path)
    out: dict[str, Any] = {"systems": {}, "leave_out": {}}
    seen: set[RunKey] = set()
    for r in records:
        kind = r.get("type")
        if kind == "corpus":
            out.setdefault("test_labels", r["test_labels"])
            out.setdefault("sizes", r["sizes"])
        elif kind == "depth_speed":
            out["truncation_speed"] = r["truncation_speed"]
        elif kind == "run":
            key = run_key(r)
            if key in seen:
                logger.warning("%s: %s appears twice; the first line is kept", path, _key_text(key))
                continue
            seen.add(key)
            group = out["leave_out"].setdefault(key[2], []) if key[2] else out["systems"].setdefault(key[0], [])
            group.append(r)
    for groups in (out["systems"], out["leave_out"]):
        for runs in groups.values():
            runs.sort(key=lambda r: r["seed"])
    out["systems"] = {s: out["systems"][s] for s in sorted(out["systems"])}
    seen_sets = [set(r.get("seen_families", [])) for runs in out["systems"].values() for r in runs]
    out["seen_families"] = sorted(set.intersection(*seen_sets)) if seen_sets else []
    return out


def _values(values) -> np.ndarray:
    return np.asarray(
        [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], dtype=float
    )


def mean_std(values) -> str:
    arr = _values(values)
    return f"{100 * arr.mean():.1f} ± {100 * arr.std():.1f}" if arr.size else "n/a"


def _mean(values, scale: float = 1.0, fmt: str = "{:.1f}") -> str:
    arr = _values(values)
    return fmt.format(scale * arr.mean()) if arr.size else "n/a"


def leave_out_baseline(value: str, runs: list[dict[str, Any]]) -> list[float]:
    """EER of ``value``'s test fakes (an attack, or a family without '/') in runs trained with it."""
    key = "per_attack" if "/" in value else "per_family"
    return [r.get(key, {}).get(value, float("nan")) for r in runs]


def render_markdown(results: dict[str, Any]) -> str:
    systems = results["systems"]
    lines = [
        "| system | seeds | validation EER % | EER % pooled | EER % seen families | EER % unseen families | ROC AUC | "
        "params | trainable | train s | audio s/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for system, runs in systems.items():
        lines.append(
            f"| ({system}) {SYSTEMS.get(system, system)} | {len(runs)} | {mean_std([r.get('val_eer') for r in runs])} | "
            f"{mean_std([r['eer'] for r in runs])} | {mean_std([r.get('eer_seen') for r in runs])} | "
            f"{mean_std([r.get('eer_unseen') for r in runs])} | {_mean([r.get('roc_auc') for r in runs], fmt='{:.3f}')} | "
            f"{runs[0]['params'] / 1e6:.2f} M | {runs[0]['trainable'] / 1e6:.3f} M | "
            f"{_mean([r.get('train_seconds') for r in runs], fmt='{:.0f}')} | {_mean([r.get('speed') for r in runs])} |"
        )
    for key, title in (
        ("per_family", "generator family"),
        ("per_language", "language"),
        ("per_channel", "recording channel"),
    ):
        names = sorted({k for runs in systems.values() for r in runs for k in r.get(key, {})})
        if not names:
            continue
        lines += [
            "",
            f"EER % per {title} (mean ± std over seeds):",
            "",
            "| system | " + " | ".join(names) + " |",
            "| --- |" + " --- |" * len(names),
        ]
        for system, runs in systems.items():
            lines.append(
                f"| ({system}) | " + " | ".join(mean_std([r.get(key, {}).get(n) for r in runs]) for n in names) + " |"
            )
    if results.get("leave_out"):
        with_it = systems.get("a", [])
        lines += [
            "",
            "Leave one out: (a) trained without one generator, scored on that generator's test fakes against "
            "all real test clips:",
            "",
            "| leave-one-out: vocoder never heard in training | EER % of its test fakes with it in training "
            "((a), mean over seeds) | without it (mean ± std) | pooled EER % without it | seeds with / without |",
            "| --- | --- | --- | --- | --- |",
        ]
        for value, runs in sorted(results["leave_out"].items()):
            lines.append(
                f"| {value} | {_mean(leave_out_baseline(value, with_it), scale=100)} | "
                f"{mean_std([r.get('leave_out_eer') for r in runs])} | {mean_std([r['eer'] for r in runs])} | "
                f"{len(with_it)} / {len(runs)} |"
            )
    lines += _extra_tables(results)
    return "\n".join(lines)


def system_summary(results: dict[str, Any], system: str = "a") -> str:
    """One system's benchmark numbers as Markdown (mean ± std over its seeds): pooled, seen and
    unseen families, then per family, language and channel; for a model card."""
    runs = results["systems"].get(system)
    if not runs:
        raise ValueError(f"the results file has no run of system ({system})")
    lines = [
        f"{len(runs)} seed(s) of system ({system}), {SYSTEMS.get(system, system)}; EER %, lower is better.",
        "",
        "| EER % pooled | seen families | unseen families | ROC AUC |",
        "| --- | --- | --- | --- |",
        f"| {mean_std([r['eer'] for r in runs])} | {mean_std([r.get('eer_seen') for r in runs])} | "
        f"{mean_std([r.get('eer_unseen') for r in runs])} | {_mean([r.get('roc_auc') for r in runs], fmt='{:.3f}')} |",
    ]
    for key, title in (
        ("per_family", "generator family"),
        ("per_language", "language"),
        ("per_channel", "recording channel"),
    ):
        names = sorted({k for r in runs for k in r.get(key, {})})
        if names:
            lines += ["", f"| {title} | EER % |", "| --- | --- |"]
            lines += [f"| {n} | {mean_std([r.get(key, {}).get(n) for r in runs])} |" for n in names]
    return "\n".join(lines)


def _extra_tables(results: dict[str, Any]) -> list[str]:
    systems, lines = results["systems"], []
    robust = {
        s: next(r["channels"] for r in runs if "channels" in r)
        for s, runs in systems.items()
        if any("channels" in r for r in runs)
    }
    if robust:
        names = [n for n in next(iter(robust.values())) if n != "clean"]
        lines += [
            "",
            "EER % under degraded channels (one seed; a seeded sample of the test split):",
            "",
            "| system | clean | " + " | ".join(names) + " |",
            "| --- | --- |" + " --- |" * len(names),
        ]
        for system, ch in robust.items():
            lines.append(
                f"| ({system}) | {100 * ch['clean']:.1f} | "
                + " | ".join(f"{100 * ch.get(n, float('nan')):.1f}" for n in names)
                + " |"
            )
    weights = {
        s: np.mean([r["layer_weights"] for r in runs], axis=0)
        for s, runs in systems.items()
        if runs and all(r.get("layer_weights") for r in runs)
    }
    if weights:
        n = max(len(w) for w in weights.values())
        lines += [
            "",
            "Learned layer weights (softmax, mean over seeds; layer 0 = embeddings):",
            "",
            "| system | " + " | ".join(str(i) for i in range(n)) + " |",
            "| --- |" + " --- |" * n,
        ]
        lines += [f"| ({s}) | " + " | ".join(f"{w:.3f}" for w in ws) + " |" for s, ws in weights.items()]
    if systems.get("c"):
        first = systems["c"][0]
        per_layer = first["per_layer"]
        lines += [
            "",
            f"Linear probe per layer (seed {first['seed']}): EER % on validation / test:",
            "",
            "| layer | " + " | ".join(str(r["layer"]) for r in per_layer) + " |",
            "| --- |" + " --- |" * len(per_layer),
            "| val | " + " | ".join(f"{100 * r['val_eer']:.1f}" for r in per_layer) + " |",
            "| test | " + " | ".join(f"{100 * r['test_eer']:.1f}" for r in per_layer) + " |",
        ]
    if results.get("truncation_speed"):
        speeds = results["truncation_speed"]
        lines += [
            "",
            "Scoring speed by backbone depth (seconds of audio per second):",
            "",
            "| layers kept | " + " | ".join(str(k) for k in speeds) + " |",
            "| --- |" + " --- |" * len(speeds),
            "| audio s/s | " + " | ".join(f"{v:.1f}" for v in speeds.values()) + " |",
        ]
    return lines
