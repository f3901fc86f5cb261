"""On-the-fly waveform augmentation for training, seeded and reproducible.

Every transform takes mono float32 samples and their sample rate and returns mono float32 samples
at the same rate. Parameters are in natural units (dB, semitones, seconds, Hz, kbps) and each one
is drawn uniformly from a ``min_*``/``max_*`` range. audiomentations does the pitch shift, time
stretch, gain, SNR noises, background noise and impulse responses; codec round trips go through
soundfile (MP3, Ogg Vorbis, G.711 mu-law/A-law), and synthetic reverb and the RawBoost-style
noises (Tak et al., 2022) are written here.

Example:
    >>> from wavguard.audio.augment import build_augmenter
    >>> from wavguard.testing import sine
    >>> augment = build_augmenter({"seed": 0, "transforms": [
    ...     {"name": "gain", "p": 1.0, "min_gain_db": -6, "max_gain_db": 6},
    ...     {"name": "gaussian_snr", "p": 0.5, "min_snr_db": 10, "max_snr_db": 30},
    ... ]})
    >>> out = augment(sine(1.0), 16000)
    >>> out.shape, out.dtype
    ((16000,), dtype('float32'))
"""

from __future__ import annotations

import contextlib
import io
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf
from scipy import signal

from ..errors import ConfigError, InvalidAudioError
from .decode import resample, to_float32

__all__ = [
    "Augmenter",
    "build_augmenter",
    "TRANSFORMS",
    "codec_round_trip",
    "telephone_band",
    "synthetic_rir",
    "rawboost_convolutive",
    "rawboost_impulsive",
    "rawboost_stationary",
]

Seed = int | np.random.Generator | None
TransformFn = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

