"""transformers' side of a wavguard detector: ``AutoConfig``, ``AutoModelForAudioClassification``
and ``pipeline("audio-classification")``.

* :mod:`.hf_registration`: registers model type ``wavguard`` with transformers' Auto classes.
* :mod:`.hf_config`: ``WavguardConfig``, transformers' view of a detector's ``config.json``.
* :mod:`.hf_model`: ``WavguardForAudioClassification``, a detector behind that interface.
"""
