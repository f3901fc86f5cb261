"""The ``wavguard`` command line: thin subcommands over library functions.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds a parser
whose ``func(args) -> int`` does the work. ``main(argv)`` returns the exit status, so tests call
``main([...])`` directly.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence

from .._version import __version__
from ..errors import ConfigError, WavguardError
from ._args import add_verbosity

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

#: Modules under ``wavguard.cli`` that each register one subcommand.
SUBCOMMANDS = (
    "predict",
    "audit",
    "compare",
    "convert",
    "demo",
    "evaluate",
    "export",
    "info",
    "serve",
    "stream",
    "train",
    "update",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavguard",
        description="Detect deepfake speech. Scores are the probability that audio is FAKE (higher = more likely fake).",
    )
    parser.add_argument("--version", action="version", version=f"wavguard {__version__}")
    add_verbosity(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    for sub in {id(p): p for p in subparsers.choices.values()}.values():
        add_verbosity(sub, default=argparse.SUPPRESS)  # after COMMAND too; absent, the top level's value stands
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The subcommand's parser (its usage is the one to show for a bad option), else ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


#: Libraries whose loggers ``-q`` turns down to errors, with the root logger and wavguard's.
QUIET_LOGGERS = ("wavguard", "transformers", "datasets", "huggingface_hub", "accelerate", "peft", "torch")


@contextlib.contextmanager
def _verbosity(verbose: bool, quiet: bool) -> Iterator[None]:
    """``-v``: wavguard's INFO logs; ``-q``: only errors (Python warnings filtered out, loggers at
    ERROR); else WARNING. Logger levels (also those a command sets itself, as train does) and the
    warning filters come back when the command ends, for in-process callers."""
    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    changed = ("", *QUIET_LOGGERS) if quiet else ("wavguard",) if verbose else ()
    loggers = [logging.getLogger(name or None) for name in ("", *QUIET_LOGGERS)]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        for name in changed:
            logging.getLogger(name or None).setLevel(level)
        try:
            yield
        finally:
            for logger, old in zip(loggers, levels):
                logger.setLevel(old)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status.

    0: ok; 1: some input failed (or a model could not be loaded); 2: usage error (a bad option, or
    a :class:`~wavguard.errors.ConfigError` from a setting or a detector's ``config.json``).
    """
    parser = build_parser()
    # key=value overrides may follow options (`update M -o NEW lr=0.1`); argparse alone only takes
    # positionals in one run, so later key=value words are gathered here.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if isinstance(getattr(args, "overrides", None), list) and all(
            "=" in e and not e.startswith("-") for e in extra
        ):
            args.overrides += extra
        else:
            _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    if args.verbose and args.quiet:
        _subparser(parser, args.command).error("-v/--verbose and -q/--quiet contradict each other: give one")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with _verbosity(args.verbose, args.quiet):
            return int(args.func(args) or 0)
    except ConfigError as exc:  # a setting, option or config file that cannot be used: a usage error
        print(f"wavguard: error: {exc}", file=sys.stderr)
        return 2
    except WavguardError as exc:
        print(f"wavguard: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader stopped early (`wavguard info | head`): nothing left to say
        _silence_stdout()
        return 141  # as a process that SIGPIPE ended


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (an in-process caller's stdout)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