#: MP3 sample rates (Hz) and the CBR bitrate range (kbps) of their MPEG version.
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def _mp3_bitrate_range_kbps(rate_hz: int) -> tuple[int, int]:
    if rate_hz >= 32000:
        return 32, 320  # MPEG-1
    if rate_hz >= 16000:
        return 8, 160  # MPEG-2
    return 8, 64  # MPEG-2.5


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _align(decoded: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cut a decoded clip to the reference's length, undoing any encoder delay (found by correlation)."""
    n = reference.shape[0]
    if decoded.shape[0] > n:
        extra = decoded.shape[0] - n
        head = min(n, 8192)
        corr = signal.correlate(decoded[: head + extra], reference[:head], mode="valid")
        lag = int(np.argmax(corr)) if np.any(reference[:head]) else 0
        decoded = decoded[lag : lag + n]
    return np.pad(decoded, (0, n - decoded.shape[0])) if decoded.shape[0] < n else decoded


def codec_round_trip(
    samples: np.ndarray, sample_rate_hz: int, codec: str = "mp3", *, bitrate_kbps: float = 32.0, quality: float = 0.5
) -> np.ndarray:
    """Encode and decode through a lossy codec with soundfile (libsndfile: LAME/mpg123, libvorbis).

    Args:
        samples: (time,) float32.
        codec: ``"mp3"`` (constant ``bitrate_kbps``) or ``"vorbis"`` (Ogg Vorbis at ``quality``
            in [0, 1], 1 = best).

    Returns:
        (time,) float32 at ``sample_rate_hz``, aligned with the input (encoder delay removed).
    """
    x = np.clip(samples, -1.0, 1.0).astype(np.float32)
    buf = io.BytesIO()
    if codec == "mp3":
        rate = max([r for r in _MP3_RATES if r <= sample_rate_hz] or [_MP3_RATES[0]])
        lo, hi = _mp3_bitrate_range_kbps(rate)
        level = float(
            np.clip((hi - bitrate_kbps) / (hi - lo) - 1e-6, 0.0, 0.999)
        )  # libsndfile: kbps = hi - level * (hi - lo)
        coded = resample(x, sample_rate_hz, rate)
        sf.write(
            buf, coded, rate, format="MP3", subtype="MPEG_LAYER_III", compression_level=level, bitrate_mode="CONSTANT"
        )
    elif codec == "vorbis":
        rate, coded = sample_rate_hz, x
        sf.write(buf, coded, rate, format="OGG", subtype="VORBIS", compression_level=float(np.clip(1 - quality, 0, 1)))
    else:
        raise ConfigError(f"codec must be 'mp3' or 'vorbis', got {codec!r}")
    buf.seek(0)
    decoded, _ = sf.read(buf, dtype="float32", always_2d=False)
    decoded = _align(decoded, coded)
    return _align(resample(decoded, rate, sample_rate_hz), x)


def telephone_band(samples: np.ndarray, sample_rate_hz: int, law: str = "ulaw") -> np.ndarray:
    """Narrowband telephone channel: resample to 8 kHz, G.711 ``"ulaw"``/``"alaw"`` round trip, back.

    Returns:
        (time,) float32 at ``sample_rate_hz``: nothing above 4 kHz survives.
    """
    subtype = {"ulaw": "ULAW", "alaw": "ALAW"}.get(law)
    if subtype is None:
        raise ConfigError(f"law must be 'ulaw' or 'alaw', got {law!r}")
    narrow = np.clip(resample(np.asarray(samples, np.float32), sample_rate_hz, 8000), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, narrow, 8000, format="WAV", subtype=subtype)
    buf.seek(0)
    decoded, _ = sf.read(buf, dtype="float32")
    return _align(resample(decoded, 8000, sample_rate_hz), samples)


def synthetic_rir(
    rt60_seconds: float, sample_rate_hz: int, rng: np.random.Generator, drr_db: float | None = None
) -> np.ndarray:
    """A room impulse response: a direct path plus exponentially decaying noise.

    The envelope falls by 60 dB after ``rt60_seconds``; the response has unit energy. The direct
    path (sample 0) is twice the largest tail sample unless ``drr_db`` sets the direct-to-reverberant
    energy ratio (direct path energy over the energy of every later sample, in dB). The default
    gives -14 to -10 dB at RT60 0.3-0.6 s (5th-95th percentile): a distant talker in a live room.

    Returns:
        (round(rt60_seconds * sample_rate_hz),) float32.
    """
    n = max(2, int(round(rt60_seconds * sample_rate_hz)))
    t = np.arange(n) / sample_rate_hz
    rir = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60_seconds)
    if drr_db is None:
        rir[0] = np.abs(rir).max() * 2.0
    else:
        rir[0] = np.sqrt(10.0 ** (drr_db / 10.0) * np.sum(rir[1:] ** 2))
    return (rir / np.sqrt(np.sum(rir**2))).astype(np.float32)


