"""Tables of a built corpus and the language-balance check."""

from __future__ import annotations

from collections import Counter

__all__ = ["language_table", "balance_problems", "count_table", "SPLIT_ORDER"]

SPLIT_ORDER = ("train", "validation", "test")


def _splits(rows: list[dict]) -> list[str]:
    names = {r["split"] for r in rows}
    return [s for s in SPLIT_ORDER if s in names] + sorted(names - set(SPLIT_ORDER))


def _shares(rows: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """split -> label -> language -> share in percent."""
    out: dict = {}
    for split in _splits(rows):
        out[split] = {}
        for label in ("real", "fake"):
            counts = Counter(r["language"] for r in rows if r["split"] == split and r["label"] == label)
            total = sum(counts.values())
            out[split][label] = {k: 100.0 * v / total for k, v in counts.items()} if total else {}
    return out


def language_table(rows: list[dict]) -> str:
    """Markdown table: per split and language, real and fake counts, shares and their gap in points."""
    lines = ["| split | language | real | fake | real % | fake % | gap (points) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    shares = _shares(rows)
    for split in _splits(rows):
        counts = Counter((r["label"], r["language"]) for r in rows if r["split"] == split)
        languages = sorted({lang for _, lang in counts})
        for lang in languages:
            real, fake = shares[split]["real"].get(lang, 0.0), shares[split]["fake"].get(lang, 0.0)
            lines.append(f"| {split} | {lang} | {counts[('real', lang)]} | {counts[('fake', lang)]} | "
                         f"{real:.1f} | {fake:.1f} | {abs(real - fake):.1f} |")
    return "\n".join(lines)


def balance_problems(rows: list[dict], tolerance_points: float) -> list[str]:
    """One message per (split, language) whose real and fake shares differ by more than ``tolerance_points``.

    A split with clips of only one class is a problem too.
    """
    problems = []
    for split, by_label in _shares(rows).items():
        if not by_label["real"] or not by_label["fake"]:
            problems.append(f"{split}: holds no {'real' if not by_label['real'] else 'fake'} clips")
            continue
        for lang in sorted(set(by_label["real"]) | set(by_label["fake"])):
            real, fake = by_label["real"].get(lang, 0.0), by_label["fake"].get(lang, 0.0)
            if abs(real - fake) > tolerance_points:
                problems.append(f"{split}/{lang}: {real:.1f}% of real vs {fake:.1f}% of fake clips "
                                f"(gap {abs(real - fake):.1f} > {tolerance_points} points)")
    return problems


def count_table(rows: list[dict]) -> str:
    """Markdown table of clip counts and hours per split x class x language x family."""
    counts = Counter((r["split"], r["label"], r["language"], r["family"]) for r in rows)
    seconds = Counter()
    for r in rows:
        seconds[(r["split"], r["label"], r["language"], r["family"])] += float(r["duration_seconds"])
    order = {s: i for i, s in enumerate(SPLIT_ORDER)}
    lines = ["| split | class | language | family | clips | minutes |", "| --- | --- | --- | --- | --- | --- |"]
    for key in sorted(counts, key=lambda k: (order.get(k[0], 9), k[1] != "real", k[2], k[3])):
        lines.append(f"| {' | '.join(key)} | {counts[key]} | {seconds[key] / 60:.1f} |")
    families = {s: {r['family'] for r in rows if r['split'] == s and r['label'] == 'fake'} for s in _splits(rows)}
    train = families.get("train", set())
    others = set().union(*[f for s, f in families.items() if s != "test"]) if families else set()
    lines.append("")
    lines.append(f"families held out of train: validation {sorted(families.get('validation', set()) - train)}, "
                 f"test {sorted(families.get('test', set()) - train)}; test only: {sorted(families.get('test', set()) - others)}")
    return "\n".join(lines)
