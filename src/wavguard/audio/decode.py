"""Audio in: decode, convert to mono float32, resample, validate.

One decoder for training and inference: every path that turns a file, bytes or an array into
samples goes through this module (soundfile/libsndfile for wav, flac, ogg, mp3, aiff, au, w64,
rf64 and nist; soxr for resampling). Long files can be read block by block
(:func:`iter_file_blocks`) so memory stays flat however long the file is.

libsndfile reads a cut-off file short without a word (it trusts the bytes that are there over the
header), so each container's declared length is compared with the file's size here, and formats
whose length is not checked are refused rather than scored at whatever length is left.
"""

from __future__ import annotations

import io
import math
import numbers
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    AudioReadError,
    EmptyAudioError,
    InvalidAudioError,
    SampleRateError,
    SilentAudioError,
)
from ._containers import check_container

__all__ = [
    "AudioSource",
    "describe_source",
    "load_audio",
    "prepare_array",
    "to_float32",
    "to_mono",
    "resample",
    "check_samples",
    "check_sample_rate",
    "MIN_SAMPLE_RATE_HZ",
    "MAX_SAMPLE_RATE_HZ",
    "iter_file_blocks",
    "audio_info",
    "SUPPORTED_FORMATS",
    "MAX_FLOAT_PEAK",
]

#: What :func:`load_audio` accepts: a path, raw encoded bytes, or a file-like object.
AudioSource = str | os.PathLike | bytes | io.IOBase

#: The formats wavguard decodes: those libsndfile reads whose truncation wavguard can detect.
SUPPORTED_FORMATS = ("wav", "flac", "ogg", "mp3", "aiff", "au", "w64", "rf64", "nist")
#: libsndfile's names of those formats. It opens others (CAF, VOC, IRCAM, PAF, MAT, ...), but a
#: cut-off one of those would be scored at the length left: they are refused.
_LIBSNDFILE_FORMATS = frozenset({"WAV", "WAVEX", "FLAC", "OGG", "MP3", "AIFF", "AU", "W64", "RF64", "NIST"})

#: The largest |sample| accepted from float audio (arrays, tensors, float files). Float audio is
#: full scale at 1.0 and processed audio may overshoot a little (+12 dB is 4.0), so the bound is
#: generous: 64 is +36 dBFS. Beyond it the numbers are not audio at a known scale: integer PCM
#: values stored as floats (up to 32,767), a wrong gain, or garbage (1e30), which the model would
#: score as if it were speech.
MAX_FLOAT_PEAK = 64.0

#: Arrays with more channels than this on both axes are rejected as ambiguous.
MAX_CHANNELS = 32

#: The sample rates (Hz) wavguard accepts. Below 1 kHz is no speech recording; above 768 kHz no
#: converter records. A header outside them is corrupt or hostile: at 1 Hz, 20 KB of int16 claim
#: 10,000 s, which resampling to 16 kHz would turn into 640 MB of float32.
MIN_SAMPLE_RATE_HZ = 1_000
MAX_SAMPLE_RATE_HZ = 768_000

#: Most samples (frames x channels) :func:`iter_file_blocks` decodes at once (4 MB of float32),
#: whatever the file's rate and channel count.
MAX_BLOCK_SAMPLES = 1 << 20