def _convolve_keep(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Convolve and keep the input's length and RMS."""
    y = signal.fftconvolve(x, h)[: x.shape[0]]
    out_rms = _rms(y)
    return (y * (_rms(x) / out_rms if out_rms > 0 else 1.0)).astype(np.float32)


def _band_edges(rng, rate, center, width) -> tuple[float, float]:
    c, w = rng.uniform(*center), rng.uniform(*width)
    nyq = rate / 2
    lo = float(np.clip(c - w / 2, 1.0, nyq - 2.0))
    return lo, float(np.clip(c + w / 2, lo + 1.0, nyq - 1.0))


def rawboost_convolutive(
    samples,
    sample_rate_hz,
    rng,
    *,
    bands=(1, 5),
    center_hz=(100.0, 7000.0),
    bandwidth_hz=(100.0, 1000.0),
    depth_db=(6.0, 30.0),
    num_taps=257,
) -> np.ndarray:
    """RawBoost-style convolutive noise: a cascade of random linear-phase FIR notches.

    Each of ``bands`` notches (count drawn from the range) removes ``depth_db`` (drawn) around a
    centre drawn from ``center_hz`` with width drawn from ``bandwidth_hz``. Output keeps the
    input's length, alignment and peak.
    """
    h = np.array([1.0])
    for _ in range(int(rng.integers(bands[0], bands[1] + 1))):
        lo, hi = _band_edges(rng, sample_rate_hz, center_hz, bandwidth_hz)
        stop = signal.firwin(num_taps | 1, [lo, hi], pass_zero="bandstop", fs=sample_rate_hz)
        keep = 10.0 ** (-rng.uniform(*depth_db) / 20.0)
        delta = np.zeros_like(stop)
        delta[stop.shape[0] // 2] = 1.0
        h = np.convolve(h, keep * delta + (1.0 - keep) * stop)
    y = signal.fftconvolve(samples, h, mode="same")
    peak_in, peak_out = np.abs(samples).max(initial=0.0), np.abs(y).max(initial=0.0)
    return (y * (peak_in / peak_out if peak_out > 0 else 1.0)).astype(np.float32)


def rawboost_impulsive(samples, sample_rate_hz, rng, *, fraction=(0.001, 0.01), level_db=(-20.0, 0.0)) -> np.ndarray:
    """RawBoost-style impulsive noise: sparse impulses, then clipping to [-1, 1].

    A ``fraction`` (drawn) of the samples get an impulse of random sign whose size is ``level_db``
    (drawn per impulse) relative to the clip's peak (full scale for silence).
    """
    y = np.array(samples, dtype=np.float32, copy=True)
    count = int(round(rng.uniform(*fraction) * y.shape[0]))
    where = rng.choice(y.shape[0], size=min(count, y.shape[0]), replace=False)
    peak = float(np.abs(y).max(initial=0.0)) or 1.0
    size = peak * 10.0 ** (rng.uniform(*level_db, size=where.shape[0]) / 20.0)
    y[where] += (rng.choice([-1.0, 1.0], size=where.shape[0]) * size).astype(np.float32)
    return np.clip(y, -1.0, 1.0)


def rawboost_stationary(
    samples,
    sample_rate_hz,
    rng,
    *,
    snr_db=(10.0, 40.0),
    center_hz=(100.0, 7000.0),
    bandwidth_hz=(500.0, 4000.0),
    num_taps=257,
) -> np.ndarray:
    """RawBoost-style stationary noise: white noise through a random FIR band filter, at ``snr_db``."""
    lo, hi = _band_edges(rng, sample_rate_hz, center_hz, bandwidth_hz)
    noise = signal.fftconvolve(
        rng.standard_normal(samples.shape[0]),
        signal.firwin(num_taps | 1, [lo, hi], pass_zero="bandpass", fs=sample_rate_hz),
        mode="same",
    )
    signal_rms, noise_rms = _rms(samples), _rms(noise)
    if signal_rms == 0 or noise_rms == 0:
        return np.asarray(samples, np.float32)
    noise *= signal_rms / noise_rms * 10.0 ** (-rng.uniform(*snr_db) / 20.0)
    return (samples + noise).astype(np.float32)


@contextlib.contextmanager
def _seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed ``random`` and ``numpy.random`` (which audiomentations draws from) and restore them after."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _range(params: dict, key: str, default: tuple[float, float]) -> tuple[float, float]:
    lo, hi = params.pop(f"min_{key}", default[0]), params.pop(f"max_{key}", default[1])
    if lo > hi:
        raise ConfigError(f"min_{key}={lo} is greater than max_{key}={hi}")
    return float(lo), float(hi)


def _audiomentations(factory: Callable[[], Any]) -> TransformFn:
    transform = factory()

    def apply(x, rate, rng):
        with _seeded_global_rngs(int(rng.integers(2**31))):
            return transform(x, rate)

    return apply


def _make_gain(p):
    from audiomentations import Gain

    lo, hi = _range(p, "gain_db", (-12.0, 12.0))
    return _audiomentations(lambda: Gain(min_gain_db=lo, max_gain_db=hi, p=1.0))


def _make_pitch_shift(p):
    from audiomentations import PitchShift

    lo, hi = _range(p, "semitones", (-2.0, 2.0))
    return _audiomentations(lambda: PitchShift(min_semitones=lo, max_semitones=hi, p=1.0))


def _make_time_stretch(p):
    from audiomentations import TimeStretch

    lo, hi = _range(p, "rate", (0.9, 1.1))
    keep = bool(p.pop("leave_length_unchanged", False))
    return _audiomentations(lambda: TimeStretch(min_rate=lo, max_rate=hi, leave_length_unchanged=keep, p=1.0))


def _make_gaussian_snr(p):
    from audiomentations import AddGaussianSNR

    lo, hi = _range(p, "snr_db", (10.0, 40.0))
    return _audiomentations(lambda: AddGaussianSNR(min_snr_db=lo, max_snr_db=hi, p=1.0))


def _make_color_noise(p):
    from audiomentations import AddColorNoise

    lo, hi = _range(p, "snr_db", (10.0, 40.0))
    flo, fhi = _range(p, "f_decay", (-6.0, 6.0))
    return _audiomentations(
        lambda: AddColorNoise(min_snr_db=lo, max_snr_db=hi, min_f_decay=flo, max_f_decay=fhi, p=1.0)
    )


def _make_background_noise(p):
    from audiomentations import AddBackgroundNoise

    path = p.pop("sounds_path", None)
    if not path:
        raise ConfigError("background_noise needs sounds_path: a folder (or list) of noise audio files")
    lo, hi = _range(p, "snr_db", (3.0, 30.0))
    return _audiomentations(lambda: AddBackgroundNoise(sounds_path=path, min_snr_db=lo, max_snr_db=hi, p=1.0))


def _make_reverb(p):
    ir_path = p.pop("ir_path", None)
    lo, hi = _range(p, "rt60_seconds", (0.2, 0.8))
    drr = _range(p, "drr_db", (0.0, 0.0)) if ("min_drr_db" in p or "max_drr_db" in p) else None
    if ir_path:
        from audiomentations import ApplyImpulseResponse

        return _audiomentations(lambda: ApplyImpulseResponse(ir_path=ir_path, p=1.0, leave_length_unchanged=True))
    if lo <= 0:
        raise ConfigError(f"min_rt60_seconds must be positive, got {lo}")
    # the ratio is drawn (after RT60) only when asked for: the default draws stay as they were
    return lambda x, rate, rng: _convolve_keep(
        x, synthetic_rir(rng.uniform(lo, hi), rate, rng, drr_db=None if drr is None else rng.uniform(*drr))
    )


def _make_mp3(p):
    lo, hi = _range(p, "bitrate_kbps", (16.0, 64.0))
    return lambda x, rate, rng: codec_round_trip(x, rate, "mp3", bitrate_kbps=rng.uniform(lo, hi))


def _make_vorbis(p):
    lo, hi = _range(p, "quality", (0.1, 0.6))
    return lambda x, rate, rng: codec_round_trip(x, rate, "vorbis", quality=rng.uniform(lo, hi))


def _make_telephone(p):
    laws = p.pop("laws", ("ulaw", "alaw"))
    laws = (laws,) if isinstance(laws, str) else tuple(laws)
    for law in laws:
        telephone_band(np.zeros(16, np.float32), 8000, law)  # validates the name now, not mid-training
    return lambda x, rate, rng: telephone_band(x, rate, laws[int(rng.integers(len(laws)))])


def _make_rawboost(fn, ranges):
    def make(p):
        kwargs = {key: _range(p, key, default) for key, default in ranges.items()}
        if "bands" in kwargs:
            kwargs["bands"] = tuple(int(b) for b in kwargs["bands"])
        if "num_taps" in p:
            kwargs["num_taps"] = int(p.pop("num_taps"))
        return lambda x, rate, rng: fn(x, rate, rng, **kwargs)

    return make


#: Transform name -> factory taking its parameters (``min_*``/``max_*`` ranges and options).
TRANSFORMS: dict[str, Callable[[dict], TransformFn]] = {
    "gain": _make_gain,
    "pitch_shift": _make_pitch_shift,
    "time_stretch": _make_time_stretch,
    "gaussian_snr": _make_gaussian_snr,
    "color_noise": _make_color_noise,
    "background_noise": _make_background_noise,
    "reverb": _make_reverb,
    "mp3": _make_mp3,
    "vorbis": _make_vorbis,
    "telephone": _make_telephone,
    "rawboost_convolutive": _make_rawboost(
        rawboost_convolutive,
        {"bands": (1, 5), "center_hz": (100.0, 7000.0), "bandwidth_hz": (100.0, 1000.0), "depth_db": (6.0, 30.0)},
    ),
    "rawboost_impulsive": _make_rawboost(rawboost_impulsive, {"fraction": (0.001, 0.01), "level_db": (-20.0, 0.0)}),
    "rawboost_stationary": _make_rawboost(
        rawboost_stationary, {"snr_db": (10.0, 40.0), "center_hz": (100.0, 7000.0), "bandwidth_hz": (500.0, 4000.0)}
    ),
}


@dataclass
class _Step:
    name: str
    probability: float
    apply: TransformFn


class Augmenter:
    """A chain of transforms, each applied with its own probability, in order.

    Call it as ``augment(samples, sample_rate_hz)``; pass ``seed`` (an int or a
    ``numpy.random.Generator``) for a reproducible result, otherwise the augmenter's own
    generator (seeded at build time) advances, so a training run is reproducible as a whole.
    """

    def __init__(self, steps: list[_Step], seed: int | None = None):
        self.steps = steps
        self._rng = np.random.default_rng(seed)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def __call__(self, samples: np.ndarray, sample_rate_hz: int, seed: Seed = None) -> np.ndarray:
        """Augment one clip.

        Args:
            samples: (time,) mono audio (float or int).
            sample_rate_hz: its sample rate; the output has the same rate.
            seed: ``None`` (the augmenter's generator), an int, or a Generator.

        Returns:
            (time',) float32, finite; time' differs from time only after ``time_stretch``.
        """
        x = np.ascontiguousarray(to_float32(samples))
        if x.ndim != 1:
            raise InvalidAudioError(f"<array of shape {x.shape}>", "augmentation takes mono audio of shape (time,)")
        rng = (
            seed
            if isinstance(seed, np.random.Generator)
            else (self._rng if seed is None else np.random.default_rng(seed))
        )
        for step in self.steps:
            if x.size == 0 or rng.random() >= step.probability:
                continue
            x = np.ascontiguousarray(step.apply(x, int(sample_rate_hz), rng), dtype=np.float32)
            if not np.all(np.isfinite(x)):
                raise InvalidAudioError(
                    "<augmented audio>", f"transform {step.name!r} produced NaN or infinite samples"
                )
        return x


def build_augmenter(config: dict[str, Any] | None) -> Augmenter:
    """Build an :class:`Augmenter` from a config dict (e.g. the ``augment:`` section of a YAML file).

    Args:
        config: ``{"seed": int | None, "transforms": [...]}``, transforms in the order applied,
            either a list of ``{"name": ..., "p": ..., <params>}`` or a mapping name -> params.
            Each transform's ``p`` (default 0.5) is its probability; its parameters are
            ``min_*``/``max_*`` ranges in natural units, see ``docs/augmentation.md``.

    Raises:
        ConfigError: unknown transform or parameter, bad probability or range.
    """
    config = dict(config or {})
    seed = config.pop("seed", None)
    transforms = config.pop("transforms", [])
    if config:
        raise ConfigError(f"unknown augmentation config keys: {sorted(config)} (expected 'seed' and 'transforms')")
    if isinstance(transforms, dict):
        transforms = [{"name": name, **(params or {})} for name, params in transforms.items()]
    steps = []
    for entry in transforms:
        params = dict(entry)
        name = params.pop("name", None)
        if name not in TRANSFORMS:
            raise ConfigError(f"unknown augmentation {name!r}; choose from {sorted(TRANSFORMS)}")
        probability = float(params.pop("p", 0.5))
        if not 0.0 <= probability <= 1.0:
            raise ConfigError(f"{name}: p is a probability and must be in [0, 1], got {probability}")
        apply = TRANSFORMS[name](params)
        if params:
            raise ConfigError(f"{name}: unknown parameters {sorted(params)}")
        steps.append(_Step(name, probability, apply))
    return Augmenter(steps, seed)
