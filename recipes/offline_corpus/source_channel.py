"""Source channels: put a TTS fake through the recording channel of the real clip it is paired with.

The real sources differ in channel (studio 16 kHz, game Vorbis with reverb, 16 kb/s MPEG-2.5 at
11,025 Hz, 8-bit PCM at 11,025 Hz, 8 kHz telephone and codec-test recordings). If fakes kept the
engines' clean wideband output, "low-fi = real" would be a label shortcut. A TTS fake that reads a
source's transcript therefore goes through that source's channel here, before the shared
post-processing chain (which resamples every clip to 16 kHz). Copy-synthesis keeps its source's
band by itself: its input already is the band-limited real clip.

Each channel resamples to the source's rate (soxr: so an 8 kHz channel leaves nothing above 4 kHz
and an 11,025 Hz one nothing above 5,512.5 Hz), sets a random peak level, then quantises or codes as
the source was:

==================  ==========  ==================================================================
channel             rate (Hz)   what is done after resampling
==================  ==========  ==================================================================
studio_16k          unchanged   nothing (identity: the samples are returned as they are)
game_vorbis_22k     22,050      short synthetic room reverb, then Ogg Vorbis (~48-60 kb/s mono)
mp3_16kbps_11k      11,025      MP3 round trip: MPEG-2.5 Layer III, constant 16 kb/s (libsndfile/LAME)
pcm8_11k            11,025      8-bit unsigned PCM (256 levels)
telephone_8k        8,000       G.711 mu-law (8-bit companded) round trip
codec_test_8k       8,000       16-bit PCM (the codec2 test talkers are clean 8 kHz s16 recordings)
game_vorbis_44k     44,100      as game_vorbis_22k (130 Czech Fish Fillets clips are 44.1 kHz)
words_vorbis        the clip's  Ogg Vorbis (KTuberling words: 22.05 or 44.1 kHz)
words_opus          48,000      Ogg Opus (libsndfile defaults)
words_pcm           the clip's  16-bit PCM (8, 22.05 or 44.1 kHz)
radio_8k            8,000       300-2,700 Hz band-pass (SSB voice band), 16-bit PCM
codec_test_16k      16,000      16-bit PCM
==================  ==========  ==================================================================

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.zeros(16000, np.float32); x[::100] = 0.5
    >>> y, rate = apply_source_channel(x, 16000, "telephone_8k", rng)
    >>> rate, y.shape
    (8000, (8000,))
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from wavguard.audio import resample

from .postprocess import _reverb

__all__ = [
    "SourceChannel",
    "CHANNELS",
    "apply_source_channel",
    "band_limit",
    "mulaw_encode",
    "mulaw_decode",
    "MP3_CBR_16KBPS_COMPRESSION",
]


@dataclass(frozen=True)
class SourceChannel:
    """One real source's channel.

    Attributes:
        name: key of :data:`CHANNELS`.
        rate_hz: the source's sample rate (``None``: left as it is).
        description: what the channel is, in words.
    """

    name: str
    rate_hz: int | None
    description: str


CHANNELS = {
    c.name: c
    for c in (
        SourceChannel("studio_16k", None, "studio, 16 kHz wav (festvox-ru): identity"),
        SourceChannel("game_vorbis_22k", 22050, "Ogg Vorbis at 22,050 Hz with in-game reverb (Fish Fillets)"),
        SourceChannel("mp3_16kbps_11k", 11025, "MPEG-2.5 Layer III, 11,025 Hz, 16 kb/s (Flight of the Amazon Queen)"),
        SourceChannel("pcm8_11k", 11025, "8-bit unsigned PCM at 11,025 Hz (Beneath a Steel Sky)"),
        SourceChannel("telephone_8k", 8000, "8 kHz telephone prompts, G.711 mu-law (Asterisk)"),
        SourceChannel("codec_test_8k", 8000, "8 kHz 16-bit codec test talkers (codec2-examples)"),
        # The other channels the readers name (readers.CHANNELS), added with the v3 corpus that pairs fakes
        # with every source. ``None`` for KTuberling: its rate varies per file (8-48 kHz), and a TTS fake
        # already arrives at its paired clip's own rate (the spectrum matching resamples it there).
        SourceChannel(
            "game_vorbis_44k", 44100, "Ogg Vorbis at 44,100 Hz with in-game reverb (Fish Fillets, 130 cs clips)"
        ),
        SourceChannel("words_vorbis", None, "single words, Ogg Vorbis at the clip's rate (KTuberling)"),
        SourceChannel("words_opus", None, "single words, Ogg Opus at the clip's rate (KTuberling, 48 kHz)"),
        SourceChannel("words_pcm", None, "single words, 16-bit PCM at the clip's rate (KTuberling)"),
        SourceChannel(
            "radio_8k", 8000, "HF radio (SSB) receptions at 8 kHz: 300-2,700 Hz band, 16-bit (codec2-examples)"
        ),
        SourceChannel("codec_test_16k", 16000, "16 kHz 16-bit codec test talkers (codec2-examples)"),
    )
}
#: Channels whose rate is the clip's own (``rate_hz`` None) but which still code the clip.
_RATE_KEPT = {"words_vorbis", "words_opus", "words_pcm"}
#: SSB voice band of the radio receptions (Hz).
_SSB_BAND_HZ = (300.0, 2700.0)

#: libsndfile's MP3 ``compression_level`` for constant 16 kb/s at 11,025 Hz. libsndfile (1.2) maps the
#: level linearly onto MPEG-2.5's 64..8 kb/s range (64 - 56 * level) and LAME rounds to a standard
#: rate: 48/56 asks for exactly 16 kb/s (levels 0.8-0.9 all give bit-rate index 16 kb/s).
MP3_CBR_16KBPS_COMPRESSION = 48.0 / 56.0
#: Peak level (linear) the fake is scaled to before quantisation or coding: recordings are not clipped.
_PEAK_RANGE = (0.5, 0.9)
#: Game reverb: a short room (RT60 in seconds) and its wet share.
_GAME_RT60_SECONDS = (0.15, 0.35)
_GAME_WET = (0.15, 0.3)
#: Vorbis ``compression_level`` range: 0.25-0.45 gives about 48-60 kb/s on 22,050 Hz mono speech,
#: the rate measured on the Fish Fillets files (47-66 kb/s).
_GAME_VORBIS_COMPRESSION = (0.25, 0.45)

_MULAW_BIAS = 0x84
_MULAW_CLIP = 32635


def mulaw_encode(pcm: np.ndarray) -> np.ndarray:
    """G.711 mu-law: 16-bit linear PCM -> 8-bit codes (the standard segmented encoder).

    Args:
        pcm: int16 (or integer) samples, any shape.

    Returns:
        uint8 codes, same shape (bits inverted as on the wire; 0xFF is zero).
    """
    x = np.asarray(pcm).astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), _MULAW_CLIP) + _MULAW_BIAS  # 132 .. 32767
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7  # segment 0..7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def mulaw_decode(codes: np.ndarray) -> np.ndarray:
    """G.711 mu-law: 8-bit codes -> 16-bit linear PCM (the middle of each quantisation step).

    Args:
        codes: uint8, any shape.

    Returns:
        int16, same shape; magnitudes 0 .. 32,124.
    """
    c = ~np.asarray(codes).astype(np.int32) & 0xFF
    exponent = (c >> 4) & 0x07
    magnitude = (((c & 0x0F) << 3) + _MULAW_BIAS) << exponent
    return np.where(c & 0x80, _MULAW_BIAS - magnitude, magnitude - _MULAW_BIAS).astype(np.int16)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def _pcm8(x: np.ndarray) -> np.ndarray:
    """8-bit unsigned PCM round trip (code 128 is zero); at most 256 distinct levels."""
    codes = np.clip(np.round(x * 128.0) + 128.0, 0, 255).astype(np.uint8)
    return ((codes.astype(np.float32) - 128.0) / 128.0).astype(np.float32)


def _round_trip(x: np.ndarray, rate_hz: int, fmt: str, subtype: str, **options) -> np.ndarray:
    """Encode and decode in memory with libsndfile; keeps the codec's delay and padding (the chain trims)."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1.0, 1.0), rate_hz, format=fmt, subtype=subtype, **options)
    buf.seek(0)
    y, _ = sf.read(buf, dtype="float32")
    return np.ascontiguousarray(y if y.ndim == 1 else y.mean(axis=1), dtype=np.float32)


