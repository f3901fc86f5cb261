"""Dereverberation in front of a detector: a scoring-time front end the method study can try
(``front_end: wpe`` in a channel row of a study file, :mod:`benchmarks.method_study`).

Weighted prediction error (WPE; Nakatani et al. 2010, Yoshioka and Nakatani 2012) removes late
reverberation by predicting each STFT frame from the frames ``delay`` and more before it and
subtracting the prediction; single-channel here. The signal processing is ``nara_wpe``'s (the
reference implementation of the Paderborn group); this module picks its settings for 16 kHz speech
and wraps it as a degradation channel, so "channel, then dereverberation" is scored exactly like a
channel, on the same clips with the same seeds.
"""

from __future__ import annotations

import numpy as np

from wavguard.audio.channels import Channel, parse_channel
from wavguard.errors import ConfigError

__all__ = ["FRONT_ENDS", "WPE_SETTINGS", "front_end_channel", "wpe_dereverb"]

#: STFT size and shift in samples at 16 kHz (32 ms and 8 ms), prediction taps and delay in frames, and
#: iterations: nara_wpe's own example settings for 16 kHz speech.
WPE_SETTINGS = {"stft_size": 512, "stft_shift": 128, "taps": 10, "delay": 3, "iterations": 3}
#: front-end names a study row may give
FRONT_ENDS = ("wpe",)


def wpe_dereverb(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """One mono clip after single-channel WPE dereverberation.

    Args:
        samples: (time,) float32 audio.
        sample_rate_hz: its rate; the STFT sizes of :data:`WPE_SETTINGS` scale with it from 16 kHz.

    Returns:
        (time,) float32, the same length. Clips shorter than one STFT frame come back unchanged.
    """
    from nara_wpe.utils import istft, stft
    from nara_wpe.wpe import wpe

    scale = sample_rate_hz / 16000
    size = int(round(WPE_SETTINGS["stft_size"] * scale))
    shift = max(1, int(round(WPE_SETTINGS["stft_shift"] * scale)))
    x = np.asarray(samples, dtype=np.float64)
    if x.size < size:
        return np.asarray(samples, dtype=np.float32)
    spectrum = stft(x, size=size, shift=shift).T[:, None, :]  # (freq, 1 channel, frames)
    cleaned = wpe(
        spectrum, taps=WPE_SETTINGS["taps"], delay=WPE_SETTINGS["delay"], iterations=WPE_SETTINGS["iterations"]
    )
    y = istft(cleaned[:, 0, :].T, size=size, shift=shift)[: x.size]
    if y.size < x.size:
        y = np.pad(y, (0, x.size - y.size))
    return np.nan_to_num(y).astype(np.float32)


def front_end_channel(channel: str | Channel | None, front_end: str) -> Channel:
    """``channel`` followed by ``front_end`` as one :class:`Channel` (``None``: the front end alone,
    named ``"clean"``), so the front end sees exactly the audio the channel makes.

    Raises:
        ConfigError: an unknown front end.
    """
    if front_end not in FRONT_ENDS:
        raise ConfigError(f"unknown front end {front_end!r}; valid: {', '.join(FRONT_ENDS)}")
    if channel is None:
        return Channel("clean", f"no degradation, then {front_end}", lambda x, rate, rng: wpe_dereverb(x, rate))
    inner = parse_channel(channel)
    return Channel(
        inner.name,
        f"{inner.description}, then {front_end}",
        lambda x, rate, rng: wpe_dereverb(inner.apply(x, rate, rng), rate),
    )
