"""The ``wavguard`` command line: thin subcommands over library functions.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds a parser
whose ``func(args) -> int`` does the work. ``main(argv)`` returns the exit status, so tests call
``main([...])`` directly.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import ConfigError, WavguardError

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

#: Modules under ``wavguard.cli`` that each register one subcommand.
SUBCOMMANDS = ("predict", "audit", "compare", "convert", "demo", "evaluate", "export", "serve", "stream", "train", "update")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavguard",
        description="Detect deepfake speech. Scores are the probability that audio is FAKE (higher = more likely fake).",
    )
    parser.add_argument("--version", action="version", version=f"wavguard {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


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
        if isinstance(getattr(args, "overrides", None), list) and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides += extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:  # a setting, option or config file that cannot be used: a usage error
        print(f"wavguard: error: {exc}", file=sys.stderr)
        return 2
    except WavguardError as exc:
        print(f"wavguard: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
