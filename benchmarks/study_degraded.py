"""The method study's scoring of degraded audio (:mod:`benchmarks.method_study`'s ``channels`` and
``attack`` rows): one seeded validation sample, clean and through each degradation channel (and an
optional scoring-time front end, :mod:`benchmarks.dereverb`) or a white-box attack, and the EER
within each recording channel of the corpus. Scores point to FAKE; EER: lower is better.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["class_medians", "per_channel_eer", "score_attacked", "score_channels", "seeded_sample"]


def per_channel_eer(labels, scores, channels) -> dict[str, float]:
    """EER within each recording channel (that channel's real clips against its fakes): the
    channel-dependent errors a pooled EER averages away. Channels with one class only are left out."""
    from wavguard.metrics import compute_eer

    labels, scores, channels = (
        np.asarray(labels),
        np.asarray(scores, dtype=float),
        np.asarray([str(c) for c in channels]),
    )
    out = {}
    for channel in sorted(set(channels)):
        keep = channels == channel
        if len(np.unique(labels[keep])) == 2:
            out[channel] = compute_eer(labels[keep], scores[keep])[0]
    return out


def seeded_sample(validation, clips: int | None):
    """The first ``clips`` rows of the validation split after a fixed shuffle (all rows for ``None``):
    the same sample for every row and seed of the study."""
    count = len(validation) if clips is None else min(int(clips), len(validation))
    return validation.shuffle(seed=0).select(range(count))


def class_medians(result) -> dict[str, float]:
    """Median score of the real (label 0) and fake (label 1) clips of one evaluation."""
    labels, scores = np.asarray(result.labels), np.asarray(result.scores)
    return {name: float(np.median(scores[labels == value])) for name, value in (("real", 0), ("fake", 1))}


def score_channels(detector, validation, spec: dict, record: dict, scores_stem: Path | None = None):
    """Every clip of a seeded validation sample through each degradation channel, pooled: the rows'
    detectors judged on the channels a user meets (:func:`wavguard.evaluation.evaluate.evaluate_channels`).
    The same sample scored clean too (``val_eer_clean_sample``), so each channel's EER has its
    clean reference on the same clips. With ``spec["front_end"]`` (:mod:`benchmarks.dereverb`) every
    clip, the clean ones too, passes through that front end after its channel. The median score of
    each class, clean and per channel (``val_class_medians``), says which class a channel moves. With
    ``scores_stem``, every pass's per-clip scores go to ``STEM-clean-sample.tsv`` and
    ``STEM-CHANNEL.tsv`` (:mod:`wavguard.evaluation.scorefile`)."""
    from wavguard.evaluation.evaluate import evaluate_channels, evaluate_detector

    sample = seeded_sample(validation, spec.get("channel_clips"))
    clips = len(sample)
    channels = list(spec["channels"])
    if spec.get("front_end"):
        from benchmarks.dereverb import front_end_channel

        channels = [front_end_channel(c, spec["front_end"]) for c in spec["channels"]]
        clean_pass = front_end_channel(None, spec["front_end"])
        clean = evaluate_channels(detector, sample, [clean_pass], group_columns=(), bootstrap_resamples=0)["clean"]
        record["front_end"] = spec["front_end"]
    else:
        clean = evaluate_detector(detector, sample, group_columns=(), bootstrap_resamples=0)
    results = evaluate_channels(detector, sample, tuple(channels), group_columns=(), bootstrap_resamples=0)
    record.update(
        channels=list(spec["channels"]),
        channel_clips=clips,
        val_per_channel={name: r.metrics["eer"] for name, r in results.items()},
        val_eer_clean_sample=clean.metrics["eer"],
        val_class_medians={"clean": class_medians(clean)} | {n: class_medians(r) for n, r in results.items()},
    )
    if scores_stem is not None:
        from wavguard.evaluation.scorefile import write_scores

        for name, result in {"clean-sample": clean, **results}.items():
            write_scores(result, scores_stem.with_name(f"{scores_stem.name}-{name}.tsv"), sample)
    labels, scores, attacks, families = [], [], [], []
    for r in results.values():
        rows = sample.select(r.rows)
        labels += list(r.labels)
        scores += list(r.scores)
        attacks += list(rows["attack"])
        families += list(rows["family"])
    return np.asarray(labels), np.asarray(scores), attacks, families


def score_attacked(detector, validation, spec: dict, record: dict):
    """A seeded validation sample after a white-box attack on the detector itself
    (``spec["attack"]``: ``{method, snr_db, steps}``; :mod:`wavguard.evaluation.adversarial`)."""
    from wavguard.evaluation.evaluate import evaluate_detector

    attack = {"method": "pgd", "steps": 3, **spec["attack"]}
    sample = seeded_sample(validation, spec.get("clips"))
    clips = len(sample)
    result = evaluate_detector(
        detector,
        sample,
        group_columns=(),
        bootstrap_resamples=0,
        adversarial_snr_db=attack["snr_db"],
        adversarial_method=attack["method"],
        adversarial_steps=attack["steps"],
    )
    attacked = result.adversarial
    rows = sample.select(attacked.rows)
    record.update(attack=attack, attack_clips=clips, val_eer_clean_sample=result.metrics["eer"])
    return np.asarray(attacked.labels), np.asarray(attacked.scores), list(rows["attack"]), list(rows["family"])
