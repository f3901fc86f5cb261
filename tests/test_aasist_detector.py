"""AASIST as a detector: alone (kind "aasist") and fused with a transformer backbone in one network;
its config, masking of padded batches, saved folders (weights named or stored) and ensembles."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from _aasist_marks import needs_weights
from evaluation_data import make_dataset, write_clips

from wavguard import Detector, loading
from wavguard.config import DEFAULT_AASIST_WEIGHTS, DetectorConfig
from wavguard.detector import build_aasist_detector
from wavguard.errors import ConfigError, ModelLoadError
from wavguard.evaluation.ensemble import Ensemble
from wavguard.models import aasist_weights
from wavguard.models.aasist import BONA_FIDE_INDEX, SPOOF_INDEX, Aasist
from wavguard.models.aasist_branch import AasistBranch
from wavguard.testing import chirp, sine, tiny_detector

RATE = 16000


def _windows():
    rng = np.random.default_rng(0)
    return [chirp(0.6), sine(0.5, frequency_hz=300.0), (0.1 * rng.standard_normal(4000)).astype(np.float32)]


def _clips():
    rng = np.random.default_rng(1)
    return [chirp(1.3) + 0.02 * rng.standard_normal(20800).astype(np.float32), sine(0.9, frequency_hz=180.0)]


def _assert_same_scores(a: Detector, b: Detector, atol: float = 1e-5) -> None:
    np.testing.assert_allclose(b.backend.logits(_windows()), a.backend.logits(_windows()), atol=atol)
    for clip in _clips():
        ref, got = a.predict(clip, sample_rate=RATE), b.predict(clip, sample_rate=RATE)
        assert got.score == pytest.approx(ref.score, abs=atol)


def _no_wheel(monkeypatch):
    def missing():
        raise ModelLoadError("not installed (test)")

    monkeypatch.setattr(aasist_weights, "find_aasist_weights", missing)


# -- config ------------------------------------------------------------------------------------
def test_config_fills_aasist_defaults_and_leaves_the_key_out_when_unset():
    assert DEFAULT_AASIST_WEIGHTS == aasist_weights.AASIST_OFFLINE_NAME
    alone = DetectorConfig(kind="aasist")
    assert alone.aasist == {"weights": "offline:aasist", "train": "frozen", "head": "published"}
    fused = DetectorConfig(aasist={"train": "full"})
    assert fused.aasist == {"weights": "offline:aasist", "train": "full"}
    assert DetectorConfig.from_dict(json.loads(json.dumps(fused.to_dict()))) == fused
    assert "aasist" not in DetectorConfig().to_dict()  # config.json of every other detector is unchanged


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "aasist", "aasist": {"train": "lora"}}, "aasist.train"),
        ({"kind": "aasist", "aasist": {"head": "mlp"}}, "aasist.head"),
        ({"kind": "aasist", "aasist": {"weights": 3}}, "aasist.weights"),
        ({"aasist": {"head": "linear"}}, "CNN head's linear layer"),
        ({"aasist": {"layers": 2}}, "unknown keys"),
        ({"kind": "spectrogram", "aasist": {}}, "not with the spectrogram"),
        ({"aasist": "offline:aasist"}, "mapping"),
    ],
)
def test_config_refuses_bad_aasist_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DetectorConfig(**kwargs)


# -- networks ----------------------------------------------------------------------------------
def test_a_padded_batch_gives_each_rows_own_embedding():
    torch.manual_seed(0)
    branch = AasistBranch(Aasist()).eval()
    rows = [torch.randn(n) * 0.1 for n in (4000, 2315, 4000, 3000)]
    batch = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
    together = branch(batch, torch.tensor([r.numel() for r in rows]))
    for i, row in enumerate(rows):
        torch.testing.assert_close(together[i], branch(row[None])[0], atol=1e-5, rtol=1e-5)


def test_encoder_maps_and_embed_maps_split_the_forward_pass():
    """Per-row encoder maps, zero-padded along time and embedded by groups of equal length, give
    each row's own embedding (what a training step on cached maps computes)."""
    torch.manual_seed(0)
    branch = AasistBranch(Aasist()).eval()
    rows = [torch.randn(n) * 0.1 for n in (8000, 2315, 8000, 5000)]
    lengths = torch.tensor([r.numel() for r in rows])
    maps = branch.encoder_maps(torch.nn.utils.rnn.pad_sequence(rows, batch_first=True), lengths)
    frames = torch.tensor([m.shape[-1] for m in maps])
    assert [tuple(m.shape) for m in maps] == [(64, 23, 3), (64, 23, 1), (64, 23, 3), (64, 23, 2)]
    padded = torch.zeros(4, 64, 23, 3)
    for i, m in enumerate(maps):
        padded[i, ..., : m.shape[-1]] = m
    together = branch.embed_maps(padded, frames)
    for i, row in enumerate(rows):
        torch.testing.assert_close(together[i], branch(row[None])[0], atol=1e-5, rtol=1e-5)


