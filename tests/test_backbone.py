import json

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

from wavguard.errors import ConfigError, ModelLoadError
from wavguard.models.backbone import load_backbone
from wavguard.testing import TINY_MODEL_TYPES, chirp, tiny_backbone_dir


@pytest.fixture(scope="module")
def backbone_dirs(tmp_path_factory):
    return {t: tiny_backbone_dir(t, tmp_path_factory.mktemp(t)) for t in TINY_MODEL_TYPES}


@pytest.mark.parametrize("model_type", TINY_MODEL_TYPES)
def test_hidden_state_stack_shape_and_frames(backbone_dirs, model_type):
    bb = load_backbone(str(backbone_dirs[model_type])).eval()
    assert bb.model_type == model_type and bb.num_layers == 2 and bb.num_hidden_states == 3
    wave = torch.from_numpy(chirp(1.0)).repeat(2, 1)
    with torch.no_grad():
        states = bb(wave)
    assert states.shape == (3, 2, bb.num_frames(16000), 32)
    expected_frames = 50 if model_type == "whisper" else 200  # 20 ms vs 5 ms (tiny strides 5*4*4)
    assert bb.num_frames(16000) == expected_frames


@pytest.mark.parametrize("model_type", TINY_MODEL_TYPES)
def test_pretrained_weights_are_loaded_not_reinitialised(backbone_dirs, model_type):
    a = load_backbone(str(backbone_dirs[model_type]))
    b = load_backbone(str(backbone_dirs[model_type]))
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), name
    torch.manual_seed(123)
    random = load_backbone(str(backbone_dirs[model_type]), pretrained=False)
    differs = [not torch.equal(pa, pr) for (_, pa), (_, pr) in zip(a.named_parameters(), random.named_parameters())]
    assert any(differs)


def test_whisper_log_mel_matches_feature_extractor(backbone_dirs):
    bb = load_backbone(str(backbone_dirs["whisper"]))
    wave = chirp(1.2) + 0.01 * np.random.default_rng(0).standard_normal(19200).astype(np.float32)
    ours = bb.log_mel(torch.from_numpy(wave)[None])
    ref = WhisperFeatureExtractor(feature_size=80)(wave, sampling_rate=16000, padding=False, return_tensors="np")
    reference = ref["input_features"]
    assert ours.shape == (1, 80, 120) and reference.shape[-1] == 120
    np.testing.assert_allclose(ours.numpy(), reference, atol=1e-4)


def test_truncation_and_freeze_modes(backbone_dirs):
    bb = load_backbone(str(backbone_dirs["wav2vec2"]), num_layers=1)
    assert bb.num_layers == 1 and bb.num_hidden_states == 2
    with torch.no_grad():
        assert bb(torch.from_numpy(chirp(0.5))[None]).shape[0] == 2
    full = load_backbone(str(backbone_dirs["wav2vec2"]))
    with torch.no_grad():
        x = torch.from_numpy(chirp(0.5))[None]
        torch.testing.assert_close(full.eval()(x)[:2], bb.eval()(x))  # the first layers are unchanged
    bb.set_freeze("all")
    assert not any(p.requires_grad for p in bb.parameters())
    bb.set_freeze("feature_encoder")
    assert not any(p.requires_grad for p in bb.feature_encoder_parameters())
    assert any(p.requires_grad for p in bb.model.encoder.parameters())
    bb.set_freeze("none")
    assert all(p.requires_grad for p in bb.parameters())
    with pytest.raises(ConfigError, match="only 2 layers"):
        load_backbone(str(backbone_dirs["wav2vec2"]), num_layers=3)


def test_normalisation_follows_preprocessor_config(backbone_dirs, tmp_path):
    assert load_backbone(str(backbone_dirs["wav2vec2"])).normalize is False  # group norm default
    d = tiny_backbone_dir("wav2vec2", tmp_path / "norm")
    (d / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True, "sampling_rate": 16000}))
    bb = load_backbone(str(d)).eval()
    assert bb.normalize is True
    x = torch.from_numpy(chirp(0.5))[None]
    with torch.no_grad():
        torch.testing.assert_close(bb(x), bb(3.0 * x + 0.1), atol=1e-4, rtol=1e-4)  # scale/offset invariant


def test_unsupported_and_missing_backbones(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="model_type 'bert' is not supported"):
        load_backbone(str(tmp_path))
    with pytest.raises(ModelLoadError, match="not a local directory"):
        load_backbone("no-such-user/no-such-model-xyz")
