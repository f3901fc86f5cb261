"""``wavguard predict MODEL --data ... --out FILE``: one score file for a large archive.

The files are scored in resumable shards, split across the processes of ``accelerate launch``
(or any ``torchrun`` launch); :mod:`wavguard.scoring.archive` does the work, this module reads the
options and picks each process's device before the model loads.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError, WavguardError
from . import _args

__all__ = ["add_options", "run"]

DEFAULT_SHARD_SIZE = 1000  # scoring.archive.DEFAULT_SHARD_SIZE; not imported, so `wavguard --help` stays fast


def add_options(p: argparse.ArgumentParser) -> None:
    """``-o/--out FILE``, ``--shard-size N`` and ``--overwrite``."""
    _args.add_out(
        p,
        metavar="FILE",
        help=(
            "write one score file instead of printing: .parquet, .csv, .tsv or .jsonl (by the suffix), columns path, score "
            "(probability of FAKE; empty when the file failed), label (fake/real/error), error, duration_seconds, backend, "
            "one row per file in input order. Scored in shards kept in FILE.shards/, so a rerun of the same command resumes "
            "after a kill; under `accelerate launch` the shards are split across the processes. Exit status 0 once FILE is "
            "written, even when some rows hold an error"
        ),
    )
    p.add_argument(
        "--shard-size",
        type=int,
        default=DEFAULT_SHARD_SIZE,
        metavar="N",
        help=f"with --out: files per shard, the unit of resuming and of splitting across processes "
        f"(default {DEFAULT_SHARD_SIZE})",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="with --out: score every file again instead of resuming from the shards in FILE.shards/",
    )


def run(args: argparse.Namespace, model: str, inputs: list[str | WavguardError]) -> int:
    """Score ``inputs`` (the audio named, expanded) with ``model`` into ``args.out``; 0 once it is written."""
    from .. import loading
    from ..scoring import archive

    if args.json:
        raise ConfigError("--json prints to stdout and --out writes a file: give one of them")
    if args.shard_size < 1:
        raise ConfigError(f"--shard-size is a number of files and must be at least 1, got {args.shard_size}")
    out = archive.check_output(args.out)
    try:
        state = archive.process_state(None)
    except ImportError as exc:  # launched with torchrun, without accelerate installed
        raise ConfigError(
            f"splitting the files across processes needs accelerate ({exc}); pip install accelerate"
        ) from None
    if state is not None and state.device.type != "cpu" and args.device is None:
        args.device = str(state.device)  # load straight onto this process's GPU, not every process onto the first
    progress = _args.resolve_progress(args)
    with _args.library_progress_bars(progress):
        scorer = _args.load_scorer(args, model)
        result = archive.score_archive(
            scorer,
            inputs,
            out,
            model_directory=loading.inspect(model, args.revision).directory,
            model_name=str(model),
            shard_size=args.shard_size,
            batch_size=args.batch_size,
            threshold=args.threshold,
            overwrite=args.overwrite,
            progress=progress,
        )
    if result is not None and not getattr(args, "quiet", False):
        failed = f"; {result.failed} could not be scored (see their error column)" if result.failed else ""
        resumed = (
            f", {result.shards_skipped} of {result.shards} shards from an earlier run" if result.shards_skipped else ""
        )
        print(f"wavguard: wrote {result.out}: {result.files} files{resumed}{failed}", file=sys.stderr)
    return 0
