"""The one argument convention every subcommand shares, defined once.

    wavguard COMMAND MODEL [--data DATA ...] [-o OUT] [--json] [--progress/--no-progress]
                           [--device DEVICE] [--revision REV] [key=value ...]

* the detector is positional (``MODEL``), data go through ``--data``, outputs through ``-o/--out``;
* ``--json`` prints results as JSON; ``--progress`` shows a progress bar on stderr (default: on when
  stderr is a terminal); ``--device`` and ``--revision`` apply where a model is loaded;
* settings are overridden with ``key=value`` arguments.

Old spellings (``--model``/``-m``, data given positionally, ``--set KEY=VALUE``) still work for one
release and print a deprecation warning on stderr (:func:`deprecated`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = [
    "add_model", "add_backend", "load_scorer", "add_data", "add_out", "add_json", "add_progress", "add_device", "add_revision",
    "add_overrides", "add_deprecated_model_option", "add_deprecated_set", "deprecated", "resolve_model",
    "resolve_progress", "resolve_overrides", "take_positional_data",
]

#: When the deprecated spellings go away.
REMOVAL = "the next release"


def deprecated(old: str, new: str) -> None:
    """One warning line on stderr for an old spelling (stdout stays clean for results)."""
    print(f"wavguard: warning: {old} is deprecated and will be removed in {REMOVAL}; use {new}", file=sys.stderr)


def add_model(p: argparse.ArgumentParser, *, optional: bool = False, help: str = "detector directory (PyTorch or ONNX) or Hugging Face Hub id") -> None:
    """``MODEL``, positional. ``optional=True`` where the deprecated ``--model`` may stand in for it."""
    p.add_argument("model", nargs="?" if optional else None, default=None, metavar="MODEL", help=help)


def add_deprecated_model_option(p: argparse.ArgumentParser) -> None:
    """``--model/-m`` of earlier releases; :func:`resolve_model` turns it into ``args.model``."""
    p.add_argument("--model", "-m", dest="model_option", default=None, metavar="MODEL", help="deprecated: give MODEL positionally")


def resolve_model(args: argparse.Namespace) -> str:
    """``args.model``, from the positional ``MODEL`` or (with a warning) the deprecated ``--model``."""
    from ..errors import ConfigError

    option = getattr(args, "model_option", None)
    if option is not None:
        deprecated(f"--model {option}", f"`wavguard {args.command} {option} ...` (the model is positional)")
        if args.model is not None and args.model != option:
            raise ConfigError(f"two models given: {args.model} (positional) and --model {option}; give one")
        args.model = option
    if args.model is None:
        raise ConfigError(f"wavguard {args.command}: a MODEL is required (detector directory or Hub id)")
    return args.model


def add_data(p: argparse.ArgumentParser, *, nargs: str | None = None, required: bool = False, help: str = "data set") -> None:
    """``--data`` (``nargs="+"`` for a list of files)."""
    p.add_argument("--data", nargs=nargs, required=required, default=None, metavar="DATA", help=help)


def add_out(p: argparse.ArgumentParser, *, required: bool = False, metavar: str = "DIR", help: str = "output directory (created if missing)") -> None:
    p.add_argument("-o", "--out", required=required, default=None, metavar=metavar, help=help)


def add_json(p: argparse.ArgumentParser, help: str = "print the results as JSON") -> None:
    p.add_argument("--json", action="store_true", help=help)


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar on stderr (default: when stderr is a terminal)")


def resolve_progress(args: argparse.Namespace) -> bool:
    """``--progress``/``--no-progress``, else whether stderr is a terminal."""
    if args.progress is not None:
        return bool(args.progress)
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None,
                   help="torch device, e.g. cpu or cuda (an unavailable device is a usage error, exit 2)")


def add_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend", choices=("auto", "torch", "int8"), default="auto",
        help="what runs the network (the same rule as Detector.from_pretrained): auto (default) scores with the "
        "folder's checked int8 graph (onnx-int8/) on the CPU when it has one, an exported folder's graph, else "
        "PyTorch; torch: always PyTorch; int8: the checked int8 graph or an error",
    )


def load_scorer(args: argparse.Namespace, model: str, *, ensembles: bool = True) -> Any:
    """The detector (or, where ``ensembles``, the ensemble) ``model`` names, loaded through
    :mod:`wavguard.loading` with the command's ``--backend``, ``--device`` and ``--revision``; logs
    (``-v``) which backend scores."""
    import logging

    from ..detector import Detector
    from ..evaluation.ensemble import load_scorer as load

    options = {"backend": getattr(args, "backend", "auto"), "device": getattr(args, "device", None)}
    revision = getattr(args, "revision", None)
    scorer = load(model, revision, **options) if ensembles else Detector.from_pretrained(model, revision, **options)
    logging.getLogger("wavguard.cli").info("%s: scoring with backend %s", model, scorer.backend_name)
    return scorer


def add_revision(p: argparse.ArgumentParser) -> None:
    p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit) of the model")


def add_overrides(p: argparse.ArgumentParser, help: str = "settings that override the defaults (dotted keys reach nested settings)") -> None:
    p.add_argument("overrides", nargs="*", metavar="key=value", help=help)


def add_deprecated_set(p: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` of earlier releases; :func:`resolve_overrides` merges it into the overrides."""
    p.add_argument("--set", dest="set_option", action="append", default=[], metavar="KEY=VALUE",
                   help="deprecated: give key=value positionally")


def resolve_overrides(args: argparse.Namespace) -> list[str]:
    """The ``key=value`` overrides, the deprecated ``--set`` ones first (later ones win)."""
    old = list(getattr(args, "set_option", None) or [])
    if old:
        deprecated("--set " + " --set ".join(old), " ".join(old) + " (key=value arguments)")
    return old + list(getattr(args, "overrides", None) or [])


def take_positional_data(args: argparse.Namespace, extra: list[str], *, as_list: bool) -> Any:
    """Move data given positionally (the old spelling) into ``args.data``, with a warning."""
    from ..errors import ConfigError

    if not extra:
        return args.data
    shown = " ".join(extra)
    if args.data:
        raise ConfigError(f"data given twice: {shown} (positional) and --data; use --data")
    deprecated(f"data given positionally ({shown})", f"--data {shown}")
    if as_list:
        args.data = list(extra)
    elif len(extra) == 1:
        args.data = extra[0]
    else:
        raise ConfigError(f"one data set expected, got {shown}")
    return args.data
