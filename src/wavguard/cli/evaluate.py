"""``wavguard evaluate MODEL --data DATA -o DIR [--channels ...]``: score a labelled data set and write a report."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import _args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a labelled data set; write metrics.json, plots and report.md",
        description=(
            "Score every clip of a labelled data set and write a report (metrics.json, ROC/DET/"
            "confusion/histogram plots, report.md). Scores are the probability of FAKE; the EER is "
            "printed as a percentage with its threshold. Exit status 1 when some files failed to score."
        ),
    )
    _args.add_model(p, help="detector or ensemble directory, or a Hugging Face Hub id")
    _args.add_data(
        p,
        required=True,
        help="data set: a folder with real/ and fake/ sub-folders, or anything wavguard.data.load_any reads",
    )
    _args.add_out(p, required=True, help="report directory (created if missing)")
    _args.add_json(p, help="print metrics.json's headline metrics as JSON instead of the summary lines")
    add_data_arguments(p)
    p.add_argument(
        "--threshold", type=float, default=None, help="decision threshold for accuracy etc. (default: the model's)"
    )
    p.add_argument(
        "--store-metrics",
        action="store_true",
        help="write the headline metrics (EER first) into the model directory's config",
    )
    _args.add_revision(p)
    p.add_argument(
        "--channels",
        nargs="+",
        default=None,
        metavar="CHANNEL",
        help="also score every clip through these degradation channels and add a Robustness section: "
        "mp3_24k, telephone, noise_snr20, noise_snr10, reverb, or mp3_<N>k, noise_snr<N>, white_snr<N>, pink_snr<N>, reverb_drr<N>",
    )
    p.add_argument(
        "--channel-seed", type=int, default=0, metavar="SEED", help="seed of the channels' noise and rooms (default 0)"
    )
    p.add_argument(
        "--adversarial",
        type=float,
        default=None,
        metavar="SNR_DB",
        help="also score every clip after a white-box attack on this detector with a perturbation SNR_DB below the "
        "clip (e.g. 30) and report the attacked EER next to the clean one (PyTorch detectors)",
    )
    p.add_argument(
        "--adversarial-method",
        choices=("fgsm", "pgd"),
        default="pgd",
        help="the attack: pgd (default; projected steps within the budget) or fgsm (one step, cheaper)",
    )
    p.add_argument("--adversarial-steps", type=int, default=3, metavar="N", help="PGD steps (default 3)")
    p.add_argument(
        "--scores",
        default=None,
        metavar="FILE",
        help="also write a score file: one tab-separated line per utterance (id, score = P(fake), higher = more "
        "likely fake, llr, label, attack/generator/channel columns when the data has them), for benchmarks",
    )
    p.add_argument(
        "--from-scores",
        action=_FromScores,
        default=None,
        metavar="FILE",
        help="write the report from a score file (--scores) instead of scoring: no MODEL, no --data",
    )
    p.set_defaults(func=run)


class _FromScores(argparse.Action):
    """``--from-scores FILE``: the report comes from a score file, so MODEL and --data stop being
    required (argparse checks required arguments after every option has been seen)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        for action in parser._actions:
            if action.dest in ("model", "data"):
                action.required = False


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``evaluate`` and ``compare``."""
    p.add_argument("--split", default=None, help="split of the data set (default: the loader's choice, else 'test')")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    p.add_argument(
        "--group-by",
        nargs="+",
        default=None,
        metavar="COLUMN",
        help="columns to break metrics down by (default: attack, speaker, language when present)",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples of the EER interval (0: skip; default 1000)",
    )
    _args.add_progress(p)
    _args.add_device(p)
    _args.add_backend(p)


def load_data(source: str, split: str | None):
    """The data set to evaluate, through ``wavguard.data.load_any``; a DatasetDict gives its test split."""
    import datasets

    from .. import data

    dataset = data.load_any(source, split=split)
    if isinstance(dataset, datasets.DatasetDict):
        if "test" not in dataset:
            from ..errors import ConfigError

            raise ConfigError(f"{source}: holds splits {', '.join(dataset)}; choose one with --split")
        dataset = dataset["test"]
    return dataset


def _store_metrics(model, name: str) -> str:
    """Persist ``metrics`` into the model directory; returns what was written, or why not."""
    if not os.path.isdir(name):
        return f"metrics not stored: {name} is not a local directory"
    from ..evaluation.ensemble import ENSEMBLE_NAME, Ensemble

    if isinstance(model, Ensemble):
        from .._io import atomic_write_text

        path = Path(name) / ENSEMBLE_NAME
        data = json.loads(path.read_text())
        data["metrics"] = model.metrics
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
        return f"metrics stored in {path}"
    return f"metrics stored in {model.config.save(name)}"


def run_from_scores(args: argparse.Namespace) -> int:
    """``wavguard evaluate --from-scores FILE -o DIR``: the report of a score file, no model."""
    from ..errors import ConfigError
    from ..evaluation.report import format_percent, to_json, write_report
    from ..evaluation.scorefile import evaluate_score_file

    scoring = {
        "MODEL": args.model,
        "--data": args.data,
        "--channels": args.channels,
        "--adversarial": args.adversarial,
        "--store-metrics": args.store_metrics,
        "--scores": args.scores,
    }
    given = [name for name, value in scoring.items() if value]
    if given:
        raise ConfigError(f"wavguard evaluate --from-scores reads scores, it does not score: drop {', '.join(given)}")
    result = evaluate_score_file(
        args.from_scores, threshold=args.threshold, group_columns=args.group_by, bootstrap_resamples=args.bootstrap
    )
    report = write_report(result, args.out)
    m = result.metrics
    if args.json:
        print(to_json({"metrics": m, "report": str(report), "num_failed": 0}), end="")
        return 0
    if m["eer"] is None:
        print(
            f"EER n/a (the scores hold a single class); accuracy {format_percent(m['accuracy'])} at threshold {m['threshold']:.4g}"
        )
    else:
        print(
            f"EER {format_percent(m['eer'])} at threshold {m['eer_threshold']:.4g}; ROC AUC {m['roc_auc']:.4f} "
            f"({m['num_clips']} clips: {m['num_real']} real, {m['num_fake']} fake)"
        )
    print(f"report: {report}")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..evaluation.evaluate import evaluate_detector
    from ..evaluation.report import format_percent, format_ratio, write_report

    if args.from_scores is not None:
        return run_from_scores(args)
    if args.channels is not None:
        from ..audio.channels import parse_channels

        parse_channels(args.channels)  # a bad name fails before the model loads
    model = _args.load_scorer(args, args.model)
    dataset = load_data(args.data, args.split)
    result = evaluate_detector(
        model,
        dataset,
        batch_size=args.batch_size,
        group_columns=args.group_by,
        threshold=args.threshold,
        store_metrics=args.store_metrics,
        name=os.path.basename(os.path.normpath(args.model)),
        bootstrap_resamples=args.bootstrap,
        channels=args.channels,
        channel_seed=args.channel_seed,
        adversarial_snr_db=args.adversarial,
        adversarial_method=args.adversarial_method,
        adversarial_steps=args.adversarial_steps,
        progress=_args.resolve_progress(args),
    )
    report = write_report(result, args.out)
    if args.scores:
        from ..evaluation.scorefile import write_scores

        write_scores(result, args.scores, dataset)
    m = result.metrics
    if args.json:
        from ..evaluation.report import to_json

        print(to_json({"metrics": m, "report": str(report), "num_failed": len(result.failures)}), end="")
    elif m["eer"] is None:
        print(
            f"EER n/a (the data set holds a single class); accuracy {format_percent(m['accuracy'])} at threshold {m['threshold']:.4g}"
        )
    else:
        print(
            f"EER {format_percent(m['eer'])} at threshold {m['eer_threshold']:.4g}; ROC AUC {m['roc_auc']:.4f} "
            f"({m['num_clips']} clips: {m['num_real']} real, {m['num_fake']} fake)"
        )
    for row in [] if args.json else result.robustness():
        print(
            f"{row['channel']}: EER {format_percent(row['eer'])} (clean {format_percent(row['clean_eer'])}, ratio {format_ratio(row['eer_ratio'])})"
        )
    if result.adversarial is not None and not args.json:
        a = result.adversarial_summary()
        print(
            f"adversarial {a['method']} at {a['snr_db']:g} dB: EER {format_percent(a['eer'])} "
            f"(clean {format_percent(a['clean_eer'])}, ratio {format_ratio(a['eer_ratio'])})"
        )
    if not args.json:
        print(f"report: {report}")
    if args.store_metrics:
        stored = _store_metrics(model, args.model)
        print(stored, file=sys.stderr if args.json else sys.stdout)
    status = 0
    if result.failures:
        print(
            f"wavguard: {len(result.failures)} file(s) could not be scored, e.g. {result.failures[0]['error']} "
            f"(all listed in {report})",
            file=sys.stderr,
        )
        status = 1
    failed_clean = {f["row"] for f in result.failures}
    for name, degraded in result.channels.items():
        extra = [f for f in degraded.failures if f["row"] not in failed_clean]
        if extra:
            print(
                f"wavguard: channel {name}: {len(extra)} more file(s) could not be scored, e.g. "
                f"{extra[0]['error']} (all listed in metrics.json)",
                file=sys.stderr,
            )
            status = 1
    return status
