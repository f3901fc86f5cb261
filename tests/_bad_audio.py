"""Hostile and broken audio built byte by byte, for the decoder's and the service's bad-input tests."""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

from wavguard.testing import chirp


def wav_header(
    rate_hz: int, data_bytes: int, channels: int = 1, bits: int = 16, riff_bytes: int | None = None
) -> bytes:
    """A canonical 44-byte PCM WAV header that says whatever it is told (rate, channels, sizes)."""
    block = channels * bits // 8
    riff = 36 + data_bytes if riff_bytes is None else riff_bytes
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate_hz, (rate_hz * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    return (
        b"RIFF"
        + struct.pack("<I", riff & 0xFFFFFFFF)
        + b"WAVE"
        + b"fmt "
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def int16_wav(rate_hz: int, num_bytes: int = 20_000, channels: int = 1) -> bytes:
    """A mono int16 WAV of ``num_bytes`` of speech-like samples whose header claims ``rate_hz``
    (the issue's report: 20 KB at 1 Hz "lasts" 10,000 s)."""
    n = num_bytes // 2
    samples = (chirp(n / 16000)[:n] * 32767).astype("<i2").tobytes()
    return wav_header(rate_hz, len(samples), channels) + samples


def encoded(samples: np.ndarray, rate_hz: int = 16000, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate_hz, format=fmt, subtype=subtype)
    return buf.getvalue()


def flac_with(
    samples: np.ndarray, rate_hz: int = 16000, *, header_rate_hz: int | None = None, header_frames: int | None = None
) -> bytes:
    """A FLAC file whose STREAMINFO block is patched to claim another rate and/or length.

    STREAMINFO starts at byte 8; its bytes 10..17 pack rate (20 bits), channels-1 (3),
    bits-1 (5) and total samples (36)."""
    data = bytearray(encoded(samples, rate_hz, "FLAC"))
    assert data[:4] == b"fLaC"
    packed = int.from_bytes(data[18:26], "big")
    rate, rest, total = packed >> 44, (packed >> 36) & 0xFF, packed & ((1 << 36) - 1)
    rate = rate if header_rate_hz is None else header_rate_hz
    total = total if header_frames is None else header_frames
    data[18:26] = ((rate << 44) | (rest << 36) | total).to_bytes(8, "big")
    return bytes(data)


def nan_float_wav(seconds: float = 1.0) -> bytes:
    samples = chirp(seconds)
    samples[100:200] = np.nan
    return encoded(samples, 16000, "WAV", "FLOAT")
