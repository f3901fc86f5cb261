"""The Gradio page: upload or record a clip, see the verdict, the timeline and the model card.

Gradio (the ``[demo]`` extra) is imported only when a page is built. Everything the page loads
is served by the Gradio server itself (fonts included); analytics and the run history are off.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..errors import WavguardError
from ..hub import backbone_id
from .analysis import Analysis, analyze, error_html, timeline_figure, verdict_html
from .card import model_card_markdown

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..detector import Detector
    from ..feedback.store import PredictionStore

__all__ = ["build_demo", "launch_demo", "mount_demo", "gradio_available", "page_options", "CSS", "TITLE"]

logger = logging.getLogger(__name__)

TITLE = "wavguard: is this voice real or synthetic?"
_PLACEHOLDER = '<div id="wg-empty" class="wg-empty">Upload a clip or record one to see the verdict.</div>'
_RECORDING_NAME = "microphone recording"

CSS = """
.wg-verdict, .wg-error, .wg-empty { border-radius: 8px; padding: 14px 18px; color: #1b1b1b; }
.wg-verdict.wg-fake { background: #fdecea; border-left: 8px solid #c62828; }
.wg-verdict.wg-real { background: #e8f5e9; border-left: 8px solid #2e7d32; }
.wg-label { font-size: 2.2em; font-weight: 700; letter-spacing: 0.04em; }
.wg-fake .wg-label { color: #b71c1c; }
.wg-real .wg-label { color: #1b5e20; }
.wg-score { font-size: 1.15em; margin-top: 4px; }
.wg-threshold, .wg-meta, .wg-worst { color: #444; }
.wg-meta, .wg-worst { margin-top: 6px; font-size: 0.95em; }
.wg-error { background: #fff4e5; border-left: 8px solid #ed6c02; }
.wg-empty { background: #f4f4f5; color: #555; }
"""


def gradio_available() -> bool:
    """Whether gradio (the ``[demo]`` extra) is installed; does not import it."""
    return importlib.util.find_spec("gradio") is not None


def _gradio():
    """Import gradio with telemetry off (``GRADIO_ANALYTICS_ENABLED=False`` unless already set)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ModuleNotFoundError:
        raise ModuleNotFoundError("the demo page needs gradio: pip install 'wavguard-detector[demo]'") from None
    return gradio


def _theme(gr):
    """Gradio's default theme on fonts it serves itself, so the page needs no font CDN."""
    return gr.themes.Default(primary_hue="indigo", font=["Source Sans Pro", "ui-sans-serif", "system-ui", "sans-serif"])


def page_options(function, **extra: Any) -> dict[str, Any]:
    """Page options for ``Blocks.launch`` or ``gradio.mount_gradio_app``: offline theme, CSS,
    client-side rendering, footer without the run history; options the installed gradio does
    not know are left out."""
    gr = _gradio()
    options = dict(
        theme=_theme(gr), css=CSS, ssr_mode=False, run_history=False, footer_links=["api", "gradio"], **extra
    )
    accepted = inspect.signature(function).parameters
    return {k: v for k, v in options.items() if k in accepted}


def _runtime(detector: Detector) -> str:
    return (
        f"PyTorch ({detector.device})"
        if detector.backend_name == "torch"
        else f"ONNX Runtime (CPU, {detector.backend_name})"
    )


def _model_id(detector: Detector) -> str:
    """The page's name for a detector: the folder it was loaded from, else its backbone."""
    directory = getattr(detector, "directory", None)
    if directory:
        return str(directory)
    return backbone_id(detector.config) if detector.config.backbone else "wavguard detector"


@dataclass(frozen=True)
class _Page:
    """The widgets that events read or change."""

    audio: Any
    verdict: Any
    timeline: Any
    last: Any  # gr.State: the feedback button's record of the last verdict (None: nothing to correct)
    wrong: Any
    thanks: Any

    @property
    def outputs(self) -> list[Any]:
        """What scoring a clip updates, in the order :meth:`_Handlers.score` returns them."""
        return [self.verdict, self.timeline, self.last, self.wrong, self.thanks]


class _Handlers:
    """The page's callbacks: score a clip (and log it), store a correction."""

    def __init__(
        self,
        gr,
        detector: Detector,
        model_id: str,
        store: PredictionStore | None,
        max_duration_seconds: float | None,
        keep_feedback_audio: bool,
    ):
        self.gr, self.detector, self.model_id, self.store = gr, detector, model_id, store
        self.max_duration_seconds, self.keep_feedback_audio = max_duration_seconds, keep_feedback_audio

    def score(self, path: str | None, recorded: bool):
        """(verdict HTML, timeline, state, wrong-button, feedback text) for one clip."""
        gr = self.gr
        hidden_plot = gr.Plot(value=None, visible=False)
        if path is None:
            return _PLACEHOLDER, hidden_plot, None, gr.Button(interactive=False), ""
        name = _RECORDING_NAME if recorded else Path(path).name
        try:
            result = analyze(self.detector, path, name=name, max_duration_seconds=self.max_duration_seconds)
        except WavguardError as exc:
            return error_html(str(exc)), hidden_plot, None, gr.Button(interactive=False), ""
        except Exception as exc:  # never a traceback in the page; the server log has it
            logger.exception("scoring %s failed", name)
            return (
                error_html(f"{name}: internal error ({type(exc).__name__}); see the server log"),
                hidden_plot,
                None,
                gr.Button(interactive=False),
                "",
            )
        plot = (
            gr.Plot(value=timeline_figure(result), visible=True) if len(result.prediction.segments) > 1 else hidden_plot
        )
        state = self.log(result, path)
        return verdict_html(result), plot, state, gr.Button(interactive=state is not None), ""

    def log(self, result: Analysis, path: str) -> dict[str, Any] | None:
        """Log the verdict in the store like an API prediction; the feedback button's state (None: no store)."""
        if self.store is None:
            return None
        pred = result.prediction
        record = {
            "id": uuid.uuid4().hex,
            "audio_sha256": result.audio_sha256,
            "duration_seconds": pred.duration_seconds,
            "score": pred.score,
            "label": pred.label,
            "threshold": pred.threshold,
            "latency_ms": result.latency_ms,
            "model_id": self.model_id,
            "model_version": __version__,
        }
        try:
            self.store.log_prediction(record)
        except Exception:  # a failing log must not hide the verdict
            logger.exception("could not log the prediction for %s", result.name)
            return None
        return {"prediction_id": record["id"], "audio_sha256": result.audio_sha256, "label": pred.label, "path": path}

    def feedback(self, state: dict[str, Any] | None):
        """(thank-you text, wrong-button): store the opposite of the last verdict as the true label."""
        gr = self.gr
        if self.store is None or state is None:
            return "Score a clip first.", gr.Button(interactive=False)
        true_label = "real" if state["label"] == "fake" else "fake"
        audio = None
        if self.keep_feedback_audio:
            try:
                audio = Path(state["path"]).read_bytes()
            except OSError:  # the upload cache was cleaned meanwhile; the SHA-256 still identifies the clip
                audio = None
        try:
            row = self.store.add_feedback(
                true_label,
                state["prediction_id"],
                state["audio_sha256"],
                audio,
                f"demo page: the verdict was {state['label']}",
            )
        except Exception:
            logger.exception("could not store feedback")
            return "The feedback could not be stored; see the server log.", gr.Button(interactive=True)
        return f"Thank you: stored **{true_label}** as the true label (feedback #{row}).", gr.Button(interactive=False)


def _clip_panel(gr, *, feedback: bool) -> _Page:
    """The left column: audio input, verdict, timeline and (with a store) the feedback button."""
    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio", elem_id="wg-audio")
    verdict = gr.HTML(_PLACEHOLDER, elem_id="wg-result")
    timeline = gr.Plot(label="P(fake) over time", visible=False, format="png", elem_id="wg-timeline")
    with gr.Row(visible=feedback):
        wrong = gr.Button("This verdict is wrong", interactive=False, variant="secondary", elem_id="wg-wrong")
        thanks = gr.Markdown("", elem_id="wg-feedback")
    return _Page(audio, verdict, timeline, None, wrong, thanks)  # build_demo adds the state


def _card_panel(gr, detector: Detector, model_id: str) -> None:
    """The right column: the model card."""
    gr.Markdown(model_card_markdown(detector.config, model_id, _runtime(detector)), elem_id="wg-card")


def _wire(page: _Page, handlers: _Handlers) -> None:
    """Connect the page's events to the handlers."""
    outputs = page.outputs
    # Uploads and recordings share one queue: one clip is scored at a time.
    page.audio.upload(
        lambda p: handlers.score(p, recorded=False),
        page.audio,
        outputs,
        api_name="score_upload",
        concurrency_id="score",
    )
    page.audio.stop_recording(
        lambda p: handlers.score(p, recorded=True),
        page.audio,
        outputs,
        api_name="score_recording",
        concurrency_id="score",
    )
    page.audio.clear(lambda: handlers.score(None, recorded=False), None, outputs, api_name=False)
    page.wrong.click(handlers.feedback, page.last, [page.thanks, page.wrong], api_name=False)


def build_demo(
    detector: Detector,
    *,
    model_id: str | None = None,
    store: PredictionStore | None = None,
    max_duration_seconds: float | None = 600.0,
    keep_feedback_audio: bool = False,
    title: str = TITLE,
):
    """The demo page for ``detector`` as a ``gradio.Blocks`` (not yet launched).

    Args:
        detector: any detector (PyTorch or ONNX).
        model_id: the name shown in the model card (a directory or Hub id).
        store: with a :class:`~wavguard.feedback.store.PredictionStore`, each verdict is logged and a
            "This verdict is wrong" button stores the opposite label as feedback.
        max_duration_seconds: longer clips get an error instead of a verdict (``None``: no limit).
        keep_feedback_audio: store the clip's bytes with its feedback (otherwise only its SHA-256).
        title: the page title.

    Returns:
        a ``gradio.Blocks``; run it with :func:`launch_demo` or mount it with :func:`mount_demo`.
    """
    gr = _gradio()
    model_id = model_id or _model_id(detector)
    handlers = _Handlers(gr, detector, model_id, store, max_duration_seconds, keep_feedback_audio)
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(900, 1800)) as blocks:
        gr.Markdown(
            f"# {title}\nUpload a clip (wav, flac, ogg or mp3; any sample rate) or record one with the microphone. "
            "The detector gives the probability that the audio is **fake** (synthesised or voice-converted)."
        )
        with gr.Row():
            with gr.Column(scale=3):
                page = _clip_panel(gr, feedback=store is not None)
            with gr.Column(scale=2):
                _card_panel(gr, detector, model_id)
        page = dataclasses.replace(page, last=gr.State(None))  # not drawn, so outside the layout
        _wire(page, handlers)
    return blocks


def launch_demo(
    detector: Detector,
    *,
    model_id: str | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    max_duration_seconds: float | None = 600.0,
    max_file_size: str | int = "100mb",
    block: bool = True,
):
    """Build the page and serve it with Gradio's own server.

    Args:
        host, port: where to listen (``0.0.0.0`` for every interface).
        share: also open a temporary public ``*.gradio.live`` link (needs internet).
        max_file_size: largest upload, bytes or e.g. ``"100mb"``.
        block: wait until interrupted; ``False`` returns once the server runs (close it with
            ``blocks.close()``).

    Returns:
        the running ``gradio.Blocks``.
    """
    blocks = build_demo(detector, model_id=model_id, max_duration_seconds=max_duration_seconds)
    blocks.launch(
        **page_options(
            blocks.launch,
            server_name=host,
            server_port=port,
            share=share,
            max_file_size=max_file_size,
            prevent_thread_lock=not block,
            quiet=not block,
        )
    )
    return blocks


def mount_demo(
    app: FastAPI, detector: Detector | None = None, *, path: str = "/ui", settings=None, store=None
) -> FastAPI:
    """Mount the page into the HTTP service's FastAPI app at ``path``.

    The detector, settings and feedback store default to the service's (``app.state.detector``,
    ``app.state.settings``, ``app.state.store``). With API keys configured, the page asks for
    one at login (any user name, the key as password).

    Returns:
        ``app``.
    """
    import hmac

    gr = _gradio()
    detector = detector or app.state.detector
    settings = settings or getattr(app.state, "settings", None)
    store = store if store is not None else getattr(app.state, "store", None)
    blocks = build_demo(
        detector,
        model_id=getattr(settings, "model_id", None),
        store=store,
        max_duration_seconds=getattr(settings, "max_duration_seconds", 600.0),
        keep_feedback_audio=bool(getattr(settings, "store_feedback_audio", False)),
    )
    keys = tuple(getattr(settings, "api_keys", ()) or ())
    auth = None
    if keys:
        encoded = tuple(key.encode("utf-8") for key in keys)

        def auth(_user: str, password: str) -> bool:
            # bytes, not str: compare_digest refuses non-ASCII strings (a TypeError: a 500 for "pässwort")
            given = password.encode("utf-8", errors="surrogatepass")
            return any(hmac.compare_digest(given, key) for key in encoded)

    max_bytes = getattr(settings, "max_upload_bytes", None)
    return gr.mount_gradio_app(
        app,
        blocks,
        path=path,
        **page_options(
            gr.mount_gradio_app,
            auth=auth,
            auth_message="Sign in with an API key of this service as the password.",
            max_file_size=max_bytes,
            show_error=False,
        ),
    )
