"""Every file wavguard writes into a detector directory gets the umask's permissions (issue 17,
item 5): a bundled ``backbone/model.safetensors`` used to be 0600 (safetensors writes through a
private temporary file), so another user could not load the detector."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wavguard import Detector
from wavguard.detector import build_baseline_detector
from wavguard.models.lora import apply_lora, lora_config
from wavguard.testing import tiny_detector


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return out


def _assert_umask_modes(root: Path) -> None:
    modes = _modes(root)
    wrong = {name: oct(mode) for name, mode in modes.items() if mode != (0o755 if (root / name).is_dir() else 0o644)}
    assert not wrong, f"not 0644 files / 0755 folders under {root}: {wrong}"


def test_bundled_backbone_and_lora_adapter_follow_the_umask(tmp_path, umask_022):
    det = tiny_detector("wav2vec2", window_seconds=1.0)
    bundled = det.save_pretrained(tmp_path / "bundled", bundle_backbone=True)
    assert (bundled / "backbone" / "model.safetensors").is_file()
    _assert_umask_modes(bundled)
    apply_lora(det.model, lora_config(2, 4, 0.0, ("q_proj",)))
    adapted = det.save_pretrained(tmp_path / "lora")
    assert (adapted / "adapter" / "adapter_model.safetensors").is_file()
    _assert_umask_modes(adapted)
    # saved again over itself (atomic replacements), still the umask's modes
    det.save_pretrained(adapted)
    _assert_umask_modes(adapted)
    assert Detector.from_pretrained(bundled).config.backbone_type == "wav2vec2"


def test_spectrogram_detector_and_config_rewrites_follow_the_umask(tmp_path, umask_022):
    det = build_baseline_detector(window_seconds=1.0)
    directory = det.save_pretrained(tmp_path / "cnn")
    det.config.replace(threshold=0.7).save(directory)
    _assert_umask_modes(directory)


def test_a_stricter_umask_is_honoured_too(tmp_path):
    old = os.umask(0o077)
    try:
        directory = tiny_detector("wav2vec2", window_seconds=1.0).save_pretrained(
            tmp_path / "private", bundle_backbone=True
        )
    finally:
        os.umask(old)
    modes = _modes(directory)
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes
    assert modes["backbone/model.safetensors"] == 0o600 and modes["backbone"] == 0o700
