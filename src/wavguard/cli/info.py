"""``wavguard info [MODEL] [--list] [--json]``: what a detector is, and its model card."""

from __future__ import annotations

import argparse
import json

from ..layout import BUILTIN_DETECTORS, CARD_NAME, DEFAULT_DETECTOR
from . import _args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info",
        help="print a detector's summary and model card (default: the built-in detector)",
        description="Print what a detector is (kind, backbone, window, threshold, calibration, the backend that "
        "would score it) and its model card (README.md: numbers, protocol, training data, limits), without "
        f"loading its weights. With no MODEL: the built-in {DEFAULT_DETECTOR}.",
    )
    _args.add_model(p, optional=True)
    _args.add_revision(p)
    p.add_argument("--list", action="store_true", help="list the built-in detectors and exit")
    _args.add_json(p, help='print the summary as one JSON object (the card\'s text under "card")')
    p.set_defaults(func=run)


def summary(name: str, revision: str | None = None) -> dict:
    """A detector's description from its folder's files (``config.json``, ``README.md``); no weights
    are read. Keys: name, directory, kind, builtin, backend (what ``--backend auto`` would pick on the
    CPU), and for a single detector backbone, num_layers, sample_rate_hz, window_seconds,
    hop_seconds, threshold, calibration, metrics; ``card``: the model card's text or None."""
    from ..config import DetectorConfig
    from ..loading import builds_fast_path, choose_backend, inspect

    saved = inspect(name, revision)
    info: dict = {
        "name": name,
        "directory": str(saved.directory),
        "kind": saved.kind,
        "builtin": saved.builtin,
    }
    if saved.kind != "ensemble":
        config = DetectorConfig.load(saved.directory)
        info.update(
            backend="onnx-int8 (its graph is built on first load)"
            if builds_fast_path(saved)
            else choose_backend(saved, "auto"),
            backbone=config.backbone if config.kind == "transformer" else config.kind,
            num_layers=config.num_layers,
            sample_rate_hz=config.sample_rate_hz,
            window_seconds=config.window_seconds,
            hop_seconds=config.hop_seconds,
            threshold=config.threshold,
            calibration=f"P(fake) = sigmoid({config.calibration_scale:g} * (logit_fake - logit_real) + {config.calibration_bias:g})",
            metrics=config.metrics or None,
        )
    card = saved.directory / CARD_NAME
    info["card"] = card.read_text(encoding="utf-8") if card.is_file() else None
    return info


def run(args: argparse.Namespace) -> int:
    if args.list:
        for name in BUILTIN_DETECTORS:
            print(f"{name}{'  (default)' if name == DEFAULT_DETECTOR else ''}")
        return 0
    info = summary(args.model, args.revision)
    if args.json:
        print(json.dumps(info))
        return 0
    card = info.pop("card")
    for key, value in info.items():
        if value is not None:
            print(f"{key}: {value}")
    print()
    print(card if card is not None else f"(no model card: {CARD_NAME} is not in {info['directory']})")
    return 0
