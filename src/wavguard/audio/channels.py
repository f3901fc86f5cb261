"""Named, seeded degradation channels for robustness evaluation.

A channel turns a clean clip into a degraded copy at the same sample rate (the model's), the way
audio reaches a detector in the field: a low-bitrate MP3, a phone line, background noise, a
reverberant room. The result depends only on (channel name, seed, clip index), so a robustness
report can be reproduced exactly. The signal processing is :mod:`wavguard.audio.augment`'s (soundfile
codecs, audiomentations noise, synthetic room impulse responses); this module only names and
seeds it.

Channel names (:func:`parse_channel`):

- ``mp3_24k``: MP3 round trip at 24 kb/s CBR (LAME through soundfile); any ``mp3_<N>k`` works.
- ``telephone``: 300-3400 Hz band-pass, 8 kHz, G.711 mu-law, back to the original rate.
- ``noise_snr<N>``: additive noise at N dB SNR (signal RMS over noise RMS), white or pink
  (drawn per clip); ``white_snr<N>`` and ``pink_snr<N>`` fix the colour. N may be negative or
  fractional (``noise_snr-5``, ``noise_snr7.5``).
- ``reverb``: convolution with a synthetic room impulse response, RT60 drawn in 0.3-0.6 s;
  length and RMS of the clip are kept. Its direct path is 10-14 dB below the reverberant energy
  (a distant talker in a live room); ``reverb_drr<N>`` sets that direct-to-reverberant ratio to
  N dB (0 dB: direct and reverberant sound equally loud, the talker at the room's critical
  distance; a close microphone is at 10 dB or more).

Example:
    >>> from wavguard.audio.channels import apply_channel
    >>> from wavguard.testing import sine
    >>> degraded = apply_channel("noise_snr10", sine(1.0), 16000, seed=0, index=3)
    >>> degraded.shape, degraded.dtype
    ((16000,), dtype('float32'))
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InvalidAudioError
from .decode import to_float32

__all__ = [
    "Channel",
    "DEFAULT_CHANNELS",
    "CHANNEL_PATTERNS",
    "parse_channel",
    "parse_channels",
    "apply_channel",
    "channel_rng",
]

#: The channels a robustness report uses when none are named.
DEFAULT_CHANNELS = ("mp3_24k", "telephone", "noise_snr20", "noise_snr10", "reverb")
#: Every accepted name form, for messages and docs.
CHANNEL_PATTERNS = ("mp3_<N>k", "telephone", "noise_snr<N>", "white_snr<N>", "pink_snr<N>", "reverb", "reverb_drr<N>")

#: Telephone pass band (Hz), ITU-T G.712-style.
TELEPHONE_BAND_HZ = (300.0, 3400.0)
#: Reverberation time range (s) of the ``reverb`` channel.
REVERB_RT60_SECONDS = (0.3, 0.6)
#: audiomentations' ``f_decay`` (dB per octave) of each noise colour.
_NOISE_DECAY_DB = {"white": 0.0, "pink": -3.01}

Apply = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Channel:
    """A named degradation.

    Attributes:
        name: the canonical name (``"mp3_24k"``, ``"noise_snr10"``, ...).
        description: one line for reports.
        apply: ``apply(samples (time,) float32, sample_rate_hz, rng) -> (time,) float32``.
    """

    name: str
    description: str
    apply: Apply

    def __call__(self, samples: np.ndarray, sample_rate_hz: int, *, seed: int = 0, index: int = 0) -> np.ndarray:
        """Degrade one clip; the same (name, seed, index) always gives the same output.

        Args:
            samples: (time,) mono audio, float or int.
            sample_rate_hz: its rate; the output has the same rate and length.
            seed: the evaluation's channel seed.
            index: the clip's index in its data set (each clip gets its own noise / room).

        Returns:
            (time,) float32, finite.
        """
        x = np.ascontiguousarray(to_float32(samples))
        if x.ndim != 1:
            raise InvalidAudioError(
                f"<array of shape {x.shape}>", f"channel {self.name!r} takes mono audio of shape (time,)"
            )
        if x.size == 0:
            return x
        y = np.ascontiguousarray(
            self.apply(x, int(sample_rate_hz), channel_rng(self.name, seed, index)), dtype=np.float32
        )
        if not np.all(np.isfinite(y)):
            raise InvalidAudioError("<degraded audio>", f"channel {self.name!r} produced NaN or infinite samples")
        return y


def channel_rng(name: str, seed: int, index: int) -> np.random.Generator:
    """The generator of one (channel, seed, clip index): independent streams for every triple."""
    return np.random.default_rng([zlib.crc32(name.encode("utf-8")), int(seed) & 0xFFFFFFFF, int(index)])


def _mp3(bitrate_kbps: float) -> Apply:
    from .augment import codec_round_trip

    return lambda x, rate, rng: codec_round_trip(x, rate, "mp3", bitrate_kbps=bitrate_kbps)


def _telephone(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    from scipy import signal

    from .augment import telephone_band

    lo, hi = TELEPHONE_BAND_HZ
    if rate <= 2 * hi:
        raise ConfigError(f"the telephone channel needs a sample rate above {2 * hi:g} Hz, got {rate} Hz")
    band = signal.butter(8, [lo, hi], btype="bandpass", fs=rate, output="sos")
    filtered = signal.sosfiltfilt(band, x).astype(np.float32)
    coded = telephone_band(filtered, rate, "ulaw")
    # the receiving end band-limits too: mu-law quantisation noise outside the band is removed
    return signal.sosfiltfilt(band, coded).astype(np.float32)


def _noise(snr_db: float, colour: str | None) -> Apply:
    from .augment import TRANSFORMS

    makers = {}
    for name, decay in _NOISE_DECAY_DB.items():
        params = {"min_snr_db": snr_db, "max_snr_db": snr_db, "min_f_decay": decay, "max_f_decay": decay}
        makers[name] = TRANSFORMS["color_noise"](params)
    colours = tuple(_NOISE_DECAY_DB) if colour is None else (colour,)

    def apply(x, rate, rng):
        chosen = colours[int(rng.integers(len(colours)))]
        return makers[chosen](x, rate, rng)

    return apply


def _reverb(drr_db: float | None = None) -> Apply:
    from .augment import TRANSFORMS

    lo, hi = REVERB_RT60_SECONDS
    params = {"min_rt60_seconds": lo, "max_rt60_seconds": hi}
    if drr_db is not None:
        params.update(min_drr_db=drr_db, max_drr_db=drr_db)
    return TRANSFORMS["reverb"](params)


_NUMBER = r"(-?\d+(?:\.\d+)?)"


def _number_text(value: float) -> str:
    return f"{value:g}"


def parse_channel(name: str | Channel) -> Channel:
    """The :class:`Channel` of a name (see the module docstring for the forms).

    Raises:
        ConfigError: an unknown name or an out-of-range parameter; the message lists the valid names.
    """
    if isinstance(name, Channel):
        return name
    text = str(name).strip().lower()
    if text == "telephone":
        lo, hi = TELEPHONE_BAND_HZ
        return Channel("telephone", f"{lo:g}-{hi:g} Hz band-pass, 8 kHz G.711 mu-law round trip", _telephone)
    if text == "reverb":
        lo, hi = REVERB_RT60_SECONDS
        return Channel("reverb", f"synthetic room impulse response, RT60 {lo:g}-{hi:g} s", _reverb())
    match = re.fullmatch(r"reverb_drr" + _NUMBER, text)
    if match:
        drr_db = float(match.group(1))
        if not -20 <= drr_db <= 30:
            raise ConfigError(f"channel {name!r}: the direct-to-reverberant ratio must be -20 to 30 dB")
        lo, hi = REVERB_RT60_SECONDS
        return Channel(
            f"reverb_drr{_number_text(drr_db)}",
            f"synthetic room impulse response, RT60 {lo:g}-{hi:g} s, direct-to-reverberant ratio {_number_text(drr_db)} dB",
            _reverb(drr_db),
        )
    match = re.fullmatch(r"mp3_" + _NUMBER + r"k", text)
    if match:
        kbps = float(match.group(1))
        if not 8 <= kbps <= 320:
            raise ConfigError(f"channel {name!r}: the MP3 bitrate must be 8 to 320 kb/s")
        return Channel(f"mp3_{_number_text(kbps)}k", f"MP3 round trip at {_number_text(kbps)} kb/s CBR", _mp3(kbps))
    match = re.fullmatch(r"(noise|white|pink)_snr" + _NUMBER, text)
    if match:
        kind, snr_db = match.group(1), float(match.group(2))
        if not -30 <= snr_db <= 100:
            raise ConfigError(f"channel {name!r}: the SNR must be -30 to 100 dB")
        colour = None if kind == "noise" else kind
        what = "white or pink (per clip)" if colour is None else colour
        return Channel(
            f"{kind}_snr{_number_text(snr_db)}",
            f"additive {what} noise at {_number_text(snr_db)} dB SNR",
            _noise(snr_db, colour),
        )
    raise ConfigError(
        f"unknown channel {name!r}; valid channels: {', '.join(DEFAULT_CHANNELS)}, "
        f"or the forms {', '.join(CHANNEL_PATTERNS)} (N a number, e.g. noise_snr5, mp3_32k, reverb_drr0)"
    )


def parse_channels(names: Iterable[str | Channel] | str) -> list[Channel]:
    """Channels of several names (a list, or one comma- or space-separated string), duplicates dropped.

    Raises:
        ConfigError: an unknown name (the message lists the valid ones), or no names at all.
    """
    if isinstance(names, (str, Channel)):
        names = [names]
    items: list[str | Channel] = []
    for entry in names:
        items += [entry] if isinstance(entry, Channel) else [p for p in re.split(r"[,\s]+", str(entry)) if p]
    if not items:
        raise ConfigError(f"no channels given; valid channels: {', '.join(DEFAULT_CHANNELS)}")
    channels: dict[str, Channel] = {}
    for item in items:
        channel = parse_channel(item)
        channels.setdefault(channel.name, channel)
    return list(channels.values())


def apply_channel(
    channel: str | Channel, samples: np.ndarray, sample_rate_hz: int, *, seed: int = 0, index: int = 0
) -> np.ndarray:
    """Degrade one clip through a named channel (see :meth:`Channel.__call__`)."""
    return parse_channel(channel)(samples, sample_rate_hz, seed=seed, index=index)
