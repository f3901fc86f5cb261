"""``WavguardForAudioClassification``: a wavguard detector as a transformers ``PreTrainedModel``.

``AutoModelForAudioClassification.from_pretrained(DIR)`` and ``pipeline("audio-classification",
model=DIR)`` load a saved detector through this class once ``import wavguard`` has registered
``model_type = "wavguard"`` (:mod:`wavguard.integrations.hf_registration`). Loading goes through
:meth:`wavguard.Detector.from_pretrained` (no remote code, nothing from the checkpoint executed),
and ``forward`` runs wavguard's own scoring pipeline over each whole waveform (windows, logits,
calibration, aggregation), so the numbers are :meth:`~wavguard.Detector.predict`'s.

Output logits are ``(0, z)`` per clip with ``z`` the calibrated log-odds that the clip is FAKE, in
float64: ``softmax(logits)[:, 1]`` (what the pipeline reports for ``fake``) equals
``Detector.predict(...).score``, and ``[:, 0]`` is ``1 - score`` for ``real``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from ..detector import Detector
from ..errors import ConfigError
from ..scoring.prediction import Prediction
from ..scoring.scorer import Scorer
from .hf_config import WavguardConfig

__all__ = ["WavguardForAudioClassification"]

#: transformers' loading options that mean nothing for a wavguard directory (wavguard loads it).
_IGNORED = (
    "config",
    "trust_remote_code",
    "adapter_kwargs",
    "_from_auto",
    "_from_pipeline",
    "force_download",
    "proxies",
    "subfolder",
    "code_revision",
    "use_safetensors",
    "low_cpu_mem_usage",
    "attn_implementation",
)


class WavguardForAudioClassification(PreTrainedModel):
    """A wavguard detector behind transformers' audio-classification interface (inference).

    Args:
        config: its :class:`~wavguard.integrations.hf_config.WavguardConfig`.
        detector: the loaded :class:`~wavguard.Detector` (or ONNX detector) it runs.

    Shapes:
        forward: ``input_values`` (B, S) mono float at ``config.sample_rate_hz`` (what the saved
        ``preprocessor_config.json`` produces), ``attention_mask`` (B, S) -> logits (B, 2) float64.
    """

    config_class = WavguardConfig
    base_model_prefix = "wavguard"
    main_input_name = "input_values"

    def __init__(self, config: WavguardConfig, detector: Scorer | None = None):
        if detector is None:
            raise ConfigError(
                "a WavguardForAudioClassification wraps a trained detector: load it with "
                "AutoModelForAudioClassification.from_pretrained(DIR) (or Detector.from_pretrained)"
            )
        super().__init__(config)
        self.detector = detector
        if isinstance(detector, Detector):
            self.network = detector.model  # registered, so .to(), .dtype and .eval() reach the weights

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, **kwargs: Any):
        """Load a saved detector (directory or Hub id) with :meth:`wavguard.Detector.from_pretrained`.

        Forwards ``revision``, ``token``, ``cache_dir``, ``local_files_only`` and ``torch_dtype``
        (or transformers 5's ``dtype``); ``device_map`` as a single device is honoured.
        """
        dtype = kwargs.pop("torch_dtype", None) or kwargs.pop("dtype", None)
        device = kwargs.pop("device_map", None) or kwargs.pop("device", None)
        options = {name: kwargs.pop(name) for name in ("token", "cache_dir", "local_files_only") if name in kwargs}
        revision = kwargs.pop("revision", None)
        for name in _IGNORED:
            kwargs.pop(name, None)
        if kwargs:
            raise TypeError(f"unexpected options for a wavguard detector: {sorted(kwargs)}")
        if isinstance(device, dict) or device == "auto":
            device = None  # one detector, one device: the caller moves it with .to()
        detector = Detector.from_pretrained(
            pretrained_model_name_or_path, revision, backend="torch", device=device, torch_dtype=dtype, **options
        )
        return cls(WavguardConfig.from_detector_config(detector.config), detector)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any):
        """Save as a wavguard directory (``Detector.save_pretrained``); ``portable`` is honoured."""
        return self.detector.save_pretrained(save_directory, portable=bool(kwargs.get("portable", False)))

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        """Score each row as one clip with wavguard's pipeline; logits (B, 2) = (0, calibrated log-odds)."""
        values = input_values.detach().float().cpu().numpy()
        lengths = (
            attention_mask.sum(dim=-1).tolist() if attention_mask is not None else [values.shape[-1]] * len(values)
        )
        clips = [np.ascontiguousarray(row[: int(n)]) for row, n in zip(values.reshape(len(values), -1), lengths)]
        det = self.detector
        outcomes = det.pipeline.predict(
            clips, det.config.sample_rate_hz, threshold=det.config.threshold, on_error="raise"
        )
        logits = torch.tensor([[0.0, _log_odds(det, p)] for p in outcomes], dtype=torch.float64)
        loss = F.cross_entropy(logits, labels.to(torch.long).cpu()) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def _log_odds(detector: Scorer, prediction: Prediction) -> float:
    """The calibrated log-odds of FAKE behind ``prediction.score``."""
    cfg = detector.config
    return cfg.calibration_scale * prediction.logit_margin + cfg.calibration_bias
