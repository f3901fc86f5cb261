"""The corpus plan: which clips to make, from which source, with which generator and seed.

The plan is a pure function of the configuration, the seed and the (sorted) reader clip lists, so
two builds with the same seed make the same clips, and a resumed build knows what is left.

:func:`make_plan` reads as its steps: the usable clips grouped by speaker key, the keys given to the
splits (``splits.NAME.speakers`` patterns, speaker-disjoint: :func:`layout.assign_splits`), then
per split:

1. Families per language (:func:`_families_by_language`): copy-synthesis always; a TTS family only
   where it speaks the language and the split holds a text in it.
2. Real speech (:func:`_real_roles`): each key's clips cut into bona fide examples and vocoder
   sources (:func:`layout.partition`), the bona fide count spread evenly over source families, then
   keys, then a key's languages (:func:`layout.allocate_reals`).
3. Fakes (:func:`_fake_specs`): per language, as many as the real clips times
   ``size.fakes_per_real``, shared between those families by weight. Copy-synthesis reads only
   vocoder sources of the same language (never a bona fide clip, :func:`_copy_fakes`); TTS is paired
   with a bona fide clip of the language (its duration and channel) and reads its text, else the
   split's text of the same language nearest in duration (:func:`_tts_fakes`).
4. Paired copy-synthesis (``pair_copy_sources``, off by default): in the splits it names, each
   copy-synthesis source is a bona fide clip too, so a real clip and its copies share speaker,
   words and channel (:func:`paired_sources`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict
from typing import Any

import numpy as np

from wavguard.errors import ConfigError

from . import layout
from .families import FAMILIES, CopyFamily, TtsFamily
from .spec import DEFAULTS_PATH, ClipSpec, allocate, clip_seed, load_config, split_variants

__all__ = [
    "DEFAULTS_PATH",
    "ClipSpec",
    "COPY_FAMILIES",
    "TTS_FAMILIES",
    "TTS_LANGUAGES",
    "load_config",
    "allocate",
    "clip_seed",
    "make_plan",
    "paired_sources",
    "plan_fingerprint",
    "split_variants",
]

#: Copy-synthesis families (vocoders): fakes made from a real clip of the same split that is not
#: itself bona fide. A view of :data:`families.FAMILIES`, like the two below.
COPY_FAMILIES = tuple(name for name, f in FAMILIES.items() if isinstance(f, CopyFamily))
#: Languages each text-to-speech family can read (:attr:`families.TtsFamily.languages`).
TTS_LANGUAGES = {name: set(f.languages) for name, f in FAMILIES.items() if isinstance(f, TtsFamily)}
TTS_FAMILIES = tuple(TTS_LANGUAGES)
#: Candidate texts looked at when a TTS fake's paired clip has no text of its own (the nearest in
#: duration to the paired clip is read).
_TEXT_CANDIDATES = 8


def _shuffled(items: list, rng: np.random.Generator) -> list:
    return [items[i] for i in rng.permutation(len(items))]


def _is_copy(family: str) -> bool:
    return isinstance(FAMILIES.get(family), CopyFamily)


def _check_split(name: str, split: dict, config: dict) -> None:
    families = split.get("families") or {}
    if not families:
        raise ConfigError(f"splits.{name}.families: lists no generator families")
    for family in families:
        if family not in FAMILIES:
            raise ConfigError(f"splits.{name}.families: unknown family {family!r}; choose from {sorted(FAMILIES)}")
        if not _is_copy(family):
            continue
        variants = split_variants(config, split, family)
        if not variants:
            raise ConfigError(f"variants.{family}: lists no variants")
        known = FAMILIES[family].variants
        unknown = [v for v in variants if v not in known]
        if unknown:
            raise ConfigError(f"splits.{name}: unknown {family} variant(s) {unknown}; choose from {sorted(known)}")


def make_plan(config: dict, clips: dict[str, list], real_per_split: int | None, seed: int) -> list[ClipSpec]:
    """All clips of the corpus, in a fixed order.

    The steps, each a function below: group the usable clips by speaker key
    (:func:`_clips_by_speaker`), give each split its keys (:func:`layout.assign_splits`), then per
    split: which families can make each language's fakes (:func:`_families_by_language`), which real
    clips are bona fide and which are kept back as vocoder sources (:func:`_real_roles`), and the
    fakes (:func:`_fake_specs`).

    Args:
        config: as returned by :func:`load_config`.
        clips: reader family -> its :class:`readers.Clip` records (``readers.read_all``).
        real_per_split: bona fide clips per split (even over families, then keys); ``None`` takes
            every usable clip of the split, cut between the bona fide and vocoder-source roles.
        seed: the corpus seed.

    Returns:
        real clips, then fakes, split by split. Per split and language, fakes number
        ``fakes_per_real`` times the real clips. In the splits ``config["pair_copy_sources"]``
        names, the sources of the copy-synthesis fakes follow as bona fide clips too
        (:func:`paired_sources`).
    """
    min_seconds = float(config["size"].get("usable_min_seconds", config.get("chain", {}).get("min_seconds", 0.0)))
    by_key, family_of = _clips_by_speaker(clips, min_seconds)
    pair_splits = set(config.get("pair_copy_sources") or [])
    unknown = sorted(pair_splits - set(config["splits"]))
    if unknown:
        raise ConfigError(f"pair_copy_sources: unknown split(s) {unknown}; choose from {sorted(config['splits'])}")
    assignment = layout.assign_splits(config["splits"], by_key)
    specs: list[ClipSpec] = []
    for split_name, split in config["splits"].items():
        _check_split(split_name, split, config)
        split_clips = [c for key in assignment[split_name] for c in by_key[key]]
        languages = sorted({c.language for c in split_clips})
        texts = {lang: _texts(split_clips, lang) for lang in languages}
        able = _families_by_language(split_name, split, config, texts)
        copy_share = {lang: _copy_share(able[lang]) for lang in languages}
        roles = _real_roles(split_name, split_clips, by_key, family_of, copy_share, real_per_split, seed)
        reals = sorted((c for r in roles.values() for c in r.bonafide), key=lambda c: c.clip_id)
        specs += [_real_spec(c, split_name, seed) for c in reals]
        fakes = _fake_specs(split_name, split, config, reals, roles, able, texts, seed)
        specs += fakes
        if split_name in pair_splits:
            specs += paired_sources(fakes)
    return specs


def paired_sources(fakes: list[ClipSpec]) -> list[ClipSpec]:
    """A bona fide clip for the source of each copy-synthesis fake (``pair_copy_sources``).

    The real clip and its copies then share speaker, words and recording channel. The real clip
    takes its first copy's seed, so the shared chain's first draws agree (padding, reverberation,
    noise: in all 349 pairs of the default build's train split); the later ones (codec, equaliser,
    level) follow draws whose count depends on the clip's length and agree in about two thirds
    (the first copy's length differs from its source's). Its id and ``source_id`` are the
    source's id, the fakes' ``source_id``, so paired batches (``pairing: {column: source_id}``) find
    them. A source that several fakes were made from (sources are cycled) gives one clip.
    """
    out: dict[str, ClipSpec] = {}
    for fake in fakes:
        if not _is_copy(fake.family) or fake.source_id in out:
            continue
        out[fake.source_id] = ClipSpec(
            fake.source_id,
            fake.split,
            "real",
            "bonafide",
            "bonafide",
            fake.speaker,
            fake.language,
            fake.text,
            fake.source_id,
            fake.source_path,
            "",
            fake.seed,
            {},
            fake.channel,
            fake.source,
            fake.speaker_reliability,
        )
    return list(out.values())


# ---------------------------------------------------------------- real clips


def _clips_by_speaker(clips: dict[str, list], min_seconds: float) -> tuple[dict[str, list], dict[str, str]]:
    """(speaker key -> its usable clips sorted by id, speaker key -> its reader family)."""
    by_key: dict[str, list] = {}
    family_of: dict[str, str] = {}
    for family in sorted(clips):
        for clip in layout.usable(clips[family], min_seconds):
            by_key.setdefault(clip.speaker, []).append(clip)
            family_of[clip.speaker] = family
    for key in by_key:
        by_key[key].sort(key=lambda c: c.clip_id)
    return by_key, family_of


def _real_roles(
    split_name: str,
    split_clips: list,
    by_key: dict[str, list],
    family_of: dict[str, str],
    copy_share: dict[str, float],
    real_per_split: int | None,
    seed: int,
) -> dict[tuple[str, str], layout.Roles]:
    """Each (speaker key, language) unit's clips cut into bona fide examples and vocoder sources.

    A unit keeps back a share of its clips as sources that grows with its language's copy-synthesis
    share (:func:`layout.source_reserve`); the bona fide clips are spread evenly over source families,
    then keys, then a key's languages (:func:`_wanted_reals`). A unit is a key and a language because
    one key may speak two (``asterisk:allison`` speaks en and es).
    """
    units = sorted({(c.speaker, c.language) for c in split_clips})
    unit_clips = {u: [c for c in by_key[u[0]] if c.language == u[1]] for u in units}
    caps = {u: len(unit_clips[u]) - layout.source_reserve(len(unit_clips[u]), copy_share[u[1]]) for u in units}
    if real_per_split is None:
        wanted = caps
    else:
        wanted = _wanted_reals(caps, family_of, real_per_split, layout.seeded_rng(seed, split_name, "allocate"))
    roles = {
        u: layout.partition(unit_clips[u], copy_share[u[1]], wanted[u], layout.seeded_rng(seed, "roles", *u))
        for u in units
    }
    _keep_a_vocoder_source(split_name, roles, copy_share)
    return roles


def _wanted_reals(
    caps: dict[tuple[str, str], int], family_of: dict[str, str], real_per_split: int, rng: np.random.Generator
) -> dict[tuple[str, str], int]:
    """Bona fide clips per unit: ``real_per_split`` even over reader families, then keys
    (:func:`layout.allocate_reals`), then a key's languages (:func:`layout.spread`), each capped."""
    key_caps: dict[str, dict[str, int]] = {}
    for (key, _), cap in caps.items():
        key_caps.setdefault(family_of[key], {}).setdefault(key, 0)
        key_caps[family_of[key]][key] += cap
    per_key = layout.allocate_reals(real_per_split, key_caps, rng)
    wanted: dict[tuple[str, str], int] = {}
    for key, n in sorted(per_key.items()):
        mine = {u: cap for u, cap in caps.items() if u[0] == key}
        wanted.update(
            {
                tuple(k.split("\t")): v
                for k, v in layout.spread(n, {"\t".join(u): c for u, c in mine.items()}, rng).items()
            }
        )
    return wanted


