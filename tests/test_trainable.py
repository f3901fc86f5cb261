"""DetectorModel.set_trainable: the one owner of which weights train."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from wavguard.config import FREEZE_MODES
from wavguard.errors import ConfigError
from wavguard.models.lora import apply_lora, lora_config, merge_lora
from wavguard.testing import tiny_detector


def trainable(model, prefix):
    return {n for n, p in model.named_parameters() if p.requires_grad and n.startswith(prefix)}


def test_modes_decide_which_backbone_weights_train():
    model = tiny_detector("wav2vec2").model
    backbone = {n for n, _ in model.named_parameters() if n.startswith("backbone.")}
    head = {n for n, _ in model.named_parameters() if not n.startswith("backbone.")}
    model.set_trainable("all")
    assert trainable(model, "backbone.") == set() and trainable(model, "") == head
    model.set_trainable("none")
    assert trainable(model, "backbone.") == backbone
    model.set_trainable("feature_encoder")
    frozen = backbone - trainable(model, "backbone.")
    assert frozen and all("feature_extractor" in n for n in frozen)
    assert model.freeze == "feature_encoder"


def test_lora_mode_trains_only_adapters_and_needs_them():
    assert "lora" in FREEZE_MODES
    model = tiny_detector("wav2vec2").model
    with pytest.raises(ConfigError, match="LoRA adapters"):
        model.set_trainable("lora")
    apply_lora(model, lora_config(rank=2))
    assert model.freeze == "lora"
    backbone = trainable(model, "backbone.")
    assert backbone and all("lora_" in n for n in backbone)
    merge_lora(model)
    assert model.freeze == "all" and trainable(model, "backbone.") == set()


def test_unknown_mode_is_refused():
    with pytest.raises(ConfigError, match="freeze must be one of"):
        tiny_detector("wav2vec2").model.set_trainable("half")
