"""The browser page at ``/ui`` (:mod:`wavguard.demo`), mounted into the service.

It shares the service's detector, settings and feedback log (``app.state``); with API keys the
page asks for one as its password. Skipped when gradio (the ``[demo]`` extra) is not installed.
"""

from __future__ import annotations

from fastapi import FastAPI

from ...demo import gradio_available, mount_demo

__all__ = ["mount_ui"]


def mount_ui(app: FastAPI, path: str = "/ui") -> None:
    """Mount the page at ``path`` when gradio is installed; otherwise do nothing."""
    if gradio_available():
        mount_demo(app, path=path)