def _keep_a_vocoder_source(
    split_name: str, roles: dict[tuple[str, str], layout.Roles], copy_share: dict[str, float]
) -> None:
    """A language whose fakes are all copy-synthesis must keep one vocoder source: when none was kept,
    the unit with the most bona fide clips gives its last one (in place)."""
    units = sorted(roles)
    for lang in sorted(copy_share):
        mine = [u for u in units if u[1] == lang and roles[u].bonafide]
        if mine and copy_share[lang] >= 1.0 and not any(roles[u].sources for u in units if u[1] == lang):
            donor = max(mine, key=lambda u: (len(roles[u].bonafide), u))
            if len(roles[donor].bonafide) < 2:
                raise ConfigError(
                    f"splits.{split_name}: {lang} has too few clips for both a real example and "
                    "a vocoder source; give it more speakers or move it"
                )
            r = roles[donor]
            roles[donor] = layout.Roles(r.bonafide[:-1], [r.bonafide[-1], *r.sources], r.cap)


def _real_spec(clip, split_name: str, seed: int) -> ClipSpec:
    uid = clip.clip_id.replace("/", "-")
    return ClipSpec(
        uid,
        split_name,
        "real",
        "bonafide",
        "bonafide",
        clip.speaker,
        clip.language,
        clip.text,
        uid,
        str(clip.path),
        "",
        clip_seed(seed, uid),
        {},
        clip.channel,
        clip.source,
        clip.speaker_reliability,
    )