def band_limit(samples: np.ndarray, rate_hz: int, channel: str) -> tuple[np.ndarray, int]:
    """Only the band of ``channel``: resample to its rate when that is below ``rate_hz``, else unchanged.

    For copy-synthesis, whose vocoders (LPC noise excitation, for instance) can put a little energy
    above the band of the band-limited clip they were given.

    Returns:
        (float32 samples, shape (time',), rate_hz').
    """
    target = _channel(channel).rate_hz
    if target is None or target >= rate_hz:
        return samples, rate_hz
    return resample(np.ascontiguousarray(samples, dtype=np.float32), rate_hz, target), target


def _channel(name: str) -> SourceChannel:
    if name not in CHANNELS:
        raise ValueError(f"unknown source channel {name!r}; choose from {sorted(CHANNELS)}")
    return CHANNELS[name]


def apply_source_channel(
    samples: np.ndarray, rate_hz: int, channel: str, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Put one clip through the channel of a real source (see the module's table).

    Args:
        samples: float mono audio, shape (time,), at ``rate_hz``.
        rate_hz: its sample rate.
        channel: a key of :data:`CHANNELS`.
        rng: the clip's generator (peak level, reverb, Vorbis quality); same seed -> same output.

    Returns:
        (float32 samples, shape (time',), the channel's rate in Hz). ``studio_16k`` returns
        ``samples`` and ``rate_hz`` unchanged.

    Raises:
        ValueError: unknown channel.
    """
    spec = _channel(channel)
    if spec.rate_hz is None and channel not in _RATE_KEPT:
        return samples, rate_hz
    rate = spec.rate_hz or rate_hz
    x = resample(np.ascontiguousarray(samples, dtype=np.float32), rate_hz, rate)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0:
        x = (x * (rng.uniform(*_PEAK_RANGE) / peak)).astype(np.float32)
    if channel in ("game_vorbis_22k", "game_vorbis_44k"):
        x = _reverb(x, rate, float(rng.uniform(*_GAME_RT60_SECONDS)), float(rng.uniform(*_GAME_WET)), rng)
        x = _round_trip(x, rate, "OGG", "VORBIS", compression_level=float(rng.uniform(*_GAME_VORBIS_COMPRESSION)))
    elif channel == "mp3_16kbps_11k":
        x = _round_trip(
            x, rate, "MP3", "MPEG_LAYER_III", compression_level=MP3_CBR_16KBPS_COMPRESSION, bitrate_mode="CONSTANT"
        )
    elif channel == "pcm8_11k":
        x = _pcm8(x)
    elif channel == "telephone_8k":
        x = (mulaw_decode(mulaw_encode(_to_int16(x))) / 32768.0).astype(np.float32)
    elif channel == "words_vorbis":
        x = _round_trip(x, rate, "OGG", "VORBIS", compression_level=float(rng.uniform(*_GAME_VORBIS_COMPRESSION)))
    elif channel == "words_opus":  # libsndfile's Opus takes 8/12/16/24/48 kHz; KTuberling's are 48 kHz
        x = (
            _round_trip(resample(x, rate, 48000), 48000, "OGG", "OPUS")
            if rate != 48000
            else _round_trip(x, rate, "OGG", "OPUS")
        )
        rate = 48000
    elif channel == "radio_8k":
        from scipy.signal import butter, sosfilt

        sos = butter(4, _SSB_BAND_HZ, btype="bandpass", fs=rate, output="sos")
        x = (_to_int16(sosfilt(sos, x).astype(np.float32)) / 32768.0).astype(np.float32)
    elif channel in ("codec_test_8k", "codec_test_16k", "words_pcm"):
        x = (_to_int16(x) / 32768.0).astype(np.float32)
    return x.astype(np.float32, copy=False), rate
