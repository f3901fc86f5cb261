"""ONNX export of AASIST detectors, alone and fused: the graph scores as PyTorch does, at any length."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from wavguard import Detector  # noqa: E402
from wavguard.detector import build_aasist_detector  # noqa: E402
from wavguard.export.onnx import export_onnx  # noqa: E402
from wavguard.testing import chirp, sine, tiny_detector  # noqa: E402

RATE = 16000


def _clips():
    rng = np.random.default_rng(0)
    # 1.3 s: two full 0.5 s windows and a 0.3 s last one; 0.2 s: one short window (AASIST takes >= 0.145 s)
    return [chirp(1.3) + 0.02 * rng.standard_normal(20800).astype(np.float32), sine(0.2, frequency_hz=250.0)]


def _windows():
    rng = np.random.default_rng(1)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (2315, 5000, 8000, 9001)]


@pytest.fixture(scope="module", params=["alone", "fused"])
def exported(request, tmp_path_factory):
    # random AASIST weights: the graph, not the weights, is under test (no wheel needed)
    if request.param == "alone":
        det = build_aasist_detector(weights=None, head="linear", window_seconds=0.5)
    else:
        det = tiny_detector("whisper", window_seconds=0.5, aasist={"weights": None})
    return det, export_onnx(det, tmp_path_factory.mktemp("onnx") / request.param)


def test_onnx_graph_scores_as_pytorch(exported):
    det, folder = exported
    graph = Detector.from_pretrained(folder)
    assert graph.backend_name == "onnx"
    assert json.loads((folder / "onnx.json").read_text())["min_samples"] == 2315
    # every window length alone (the graph's lengths are dynamic; AASIST's node counts follow them)
    for window in _windows():
        np.testing.assert_allclose(graph.backend.logits([window]), det.backend.logits([window]), atol=1e-4)
    for clip in _clips():
        ref, got = det.predict(clip, sample_rate=RATE), graph.predict(clip, sample_rate=RATE)
        assert got.score == pytest.approx(ref.score, abs=1e-4)
        assert [s.score for s in got.segments] == pytest.approx([s.score for s in ref.segments], abs=1e-4)


@pytest.mark.slow  # a third export of the graph (about a minute on 2 busy cores)
def test_int8_export_of_aasist_is_checked(tmp_path):
    det = build_aasist_detector(weights=None, head="linear", window_seconds=0.5)
    folder = export_onnx(det, tmp_path / "int8", quantize="int8", check_data=_clips(), force=True)
    meta = json.loads((folder / "onnx.json").read_text())
    assert meta["quantization"] == "int8" and meta["quantization_check"]["clips"] == 2
    graph = Detector.from_pretrained(folder)
    assert graph.backend_name == "onnx-int8"
    for clip in _clips():
        assert graph.predict(clip, sample_rate=RATE).score == pytest.approx(
            det.predict(clip, sample_rate=RATE).score, abs=meta["quantization_check"]["max_score_change"] + 1e-6
        )