def describe_source(source: object) -> str:
    """A short name for an input, used in error messages."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes of encoded audio>"
    try:
        if hasattr(source, "shape"):
            return f"<array of shape {tuple(source.shape)}>"
    except (RuntimeError, TypeError, NotImplementedError):  # a nested (ragged) tensor has no single shape
        pass
    return f"<{type(source).__name__}>"


def to_float32(samples: np.ndarray, source: str = "<array>") -> np.ndarray:
    """Convert integer or float samples to float32 in [-1, 1] (integers are scaled by their range).

    Args:
        samples: any shape; dtype int8/16/32/64, uint8 (offset binary) or float; a torch tensor
            (any float dtype, bfloat16 included) is read as a numpy array first.

    Raises:
        InvalidAudioError: a float sample beyond :data:`MAX_FLOAT_PEAK`, a meta, sparse or nested
            tensor, or a dtype that is no audio (bool, complex, object).
    """
    samples = _tensor_to_numpy(samples, source) if _is_tensor(samples) else np.asarray(samples)
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(samples.dtype, np.integer):
        scale = float(2 ** (8 * samples.dtype.itemsize - 1))
        return (samples.astype(np.float64) / scale).astype(np.float32)
    if np.issubdtype(samples.dtype, np.floating):
        _check_peak(samples, source)  # before float32: 1e300 would become inf and hide what is wrong
        return samples.astype(np.float32, copy=False)
    if samples.dtype == np.bool_ or not np.issubdtype(samples.dtype, np.number):
        raise InvalidAudioError(source, f"samples have dtype {samples.dtype}; expected integer or float samples")
    raise InvalidAudioError(source, f"complex samples (dtype {samples.dtype}) are not audio; pass real-valued samples")


def to_mono(samples: np.ndarray, source: str = "<array>", channels_last: bool | None = None) -> np.ndarray:
    """Average channels to mono.

    Args:
        samples: shape (time,), (time, channels) or (channels, time).
        channels_last: which axis holds channels for 2-D input. ``None`` picks the shorter axis,
            which is unambiguous for real audio (a handful of channels, thousands of samples).

    Returns:
        shape (time,).
    """
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2:
        raise InvalidAudioError(
            source,
            f"audio array has shape {samples.shape}; expected (time,), (time, channels) or (channels, time)",
        )
    if channels_last is None:
        if min(samples.shape) > MAX_CHANNELS:
            raise InvalidAudioError(
                source,
                f"audio array has shape {samples.shape}: neither axis looks like channels (at most "
                f"{MAX_CHANNELS}); pass one clip at a time as (time,), (time, channels) or (channels, time)",
            )
        channels_last = samples.shape[1] <= samples.shape[0]
    return samples.mean(axis=1 if channels_last else 0, dtype=np.float32)


def resample(samples: np.ndarray, from_rate_hz: int, to_rate_hz: int) -> np.ndarray:
    """Resample mono float32 audio with soxr (high quality). Returns a new array, shape (time',)."""
    if int(from_rate_hz) == int(to_rate_hz):
        return samples
    return soxr.resample(samples, int(from_rate_hz), int(to_rate_hz), quality="HQ").astype(np.float32, copy=False)


def check_samples(samples: np.ndarray, source: str, *, allow_silence: bool = False) -> None:
    """Raise a wavguard error for empty, non-finite, absurdly loud (a float sample beyond
    :data:`MAX_FLOAT_PEAK`) or (unless allowed) all-zero audio."""
    if samples.size == 0:
        raise EmptyAudioError(source, "the audio holds zero samples")
    if not np.all(np.isfinite(samples)):
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise InvalidAudioError(source, f"{bad} samples are NaN or infinite; clean or re-export the audio")
    _check_peak(samples, source)
    if not allow_silence and not np.any(samples):
        raise SilentAudioError(source, "every sample is zero (digital silence); there is no speech to score")


def _check_peak(samples: np.ndarray, source: str) -> None:
    """Refuse float samples beyond :data:`MAX_FLOAT_PEAK` (NaN and inf are left to the finite check)."""
    with np.errstate(invalid="ignore", over="ignore"):
        peak = float(np.max(np.abs(samples), initial=0.0)) if samples.size else 0.0
    if math.isfinite(peak) and peak > MAX_FLOAT_PEAK:
        raise InvalidAudioError(
            source,
            f"float samples reach {peak:.3g}, far outside the [-1, 1] full scale of float audio (at most "
            f"{MAX_FLOAT_PEAK:g} is accepted); scale float samples to [-1, 1] (integer PCM values stored as floats: "
            "divide by 32768 for 16-bit, or pass the integer array), or re-export the file normalised",
        )


def _is_tensor(samples: object) -> bool:
    """A torch tensor (or subclass), without importing torch here."""
    return hasattr(samples, "detach") and hasattr(samples, "is_floating_point")


def _tensor_to_numpy(tensor, source: str) -> np.ndarray:
    """A torch tensor's samples as a numpy array; float16/bfloat16/float8 become float32, a
    quantized tensor is dequantized; meta, sparse and nested tensors are refused."""
    if getattr(tensor, "is_meta", False):
        raise InvalidAudioError(
            source, "is a meta tensor: it has a shape but no samples; pass a tensor that holds the audio"
        )
    if getattr(tensor, "is_nested", False):
        raise InvalidAudioError(source, "is a nested tensor; pass one clip at a time (or a list of clips)")
    layout = str(getattr(tensor, "layout", "torch.strided"))
    if getattr(tensor, "is_sparse", False) or layout != "torch.strided":
        raise InvalidAudioError(source, f"is a sparse tensor ({layout}); audio is dense: pass tensor.to_dense()")
    tensor = tensor.detach()
    if getattr(tensor, "is_quantized", False):
        tensor = tensor.dequantize()
    if tensor.is_floating_point() and tensor.element_size() < 4:  # numpy has no bfloat16 / float8
        tensor = tensor.float()
    try:
        return tensor.cpu().resolve_conj().resolve_neg().numpy()
    except (TypeError, RuntimeError, NotImplementedError) as exc:
        raise InvalidAudioError(source, f"a tensor of dtype {tensor.dtype} cannot be read as samples ({exc})") from None


def check_sample_rate(sample_rate_hz: object, source: str) -> int:
    """The sample rate as an int, after checking it is a whole number of Hz in 1 kHz-768 kHz.

    Args:
        sample_rate_hz: a file header's rate, or the rate a caller gives for an array or stream.
        source: how the error names the input.

    Raises:
        SampleRateError: naming the input and the rate.
    """
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, numbers.Real):
        raise SampleRateError(source, f"the sample rate must be a number of Hz, got {sample_rate_hz!r}")
    rate = float(sample_rate_hz)
    if not math.isfinite(rate) or rate != math.floor(rate):
        raise SampleRateError(source, f"the sample rate must be a whole number of Hz, got {sample_rate_hz!r}")
    if not MIN_SAMPLE_RATE_HZ <= rate <= MAX_SAMPLE_RATE_HZ:
        raise SampleRateError(
            source,
            f"a sample rate of {int(rate)} Hz is outside the supported {MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz; "
            "the header is corrupt, or the rate was mistyped",
        )
    return int(rate)


