"""Codec2 copy-synthesis: a real clip encoded and decoded by the Codec2 speech codec (Debian ``codec2``).

Codec2 is a parametric sinusoidal codec (pitch, voicing, spectral envelope; 8 kHz): at its low
bit rates it sounds like a vocoder, which is the point of using it as a fake. ``c2enc MODE - -``
and ``c2dec MODE - -`` run as subprocesses on 8 kHz signed 16-bit little-endian raw audio through
pipes. The input is resampled to 8 kHz (:func:`wavguard.audio.resample`), brought to the level
the codec was tuned on (-24 dBFS RMS, that of its ``hts1a`` test talker), coded, shifted back by
the codec's delay, cut to the input's length, and scaled to the input's RMS.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from wavguard.audio import resample
from wavguard.errors import ConfigError

__all__ = ["CODEC2_VARIANTS", "RATE_HZ", "Codec2Variant", "codec2", "missing"]

RATE_HZ = 8000
_CODING_RMS = 10 ** (-24 / 20)
_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Codec2Variant:
    """One Codec2 mode.

    Attributes:
        mode: ``c2enc``/``c2dec`` mode (bit rate in b/s, ``700C`` the newer 700 b/s mode).
        delay_samples: the decoder's output lags the input by this much (8 kHz samples): the
            median lag of the energy envelope on six ``codec2-examples`` talkers.
    """

    mode: str
    delay_samples: int

    @property
    def name(self) -> str:
        return f"mode{self.mode}"


CODEC2_VARIANTS = {
    v.name: v
    for v in (
        Codec2Variant("3200", 140),
        Codec2Variant("1600", 145),
        Codec2Variant("1300", 145),
        Codec2Variant("700C", 215),
        Codec2Variant("450", 190),
    )
}


def missing(variant_names: list[str] | None = None) -> list[str]:  # noqa: ARG001 - one binary serves every mode
    """What cannot run here (with the Debian package to install)."""
    return [] if shutil.which("c2enc") and shutil.which("c2dec") else ["codec2 (apt-get install codec2)"]


def _run(cmd: list[str], data: bytes) -> bytes:
    try:
        done = subprocess.run(cmd, input=data, capture_output=True, timeout=_TIMEOUT_SECONDS, check=False)
    except FileNotFoundError as exc:
        raise RuntimeError(f"{cmd[0]} not found (apt-get install codec2)") from exc
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-300:]}")
    return done.stdout


def codec2(samples: np.ndarray, rate_hz: int, variant: Codec2Variant) -> np.ndarray:
    """Codec2 copy-synthesis of ``samples``.

    Args:
        samples: float32, shape (time,), at ``rate_hz``.

    Returns:
        float32, shape (round(time * 8000 / rate_hz),), at 8 kHz (:data:`RATE_HZ`), scaled to the input's RMS.
    """
    if variant.mode not in {v.mode for v in CODEC2_VARIANTS.values()}:
        raise ConfigError(
            f"codec2 mode {variant.mode!r}: choose from {sorted(v.mode for v in CODEC2_VARIANTS.values())}"
        )
    x = resample(np.asarray(samples, dtype=np.float32), rate_hz, RATE_HZ).astype(np.float64)
    rms = float(np.sqrt(np.mean(x**2)))
    if rms <= 1e-8:
        return np.zeros(len(x), dtype=np.float32)
    gain = _CODING_RMS / rms
    # pad past the codec's delay so the shifted output still covers the whole input
    coded = np.pad(x * gain, (0, variant.delay_samples + 640))
    pcm = np.round(np.clip(coded, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
    bits = _run(["c2enc", variant.mode, "-", "-"], pcm)
    out = np.frombuffer(_run(["c2dec", variant.mode, "-", "-"], bits), dtype="<i2").astype(np.float64) / 32768
    out = out[variant.delay_samples : variant.delay_samples + len(x)]
    out = np.pad(out, (0, len(x) - len(out)))
    scale = rms / max(float(np.sqrt(np.mean(out**2))), 1e-10)
    return (out * scale).astype(np.float32)
