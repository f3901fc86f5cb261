"""Tables of a built corpus and the language-balance check.

Every function takes manifest rows (dicts with at least ``split``, ``label``, ``language``; the
others also ``speaker``, ``channel``, ``family``, ``attack``, ``duration_seconds``).
"""

from __future__ import annotations

from collections import Counter

__all__ = [
    "language_table",
    "balance_problems",
    "count_table",
    "channel_table",
    "family_table",
    "coverage",
    "coverage_text",
    "SPLIT_ORDER",
    "MIN_SPEAKERS",
    "MIN_LANGUAGES",
]

#: Targets of issue 14 for the whole corpus: real speaker keys and real languages.
MIN_SPEAKERS = 30
MIN_LANGUAGES = 6
#: A family with more variants than this is shown as one row in :func:`family_table`.
_MAX_VARIANT_ROWS = 8

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
    lines = [
        "| split | language | real | fake | real % | fake % | gap (points) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    shares = _shares(rows)
    for split in _splits(rows):
        counts = Counter((r["label"], r["language"]) for r in rows if r["split"] == split)
        languages = sorted({lang for _, lang in counts})
        for lang in languages:
            real, fake = shares[split]["real"].get(lang, 0.0), shares[split]["fake"].get(lang, 0.0)
            lines.append(
                f"| {split} | {lang} | {counts[('real', lang)]} | {counts[('fake', lang)]} | "
                f"{real:.1f} | {fake:.1f} | {abs(real - fake):.1f} |"
            )
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
                problems.append(
                    f"{split}/{lang}: {real:.1f}% of real vs {fake:.1f}% of fake clips "
                    f"(gap {abs(real - fake):.1f} > {tolerance_points} points)"
                )
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
    families = {s: {r["family"] for r in rows if r["split"] == s and r["label"] == "fake"} for s in _splits(rows)}
    train = families.get("train", set())
    others = set().union(*[f for s, f in families.items() if s != "test"]) if families else set()
    lines.append("")
    lines.append(
        f"families held out of train: validation {sorted(families.get('validation', set()) - train)}, "
        f"test {sorted(families.get('test', set()) - train)}; test only: {sorted(families.get('test', set()) - others)}"
    )
    return "\n".join(lines)


def coverage(rows: list[dict]) -> dict[str, dict[str, list[str]]]:
    """``{"all" | split: {"speakers", "languages", "channels", "sources": sorted values of the real clips}}``."""
    out = {}
    for name in ["all", *_splits(rows)]:
        real = [r for r in rows if r["label"] == "real" and name in ("all", r["split"])]
        out[name] = {
            col: sorted({r.get(col, "") for r in real} - {""}) for col in ("speaker", "language", "channel", "source")
        }
    return out


def coverage_text(rows: list[dict]) -> str:
    """Real speaker keys, languages and channels overall and per split, against the targets."""
    cov = coverage(rows)
    lines = ["| split | real speaker keys | languages | channels | sources |", "| --- | --- | --- | --- | --- |"]
    for name, c in cov.items():
        lines.append(
            f"| {name} | {len(c['speaker'])} | {len(c['language'])} ({', '.join(c['language'])}) | "
            f"{len(c['channel'])} | {len(c['source'])} |"
        )
    total = cov["all"]
    ok = len(total["speaker"]) >= MIN_SPEAKERS and len(total["language"]) >= MIN_LANGUAGES
    lines.append("")
    lines.append(
        f"{len(total['speaker'])} real speaker keys (target >= {MIN_SPEAKERS}) in {len(total['language'])} "
        f"languages (target >= {MIN_LANGUAGES}): {'met' if ok else 'NOT met'}."
    )
    return "\n".join(lines)


def channel_table(rows: list[dict]) -> str:
    """Markdown table: per split and channel, real and fake counts and shares (fakes carry their paired clip's channel)."""
    lines = ["| split | channel | real | fake | real % | fake % |", "| --- | --- | --- | --- | --- | --- |"]
    for split in _splits(rows):
        counts = Counter((r["label"], r.get("channel", "")) for r in rows if r["split"] == split)
        totals = Counter(r["label"] for r in rows if r["split"] == split)
        for channel in sorted({c for _, c in counts}):
            real, fake = counts[("real", channel)], counts[("fake", channel)]
            lines.append(
                f"| {split} | {channel or '-'} | {real} | {fake} | {100 * real / max(1, totals['real']):.1f} | "
                f"{100 * fake / max(1, totals['fake']):.1f} |"
            )
    return "\n".join(lines)


def family_table(rows: list[dict]) -> str:
    """Markdown table: clips per generator family and variant (``attack``) in each split, and the held-out line."""
    splits = _splits(rows)
    counts = Counter((r["attack"], r["split"]) for r in rows)
    lines = ["| family / variant | " + " | ".join(splits) + " | total |", "| --- |" + " --- |" * (len(splits) + 1)]
    for family in sorted({r["family"] for r in rows}, key=lambda f: (f != "bonafide", f)):
        attacks = sorted({r["attack"] for r in rows if r["family"] == family})
        fam = Counter(r["split"] for r in rows if r["family"] == family)
        lines.append(f"| **{family}** | " + " | ".join(str(fam[s]) for s in splits) + f" | **{sum(fam.values())}** |")
        if 1 < len(attacks) <= _MAX_VARIANT_ROWS:  # checkpoints, modes, voices; not espeak-ng's language x voice
            for attack in attacks:
                lines.append(
                    f"| {attack} | "
                    + " | ".join(str(counts[(attack, s)]) for s in splits)
                    + f" | {sum(counts[(attack, s)] for s in splits)} |"
                )
    attacks = {s: {r["attack"] for r in rows if r["split"] == s and r["label"] == "fake"} for s in splits}
    train = attacks.get("train", set())
    seen = set().union(*[a for s, a in attacks.items() if s != "test"]) if attacks else set()
    lines += [
        "",
        f"held out of train: validation {sorted(attacks.get('validation', set()) - train)}; "
        f"test only: {sorted(attacks.get('test', set()) - seen)}",
    ]
    return "\n".join(lines)
