"""What the demo page computes for one clip, without any web framework.

:func:`analyze` scores a file exactly like :meth:`Detector.predict` (same decoding, windows and
calibration) and keeps the decoded samples for the timeline; :func:`verdict_html`,
:func:`error_html` and :func:`timeline_figure` turn the result into what the page shows.
"""

from __future__ import annotations

import hashlib
import html
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..audio.decode import audio_info, load_audio
from ..errors import AudioError, WavguardError
from ..scoring.prediction import Prediction

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..detector import Detector

__all__ = ["Analysis", "analyze", "verdict_html", "error_html", "timeline_figure", "TIMELINE_COLUMNS"]

#: Columns of the waveform envelope drawn in the timeline (min/max per column).
TIMELINE_COLUMNS = 2000


@dataclass
class Analysis:
    """One scored clip.

    Attributes:
        prediction: exactly what ``Detector.predict(path)`` returns.
        name: how the page names the clip (the uploaded file's name).
        samples: the decoded mono float32 samples at ``sample_rate_hz``, shape (time,) (for the timeline).
        sample_rate_hz: the detector's sample rate.
        audio_sha256: SHA-256 of the file's bytes (hex), as the service logs it.
        latency_ms: wall time of decoding and scoring.
    """

    prediction: Prediction
    name: str
    samples: np.ndarray
    sample_rate_hz: int
    audio_sha256: str
    latency_ms: float


def _renamed(exc: WavguardError, path: str, name: str) -> WavguardError:
    """The same error, naming the clip by ``name`` instead of a temporary upload path."""
    if isinstance(exc, AudioError) and exc.source == path:
        return type(exc)(name, exc.reason)
    return exc


def analyze(
    detector: Detector,
    path: str | os.PathLike,
    *,
    name: str | None = None,
    max_duration_seconds: float | None = None,
) -> Analysis:
    """Score one audio file for the page.

    Args:
        detector: any detector (PyTorch or ONNX).
        path: the file (wav, flac, ogg, mp3; any rate and channel count).
        name: how errors and the page name the file (default: its file name).
        max_duration_seconds: longer audio is refused before it is decoded.

    Returns:
        the :class:`Analysis`; its ``prediction`` equals ``detector.predict(path)``.

    Raises:
        WavguardError: bad input (not audio, empty, silent, too short, too long), naming ``name``.
    """
    path = str(path)
    name = name or Path(path).name
    start = time.perf_counter()
    try:
        rate_hz, frames, _ = audio_info(path)
        if max_duration_seconds is not None and frames / rate_hz > max_duration_seconds:
            raise AudioError(
                name,
                f"{frames / rate_hz:.1f} s of audio; this page accepts at most {max_duration_seconds:g} s (cut the clip)",
            )
        prediction = detector.predict(path)
        samples, rate = load_audio(path, detector.config.sample_rate_hz, name=name)
    except WavguardError as exc:
        raise _renamed(exc, path, name) from None
    latency_ms = (time.perf_counter() - start) * 1000.0
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return Analysis(prediction, name, samples, rate, digest.hexdigest(), latency_ms)


def _percent(value: float) -> str:
    return f"{100.0 * value:.1f}%"


def verdict_html(analysis: Analysis) -> str:
    """The verdict card: label, P(fake) against the threshold, duration and the most suspicious window.

    The root element carries ``data-label``, ``data-score`` and ``data-threshold`` (full precision)
    so scripts and tests can read the exact values.
    """
    pred = analysis.prediction
    windows = len(pred.segments)
    window_word = "window" if windows == 1 else "windows"
    lines = [
        f'<div id="wg-verdict" class="wg-verdict wg-{html.escape(pred.label)}" data-label="{html.escape(pred.label)}"'
        f' data-score="{pred.score!r}" data-threshold="{pred.threshold!r}">',
        f'<div class="wg-label">{html.escape(pred.label.upper())}</div>',
        f'<div class="wg-score">probability that the audio is fake: <b class="wg-score-value">{_percent(pred.score)}</b>'
        f' <span class="wg-threshold">(threshold {_percent(pred.threshold)}: fake at or above it)</span></div>',
        f'<div class="wg-meta">{html.escape(analysis.name)} &middot; {pred.duration_seconds:.2f} s &middot; '
        f"{windows} {window_word} scored</div>",
    ]
    if windows > 1:
        worst = max(pred.segments, key=lambda s: s.score)
        lines.append(
            f'<div class="wg-worst">most synthetic-looking part: {worst.start_seconds:.1f}&ndash;{worst.end_seconds:.1f} s '
            f"({_percent(worst.score)})</div>"
        )
    lines.append("</div>")
    return "\n".join(lines)


def error_html(message: str) -> str:
    """The error card: the wavguard error text, escaped (never a traceback)."""
    return f'<div id="wg-error" class="wg-error"><b>Cannot score this audio.</b><br>{html.escape(message)}</div>'


def _envelope(samples: np.ndarray, rate_hz: int, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times_seconds, minima, maxima), each shape (columns,), of ``samples`` cut into equal columns."""
    columns = max(1, min(columns, samples.shape[0]))
    per_column = samples.shape[0] // columns
    body = samples[: per_column * columns].reshape(columns, per_column)
    times = (np.arange(columns) + 0.5) * per_column / rate_hz
    return times, body.min(axis=1), body.max(axis=1)


def timeline_figure(analysis: Analysis, width_in: float = 10.0, height_in: float = 4.2) -> Figure:
    """Waveform with each scoring window shaded by its P(fake), above the per-window scores.

    Top: the waveform envelope; each window's span is tinted from green (P(fake) 0) to red (1).
    Bottom: each window's calibrated P(fake) as a bar over its span, the threshold dashed.

    Returns:
        a matplotlib Figure on the Agg canvas (no pyplot state).
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pred = analysis.prediction
    rate = analysis.sample_rate_hz
    duration = analysis.samples.shape[0] / rate
    cmap = colormaps["RdYlGn_r"]
    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    wave_ax, score_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.3, 1.0]})
    times, lo, hi = _envelope(analysis.samples, rate, TIMELINE_COLUMNS)
    for seg in pred.segments:
        wave_ax.axvspan(seg.start_seconds, seg.end_seconds, color=cmap(seg.score), alpha=0.25, linewidth=0)
    wave_ax.fill_between(times, lo, hi, color="#333333", linewidth=0.4)
    peak = max(float(np.max(np.abs(analysis.samples))), 1e-6)
    wave_ax.set(ylim=(-1.05 * peak, 1.05 * peak), ylabel="amplitude", title=f"{analysis.name}: P(fake) per window")
    wave_ax.set_yticks([])
    for seg in pred.segments:
        score_ax.bar(
            seg.start_seconds,
            seg.score,
            width=seg.end_seconds - seg.start_seconds,
            align="edge",
            color=cmap(seg.score),
            edgecolor="white",
            linewidth=0.8,
        )
    score_ax.axhline(
        pred.threshold, color="black", linestyle="--", linewidth=1.0, label=f"threshold {pred.threshold:.2f}"
    )
    score_ax.set(xlim=(0, duration), ylim=(0, 1), xlabel="time (s)", ylabel="P(fake)")
    score_ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    score_ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
