"""``wavguard demo MODEL --host --port --share``: a web page to try a detector (Gradio)."""

from __future__ import annotations

import argparse

from . import _args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="try a detector in the browser",
        description="Serve a web page where you upload or record a clip and see the verdict, the probability "
        "that it is fake, a per-window timeline and the model card. Needs: pip install 'wavguard-detector[demo]'.",
    )
    _args.add_model(p, optional=True)
    _args.add_revision(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--share", action="store_true", help="also open a temporary public gradio.live link (needs internet)"
    )
    p.add_argument("--max-duration-seconds", type=float, default=600.0, help="longer clips are refused")
    _args.add_device(p)
    _args.add_backend(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import gradio_available, launch_demo
    from ..errors import ConfigError

    if not gradio_available():
        raise ConfigError("the demo page needs gradio: pip install 'wavguard-detector[demo]'")
    detector = _args.load_scorer(args, args.model, ensembles=False)
    launch_demo(
        detector,
        model_id=str(args.model),
        host=args.host,
        port=args.port,
        share=args.share,
        max_duration_seconds=args.max_duration_seconds,
    )
    return 0
