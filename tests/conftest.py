"""Shared fixtures: offline, tiny random detectors, synthetic audio files."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
# A built-in detector scores in PyTorch here unless a test turns its int8 graph on (tests/test_fast_path.py):
# otherwise the first test to load it would build the graph and change what every later test loads.
os.environ.setdefault("WAVGUARD_FAST_PATH", "0")

import numpy as np
import pytest
import soundfile as sf

from wavguard.testing import chirp, sine, tiny_detector


@pytest.fixture(scope="session")
def w2v_detector():
    return tiny_detector("wav2vec2", window_seconds=1.0)


@pytest.fixture(scope="session")
def audio_files(tmp_path_factory):
    """A wav, an mp3, a stereo 44.1 kHz flac and an ogg of synthetic speech-like audio."""
    root = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    mono = chirp(2.5) + 0.01 * rng.standard_normal(40000).astype(np.float32)
    files = {}
    files["wav"] = root / "clip.wav"
    sf.write(files["wav"], mono, 16000, subtype="PCM_16")
    files["mp3"] = root / "clip.mp3"
    sf.write(files["mp3"], mono, 16000, format="MP3")
    stereo = np.stack([chirp(3.0, 44100), sine(3.0, 44100, 330.0)], axis=1)
    files["flac"] = root / "stereo44k.flac"
    sf.write(files["flac"], stereo, 44100, subtype="PCM_24")
    files["ogg"] = root / "clip.ogg"
    sf.write(files["ogg"], mono, 16000, format="OGG", subtype="VORBIS")
    return files


@pytest.fixture(scope="session")
def checkpointed_run(tmp_path_factory):
    """One finished 2-epoch spectrogram-CNN run with three checkpoints (``_train_fixtures.checkpointed_run``),
    shared by the checkpoint tests: a test that changes it works on a copy (``copy_run``)."""
    pytest.importorskip("accelerate")
    from _train_fixtures import checkpointed_run

    return checkpointed_run(tmp_path_factory.mktemp("checkpointed"))
