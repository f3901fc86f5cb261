"""Detector directories written by wavguard 0.1.0 load and score as they did then.

The directories under ``tests/fixtures/release_0_1_0/`` were written by that release
(``make.py`` there); ``expected_scores.json`` holds, per detector and input, the file's score
followed by its window scores, as 0.1.0 computed them.
"""

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from wavguard import Detector
from wavguard.testing import chirp, sine

FIXTURES = Path(__file__).parent / "fixtures" / "release_0_1_0"
EXPECTED = json.loads((FIXTURES / "expected_scores.json").read_text())


def inputs():
    rng = np.random.default_rng(7)
    return {
        "chirp_2.5s": chirp(2.5) + 0.01 * rng.standard_normal(40000).astype(np.float32),
        "sine_1.3s": sine(1.3, frequency_hz=330.0),
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_release_0_1_0_directory_scores_as_before(name):
    det = Detector.from_pretrained(FIXTURES / name)
    for key, samples in inputs().items():
        pred = det.predict(samples, sample_rate=16000)
        got = [pred.score] + [s.score for s in pred.segments]
        # same float32 network, same windows: differences are summation-order noise only
        np.testing.assert_allclose(got, EXPECTED[name][key], rtol=0, atol=1e-5, err_msg=f"{name}/{key}")


def test_the_lora_fixture_really_has_adapters():
    det = Detector.from_pretrained(FIXTURES / "wav2vec2_lora")
    assert any("lora_" in n for n, _ in det.model.named_parameters())
