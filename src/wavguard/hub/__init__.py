"""The Hugging Face Hub: model cards, uploads, and names that travel between machines.

* :mod:`.publish`: the model card (``README.md``) and :func:`~.publish.push_to_hub`.
* :mod:`.portable`: which names in a config are local paths, Hub ids or offline names, and a
  config with no local paths in it.
"""

from .portable import base_name, is_hub_id, is_local_path, portable_name, scrub_local_paths
from .publish import (
    DEFAULT_LIMITATIONS,
    backbone_family,
    backbone_id,
    backbone_markdown,
    build_model_card,
    headline_metrics,
    push_to_hub,
    render_model_card,
    stage_for_hub,
)

__all__ = [
    "build_model_card",
    "push_to_hub",
    "render_model_card",
    "stage_for_hub",
    "backbone_family",
    "backbone_id",
    "backbone_markdown",
    "headline_metrics",
    "DEFAULT_LIMITATIONS",
    "base_name",
    "is_hub_id",
    "is_local_path",
    "portable_name",
    "scrub_local_paths",
]
