"""``WavguardConfig``: a wavguard ``config.json`` as transformers reads it (``model_type = "wavguard"``).

transformers' ``AutoConfig.from_pretrained(DIR)`` gives this class for a saved detector once
``import wavguard`` has registered it (:mod:`wavguard.integrations.hf_registration`). It carries every
:class:`~wavguard.config.DetectorConfig` field as an attribute, plus ``id2label`` = {0: real, 1: fake}
so transformers' pipelines name the classes. The detector itself is still loaded by wavguard
(:class:`~wavguard.integrations.hf_model.WavguardForAudioClassification`): no code from the checkpoint runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from transformers import PretrainedConfig

from ..config import LABELS, DetectorConfig
from ..layout import MODEL_TYPE

__all__ = ["WavguardConfig"]

_DETECTOR_FIELDS = tuple(f.name for f in dataclasses.fields(DetectorConfig))


class WavguardConfig(PretrainedConfig):
    """transformers' view of a detector's ``config.json``.

    Args:
        labels: output index -> label (``("real", "fake")``; index 1 is FAKE).
        kwargs: the :class:`~wavguard.config.DetectorConfig` fields and transformers' own keys.

    Example:
        >>> import wavguard                                     # registers model_type "wavguard"
        >>> from transformers import AutoConfig
        >>> AutoConfig.from_pretrained("my-detector/").threshold  # doctest: +SKIP
        0.5
    """

    model_type = MODEL_TYPE

    def __init__(self, labels: tuple[str, ...] | list[str] = LABELS, **kwargs: Any):
        labels = tuple(labels)
        kwargs["id2label"] = dict(enumerate(labels))
        kwargs["label2id"] = {name: index for index, name in enumerate(labels)}
        super().__init__(**kwargs)
        self.labels = list(labels)

    @classmethod
    def from_detector_config(cls, config: DetectorConfig) -> WavguardConfig:
        """The transformers config of a :class:`~wavguard.config.DetectorConfig`."""
        return cls(**config.to_dict())

    def to_detector_config(self) -> DetectorConfig:
        """The :class:`~wavguard.config.DetectorConfig` these attributes describe."""
        data = {name: getattr(self, name) for name in _DETECTOR_FIELDS if hasattr(self, name)}
        return DetectorConfig.from_dict(data)
