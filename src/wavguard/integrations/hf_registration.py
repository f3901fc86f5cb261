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

transformers finds a model type only in its registry, so ``import wavguard`` has to arrange this.
It does so without importing transformers: where transformers' Auto modules are already imported
the registration happens at once; otherwise a meta-path hook runs it right after
``transformers.models.auto.configuration_auto`` (``AutoConfig``) and ``...modeling_auto``
(``AutoModelForAudioClassification``, which the pipeline uses) finish importing, before any
caller can use them. The model class is registered as a stand-in whose ``from_pretrained``
imports :mod:`wavguard.integrations.hf_model` (transformers' ``PreTrainedModel``) when a model is loaded.

Why a hook rather than a plain ``AutoConfig.register(...)`` at import: nothing else imports
transformers at ``import wavguard`` (the models import it when a backbone is built), and the Auto
modules plus ``PretrainedConfig`` are about 330 more modules. Measured with ``python -X importtime``
on a shared, loaded 2-core machine: ``import wavguard`` 3.8-5.3 s, plain registration 1.9-2.7 s
more, far above what a caller that never touches transformers (``wavguard --help``, the service,
the head, the audio code) should pay.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..layout import MODEL_TYPE

__all__ = ["register", "MODEL_CLASS_NAME", "CONFIG_MODULE", "MODEL_MODULE"]

MODEL_CLASS_NAME = "WavguardForAudioClassification"
CONFIG_MODULE = "transformers.models.auto.configuration_auto"
MODEL_MODULE = "transformers.models.auto.modeling_auto"


class _LazyModelClass:
    """What transformers' Auto mapping holds for ``WavguardConfig`` until a model is loaded."""

    config_class: Any = None  # WavguardConfig, set when registered
    main_input_name = "input_values"

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, **kwargs: Any):
        from .hf_model import WavguardForAudioClassification  # the PreTrainedModel import, when first needed

        return WavguardForAudioClassification.from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @classmethod
    def _from_config(cls, config: Any, **kwargs: Any):
        from .hf_model import WavguardForAudioClassification

        return WavguardForAudioClassification(config, **kwargs)  # raises: a detector needs its weights


_LazyModelClass.__name__ = _LazyModelClass.__qualname__ = MODEL_CLASS_NAME


def _wavguard_config():
    from .hf_config import WavguardConfig  # imports transformers' PretrainedConfig: only once transformers is in use

    return WavguardConfig


def _register_config(module: Any) -> None:
    module.AutoConfig.register(MODEL_TYPE, _wavguard_config(), exist_ok=True)


def _register_model(module: Any) -> None:
    config_class = _wavguard_config()
    _LazyModelClass.config_class = config_class
    module.AutoModelForAudioClassification.register(config_class, _LazyModelClass, exist_ok=True)


class _RunAfterLoading(importlib.abc.Loader):
    """A module's own loader, then ``callback(module)``."""

    def __init__(self, loader: importlib.abc.Loader, callback: Callable[[Any], None]):
        self._loader = loader
        self._callback = callback

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        self._callback(module)

    def __getattr__(self, name: str) -> Any:  # resource readers, get_source, ... of the real loader
        return getattr(self._loader, name)


class _AfterImportHook(importlib.abc.MetaPathFinder):
    """Finds the named modules with the other finders and runs a callback once each is imported."""

    def __init__(self) -> None:
        self.callbacks: dict[str, Callable[[Any], None]] = {}
        self._lock = threading.Lock()

    def find_spec(self, fullname: str, path: Any, target: Any = None):
        if fullname not in self.callbacks:
            return None
        with self._lock:
            callback = self.callbacks.pop(fullname, None)
            if callback is None:
                return None
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                self.callbacks[fullname] = callback  # not ours to wrap; try again on the next import
                return spec
            spec.loader = _RunAfterLoading(spec.loader, callback)
            return spec


_HOOK = _AfterImportHook()


def register() -> None:
    """Register ``model_type = "wavguard"`` with ``AutoConfig`` and ``AutoModelForAudioClassification``,
    now if transformers' Auto modules are imported, else as soon as they are (idempotent)."""
    for name, callback in ((CONFIG_MODULE, _register_config), (MODEL_MODULE, _register_model)):
        module = sys.modules.get(name)
        if module is not None:
            _HOOK.callbacks.pop(name, None)
            callback(module)
        else:
            _HOOK.callbacks[name] = callback
    if _HOOK.callbacks and _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
