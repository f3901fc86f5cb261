"""What the service tells clients about its model: names, never this machine's folders.

``wavguard serve /srv/models/my-detector`` serves ``model.id`` ``"my-detector"``, and ``/v1/model``
gives the config with every local path replaced by its base name, as the Hub card names them
(:mod:`wavguard.hub.portable`): the backbone folder (``/tmp/wav2vec2-small`` -> ``wav2vec2-small``,
the name ``model.backbone`` gives too), ``extra["training"]["train_data"]``, metric names such as
``test_eer[/data/test.csv]``. Hub ids and plain names stay as they are. The prediction log, which
stays on the server, keeps the id as given.
"""

from __future__ import annotations

from typing import Any

from ..config import DetectorConfig
from ..hub import portable_name, scrub_local_paths

__all__ = ["public_model_id", "public_config"]


def public_model_id(model_id: str | None) -> str | None:
    """The served id as clients see it: a local path's base name; a Hub id or plain name as it is."""
    return None if model_id is None else portable_name(model_id)


def public_config(config: DetectorConfig) -> dict[str, Any]:
    """``config.to_dict()`` with each local path replaced by its base name."""
    return scrub_local_paths(config.to_dict())
