"""What a saved detector may say about the machine that wrote it: nothing.

A detector pushed to the Hub (or saved with ``portable=True``) must load on a machine that never
saw the source directory, and its files must not list the author's folders. These pure functions
decide what is a Hub id and what is a local path, and replace local paths by their base names.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..config import DetectorConfig
from ..errors import ConfigError
from ..layout import BACKBONE_DIR

__all__ = ["is_hub_id", "is_local_path", "base_name", "portable_name", "scrub_local_paths", "portable_config"]

# A Hub repo id: "name" or "namespace/name", letters, digits, "-", "_", "." (huggingface_hub's rule).
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}$")
# An absolute POSIX or Windows path inside a longer string, e.g. "test_eer[/data/split/test.csv]".
# The path must start the string or follow a space or bracket, so "openai/whisper-base" is no path.
_EMBEDDED_PATH = re.compile(r"(?<![\w.~\-:/])(?:[A-Za-z]:\\|/|~/)[^\s\[\]()\"',;]+")


def is_local_path(text: str) -> bool:
    """Whether ``text`` names a file or folder on this machine rather than a Hub id.

    Absolute paths, ``~``, ``./``/``../`` prefixes, backslashes and anything that exists here are local.
    """
    text = str(text)
    if not text:
        return False
    if os.path.isabs(text) or text.startswith(("~", "./", "../", ".\\")) or "\\" in text:
        return True
    return os.path.exists(text)


def is_hub_id(text: str) -> bool:
    """Whether ``text`` is a Hugging Face Hub repo id (``"facebook/wav2vec2-base"``) and not a local path."""
    text = str(text)
    return (
        bool(text) and not is_local_path(text) and bool(_HUB_ID.match(text)) and ".." not in text and "--" not in text
    )


def base_name(path: str) -> str:
    """The last component of a POSIX or Windows path."""
    return re.split(r"[/\\]", path.rstrip("/\\"))[-1] or path


def portable_name(name: str) -> str:
    """How to name a model to others: a local path by its base name, anything else (a Hub id, a
    plain name) as it is. ``"/srv/models/my-detector/"`` -> ``"my-detector"``."""
    name = str(name)
    return base_name(name) if is_local_path(name) else name


def scrub_local_paths(value: Any) -> Any:
    """``value`` with every local path replaced by its base name (dicts, lists and keys included).

    Example:
        >>> scrub_local_paths({"train_data": "/home/me/data/train.csv", "test_eer[/tmp/x/test]": 0.1})
        {'train_data': 'train.csv', 'test_eer[test]': 0.1}
    """
    if isinstance(value, dict):
        return {scrub_local_paths(k) if isinstance(k, str) else k: scrub_local_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub_local_paths(v) for v in value)
    if isinstance(value, str):
        if is_local_path(value):
            return base_name(value)
        return _EMBEDDED_PATH.sub(lambda m: base_name(m.group(0)), value)
    return value


def portable_config(config: DetectorConfig, *, bundled: bool) -> DetectorConfig:
    """A copy of ``config`` with no local paths: safe to publish.

    Args:
        bundled: the backbone is saved in ``backbone/`` next to the config. A local backbone path is
            then replaced by ``"backbone"`` (its revision by ``None``); the folder's base name is kept
            in ``extra["backbone_name"]`` for the model card unless one is already there.

    Raises:
        ConfigError: the backbone is a local path and is not bundled (the detector would not load elsewhere).
    """
    extra = scrub_local_paths(dict(config.extra))
    backbone, revision = config.backbone, config.backbone_revision
    if config.kind == "transformer" and backbone and not is_hub_id(backbone):
        if not bundled:
            raise ConfigError(
                f"the backbone {base_name(backbone)!r} is a local folder; bundle it (portable=True or "
                "bundle_backbone=True) so the detector loads on other machines"
            )
        if backbone != BACKBONE_DIR:
            extra.setdefault("backbone_name", base_name(backbone))
        backbone, revision = BACKBONE_DIR, None
    aasist = config.aasist
    if aasist is not None and aasist.get("weights") and is_local_path(aasist["weights"]):
        aasist = {**aasist, "weights": base_name(aasist["weights"])}  # such weights are stored in the folder
    return config.replace(
        backbone=backbone,
        backbone_revision=revision,
        extra=extra,
        aasist=aasist,
        metrics=scrub_local_paths(dict(config.metrics)),
    )
