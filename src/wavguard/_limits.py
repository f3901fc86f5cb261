"""Bounds on the sizes a detector config may ask for, and the checks that hold a config to them.

A config is input like any other: a mistyped or hostile ``config.json`` (``head_channels: [100000,
100000]`` would ask for about 200 GB of weights; JSON nested 100,000 deep) fails with a
:class:`~wavguard.errors.ConfigError` naming the setting before anything is allocated. Each bound is
far above anything trained so far. Users read them as ``wavguard.config.MAX_*``;
:class:`~wavguard.config.DetectorConfig` calls :func:`check_sizes` when it is built.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .errors import ConfigError

__all__ = [
    "MAX_HEAD_CHANNELS",
    "MAX_HEAD_BLOCKS",
    "MAX_HEAD_KERNEL_SIZE",
    "MAX_HEAD_WEIGHTS",
    "MAX_NUM_LAYERS",
    "MAX_WINDOW_SECONDS",
    "SAMPLE_RATE_RANGE_HZ",
    "MAX_SPECTROGRAM_CHANNELS",
    "MAX_SPECTROGRAM_BLOCKS",
    "MAX_SPECTROGRAM_KERNEL_SIZE",
    "MAX_SPECTROGRAM_FILTERS",
    "MAX_STFT_WINDOW_SAMPLES",
    "MAX_SPECTROGRAM_WEIGHTS",
    "MAX_CONFIG_DEPTH",
    "at_most",
    "nesting_depth",
    "check_sizes",
    "check_spectrogram_sizes",
]

#: Bounds on what a config may ask for (the defaults in brackets). The head's conv blocks: channels
#: per block [128], blocks [2], kernel frames [5]; its conv weights in all, counted with a 1,024-wide
#: backbone (the large wav2vec2 / HuBERT / WavLM) [0.7 M]: 100 M is 400 MB in float32.
MAX_HEAD_CHANNELS = 4096
MAX_HEAD_BLOCKS = 16
MAX_HEAD_KERNEL_SIZE = 63
MAX_HEAD_WEIGHTS = 100_000_000
_REFERENCE_BACKBONE_WIDTH = 1024
#: Backbone layers kept [all]: the deepest supported backbones have 48.
MAX_NUM_LAYERS = 128
#: Scoring window [4 s]: one model input; a window of hours would be allocated whole.
MAX_WINDOW_SECONDS = 600.0
#: The model's sample rate: the decoder's range (``wavguard.audio.decode``), 1 kHz-768 kHz [16 kHz].
SAMPLE_RATE_RANGE_HZ = (1_000, 768_000)
#: The spectrogram baseline (``spectrogram``): CNN channels per block [16, 32, 32], blocks [3],
#: kernel [3], filters or cepstra [80], STFT window in samples [400: 25 ms at 16 kHz] (its DFT
#: kernels grow with its square: 8,192 is 270 MB), CNN weights in all [15 k].
MAX_SPECTROGRAM_CHANNELS = 4096
MAX_SPECTROGRAM_BLOCKS = 16
MAX_SPECTROGRAM_KERNEL_SIZE = 31
MAX_SPECTROGRAM_FILTERS = 1024
MAX_STFT_WINDOW_SAMPLES = 8192
MAX_SPECTROGRAM_WEIGHTS = 100_000_000
#: Nesting depth of a config (``extra``, ``metrics`` ... included) [about 5]; JSON nested deeper
#: than Python's recursion limit would otherwise end in a raw RecursionError.
MAX_CONFIG_DEPTH = 32


def at_most(name: str, value: float, limit: float, default: Any, unit: str = "") -> None:
    """Refuse ``value`` above ``limit``, naming the setting, both numbers and the default."""

    def show(x: float) -> str:
        return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"

    if value > limit:
        raise ConfigError(
            f"{name} = {show(value)}{unit} is more than the {show(limit)}{unit} a detector config may ask for "
            f"(default: {default}); a value this large is a typo or a damaged file, and would try to allocate more "
            "memory than a machine has"
        )


def nesting_depth(value: Any) -> int:
    """Nesting depth of JSON-like data (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else None
        if children is None:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        if depth + 1 > MAX_CONFIG_DEPTH:  # deep enough to refuse: no need to walk the rest
            return depth + 1
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_sizes(config: Any) -> None:
    """Refuse the sizes a :class:`~wavguard.config.DetectorConfig` asks for beyond the ``MAX_*``
    bounds, before any model is built.

    Raises:
        ConfigError: naming the setting, its value, the bound and the default.
    """
    low, high = SAMPLE_RATE_RANGE_HZ
    if not low <= config.sample_rate_hz <= high:
        raise ConfigError(
            f"sample_rate_hz must be in {low}-{high} Hz (the decoder's range), got {config.sample_rate_hz}"
        )
    if config.num_layers is not None:
        at_most("num_layers", config.num_layers, MAX_NUM_LAYERS, "all of the backbone's")
    at_most("window_seconds", config.window_seconds, MAX_WINDOW_SECONDS, 4.0, " s")
    at_most("len(head_channels)", len(config.head_channels), MAX_HEAD_BLOCKS, "2 blocks")
    for i, width in enumerate(config.head_channels):
        at_most(f"head_channels[{i}]", width, MAX_HEAD_CHANNELS, "[128, 128]")
    at_most("head_kernel_size", config.head_kernel_size, MAX_HEAD_KERNEL_SIZE, 5)
    widths = [_REFERENCE_BACKBONE_WIDTH, *config.head_channels]
    weights = config.head_kernel_size * sum(a * b for a, b in zip(widths, widths[1:]))
    at_most(
        f"the head's conv weights (head_channels={list(config.head_channels)}, head_kernel_size="
        f"{config.head_kernel_size}, on a {_REFERENCE_BACKBONE_WIDTH}-wide backbone)",
        weights,
        MAX_HEAD_WEIGHTS,
        "about 700,000",
    )
    if config.spectrogram:
        check_spectrogram_sizes(config.spectrogram, config.sample_rate_hz)
    for name in ("denoise", "spectrogram", "aasist", "metrics", "extra"):
        if nesting_depth(getattr(config, name)) > MAX_CONFIG_DEPTH - 1:
            raise ConfigError(
                f"{name} is nested more than {MAX_CONFIG_DEPTH} levels deep; a config holds plain settings"
            )


def check_spectrogram_sizes(settings: dict[str, Any], sample_rate_hz: int) -> None:
    """Bound the sizes ``spectrogram`` asks for; the rest is checked where the model is built
    (``wavguard.models.baseline.spectrogram_settings``)."""

    def number(key: str) -> float | None:
        value = settings.get(key)
        return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else None

    channels = settings.get("channels")
    if isinstance(channels, (list, tuple)):
        at_most("len(spectrogram.channels)", len(channels), MAX_SPECTROGRAM_BLOCKS, "3 blocks")
        widths = [float(c) for c in channels if isinstance(c, numbers.Real) and not isinstance(c, bool)]
        for i, width in enumerate(widths):
            at_most(f"spectrogram.channels[{i}]", width, MAX_SPECTROGRAM_CHANNELS, "[16, 32, 32]")
        kernel = number("kernel_size") or 3.0
        at_most("spectrogram.kernel_size", kernel, MAX_SPECTROGRAM_KERNEL_SIZE, 3)
        weights = sum(c_in * c_out * kernel**2 for c_in, c_out in zip([2.0] + widths, widths)) / 2
        at_most(
            f"the spectrogram CNN's conv weights (channels={channels}, kernel_size={kernel:g})",
            weights,
            MAX_SPECTROGRAM_WEIGHTS,
            "about 15,000",
        )
    elif number("kernel_size") is not None:
        at_most("spectrogram.kernel_size", number("kernel_size"), MAX_SPECTROGRAM_KERNEL_SIZE, 3)
    for key in ("n_filters", "n_coefficients"):
        if number(key) is not None:
            at_most(f"spectrogram.{key}", number(key), MAX_SPECTROGRAM_FILTERS, "80 (logmel) or 20 (cepstra)")
    window = number("window_seconds")
    if window is not None and math.isfinite(window):
        at_most(
            "spectrogram.window_seconds x sample_rate_hz",
            round(window * sample_rate_hz),
            MAX_STFT_WINDOW_SAMPLES,
            "400 (25 ms at 16 kHz)",
            " samples",
        )
