"""Audio in, model-ready windows out: the first stages of scoring and training.

Stages, in pipeline order:

* :mod:`.decode`: files, bytes and arrays -> mono float32 at the model's rate (soundfile + soxr),
  block by block; wavguard's one decoder for training and inference.
* :mod:`.denoise`: the optional noise reduction recorded in a detector's config.
* :mod:`.windows`: fixed windows and hops over a stream of blocks; window-logit aggregation.
* :mod:`.features`: classic spectral features (log-mel, MFCC, LFCC, ...) in numpy.
* :mod:`.augment`: training-time augmentation (audiomentations, codecs, RawBoost-style noise).
* :mod:`.channels`: named degradation channels (MP3, telephone, noise, reverb) for robustness tests.

The decoder's functions are importable from here: ``from wavguard.audio import load_audio``.
"""

from .decode import audio_info, describe_source, iter_file_blocks, load_audio, prepare_array, resample

__all__ = ["audio_info", "describe_source", "iter_file_blocks", "load_audio", "prepare_array", "resample"]
