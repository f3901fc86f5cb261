"""The one argument convention every subcommand shares, defined once.

    wavguard COMMAND MODEL [--data DATA ...] [-o OUT] [--json] [--progress/--no-progress]
                           [--device DEVICE] [--revision REV] [key=value ...]

* the detector is positional (``MODEL``), data go through ``--data``, outputs through ``-o/--out``;
* ``--json`` prints results as JSON; ``--progress`` shows a progress bar on stderr (default: on when
  stderr is a terminal, never with ``-q``); ``--device`` and ``--revision`` apply where a model is loaded;
* settings are overridden with ``key=value`` arguments;
* ``-v``/``-q`` (log details / only errors, no warnings) go before or after COMMAND.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from ..layout import DEFAULT_DETECTOR

__all__ = [
    "add_model",
    "add_backend",
    "load_scorer",
    "add_data",
    "add_out",
    "add_json",
    "add_progress",
    "add_device",
    "add_revision",
    "add_overrides",
    "add_verbosity",
    "resolve_progress",
    "library_progress_bars",
]


def add_model(
    p: argparse.ArgumentParser,
    *,
    optional: bool = False,
    help: str = "detector directory (PyTorch or ONNX) or Hugging Face Hub id",
) -> None:
    """``MODEL``, positional; where ``optional``, it may be left out for the built-in detector
    (:data:`wavguard.loading.DEFAULT_DETECTOR`)."""
    if optional:
        p.add_argument(
            "model",
            metavar="MODEL",
            nargs="?",
            default=DEFAULT_DETECTOR,
            help=f"{help}, or a built-in name (default: the built-in {DEFAULT_DETECTOR})",
        )
    else:
        p.add_argument("model", metavar="MODEL", help=help)


def add_data(
    p: argparse.ArgumentParser, *, nargs: str | None = None, required: bool = False, help: str = "data set"
) -> None:
    """``--data`` (``nargs="+"`` for a list of files)."""
    p.add_argument("--data", nargs=nargs, required=required, default=None, metavar="DATA", help=help)


def add_out(
    p: argparse.ArgumentParser,
    *,
    required: bool = False,
    metavar: str = "DIR",
    help: str = "output directory (created if missing)",
) -> None:
    p.add_argument("-o", "--out", required=required, default=None, metavar=metavar, help=help)


def add_json(p: argparse.ArgumentParser, help: str = "print the results as JSON") -> None:
    p.add_argument("--json", action="store_true", help=help)


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: when stderr is a terminal)",
    )


def resolve_progress(args: argparse.Namespace) -> bool:
    """``--progress``/``--no-progress``, else off with ``-q``, else whether stderr is a terminal (a
    bar redrawn with carriage returns is noise in a redirected log)."""
    if args.progress is not None:
        return bool(args.progress)
    if getattr(args, "quiet", False):
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


@contextlib.contextmanager
def library_progress_bars(enabled: bool, *, datasets: bool = False) -> Iterator[None]:
    """Turn off the Hugging Face libraries' own tqdm bars (Hub downloads, transformers' weight
    loading, and with ``datasets`` its map/filter/save bars) unless ``enabled``; each is turned back
    on when the block ends, so in-process callers keep their settings.

    transformers copies the Hub's setting when it is first imported; ``datasets`` is imported here
    (when installed) because it reads its own setting only then.
    """
    if enabled:
        yield
        return
    import huggingface_hub.utils as hub

    undo = []
    if not hub.are_progress_bars_disabled():
        transformers_logging = sys.modules.get("transformers.utils.logging")
        if transformers_logging is not None and transformers_logging.is_progress_bar_enabled():
            transformers_logging.disable_progress_bar()  # also turns the Hub's off
            undo.append(transformers_logging.enable_progress_bar)
        elif transformers_logging is None:
            undo.append(_enable_transformers_bars)
        hub.disable_progress_bars()
        undo.append(hub.enable_progress_bars)
    if datasets:
        try:
            import datasets as datasets_module
        except ImportError:
            pass
        else:
            if not datasets_module.are_progress_bars_disabled():
                datasets_module.disable_progress_bars()
                undo.append(datasets_module.enable_progress_bars)
    try:
        yield
    finally:
        for step in reversed(undo):
            step()


def _enable_transformers_bars() -> None:
    """transformers imported inside the block took the Hub's "off": turn its bars back on."""
    transformers_logging = sys.modules.get("transformers.utils.logging")
    if transformers_logging is not None:
        transformers_logging.enable_progress_bar()


def add_verbosity(p: argparse.ArgumentParser, *, default: Any = False) -> None:
    """``-v``/``--verbose`` and ``-q``/``--quiet``. The top-level parser takes them with ``default=False``
    and each subcommand with ``default=argparse.SUPPRESS``, so they work on either side of COMMAND."""
    p.add_argument("-v", "--verbose", action="store_true", default=default, help="log progress and details")
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="only errors: no warnings, no log lines, no progress bars (unless --progress)",
    )


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device", default=None, help="torch device, e.g. cpu or cuda (an unavailable device is a usage error, exit 2)"
    )


def add_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=("auto", "torch", "int8"),
        default="auto",
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


def add_overrides(
    p: argparse.ArgumentParser, help: str = "settings that override the defaults (dotted keys reach nested settings)"
) -> None:
    p.add_argument("overrides", nargs="*", metavar="key=value", help=help)
