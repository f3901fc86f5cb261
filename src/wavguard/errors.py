"""wavguard's exceptions: one small hierarchy, every message names the input and what to do.

WavguardError
├── AudioError            (bad audio input; ``.source`` names the file or array)
│   ├── AudioFileNotFoundError
│   ├── AudioReadError    (the file exists but cannot be read: permissions, I/O errors)
│   ├── AudioDecodeError  (not audio, truncated, unsupported format)
│   ├── EmptyAudioError   (zero samples)
│   ├── InvalidAudioError (NaN/inf samples, wrong array shape or dtype)
│   ├── SampleRateError   (a sample rate outside 1 kHz-768 kHz: a corrupt header or a typo)
│   ├── SilentAudioError  (every sample is zero)
│   └── AudioTooShortError (shorter than the backbone's receptive field)
├── ConfigError           (an invalid configuration value)
├── ModelLoadError        (a detector or backbone that cannot be loaded)
└── OutputWriteError      (a file wavguard writes cannot be: a full disk, a read-only folder)
"""

from __future__ import annotations

__all__ = [
    "WavguardError",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioReadError",
    "AudioDecodeError",
    "EmptyAudioError",
    "InvalidAudioError",
    "SampleRateError",
    "SilentAudioError",
    "AudioTooShortError",
    "ConfigError",
    "ModelLoadError",
    "OutputWriteError",
]


class WavguardError(Exception):
    """Base class of every error wavguard raises on purpose."""


class AudioError(WavguardError, ValueError):
    """Audio input that cannot be scored.

    Attributes:
        source: the file path, or a short description of an in-memory array.
        reason: what is wrong, in a sentence.
    """

    def __init__(self, source: str, reason: str):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The path does not exist or is not a regular file."""


class AudioReadError(AudioError):
    """The file exists but the operating system refuses to read it (permissions, an I/O error)."""


class AudioDecodeError(AudioError):
    """The file exists but cannot be decoded as audio (not audio, truncated, unsupported)."""


class EmptyAudioError(AudioError):
    """The input holds zero samples."""


class InvalidAudioError(AudioError):
    """Samples that are not finite, or an array with an unusable shape or dtype."""


class SampleRateError(InvalidAudioError):
    """A sample rate wavguard refuses (a kind of invalid audio): not a whole number of Hz, or outside 1 kHz-768 kHz.

    A header claiming 1 Hz makes 20 KB of samples last 10,000 s, which resampling to 16 kHz turns
    into 160 million samples; no real recording is below 1 kHz or above 768 kHz.
    """


class SilentAudioError(AudioError):
    """Every sample is exactly zero: there is nothing to score."""


class AudioTooShortError(AudioError):
    """The input is shorter than the backbone's receptive field."""


class ConfigError(WavguardError, ValueError):
    """A configuration value that wavguard cannot use."""


class ModelLoadError(WavguardError, OSError):
    """A detector or backbone that cannot be loaded from the given directory or Hub id."""


class OutputWriteError(WavguardError, OSError):
    """A file wavguard writes (a training checkpoint, its metrics log, a saved detector) could not
    be written: the disk is full, the folder became read-only or is not ours.

    Attributes:
        path: what was being written.
        errno: what happened (``errno.ENOSPC``, ``EROFS``, ``EACCES``...).
        message: the whole sentence: the path, what happened and what to do.
    """

    def __init__(self, path: str, errno: int, message: str):
        super().__init__(errno, message, str(path))
        self.path, self.message = str(path), message

    def __str__(self) -> str:
        return self.message