def prepare_array(
    samples: object,
    sample_rate_hz: int | None,
    target_rate_hz: int,
    source: str | None = None,
) -> np.ndarray:
    """Turn an in-memory array (numpy or torch; mono or multichannel; int or float) into model input.

    Returns:
        float32, shape (time,), at ``target_rate_hz``.
    """
    name = source or describe_source(samples)
    if sample_rate_hz is None:
        raise InvalidAudioError(name, "an array needs its sample rate: pass sample_rate=... (in Hz)")
    rate_hz = check_sample_rate(sample_rate_hz, name)
    if _is_tensor(samples):
        samples = _tensor_to_numpy(samples, name)
    try:
        array = np.asarray(samples)
    except Exception as exc:  # ragged lists and the like
        raise InvalidAudioError(name, f"cannot be read as an array of samples ({exc})") from None
    if array.dtype == object:
        raise InvalidAudioError(name, "cannot be read as an array of samples (ragged or mixed types)")
    array = to_mono(to_float32(array, name), name)
    check_samples(array, name)
    return resample(np.ascontiguousarray(array), rate_hz, target_rate_hz)


def _libsndfile_reason(exc: Exception) -> str:
    """libsndfile's own words, without the object repr it prefixes ("Error opening <...>: ")."""
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("Error opening") and ": " in text else text


def _os_error(name: str, exc: OSError) -> AudioError:
    """The wavguard error for an operating-system error on an input file (names the file)."""
    if isinstance(exc, FileNotFoundError):
        return AudioFileNotFoundError(name, "no such file; check the path")
    if isinstance(exc, IsADirectoryError):
        return AudioFileNotFoundError(name, "is a directory, not an audio file; pass the files inside it")
    if isinstance(exc, PermissionError):
        return AudioReadError(name, "permission denied: this user cannot read the file; check its permissions")
    return AudioReadError(name, f"cannot be read ({exc.strerror or exc}); check the file and the disk")


def _open(source: AudioSource, name: str | None = None) -> tuple[sf.SoundFile, str]:
    """Open a path, bytes or file object with soundfile, mapping every failure to a wavguard error.

    The header's sample rate is checked here, before a single sample is decoded."""
    name = name or describe_source(source)
    try:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.exists():
                raise AudioFileNotFoundError(name, "no such file; check the path")
            if path.is_dir():
                raise AudioFileNotFoundError(name, "is a directory, not an audio file; pass the files inside it")
            if path.stat().st_size == 0:
                raise EmptyAudioError(name, "the file is empty (0 bytes)")
            handle: object = str(path)
        elif isinstance(source, (bytes, bytearray)):
            if len(source) == 0:
                raise EmptyAudioError(name, "zero bytes of audio were given")
            handle = io.BytesIO(source)
        else:
            handle = source
        check_container(source, name)
        f = sf.SoundFile(handle)
    except OSError as exc:  # before LibsndfileError's base: permissions, I/O errors, a path that changed
        if isinstance(exc, AudioError):
            raise
        raise _os_error(name, exc) from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        if isinstance(exc, AudioError):
            raise
        raise AudioFileNotFoundError(name, f"is not a usable path ({exc})") from None

    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioDecodeError(
            name,
            f"cannot be decoded as audio ({_libsndfile_reason(exc)}); supported formats: {', '.join(SUPPORTED_FORMATS)} "
            "(convert others with ffmpeg)",
        ) from None
    if f.format not in _LIBSNDFILE_FORMATS:
        kind = f.format_info
        f.close()
        raise AudioDecodeError(
            name,
            f"{kind} files are not supported: a cut-off one cannot be told from a whole one; supported formats: "
            f"{', '.join(SUPPORTED_FORMATS)} (convert others with ffmpeg)",
        )
    try:
        check_sample_rate(int(f.samplerate), name)
    except SampleRateError:
        f.close()
        raise
    return f, name