# ---------------------------------------------------------------- fakes


def _families_by_language(
    split_name: str, split: dict, config: dict, texts: dict[str, list]
) -> dict[str, dict[str, float]]:
    """language -> {family: weight} of the split's families that can make its fakes: copy-synthesis
    always, a TTS family where it speaks the language and the split holds a text in it."""
    weights = {f: float(w) for f, w in split["families"].items() if float(w) > 0}
    able: dict[str, dict[str, float]] = {}
    for lang in texts:
        able[lang] = {
            f: w
            for f, w in weights.items()
            if _is_copy(f) or (texts[lang] and _can_speak(f, lang, split_variants(config, split, f)))
        }
        if not any(_is_copy(f) for f in able[lang]) and not texts[lang]:
            raise ConfigError(
                f"splits.{split_name}: no family can make {lang} fakes (no copy-synthesis family, no text)"
            )
    return able


def _can_speak(family: str, language: str, variants: Any) -> bool:
    tts = FAMILIES[family]
    return language in tts.languages and bool(tts.voices(language, variants))


def _copy_share(able: dict[str, float]) -> float:
    """The copy-synthesis share of one language's fake weights (0 when no family can make it)."""
    total = sum(able.values())
    return sum(w for f, w in able.items() if _is_copy(f)) / total if total else 0.0


