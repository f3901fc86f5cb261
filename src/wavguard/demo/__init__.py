"""A web page to try a detector: ``wavguard demo MODEL``, or ``/ui`` inside ``wavguard serve``.

Upload or record a clip; the page shows the label, the calibrated probability that the audio is
fake against the threshold, a timeline of per-window scores over the waveform, and the model card.

The page needs gradio (``pip install 'wavguard-detector[demo]'``); it is imported only when a page is
built. :func:`analyze`, :func:`verdict_html`, :func:`timeline_figure` and
:func:`model_card_markdown` need no gradio.

Example:
    >>> from wavguard import Detector
    >>> from wavguard.demo import launch_demo
    >>> launch_demo(Detector.from_pretrained("detector/"), port=7860)   # doctest: +SKIP
"""

from __future__ import annotations

from .analysis import Analysis, analyze, error_html, timeline_figure, verdict_html
from .card import model_card_markdown

__all__ = [
    "Analysis",
    "analyze",
    "verdict_html",
    "error_html",
    "timeline_figure",
    "model_card_markdown",
    "build_demo",
    "launch_demo",
    "mount_demo",
    "gradio_available",
    "page_options",
]

_PAGE = ("build_demo", "launch_demo", "mount_demo", "gradio_available", "page_options")


def __getattr__(name: str):
    if name in _PAGE:  # the page module; gradio itself is imported only when a page is built
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
