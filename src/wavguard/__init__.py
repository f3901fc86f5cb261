"""wavguard: deepfake speech detection by transfer learning on pretrained speech transformers.

``Detector.predict`` returns a :class:`Prediction` whose ``score`` is the calibrated probability
that the audio is FAKE (higher = more likely fake).
"""

__version__ = "0.1.0"

from .config import DetectorConfig
from .detector import Detector
from .errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    AudioTooShortError,
    ConfigError,
    EmptyAudioError,
    InvalidAudioError,
    ModelLoadError,
    SilentAudioError,
    WavguardError,
)
from .prediction import Prediction, Segment

__all__ = [
    "__version__",
    "Detector",
    "DetectorConfig",
    "Prediction",
    "Segment",
    "WavguardError",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioDecodeError",
    "EmptyAudioError",
    "InvalidAudioError",
    "SilentAudioError",
    "AudioTooShortError",
    "ConfigError",
    "ModelLoadError",
]
