"""wavguard.loading: what a folder is, which backend scores it, and one rule for every entry point."""

import io
import json
import logging
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from wavguard import Detector, ModelLoadError, loading
from wavguard.errors import ConfigError
from wavguard.layout import FAST_PATH_DIR
from wavguard.testing import chirp, tiny_detector

RATE_HZ = 16000


def _clips():
    rng = np.random.default_rng(0)
    return [
        chirp(2.3) + 0.05 * rng.standard_normal(36800).astype(np.float32),
        0.2 * rng.standard_normal(9000).astype(np.float32),
    ]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A PyTorch folder with a checked int8 graph in onnx-int8/, a plain PyTorch folder, an export."""
    from wavguard.export.onnx import export_onnx

    root = tmp_path_factory.mktemp("loading")
    det = tiny_detector("wav2vec2", window_seconds=1.0)
    fast = det.save_pretrained(root / "fast")
    export_onnx(det, fast / FAST_PATH_DIR, quantize="int8", check_data=_clips())
    plain = det.save_pretrained(root / "plain")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        exported = export_onnx(det, root / "exported")
    wav = root / "clip.wav"
    sf.write(wav, _clips()[0], RATE_HZ)
    return {"det": det, "fast": fast, "plain": plain, "exported": exported, "wav": wav, "root": root}


def test_inspect_names_each_kind(folders, tmp_path):
    from wavguard.detector import build_baseline_detector
    from wavguard.evaluation.ensemble import Ensemble

    assert loading.inspect(folders["plain"]).kind == "transformer"
    assert loading.inspect(folders["plain"]).fast_path is None
    assert loading.inspect(folders["fast"]).fast_path == folders["fast"] / FAST_PATH_DIR
    assert loading.inspect(folders["exported"]).kind == "onnx"
    baseline = build_baseline_detector(window_seconds=1.0).save_pretrained(tmp_path / "cnn")
    assert loading.inspect(baseline).kind == "spectrogram"
    ensemble = Ensemble([folders["det"]], [1.0], sources=[str(folders["plain"])]).save_pretrained(tmp_path / "ens")
    assert loading.inspect(ensemble).kind == "ensemble"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not a wavguard detector folder"):
        loading.inspect(tmp_path / "empty")


def test_inspect_names_a_lora_folder(tmp_path):
    from wavguard.models.lora import apply_lora, lora_config

    det = tiny_detector("wav2vec2", window_seconds=1.0)
    apply_lora(det.model, lora_config(2, 4, 0.0))
    folder = det.save_pretrained(tmp_path / "lora")
    assert loading.inspect(folder).kind == "lora"
    loaded = Detector.from_pretrained(folder)
    assert loaded.backend_name == "torch"
    clip = _clips()[0]
    assert loaded.predict(clip, sample_rate=RATE_HZ).score == pytest.approx(
        det.predict(clip, sample_rate=RATE_HZ).score, abs=1e-5
    )


def test_the_backend_rule(folders):
    fast, plain, exported = (loading.inspect(folders[k]) for k in ("fast", "plain", "exported"))
    assert loading.choose_backend(plain) == "torch"
    assert loading.choose_backend(fast) == "onnx-int8"  # the checked int8 graph, on the CPU
    assert loading.choose_backend(fast, device="cpu") == "onnx-int8"
    assert loading.choose_backend(fast, "torch") == "torch"
    assert loading.choose_backend(fast, device="cuda") == "torch"  # the graph runs on the CPU only
    assert loading.choose_backend(fast, torch_dtype=torch.bfloat16) == "torch"  # a dtype asks for PyTorch
    assert loading.choose_backend(exported) == "onnx"
    with pytest.raises(ConfigError, match="no checked int8 graph"):
        loading.choose_backend(plain, "int8")
    with pytest.raises(ConfigError, match="no PyTorch weights"):
        loading.choose_backend(exported, "torch")
    with pytest.raises(ConfigError, match="backend must be one of"):
        loading.choose_backend(plain, "tensorrt")


def test_a_failed_check_is_never_the_default(folders, tmp_path):
    import shutil

    folder = tmp_path / "failed"
    shutil.copytree(folders["fast"], folder)
    meta_path = folder / FAST_PATH_DIR / "onnx.json"
    meta = json.loads(meta_path.read_text())
    meta["quantization_check"]["passed"] = False
    meta_path.write_text(json.dumps(meta))
    assert Detector.from_pretrained(folder).backend_name == "torch"


def test_from_pretrained_returns_a_detector_that_says_what_scores(folders):
    wav = folders["wav"]
    int8 = Detector.from_pretrained(folders["fast"])
    torch_det = Detector.from_pretrained(folders["fast"], backend="torch")
    assert type(int8) is Detector and type(torch_det) is Detector
    assert (int8.backend_name, torch_det.backend_name) == ("onnx-int8", "torch")
    a, b = int8.predict(wav), torch_det.predict(wav)
    assert (a.backend, b.backend) == ("onnx-int8", "torch")
    assert a.to_dict()["backend"] == "onnx-int8"
    assert a.score != b.score  # int8 moves the score a little: the two backends can be told apart
    assert a.score == pytest.approx(b.score, abs=0.05)
    with pytest.raises(ConfigError, match="has no PyTorch network"):
        int8.model  # noqa: B018
    assert Detector.from_pretrained(folders["exported"]).backend_name == "onnx"


def test_an_ensemble_folder_is_refused_by_detector_and_loaded_by_load_scorer(folders, tmp_path):
    from wavguard.evaluation.ensemble import Ensemble, load_scorer

    folder = Ensemble([folders["det"]], [1.0], sources=[str(folders["fast"])]).save_pretrained(tmp_path / "ens")
    with pytest.raises(ModelLoadError, match="is an ensemble"):
        Detector.from_pretrained(folder)
    ens = load_scorer(folder)
    assert isinstance(ens, Ensemble) and ens.backend_name == "onnx-int8"  # its member follows the same rule
    assert load_scorer(folder, backend="torch").backend_name == "torch"
    assert ens.predict(str(folders["wav"])).backend == "onnx-int8"


def test_every_entry_point_scores_one_folder_alike(folders, capsys, caplog):
    """Python, predict, evaluate, serve, stream and demo load through wavguard.loading: the same
    backend (the checked int8 graph here) and the same score."""
    from fastapi.testclient import TestClient

    from wavguard.cli import build_parser, main
    from wavguard.cli import stream as cli_stream
    from wavguard.demo import analyze
    from wavguard.evaluation.ensemble import load_scorer
    from wavguard.serve import ServiceSettings, create_app

    folder, wav = str(folders["fast"]), folders["wav"]
    python = Detector.from_pretrained(folder).predict(wav)
    assert python.backend == "onnx-int8"
    scores = {"python": python.score, "load_scorer": load_scorer(folder).predict(wav).score}

    assert main(["predict", folder, "--data", str(wav), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == "onnx-int8"
    scores["predict"] = out["score"]

    # int8's dynamic quantisation scales activations per forward pass, so a window's score moves
    # (about 1e-4) with the windows it shares a pass with: the service passes this clip's windows
    # together, as predict does (its CPU default is one window of a request per pass)
    settings = ServiceSettings(max_client_batch_windows=16)
    with TestClient(create_app(Detector.from_pretrained(folder), settings)) as client:  # starts the batcher
        assert client.get("/v1/model").json()["backend"] == "onnx-int8"
        served = client.post("/v1/predict", files={"file": ("clip.wav", wav.read_bytes(), "audio/wav")}).json()
    assert served["backend"] == "onnx-int8"
    scores["serve"] = served["score"]

    scores["demo"] = analyze(Detector.from_pretrained(folder), wav).prediction.score

    samples, _ = sf.read(wav, dtype="int16")
    args = build_parser().parse_args(["stream", folder, "--sample-rate", str(RATE_HZ), "--json"])
    stdout = io.StringIO()
    assert cli_stream.run(args, stdin=io.BytesIO(samples.astype("<i2").tobytes()), stdout=stdout) == 0
    scores["stream"] = json.loads(stdout.getvalue().strip().splitlines()[-1])["score"]

    for name, score in scores.items():  # stream reads 16-bit PCM: the one input that is not the same samples
        assert score == pytest.approx(scores["python"], abs=2e-3 if name == "stream" else 1e-6), name

    data = folders["root"] / "data"
    for label, k in (("real", 0), ("fake", 1)):
        (data / label).mkdir(parents=True, exist_ok=True)
        sf.write(data / label / "a.wav", _clips()[0] * (0.5 + k), RATE_HZ)
        sf.write(data / label / "b.wav", _clips()[1] * (0.5 + k), RATE_HZ)
    with caplog.at_level(logging.INFO, logger="wavguard.cli"):
        main(["-v", "evaluate", folder, "--data", str(data), "-o", str(folders["root"] / "report"), "--bootstrap", "0"])
    assert f"{folder}: scoring with backend onnx-int8" in caplog.text


def _edit_config(folder, **changes):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_a_backbone_of_another_type_or_rate_is_refused(tmp_path):
    det = tiny_detector("wav2vec2", window_seconds=1.0)
    for name, change, message in (
        ("type", {"backbone_type": "hubert"}, "is a 'wav2vec2' model but config.json says"),
        ("rate", {"sample_rate_hz": 8000}, "takes 16000 Hz audio but config.json says"),
    ):
        folder = det.save_pretrained(tmp_path / name, bundle_backbone=True)
        _edit_config(folder, **change)
        with pytest.raises(ModelLoadError, match=message):
            Detector.from_pretrained(folder)


def test_nan_weights_are_refused_at_load(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tiny_detector("wav2vec2", window_seconds=1.0).save_pretrained(tmp_path / "nan")
    state = load_file(str(folder / "model.safetensors"))
    name = sorted(k for k in state if k.startswith("head."))[0]
    state[name] = torch.full_like(state[name], float("nan"))
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=f"NaN or infinite values .*{name}"):
        Detector.from_pretrained(folder)


def test_a_deeply_nested_ensemble_file_is_a_load_error(tmp_path):
    (tmp_path / "ensemble.json").write_text("[" * 100_000)
    with pytest.raises(ModelLoadError, match="ensemble"):
        loading.read_ensemble(loading.inspect(tmp_path))


def test_a_referenced_backbone_must_have_the_recorded_weights(tmp_path):
    from wavguard.models.backbone import weights_sha256
    from wavguard.testing import tiny_backbone_dir

    backbone = tiny_backbone_dir("wav2vec2", tmp_path / "backbone")
    det = Detector.from_backbone(str(backbone), window_seconds=1.0)
    det.config = det.config.replace(backbone_sha256=weights_sha256(det.model.backbone.model))
    folder = det.save_pretrained(tmp_path / "det")  # the backbone is referenced, not bundled
    assert not (folder / "backbone").exists()
    clip = _clips()[0]
    assert Detector.from_pretrained(folder).predict(clip, sample_rate=RATE_HZ).score == pytest.approx(
        det.predict(clip, sample_rate=RATE_HZ).score, abs=1e-6
    )
    tiny_backbone_dir("wav2vec2", backbone, seed=1)  # other weights under the same name
    with pytest.raises(ModelLoadError, match="has other weights"):
        Detector.from_pretrained(folder)


def test_weights_sha256_is_exact_and_skips_adapters():
    from wavguard.models.backbone import weights_sha256

    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, -2.0]]))
        net.bias.fill_(0.5)
    # sha256 of "bias|torch.float32|(1,)\n" + bytes(0.5) + "weight|torch.float32|(1, 2)\n" + bytes(1, -2)
    assert weights_sha256(net) == "cdb4e3e6188d4cb7623c4e133aee1aed7a10c7e28abfb618570a329229cdbff8"
    first = weights_sha256(net)
    net.register_parameter("lora_A", torch.nn.Parameter(torch.ones(1)))
    assert weights_sha256(net) == first  # adapters are saved apart and do not change the base
    with torch.no_grad():
        net.bias.fill_(0.25)
    assert weights_sha256(net) != first


def test_a_builtin_name_resolves_inside_the_package(tmp_path, monkeypatch):
    folder = tiny_detector("wav2vec2", window_seconds=1.0).save_pretrained(tmp_path / "detectors" / "tiny")
    monkeypatch.setattr(loading, "BUILTIN_ROOT", tmp_path / "detectors")
    monkeypatch.setitem(loading.BUILTIN_DETECTORS, "wavguard-tiny", "tiny")
    assert loading.inspect("wavguard-tiny").directory == folder
    assert Detector.from_pretrained("wavguard-tiny").backend_name == "torch"
    monkeypatch.setitem(loading.BUILTIN_DETECTORS, "wavguard-gone", "gone")
    with pytest.raises(ModelLoadError, match="missing from this install"):
        loading.inspect("wavguard-gone")