def test_graph_mode_trains_the_graph_part_and_keeps_the_encoder_frozen():
    branch = AasistBranch(Aasist(), "frozen", is_reference=True)
    branch.set_trainable("graph")
    trainable = {name for name, p in branch.network.named_parameters() if p.requires_grad}
    names = {name for name, _ in branch.network.named_parameters()}
    assert trainable == {n for n in names if not n.startswith(("encoder.", "first_bn."))}
    assert {"pos_S", "master1", "GAT_layer_T.att_weight", "HtrgGAT_layer_ST22.att_weightM"} <= trainable
    assert not branch.is_reference and not branch.frozen and branch.encoder_frozen
    branch.train()
    assert branch.network.GAT_layer_S.training and branch.network.pool_hS2.training
    assert not branch.network.encoder.training and not branch.network.first_bn.training  # fixed statistics
    waveform = torch.randn(2, 4000) * 0.1
    branch(waveform).sum().backward()
    assert branch.network.GAT_layer_S.att_proj.weight.grad is not None
    assert all(p.grad is None for p in branch.network.encoder.parameters())
    branch.set_trainable("full")
    assert not branch.encoder_frozen


def test_fused_network_masks_padding_and_needs_the_longer_minimum():
    det = tiny_detector("whisper", window_seconds=0.5, aasist={"weights": None})
    model = det.model
    assert model.min_samples == model.aasist.min_samples == 2315 > model.backbone.min_samples
    rows = [torch.randn(n) * 0.1 for n in (8000, 3000, 8000)]
    batch = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
    with torch.no_grad():
        together = model(batch, torch.tensor([r.numel() for r in rows]))
        for i, row in enumerate(rows):
            torch.testing.assert_close(together[i], model(row[None])[0], atol=1e-5, rtol=1e-5)
    assert model.head.classifier.in_features == 2 * 16 + 160  # CNN pooled embedding + AASIST's


def test_set_trainable_owns_both_branches():
    det = tiny_detector("whisper", window_seconds=0.5, aasist={"weights": None})
    model = det.model
    assert not any(p.requires_grad for p in model.aasist.parameters())
    model.train()
    assert not model.aasist.network.training  # frozen: fixed batch norm, no dropout
    model.set_trainable("all", aasist="full")
    assert all(p.requires_grad for p in model.aasist.parameters()) and not model.aasist.is_reference
    model.train()
    assert model.aasist.network.training
    with pytest.raises(ConfigError):
        tiny_detector("whisper", window_seconds=0.5).model.set_trainable("all", aasist="full")


@needs_weights
def test_published_head_is_aasists_output_layer_in_wavguards_column_order():
    det = build_aasist_detector()
    network = det.model.aasist.network
    wave = torch.from_numpy(chirp(1.0))[None]
    with torch.no_grad():
        _, original = network(wave)
        ours = det.model(wave)
    torch.testing.assert_close(ours[:, 0], original[:, BONA_FIDE_INDEX])  # REAL = bona fide
    torch.testing.assert_close(ours[:, 1], original[:, SPOOF_INDEX])  # FAKE = spoof
    assert det.config.window_samples == 64_600 and det.config.normalize is False


# -- saved folders -----------------------------------------------------------------------------
@needs_weights
@pytest.mark.parametrize("head", ["published", "linear"])
def test_frozen_aasist_names_the_official_weights_and_round_trips(tmp_path, head):
    from safetensors.torch import load_file

    det = build_aasist_detector(head=head, window_seconds=0.5)
    det.save_pretrained(tmp_path)
    assert sorted(load_file(str(tmp_path / "model.safetensors"))) == ["head.bias", "head.weight"]
    assert json.loads((tmp_path / "config.json").read_text())["aasist"] == {
        "weights": "offline:aasist",
        "train": "frozen",
        "head": head,
    }
    assert loading.inspect(tmp_path).kind == "aasist"
    again = Detector.from_pretrained(tmp_path)
    assert again.backend_name == "torch" and again.config == det.config
    _assert_same_scores(det, again)


