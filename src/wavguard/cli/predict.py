"""``wavguard predict MODEL --data FILE|FOLDER|GLOB...``: score audio files."""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..data import AUDIO_EXTENSIONS, audio_files
from ..data.manifest import MANIFEST_SUFFIXES, manifest_paths
from ..errors import AudioError, ConfigError
from ..layout import BUILTIN_DETECTORS, CONFIG_NAME, DEFAULT_DETECTOR, ENSEMBLE_NAME
from ..scoring.prediction import Prediction
from . import _archive, _args

_GLOB_CHARACTERS = "*?["


_EXTENSIONS = "/".join(e.lstrip(".") for e in AUDIO_EXTENSIONS)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        usage="wavguard predict [MODEL] FILE|FOLDER|GLOB [...] [options]\n"
        "       wavguard predict [MODEL] --data FILE|FOLDER|GLOB [...] [options]",
        help="score audio files (probability that each is fake)",
        description=(
            "Score audio files. Prints one tab-separated line per file: score (probability of FAKE), label, "
            "path. In the path a tab, newline, carriage return and backslash are written as \\t, \\n, \\r "
            "and \\\\, so every line has exactly three fields. Files that cannot be scored are reported on "
            "stderr, or with --json as JSON lines on stdout with their error (exit status 1); the others are "
            "still scored. With no MODEL the built-in detector scores: "
            f"{DEFAULT_DETECTOR}, shipped in the package (`wavguard info` prints its card). Without --data, a first "
            "word that is a detector folder (it has config.json) or a built-in name is the MODEL, the rest is audio."
        ),
    )
    p.add_argument(
        "items",
        nargs="*",
        metavar="[MODEL] FILE",
        help="the detector (a folder, Hub id or built-in name; optional, see above) and the audio to score, "
        "as for --data; name a Hub id with --data after it",
    )
    _args.add_data(
        p,
        nargs="+",
        help=(
            f"audio files (any rate and channel count), folders (every {_EXTENSIONS} file under them, recursively, in "
            "sorted order), quoted glob patterns ('clips/*.wav', 'data/**/*.flac': ** spans folders) or manifests "
            f"({'/'.join(MANIFEST_SUFFIXES)} with a path column: the files it lists, in row order, relative to its folder); "
            "a folder or pattern without audio files is an error"
        ),
    )
    _args.add_json(
        p,
        help="print JSON lines with per-window segments; a file that failed is a line with its "
        'source and error (score null, label "error")',
    )
    p.add_argument("--threshold", type=float, default=None, help="decision threshold (default: the detector's)")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    _args.add_backend(p)
    _args.add_progress(p)
    _args.add_device(p)
    _args.add_revision(p)
    _archive.add_options(p)
    p.set_defaults(func=run)


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def escape_field(text: str) -> str:
    """``text`` as one tab-separated field on one line: backslash, tab, newline and carriage
    return become ``\\\\``, ``\\t``, ``\\n``, ``\\r`` (reversible)."""
    return text.translate(_ESCAPES)


def expand_inputs(items: Sequence[str]) -> list[str | AudioError]:
    """The files ``--data`` names, in order: a file (or a path that does not exist) as is, so the
    detector reports it; a folder as every audio file under it (:func:`wavguard.data.audio_files`:
    recursive, sorted, by extension); a glob pattern as the audio files and folders it matches
    (``**`` spans folders); a manifest (a table file with a path column) as the files it lists
    (:func:`wavguard.data.manifest_paths`). A folder or pattern with no audio file in it is an
    :class:`AudioError` in its place.

    Raises:
        ConfigError: a manifest that cannot be read or has no path column.
    """
    found: list[str | AudioError] = []
    for item in items:
        if os.path.isdir(item):
            files = audio_files(item)
            what = "a folder without audio files"
        elif not os.path.lexists(item) and any(c in item for c in _GLOB_CHARACTERS):
            files = []
            for match in sorted(glob.glob(item, recursive=True)):
                if os.path.isdir(match):
                    files += audio_files(match)
                elif match.lower().endswith(AUDIO_EXTENSIONS):
                    files.append(match)
            files = list(dict.fromkeys(files))  # `a/**` matches a/ and its sub-folders: each file once
            what = "a pattern that matches no audio files"
        elif item.lower().endswith(MANIFEST_SUFFIXES) and os.path.isfile(item):
            found.extend(manifest_paths(item))
            continue
        else:
            found.append(item)
            continue
        found.extend(files or [AudioError(item, f"{what} ({', '.join(AUDIO_EXTENSIONS)})")])
    return found


def _names_a_detector(word: str) -> bool:
    """A built-in detector's name, or a folder with a detector's ``config.json`` (or an ensemble's file)."""
    folder = Path(word)
    return word in BUILTIN_DETECTORS or (
        folder.is_dir() and any((folder / n).is_file() for n in (CONFIG_NAME, ENSEMBLE_NAME))
    )


def model_and_inputs(args: argparse.Namespace) -> tuple[str, list[str]]:
    """Which detector scores which inputs: ``[MODEL] --data ITEMS``, ``MODEL ITEMS`` (a first word that
    names a detector folder or a built-in one) or ``ITEMS`` (the built-in :data:`DEFAULT_DETECTOR`).

    Raises:
        ConfigError: two models named, a MODEL and no audio, or nothing to score at all.
    """
    items, named = list(args.items), None
    if args.data:
        if len(items) > 1:
            raise ConfigError(
                f"with --data, name at most one MODEL before it (got {items}); list the audio after --data"
            )
        return (items[0] if items else DEFAULT_DETECTOR), list(args.data)
    if items and _names_a_detector(items[0]):
        named, items = items[0], items[1:]
        if not items:
            raise ConfigError(f"{named} is a detector: name the audio to score, e.g. wavguard predict {named} clip.wav")
    if not items:
        raise ConfigError("nothing to score: name audio files, folders or glob patterns (wavguard predict clip.wav)")
    return named or DEFAULT_DETECTOR, items


def run(args: argparse.Namespace) -> int:
    model, items = model_and_inputs(args)
    inputs = expand_inputs(items)
    if args.out is not None:
        return _archive.run(args, model, inputs)
    progress = _args.resolve_progress(args)
    with _args.library_progress_bars(progress):
        detector = _args.load_scorer(args, model)
        paths = [item for item in inputs if isinstance(item, str)]
        scored = iter(
            detector.predict(
                paths, batch_size=args.batch_size, threshold=args.threshold, on_error="return", progress=progress
            )
            if paths
            else []
        )
    threshold = detector.default_threshold if args.threshold is None else args.threshold
    failed = 0
    for item in inputs:
        pred = (
            next(scored) if isinstance(item, str) else Prediction(item.source, math.nan, "error", threshold, error=item)
        )
        if not pred.ok:
            failed += 1
        if args.json:
            print(json.dumps(pred.to_dict()))
        elif not pred.ok:
            message = str(pred.error).replace("\n", "\\n").replace("\r", "\\r")  # one line per error
            print(f"wavguard: error: {message}", file=sys.stderr)
        else:
            print(f"{pred.score:.4f}\t{pred.label}\t{escape_field(pred.source)}")
    return 1 if failed else 0
