"""Hugging Face Space: try a wavguard deepfake speech detector in the browser.

The detector is loaded by Hub id from the ``WAVGUARD_MODEL`` variable (Space settings ->
Variables), at ``WAVGUARD_REVISION`` if set; a private detector also needs an ``HF_TOKEN`` secret.
Run it locally with ``WAVGUARD_MODEL=user/detector python app.py``.
"""

import html
import os

import gradio as gr

from wavguard import Detector, WavguardError
from wavguard.demo import build_demo, page_options

PLACEHOLDER_MODEL = "your-user/your-wavguard-detector"
MODEL_ID = os.environ.get("WAVGUARD_MODEL", PLACEHOLDER_MODEL)
REVISION = os.environ.get("WAVGUARD_REVISION") or None


def _setup_page(message: str) -> gr.Blocks:
    """Shown instead of the demo when the detector cannot be loaded."""
    with gr.Blocks(title="wavguard: detector not loaded", analytics_enabled=False) as page:
        gr.Markdown(
            "# The detector could not be loaded\n"
            f"Set the Space variable `WAVGUARD_MODEL` to the Hub id of a wavguard detector (now `{MODEL_ID}`); "
            "for a private one, add an `HF_TOKEN` secret."
        )
        gr.HTML(f'<pre id="wg-load-error">{html.escape(message)}</pre>')
    return page


try:
    detector = Detector.from_pretrained(MODEL_ID, REVISION)
    demo = build_demo(detector, model_id=MODEL_ID if REVISION is None else f"{MODEL_ID}@{REVISION}")
except WavguardError as exc:
    detector = None
    demo = _setup_page(str(exc))

if __name__ == "__main__":
    demo.launch(**page_options(demo.launch))