@needs_weights
def test_fine_tuned_aasist_is_stored_and_loads_without_the_wheel(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    det = build_aasist_detector(train="full", window_seconds=0.5)
    with torch.no_grad():
        det.model.aasist.network.GAT_layer_S.att_proj.bias.add_(0.05)  # as a fine-tuning step would
    det.save_pretrained(tmp_path)
    assert any(k.startswith("aasist.network.") for k in load_file(str(tmp_path / "model.safetensors")))
    _no_wheel(monkeypatch)
    again = Detector.from_pretrained(tmp_path)
    assert not again.model.aasist.is_reference
    _assert_same_scores(det, again)


def test_random_aasist_is_stored_and_round_trips(tmp_path):
    det = build_aasist_detector(weights=None, head="linear", window_seconds=0.5)
    det.save_pretrained(tmp_path)
    _assert_same_scores(det, Detector.from_pretrained(tmp_path))


@needs_weights
@pytest.mark.parametrize("train", ["frozen", "full"])
def test_fused_detector_round_trips(tmp_path, train):
    from safetensors.torch import load_file

    det = tiny_detector("whisper", window_seconds=0.5, aasist={"train": train})
    det.save_pretrained(tmp_path)
    stored = [k for k in load_file(str(tmp_path / "model.safetensors")) if k.startswith("aasist.")]
    assert bool(stored) == (train == "full")  # frozen official weights are named, not copied
    assert loading.inspect(tmp_path).kind == "transformer"
    again = Detector.from_pretrained(tmp_path)
    assert again.config.aasist == {"weights": "offline:aasist", "train": train}
    _assert_same_scores(det, again)


def test_a_detector_without_aasist_writes_the_same_config_as_before(tmp_path):
    det = tiny_detector("wav2vec2", window_seconds=0.5)
    det.save_pretrained(tmp_path)
    assert "aasist" not in json.loads((tmp_path / "config.json").read_text())


@needs_weights
def test_a_folder_naming_the_weights_says_how_to_install_them(tmp_path, monkeypatch):
    build_aasist_detector(window_seconds=0.5).save_pretrained(tmp_path)
    _no_wheel(monkeypatch)
    with pytest.raises(ModelLoadError, match="not installed"):
        Detector.from_pretrained(tmp_path)


# -- score-level fusion ------------------------------------------------------------------------
@needs_weights
def test_aasist_detector_is_an_ensemble_member(tmp_path):
    clips = write_clips(tmp_path / "clips")
    whisper = tiny_detector("whisper", window_seconds=0.5)
    whisper.save_pretrained(tmp_path / "whisper")
    aasist = build_aasist_detector(window_seconds=0.5)
    aasist.save_pretrained(tmp_path / "aasist")
    members = [Detector.from_pretrained(tmp_path / name) for name in ("whisper", "aasist")]
    ensemble = Ensemble.fit(members, make_dataset(clips), sources=[str(tmp_path / "whisper"), str(tmp_path / "aasist")])
    assert ensemble.weights.shape == (2,) and np.all(np.isfinite(ensemble.weights))
    ensemble.save_pretrained(tmp_path / "fused")
    again = Ensemble.from_pretrained(tmp_path / "fused")
    for clip in _clips():
        assert again.predict(clip, sample_rate=RATE).score == pytest.approx(
            ensemble.predict(clip, sample_rate=RATE).score, abs=1e-5
        )


def test_model_cards_name_the_aasist_network():
    from wavguard.hub.publish import render_model_card

    alone = render_model_card(DetectorConfig(kind="aasist"), "me/aasist")
    assert "AASIST (raw waveform; `offline:aasist` weights, frozen) with its published output layer" in alone
    fused = render_model_card(
        DetectorConfig(backbone="openai/whisper-base", backbone_type="whisper", aasist={"train": "full"}), "me/fused"
    )
    assert "fused with AASIST (raw waveform; `offline:aasist` weights, fine-tuned)" in fused
    graph = render_model_card(DetectorConfig(kind="aasist", aasist={"train": "graph"}), "me/graph")
    assert "`offline:aasist` weights, graph part fine-tuned, encoder frozen)" in graph
    assert "AASIST" not in render_model_card(DetectorConfig(backbone="openai/whisper-base"), "me/plain")


def test_a_portable_save_keeps_only_the_base_name_of_a_local_weight_file(tmp_path):
    path = tmp_path / "tuned" / "aasist.pth"
    path.parent.mkdir()
    torch.save(Aasist().state_dict(), path)
    det = build_aasist_detector(weights=str(path), window_seconds=0.5)
    det.save_pretrained(tmp_path / "out", portable=True)
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["aasist"]["weights"] == "aasist.pth" and str(tmp_path) not in json.dumps(saved)
    _assert_same_scores(det, Detector.from_pretrained(tmp_path / "out"))  # local weights are stored, not named
