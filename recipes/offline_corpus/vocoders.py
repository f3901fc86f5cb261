"""Copy-synthesis: re-synthesise a real clip through a vocoder, keeping its speaker, text and prosody.

Griffin-Lim (librosa) inverts a magnitude spectrogram (mel or linear) with a seeded initial
phase; WORLD (pyworld) analyses F0, spectral envelope and aperiodicity and resynthesises them.
LPC (linear prediction) is a third, classic source-filter vocoder: an all-pole envelope per frame
driven by a pulse train at the pitch (YIN) for voiced frames and noise for unvoiced ones, as in
early speech codecs. Variants differ in what a real vocoder would differ in: iterations, momentum,
mel resolution, phase initialisation, F0 estimator, frame period, spectral-envelope coding,
prediction order and excitation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wavguard.errors import ConfigError

__all__ = [
    "GriffinLimVariant",
    "WorldVariant",
    "LpcVariant",
    "GRIFFINLIM_VARIANTS",
    "WORLD_VARIANTS",
    "LPC_VARIANTS",
    "griffinlim",
    "world",
    "lpc",
]


@dataclass(frozen=True)
class GriffinLimVariant:
    """One Griffin-Lim setting.

    Attributes:
        n_mels: mel bands of the analysed spectrogram; 0 means the linear magnitude (no mel step).
        n_iter: Griffin-Lim iterations.
        momentum: fast Griffin-Lim momentum (0 = classic Griffin-Lim).
        init: initial phase, ``"random"`` (seeded) or ``"zero"``.
        n_fft: FFT size in samples at 16 kHz; the hop is a quarter of it.
    """

    n_mels: int
    n_iter: int
    momentum: float
    init: str
    n_fft: int = 1024

    @property
    def name(self) -> str:
        mel = f"mel{self.n_mels}" if self.n_mels else "linear"
        return f"{mel}-it{self.n_iter}-m{self.momentum:g}-{self.init}-fft{self.n_fft}"


@dataclass(frozen=True)
class WorldVariant:
    """One WORLD analysis setting.

    Attributes:
        f0: ``"harvest"`` or ``"dio"`` (with StoneMask refinement).
        frame_period_ms: analysis hop in milliseconds.
        coded_dims: spectral envelope coded to this many dimensions and decoded (0 = uncoded), as a
            parametric TTS vocoder would see it.
    """

    f0: str
    frame_period_ms: float
    coded_dims: int = 0

    @property
    def name(self) -> str:
        coded = f"-sp{self.coded_dims}" if self.coded_dims else ""
        return f"{self.f0}-fp{self.frame_period_ms:g}{coded}"


@dataclass(frozen=True)
class LpcVariant:
    """One LPC vocoder setting.

    Attributes:
        order: linear-prediction order (poles of the envelope).
        frame_period_ms: hop between envelope frames; the analysis window is 2.5 hops.
        excitation: ``"pulse"`` (pulse train when voiced, noise when not), ``"mixed"`` (pulses plus
            30% noise when voiced) or ``"noise"`` (noise only, a whispering vocoder).
    """

    order: int
    frame_period_ms: float
    excitation: str

    @property
    def name(self) -> str:
        return f"order{self.order}-fp{self.frame_period_ms:g}-{self.excitation}"


GRIFFINLIM_VARIANTS = {
    v.name: v
    for v in (
        GriffinLimVariant(80, 32, 0.99, "random"),
        GriffinLimVariant(128, 64, 0.5, "random"),
        GriffinLimVariant(40, 100, 0.99, "random"),
        GriffinLimVariant(80, 60, 0.0, "zero"),
        GriffinLimVariant(0, 16, 0.99, "random", n_fft=512),
    )
}
WORLD_VARIANTS = {
    v.name: v
    for v in (
        WorldVariant("harvest", 5.0),
        WorldVariant("dio", 5.0),
        WorldVariant("harvest", 10.0, coded_dims=40),
        WorldVariant("dio", 10.0, coded_dims=24),
    )
}
LPC_VARIANTS = {
    v.name: v
    for v in (
        LpcVariant(16, 10.0, "pulse"),
        LpcVariant(24, 5.0, "pulse"),
        LpcVariant(12, 10.0, "mixed"),
        LpcVariant(20, 8.0, "mixed"),
    )
}


def griffinlim(samples: np.ndarray, rate_hz: int, variant: GriffinLimVariant, seed: int) -> np.ndarray:
    """Griffin-Lim copy-synthesis of ``samples`` (float32, shape (time,)); returns the same length."""
    import librosa

    hop = variant.n_fft // 4
    spec = np.abs(librosa.stft(samples, n_fft=variant.n_fft, hop_length=hop))
    if variant.n_mels:
        mel = librosa.feature.melspectrogram(S=spec**2, sr=rate_hz, n_fft=variant.n_fft, n_mels=variant.n_mels)
        spec = librosa.feature.inverse.mel_to_stft(mel, sr=rate_hz, n_fft=variant.n_fft)
    out = librosa.griffinlim(
        spec,
        n_iter=variant.n_iter,
        hop_length=hop,
        n_fft=variant.n_fft,
        momentum=variant.momentum,
        init="random" if variant.init == "random" else None,
        random_state=np.random.default_rng(seed),
        length=len(samples),
    )
    return out.astype(np.float32)


def world(samples: np.ndarray, rate_hz: int, variant: WorldVariant) -> np.ndarray:
    """WORLD copy-synthesis of ``samples`` (float32, shape (time,)); returns about the same length."""
    import pyworld

    x = samples.astype(np.float64)
    if variant.f0 == "harvest":
        f0, times = pyworld.harvest(x, rate_hz, frame_period=variant.frame_period_ms)
    elif variant.f0 == "dio":
        f0, times = pyworld.dio(x, rate_hz, frame_period=variant.frame_period_ms)
        f0 = pyworld.stonemask(x, f0, times, rate_hz)
    else:
        raise ConfigError(f"WORLD f0 estimator {variant.f0!r}: choose harvest or dio")
    envelope = pyworld.cheaptrick(x, f0, times, rate_hz)
    aperiodicity = pyworld.d4c(x, f0, times, rate_hz)
    if variant.coded_dims:
        fft_size = pyworld.get_cheaptrick_fft_size(rate_hz)
        coded = pyworld.code_spectral_envelope(envelope, rate_hz, variant.coded_dims)
        envelope = pyworld.decode_spectral_envelope(coded, rate_hz, fft_size)
    out = pyworld.synthesize(f0, envelope, aperiodicity, rate_hz, variant.frame_period_ms)
    return out[: len(samples)].astype(np.float32)


def _lpc_frame(frame: np.ndarray, order: int, rate_hz: int) -> tuple[np.ndarray, float]:
    """All-pole coefficients ``a`` (a[0] = 1, length order + 1) and residual power of one frame."""
    from scipy.linalg import solve_toeplitz

    r = np.correlate(frame, frame, mode="full")[len(frame) - 1 : len(frame) + order]
    if r[0] <= 1e-10:
        return np.r_[1.0, np.zeros(order)], 0.0
    r = r * np.exp(-0.5 * (2 * np.pi * 60.0 / rate_hz * np.arange(order + 1)) ** 2)  # lag window
    r[0] *= 1.0 + 1e-4  # white-noise correction keeps the filter stable
    coeffs = solve_toeplitz(r[:order], -r[1:])
    a = np.r_[1.0, coeffs]
    return a, float(max(r[0] + np.dot(coeffs, r[1:]), 0.0) / len(frame))


def lpc(samples: np.ndarray, rate_hz: int, variant: LpcVariant, seed: int) -> np.ndarray:
    """LPC copy-synthesis of ``samples`` (float32, shape (time,)); returns the same length.

    Per frame: an all-pole envelope (autocorrelation method) and the residual power; F0 and voicing
    from YIN. The excitation (unit power) is filtered by each frame's envelope, scaled to its
    residual power, and frames are overlap-added.
    """
    import librosa
    from scipy.signal import lfilter

    if variant.excitation not in ("pulse", "mixed", "noise"):
        raise ConfigError(f"LPC excitation {variant.excitation!r}: choose pulse, mixed or noise")
    x = samples.astype(np.float64)
    hop = int(round(rate_hz * variant.frame_period_ms / 1000))
    win_len = int(2.5 * hop) // 2 * 2
    n_frames = 1 + len(x) // hop
    f0 = librosa.yin(x, fmin=60, fmax=400, sr=rate_hz, frame_length=1024, hop_length=hop, center=True)[:n_frames]
    f0 = np.pad(f0, (0, n_frames - len(f0)), mode="edge")
    rms = librosa.feature.rms(y=x, frame_length=win_len, hop_length=hop, center=True)[0][:n_frames]
    rms = np.pad(rms, (0, n_frames - len(rms)), mode="edge")
    zcr = librosa.feature.zero_crossing_rate(x, frame_length=win_len, hop_length=hop, center=True)[0][:n_frames]
    zcr = np.pad(zcr, (0, n_frames - len(zcr)), mode="edge")
    voiced = (rms > 0.05 * np.max(rms + 1e-12)) & (zcr < 0.15) & (f0 < 390)
    rng = np.random.default_rng(seed)
    # excitation, unit power: a pulse every period in voiced regions (phase carried across frames)
    pulses = np.zeros(len(x) + win_len)
    phase = 0.0
    for i in range(n_frames):
        if not voiced[i]:
            phase = 0.0
            continue
        for n in range(i * hop, min((i + 1) * hop, len(pulses))):
            phase += f0[i] / rate_hz
            if phase >= 1.0:
                phase -= 1.0
                pulses[n] = np.sqrt(rate_hz / f0[i])  # unit mean power at this F0
    noise = rng.standard_normal(len(pulses))
    window = np.hanning(win_len)
    padded = np.pad(x, (win_len // 2, win_len))
    out = np.zeros(len(padded))
    for i in range(n_frames):
        start = i * hop
        frame = padded[start : start + win_len]
        a, power = _lpc_frame(frame * window, variant.order, rate_hz)
        if power <= 0:
            continue
        seg = slice(start, start + win_len)
        exc_start = max(start - win_len // 2, 0)
        n_exc = noise[exc_start : exc_start + win_len]
        p_exc = pulses[exc_start : exc_start + win_len]
        if len(n_exc) < win_len:
            n_exc, p_exc = np.pad(n_exc, (0, win_len - len(n_exc))), np.pad(p_exc, (0, win_len - len(p_exc)))
        if variant.excitation == "noise" or not voiced[i]:
            excitation = n_exc
        elif variant.excitation == "mixed":
            excitation = np.sqrt(0.7) * p_exc + np.sqrt(0.3) * n_exc
        else:
            excitation = p_exc
        gain = np.sqrt(power / np.mean(window**2))  # residual power of the unwindowed frame
        out[seg] += lfilter([gain], a, excitation) * window
    out = out[win_len // 2 : win_len // 2 + len(x)]
    # match the input's overall level (the codec and level chain follow anyway)
    scale = np.sqrt(np.mean(x**2) / max(np.mean(out**2), 1e-20))
    return (out * scale).astype(np.float32)
