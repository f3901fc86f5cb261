"""``wavguard update MODEL --feedback DB -o NEW_MODEL [key=value ...]``: fine-tune on client feedback, keep it only if better."""

from __future__ import annotations

import argparse
import logging

from . import _args

#: Exit status when the updated model is not better and nothing was written.
REFUSED = 4


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "update",
        help="fine-tune a detector on client feedback; write it only if it beats the old one on a hold-out set",
        description=(
            "Read the feedback rows that carry audio from the server's --log-db file, fine-tune MODEL on them plus a "
            "seeded replay sample of its original training data, and compare old and new on a hold-out set. The new "
            "model is written to NEW_MODEL (atomically) only if its hold-out EER <= old EER - MIN_IMPROVEMENT "
            "(at equal EER the ROC AUC must not drop); otherwise nothing is written and the exit status is 4. "
            "The comparison report goes to NEW_MODEL/update_report/ (NEW_MODEL.update_report/ when refused)."
        ),
    )
    _args.add_model(p, help="the deployed detector directory (or Hub id)")
    _args.add_overrides(p, help="other training settings (see `wavguard train`), e.g. head_learning_rate=0.003")
    p.add_argument("--feedback", required=True, metavar="DB", help="SQLite file of `wavguard serve --log-db`")
    _args.add_out(p, required=True, metavar="NEW_MODEL", help="directory for the updated detector")
    _args.add_json(p, help="print the decision (accepted, reason, directories, counts) as JSON instead of the report")
    p.add_argument(
        "--replay",
        action="append",
        default=None,
        metavar="DATA",
        help="the model's original training data (folder, manifest, saved dataset, corpus); repeatable",
    )
    p.add_argument("--replay-split", default=None, help="split of the replay data (e.g. train)")
    p.add_argument(
        "--replay-fraction",
        type=float,
        default=0.5,
        help="share of replay clips in the training mix, in [0, 1) (default 0.5: as many as feedback clips)",
    )
    p.add_argument(
        "--holdout",
        default=None,
        metavar="DATA",
        help="evaluation data (default: a stratified split of feedback + replay)",
    )
    p.add_argument("--holdout-split", default=None, help="split of the hold-out data (e.g. test)")
    p.add_argument(
        "--holdout-fraction", type=float, default=0.25, help="share held out when --holdout is not given (default 0.25)"
    )
    p.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    p.add_argument(
        "--mode",
        choices=("frozen", "lora", "full"),
        default=None,
        help="what trains: frozen = head only (default), lora, full",
    )
    p.add_argument(
        "--min-improvement",
        type=float,
        default=0.0,
        help="required EER drop as a fraction, e.g. 0.01 = one point (default 0)",
    )
    p.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="share of the training mix for best-epoch choice, calibration and threshold (default 0.2)",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds replay sampling, the hold-out split and training")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass when scoring the hold-out set")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the EER intervals (0: skip)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace NEW_MODEL if it exists (only when the update is accepted)"
    )
    p.set_defaults(func=run)


def _settings(pairs: list[str]) -> dict:
    from ..training.overrides import apply_overrides

    return apply_overrides({}, pairs)


def run(args: argparse.Namespace) -> int:
    from ..feedback.update import UpdateConfig, update_detector

    if not getattr(args, "quiet", False):  # -q has set ERROR
        logging.getLogger("wavguard").setLevel(logging.INFO if args.verbose else logging.WARNING)
    config = UpdateConfig(
        replay=None if not args.replay else (args.replay[0] if len(args.replay) == 1 else args.replay),
        replay_split=args.replay_split,
        replay_fraction=args.replay_fraction,
        holdout=args.holdout,
        holdout_split=args.holdout_split,
        holdout_fraction=args.holdout_fraction,
        epochs=args.epochs,
        min_improvement=args.min_improvement,
        seed=args.seed,
        mode=args.mode,
        validation_fraction=args.validation_fraction,
        holdout_batch_size=args.batch_size,
        bootstrap_resamples=args.bootstrap,
        train_settings=_settings(args.overrides),
    )
    result = update_detector(args.model, args.feedback, args.out, config, overwrite=args.overwrite)
    if args.json:
        from ..evaluation.report import to_json

        print(
            to_json(
                {
                    "accepted": result.accepted,
                    "reason": result.reason,
                    "model_dir": None if result.model_dir is None else str(result.model_dir),
                    "report": str(result.report_dir / "report.md"),
                    "counts": result.counts,
                }
            ),
            end="",
        )
        return 0 if result.accepted else REFUSED
    print(result.markdown)
    print(f"report: {result.report_dir / 'report.md'}")
    if not result.accepted:
        print(f"not written: {args.out} ({result.reason})")
        return REFUSED
    print(f"updated detector: {result.model_dir}")
    return 0
