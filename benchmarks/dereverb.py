"""Dereverberation in front of a detector: a scoring-time front end the method study can try
(``front_end: wpe`` in a channel row of a study file, :mod:`benchmarks.method_study`).

Weighted prediction error (WPE; Nakatani et al. 2010, Yoshioka and Nakatani 2012) removes late
reverberation by predicting each STFT frame from the frames ``delay`` and more before it and
subtracting the prediction; single-channel here. The signal processing is ``nara_wpe``'s (the
reference implementation of the Paderborn group); this module picks its settings for 16 kHz speech
and wraps it as a degradation channel, so "channel, then dereverberation" is scored exactly like a
channel, on the same clips with the same seeds.

Its cost beside the detector's, on the first ``--clips`` clips of a corpus split (decoded at 16 kHz
first; then, per round, the front end alone on every clip and the detector alone on the list, batch 8; the minimum over
rounds; real-time factor = audio seconds per wall second, one process)::

    python -m benchmarks.dereverb --manifest out/oc_full_paired/manifest.csv --clips 100 --threads 2
"""

from __future__ import annotations

import argparse
import os
import time

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="WPE front end speed beside the detector's")
    parser.add_argument("--manifest", required=True, help="a corpus manifest.csv")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--detector", default="wavguard-offline-base", help="a detector name or folder (PyTorch backend)"
    )
    args = parser.parse_args(argv)

    import torch

    from wavguard import Detector
    from wavguard.data import decode_audio, load_manifest

    torch.set_num_threads(args.threads)
    detector = Detector.from_pretrained(args.detector, backend="torch")
    rows = load_manifest(args.manifest)[args.split].shuffle(seed=0).select(range(args.clips))
    clips = [decode_audio(path, 16000) for path in rows["audio"]]
    audio_seconds = sum(c.size for c in clips) / 16000
    wpe_best = detector_best = float("inf")
    print(f"load average before: {os.getloadavg()[0]:.2f}; {len(clips)} clips, {audio_seconds:.1f} s of audio")
    for _ in range(args.rounds):
        start = time.perf_counter()
        for clip in clips:
            wpe_dereverb(clip, 16000)
        wpe_best = min(wpe_best, time.perf_counter() - start)
        start = time.perf_counter()
        detector.predict(clips, sample_rate=16000)
        detector_best = min(detector_best, time.perf_counter() - start)
    print(f"torch threads {torch.get_num_threads()}; load average after: {os.getloadavg()[0]:.2f}")
    for name, seconds in (("WPE front end", wpe_best), (f"{args.detector} (PyTorch)", detector_best)):
        print(f"{name}: {seconds:.1f} s, {audio_seconds / seconds:.0f}x real time")
    both = wpe_best + detector_best
    print(
        f"both in a row: {audio_seconds / both:.0f}x real time ({detector_best / both:.2f} of the detector alone's speed)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
