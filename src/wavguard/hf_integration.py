"""transformers integration without remote code: ``import wavguard`` registers ``model_type = "wavguard"``.

After :func:`register` (run once by ``import wavguard``), a saved detector directory or Hub id loads
with transformers' own entry points:

Example:
    >>> import wavguard
    >>> from transformers import AutoConfig, AutoModelForAudioClassification, pipeline
    >>> AutoConfig.from_pretrained("my-detector/")                          # doctest: +SKIP
    >>> AutoModelForAudioClassification.from_pretrained("my-detector/")     # doctest: +SKIP
    >>> clf = pipeline("audio-classification", model="my-detector/")        # doctest: +SKIP
    >>> clf({"array": samples, "sampling_rate": 16000})                     # doctest: +SKIP
    [{'score': 0.93, 'label': 'fake'}, {'score': 0.07, 'label': 'real'}]

This is the one import-time side effect wavguard has, and it is what the integration needs:
transformers finds a model type only in its registry. Registration is cheap: the config class is
real (:class:`~wavguard.hf_config.WavguardConfig`); the model class is registered as a stand-in
whose ``from_pretrained`` imports :mod:`wavguard.hf_model` (transformers' ``PreTrainedModel``
costs seconds to import) only when a model is loaded.
"""

from __future__ import annotations

import os
from typing import Any

from transformers import AutoConfig, AutoModelForAudioClassification

from .hf_config import WavguardConfig
from .layout import MODEL_TYPE

__all__ = ["register", "WavguardConfig", "MODEL_CLASS_NAME"]

MODEL_CLASS_NAME = "WavguardForAudioClassification"


def _model_class():
    from .hf_model import WavguardForAudioClassification  # the PreTrainedModel import, when first needed

    return WavguardForAudioClassification


class _LazyModelClass:
    """What transformers' Auto mapping holds for ``WavguardConfig`` until a model is loaded."""

    config_class = WavguardConfig
    main_input_name = "input_values"

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, **kwargs: Any):
        return _model_class().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @classmethod
    def _from_config(cls, config: WavguardConfig, **kwargs: Any):
        return _model_class()(config, **kwargs)  # raises: a detector needs its weights


_LazyModelClass.__name__ = _LazyModelClass.__qualname__ = MODEL_CLASS_NAME


def register() -> None:
    """Register ``model_type = "wavguard"`` with ``AutoConfig`` and ``AutoModelForAudioClassification``
    (idempotent)."""
    AutoConfig.register(MODEL_TYPE, WavguardConfig, exist_ok=True)
    AutoModelForAudioClassification.register(WavguardConfig, _LazyModelClass, exist_ok=True)