def _fake_specs(
    split_name: str,
    split: dict,
    config: dict,
    reals: list,
    roles: dict[tuple[str, str], layout.Roles],
    able: dict[str, dict[str, float]],
    texts: dict[str, list],
    seed: int,
) -> list[ClipSpec]:
    """The split's fakes: per language ``fakes_per_real`` times its real clips, shared between the
    families of ``able`` by weight; numbered in one sequence over the split."""
    real_by_lang = {lang: [c for c in reals if c.language == lang] for lang in able}
    fakes_per_real = float(config["size"]["fakes_per_real"])
    per_language = allocate(round(len(reals) * fakes_per_real), {k: len(v) for k, v in real_by_lang.items()})
    specs: list[ClipSpec] = []
    for lang, count in per_language.items():
        counts = allocate(count, able[lang])
        n_copy = sum(n for f, n in counts.items() if _is_copy(f))
        sources = _source_list(
            roles,
            [u for u in sorted(roles) if u[1] == lang],
            n_copy,
            layout.seeded_rng(seed, split_name, lang, "sources"),
        )
        if n_copy and not sources:
            raise ConfigError(f"splits.{split_name}: no {lang} clip left as a vocoder source")
        used = 0
        for family, n in counts.items():
            rng = layout.seeded_rng(seed, split_name, lang, family)
            variants = split_variants(config, split, family)
            if _is_copy(family):
                made = _copy_fakes(sources[used : used + n], variants, rng)
                used += n
            else:
                made = _tts_fakes(family, lang, n, real_by_lang[lang], texts[lang], config, variants, rng)
            for src, variant, speaker, params, text, text_id, reliability in made:
                clip_id = f"{split_name}-{family}-{len(specs) + 1:05d}--{src.clip_id.replace('/', '-')}"
                specs.append(
                    ClipSpec(
                        clip_id,
                        split_name,
                        "fake",
                        family,
                        f"{family}/{variant}",
                        speaker,
                        lang,
                        text,
                        src.clip_id.replace("/", "-"),
                        str(src.path),
                        variant,
                        clip_seed(seed, clip_id),
                        params,
                        src.channel,
                        src.source,
                        reliability,
                        text_id,
                    )
                )
    return specs


def _source_list(
    roles: dict[tuple[str, str], layout.Roles], units: list[tuple[str, str]], count: int, rng: np.random.Generator
) -> list:
    """``count`` vocoder sources for one language, spread over its keys in proportion to their bona fide
    clips (capped by each key's sources, the rest from keys with more); cycled when all are used."""
    if count <= 0:
        return []
    pool = [u for u in units if roles[u].sources]
    if not pool:
        return []
    wanted = allocate(count, {u: max(1, len(roles[u].bonafide)) for u in pool})
    take = {u: min(wanted.get(u, 0), len(roles[u].sources)) for u in pool}
    left = count - sum(take.values())
    extra = layout.spread(left, {"\t".join(u): len(roles[u].sources) - take[u] for u in pool}, rng)
    chosen = []
    for u in pool:
        chosen += roles[u].sources[: take[u] + extra["\t".join(u)]]
    out = _shuffled(chosen, rng)
    return [out[i % len(out)] for i in range(count)]


