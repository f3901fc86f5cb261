"""wavguard: deepfake speech detection by transfer learning on pretrained speech transformers.

``Detector.predict`` returns a :class:`Prediction` whose ``score`` is the calibrated probability
that the audio is FAKE (higher = more likely fake).
"""

from . import errors
from ._version import __version__
from .config import DetectorConfig
from .detector import Detector
from .errors import *  # noqa: F403  (every wavguard error class is public API)
from .integrations import hf_registration
from .loading import builtin_path
from .scoring.prediction import Prediction, Segment

hf_registration.register()  # model_type "wavguard" for transformers' AutoConfig / AutoModel / pipeline

__all__ = ["__version__", "Detector", "DetectorConfig", "Prediction", "Segment", "builtin_path", *errors.__all__]