def _check_complete(frames_read: int, frames_declared: int, name: str) -> None:
    # Compressed formats (mp3) only estimate their length; a shortfall over 2% means a cut-off file.
    if frames_declared > 0 and frames_read < 0.98 * frames_declared:
        raise AudioDecodeError(
            name,
            f"decoded {frames_read} of the {frames_declared} frames its header declares; the file is truncated or corrupt",
        )


def audio_info(source: AudioSource, name: str | None = None) -> tuple[int, int, int]:
    """Return (sample_rate_hz, num_frames, channels) of an encoded file without decoding it.

    ``num_frames / sample_rate_hz`` is the duration the header declares (an estimate for mp3):
    check it before decoding an upload. Raises the wavguard errors of opening a file, including
    :class:`~wavguard.errors.SampleRateError` for a rate outside 1 kHz-768 kHz.
    """
    f, _ = _open(source, name)
    with f:
        return int(f.samplerate), int(f.frames), int(f.channels)


def _read(f: sf.SoundFile, name: str, frames: int) -> np.ndarray:
    try:
        return f.read(frames, dtype="float32", always_2d=True)
    except OSError as exc:
        raise _os_error(name, exc) from None
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(
            name, f"decoding failed part-way ({exc}); the file may be truncated or corrupt"
        ) from None


def iter_file_blocks(
    source: AudioSource,
    target_rate_hz: int,
    block_seconds: float = 5.0,
    name: str | None = None,
) -> Iterator[np.ndarray]:
    """Decode a file block by block, as mono float32 at ``target_rate_hz``.

    Memory stays flat: only one block (plus the resampler's state) is held at a time, at most
    ``block_seconds`` and at most :data:`MAX_BLOCK_SAMPLES` samples across channels, whatever the
    file's rate and channel count. The concatenated blocks equal :func:`load_audio` up to the
    resampler's float rounding.

    Yields:
        float32 arrays, shape (samples,). Raises the same wavguard errors as :func:`load_audio`,
        except that silence is not checked (a caller streaming a long file checks the peak).
    """
    f, name = _open(source, name)
    with f:
        rate = int(f.samplerate)
        block_frames = max(1, min(int(block_seconds * rate), MAX_BLOCK_SAMPLES // max(1, int(f.channels))))
        stream = (
            None
            if rate == target_rate_hz
            else soxr.ResampleStream(rate, target_rate_hz, 1, dtype="float32", quality="HQ")
        )
        total = 0
        while True:
            block = _read(f, name, block_frames)
            last = block.shape[0] < block_frames
            mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
            total += mono.shape[0]
            if not np.all(np.isfinite(mono)):
                raise InvalidAudioError(name, "the file holds NaN or infinite samples; re-export the audio")
            _check_peak(mono, name)
            if stream is not None:
                mono = stream.resample_chunk(mono, last=last)
            if mono.size:
                yield np.ascontiguousarray(mono)
            if last:
                break
        if total == 0:
            raise EmptyAudioError(name, "the file decodes to zero samples")
        _check_complete(total, int(f.frames), name)


def load_audio(
    source: AudioSource, target_rate_hz: int | None = None, name: str | None = None
) -> tuple[np.ndarray, int]:
    """Decode a whole file (path, bytes or file object) to mono float32.

    Args:
        source: one of :data:`SUPPORTED_FORMATS`, any sample rate, any channel count.
        target_rate_hz: resample to this rate; ``None`` keeps the file's rate.
        name: how errors name the input (default: the path, or a size for bytes).

    Returns:
        (samples, sample_rate_hz); samples has shape (time,).

    Raises:
        AudioError subclasses naming the file: missing, a directory, empty, not audio or not a
        supported format, truncated, NaN/inf samples, float samples beyond :data:`MAX_FLOAT_PEAK`,
        all-silent.
    """
    f, name = _open(source, name)
    with f:
        rate = int(f.samplerate)
        data = _read(f, name, -1)
        declared = int(f.frames)
    if data.shape[0] == 0:
        raise EmptyAudioError(name, "the file decodes to zero samples")
    _check_complete(data.shape[0], declared, name)
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    check_samples(mono, name)
    if target_rate_hz is not None:
        mono = resample(np.ascontiguousarray(mono), rate, target_rate_hz)
        rate = int(target_rate_hz)
    return np.ascontiguousarray(mono), rate
