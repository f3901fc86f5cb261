"""transformers' Auto classes and pipeline load a saved detector without remote code (issue 16, item 3),
from_pretrained's Hub options and dtypes, and datasets audio cells in predict."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import huggingface_hub
import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

import wavguard
from wavguard import Detector, DetectorConfig, InvalidAudioError
from wavguard.integrations.hf_config import WavguardConfig
from wavguard.integrations.hf_model import WavguardForAudioClassification
from wavguard.testing import chirp, sine, tiny_detector

FIXTURES = Path(__file__).parent / "fixtures" / "release_0_1_0"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    det = tiny_detector("wav2vec2", window_seconds=1.0, calibration_scale=1.3, calibration_bias=-0.1, threshold=0.42)
    return det, det.save_pretrained(tmp_path_factory.mktemp("det") / "detector")


def _clips():
    rng = np.random.default_rng(5)
    return [chirp(2.3) + 0.01 * rng.standard_normal(36800).astype(np.float32), sine(1.2, frequency_hz=300.0)]


def test_auto_config_reads_a_saved_detector(saved):
    det, directory = saved
    config = AutoConfig.from_pretrained(directory)
    assert isinstance(config, WavguardConfig) and config.model_type == "wavguard"
    assert config.id2label == {0: "real", 1: "fake"} and config.threshold == 0.42
    assert config.to_detector_config() == det.config


def test_config_json_stays_readable_by_older_wavguard(saved, caplog):
    _, directory = saved
    data = json.loads((directory / "config.json").read_text())
    written_by_0_1_0 = json.loads((FIXTURES / "wav2vec2" / "config.json").read_text())
    # 0.1.0's reader keeps the fields it knows and drops the rest with a warning: one extra key
    # (checked by hand too: 0.1.0's source loads plain, portable and LoRA directories written now
    # and scores them identically)
    assert set(data) - set(written_by_0_1_0) == {"model_type"}
    with caplog.at_level(logging.WARNING):
        DetectorConfig.load(directory)
    assert "ignoring config keys" not in caplog.text  # this version knows what model_type is


def test_the_saved_preprocessor_feeds_raw_audio_at_the_detector_rate(saved):
    _, directory = saved
    fe = AutoFeatureExtractor.from_pretrained(directory)
    assert fe.sampling_rate == 16000 and fe.do_normalize is False
    x = _clips()[0]
    np.testing.assert_array_equal(fe(x, sampling_rate=16000, return_tensors="np")["input_values"][0], x)


def test_auto_model_scores_equal_detector_predict(saved):
    det, directory = saved
    model = AutoModelForAudioClassification.from_pretrained(directory)
    assert isinstance(model, WavguardForAudioClassification)
    clips = _clips()
    batch = torch.zeros(2, max(len(c) for c in clips))
    mask = torch.zeros_like(batch, dtype=torch.long)
    for i, c in enumerate(clips):
        batch[i, : len(c)] = torch.from_numpy(c)
        mask[i, : len(c)] = 1
    out = model(input_values=batch, attention_mask=mask, labels=torch.tensor([0, 1]))
    probs = out.logits.softmax(-1)[:, 1].numpy()
    expected = [p.score for p in det.predict(clips, sample_rate=16000)]
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-12)
    assert out.loss is not None and torch.isfinite(out.loss)


def test_pipeline_returns_real_and_fake_with_calibrated_scores(saved):
    det, directory = saved
    clf = pipeline("audio-classification", model=str(directory))
    for clip in _clips():
        pred = det.predict(clip, sample_rate=16000)
        for given in (clip, {"array": clip, "sampling_rate": 16000}):
            out = clf(given)
            assert {o["label"] for o in out} == {"real", "fake"}
            scores = {o["label"]: o["score"] for o in out}
            assert abs(scores["fake"] - pred.score) <= 1e-12 and abs(scores["real"] - (1 - pred.score)) <= 1e-12


def test_from_pretrained_forwards_hub_options_and_dtype(saved, monkeypatch):
    _, directory = saved
    seen = {}

    def fake_snapshot_download(repo_id, revision=None, **kwargs):
        seen.update(kwargs, repo_id=repo_id, revision=revision)
        return str(directory)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    model = WavguardForAudioClassification.from_pretrained(
        "alice/detector", revision="v2", token="hf_t", cache_dir="/c", local_files_only=True, torch_dtype=torch.bfloat16
    )
    assert (seen["repo_id"], seen["revision"], seen["token"], seen["cache_dir"], seen["local_files_only"]) == (
        "alice/detector",
        "v2",
        "hf_t",
        "/c",
        True,
    )
    assert model.dtype == torch.bfloat16 and model.detector.model.head.classifier.weight.dtype == torch.bfloat16


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, "bfloat16"])
def test_half_precision_scoring(saved, dtype):
    det, directory = saved
    half = Detector.from_pretrained(directory, torch_dtype=dtype)
    assert half.backend.dtype == (torch.bfloat16 if dtype == "bfloat16" else dtype)
    got = [p.score for p in half.predict(_clips(), sample_rate=16000)]
    want = [p.score for p in det.predict(_clips(), sample_rate=16000)]
    np.testing.assert_allclose(got, want, atol=0.05)
    model = AutoModelForAudioClassification.from_pretrained(directory, dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16


def test_import_wavguard_registers_the_model_type():
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    wavguard.integrations.hf_registration.register()  # idempotent
    assert CONFIG_MAPPING["wavguard"] is WavguardConfig


# -- datasets audio cells --------------------------------------------------------------------
def test_predict_accepts_datasets_audio_cells(saved, tmp_path):
    det, _ = saved
    clip = _clips()[0]
    path = tmp_path / "clip.flac"
    sf.write(path, clip, 16000)
    by_path = det.predict(str(path))
    assert det.predict({"path": str(path), "bytes": None}).score == by_path.score
    cell = det.predict({"path": "clip.flac", "bytes": path.read_bytes()})  # after save_to_disk: base name + bytes
    assert cell.score == by_path.score and cell.source == "clip.flac"
    low = clip[::2].copy()
    assert (
        det.predict({"array": low, "sampling_rate": 8000, "path": None}).score
        == det.predict(low, sample_rate=8000).score
    )
    assert det.predict({"raw": clip, "sampling_rate": 16000}).score == det.predict(clip, sample_rate=16000).score
    with pytest.raises(InvalidAudioError, match="'sampling_rate'"):
        det.predict({"array": clip})
    with pytest.raises(InvalidAudioError, match="got keys"):
        det.predict({"path": None, "bytes": None})
    listed = det.predict([{"path": str(path), "bytes": None}, {"array": clip, "sampling_rate": 16000}])
    plain = det.predict([str(path), clip], sample_rate=16000)  # the same inputs, batched the same way
    assert [p.score for p in listed] == [p.score for p in plain]


def test_predict_takes_a_datasets_column(saved, tmp_path):
    datasets = pytest.importorskip("datasets")
    det, _ = saved
    paths = []
    for i, clip in enumerate(_clips()):
        paths.append(str(tmp_path / f"c{i}.wav"))
        sf.write(paths[-1], clip, 16000)
    ds = datasets.Dataset.from_dict({"audio": paths}).cast_column("audio", datasets.Audio(decode=False))
    got = [p.score for p in det.predict(list(ds["audio"]))]
    assert got == [p.score for p in det.predict(paths)]


def _python(code, directory):
    src = Path(__file__).resolve().parents[1] / "src"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code, str(directory)], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split()


@pytest.mark.parametrize("first", ["wavguard", "transformers"])
def test_registration_in_either_import_order_without_importing_transformers_early(saved, first):
    _, directory = saved
    code = (
        "import sys\n"
        + (
            "import wavguard\nprint('transformers.models.auto' in sys.modules)\n"
            if first == "wavguard"
            else "from transformers import AutoConfig\nimport wavguard\nprint(False)\n"
        )
        + "from transformers import AutoConfig, AutoModelForAudioClassification\n"
        "print(type(AutoConfig.from_pretrained(sys.argv[1])).__name__)\n"
        "print(type(AutoModelForAudioClassification.from_pretrained(sys.argv[1])).__name__)\n"
    )
    assert _python(code, directory) == ["False", "WavguardConfig", "WavguardForAudioClassification"]