def _texts(clips: list, language: str) -> list[tuple[str, float, str]]:
    """(text, duration of its clip, clip id) of every line in ``language`` among ``clips``;
    English also takes other languages' ``text_en``."""
    out = [(c.text, c.duration_seconds, c.clip_id) for c in clips if c.language == language and c.text]
    if language == "en":
        out += [(c.text_en, c.duration_seconds, c.clip_id) for c in clips if c.language != "en" and c.text_en]
    return sorted(set(out), key=lambda t: t[2])


def _pick_text(paired, texts: list, rng: np.random.Generator) -> tuple[str, str]:
    """The paired clip's own text, else the nearest in duration of a few random texts of its language."""
    if paired.text:
        return paired.text, paired.clip_id
    picks = [texts[i] for i in rng.choice(len(texts), size=min(_TEXT_CANDIDATES, len(texts)), replace=False)]
    best = min(picks, key=lambda t: (abs(math.log(max(t[1], 0.1) / max(paired.duration_seconds, 0.1))), t[2]))
    return best[0], best[2]


def _copy_fakes(sources: list, variants: Any, rng: np.random.Generator) -> list[tuple]:
    """(source, variant, speaker, params, text, text_id, reliability) of a copy-synthesis family's fakes:
    one per vocoder source, the variants taken in turn from a seeded order. The fake keeps the real voice."""
    order = _shuffled(list(variants), rng)
    return [
        (src, order[k % len(order)], src.speaker, {}, src.text, "", src.speaker_reliability)
        for k, src in enumerate(sources)
    ]


def _tts_fakes(
    family: str,
    lang: str,
    n: int,
    paired_pool: list,
    texts: list,
    config: dict,
    variants: Any,
    rng: np.random.Generator,
) -> list[tuple]:
    """As :func:`_copy_fakes` for a TTS family: ``n`` fakes paired in turn with the language's bona fide
    clips (seeded order), each reading its paired clip's text or one near it in duration."""
    mine = _shuffled(paired_pool, rng)
    out = []
    for k in range(n):
        src = mine[k % len(mine)]
        text, text_id = _pick_text(src, texts, rng)
        variant, speaker, params = _tts(family, lang, k, config, variants, rng)
        out.append((src, variant, speaker, params, text, text_id, ""))
    return out


def _tts(
    family: str, language: str, k: int, config: dict, variants: Any, rng: np.random.Generator
) -> tuple[str, str, dict]:
    """(variant, speaker, params) of the k-th clip of a TTS family in one split and language.

    The family draws its voice and settings (:attr:`families.TtsFamily.draw`) after these two:
    ``params["duration_ratio"]``: the clip's speech lasts this times its paired real clip's speech;
    ``params["channel_match"]``: fraction of the paired clip's long-term spectrum imposed on it.
    """
    jitter = config.get("tts_duration_ratio", [1.0, 1.0])
    match = config.get("tts_channel_match", [0.0, 0.0])
    ratio = {
        "duration_ratio": round(float(rng.uniform(*jitter)), 3),
        "channel_match": round(float(rng.uniform(*match)), 3),
    }
    variant, speaker, params = FAMILIES[family].draw(language, k, variants, rng)
    return variant, speaker, {**params, **ratio}


def plan_fingerprint(specs: list[ClipSpec], chain: dict) -> str:
    """A hash of the plan and the chain settings; a resumed build must match it."""
    digest = hashlib.sha256()
    for spec in specs:
        digest.update(repr(sorted(asdict(spec).items())).encode())
    digest.update(repr(sorted(chain.items())).encode())
    return digest.hexdigest()[:16]
