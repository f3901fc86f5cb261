"""The Hugging Face Hub: model cards, uploads, and names that travel between machines.

* :mod:`.publish`: the model card (``README.md``) and :func:`~.publish.push_to_hub`.
* :mod:`.portable`: which names in a config are local paths, Hub ids or offline names, and a
  config with no local paths in it.
"""

from .publish import build_model_card, push_to_hub, render_model_card, stage_for_hub

__all__ = ["build_model_card", "push_to_hub", "render_model_card", "stage_for_hub"]
