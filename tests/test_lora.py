"""LoRA adapters: only adapters train, and save/load/merge keep the detector's outputs."""

from __future__ import annotations

import pytest
import torch

from wavguard.errors import ConfigError, ModelLoadError

pytest.importorskip("peft")


def _perturb(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)


def test_apply_save_load_merge_round_trip(tmp_path):
    from wavguard import Detector
    from wavguard.models.lora import apply_lora, has_adapter, lora_config, merge_lora, save_adapter
    from wavguard.testing import sine, tiny_backbone_dir

    backbone = tiny_backbone_dir("wav2vec2", tmp_path / "bb")
    det = Detector.from_backbone(str(backbone), seed=0, head_channels=(8,), window_seconds=1.0, hop_seconds=1.0)
    wave = torch.from_numpy(sine(1.0))[None]
    before = det.model(wave)
    apply_lora(det.model, lora_config(rank=2, target_modules=("q_proj", "v_proj")))
    assert has_adapter(det.model)
    trainable = [n for n, p in det.model.backbone.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert sum("q_proj" in n for n in trainable) == 4 and not any("k_proj" in n for n in trainable)  # 2 layers x (A, B)
    # LoRA B starts at zero: the adapted model computes what the base did
    torch.testing.assert_close(det.model.eval()(wave), before, rtol=0, atol=1e-6)
    _perturb(det.model)
    adapted = det.model.eval()(wave)
    assert (adapted - before).abs().max() > 1e-3

    out = tmp_path / "det"
    det.save_pretrained(out)
    save_adapter(det.model, out / "adapter")
    assert (out / "adapter" / "adapter_model.safetensors").is_file() and not (out / "backbone").exists()
    loaded = Detector.from_pretrained(out)
    assert has_adapter(loaded.model)
    torch.testing.assert_close(loaded.model(wave), adapted, rtol=0, atol=1e-6)

    merge_lora(loaded.model)
    assert not has_adapter(loaded.model)
    torch.testing.assert_close(loaded.model(wave), adapted, rtol=0, atol=1e-5)


def test_gradients_reach_adapters_in_training_mode():
    from wavguard.models.lora import apply_lora
    from wavguard.testing import sine, tiny_detector

    det = tiny_detector("wav2vec2")
    apply_lora(det.model, {"rank": 2})
    det.model.train()
    assert det.model.backbone.training  # adapters' dropout is live
    loss = det.model(torch.from_numpy(sine(1.0))[None]).sum()
    loss.backward()
    grads = [
        p.grad for n, p in det.model.named_parameters() if "lora_B" in n
    ]  # B starts at 0, so only B gets a gradient at step 1
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_errors(tmp_path):
    from wavguard.models.lora import apply_lora, load_adapter, merge_lora, save_adapter
    from wavguard.testing import tiny_detector

    det = tiny_detector("wav2vec2")
    with pytest.raises(ConfigError, match="no LoRA adapters"):
        save_adapter(det.model, tmp_path)
    with pytest.raises(ConfigError, match="no LoRA adapters"):
        merge_lora(det.model)
    with pytest.raises(ModelLoadError, match="adapter_config.json"):
        load_adapter(det.model, tmp_path)
    with pytest.raises(ConfigError, match="cannot apply LoRA"):
        apply_lora(det.model, {"target_modules": ("no_such_layer",)})
