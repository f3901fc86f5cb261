"""benchmarks/profile_scoring.py: every stage in the table, fractions summing to 100 %, and the
hooks changing no score and leaving nothing behind."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from wavguard import Detector
from wavguard.testing import chirp, sine, tiny_backbone_dir


@pytest.fixture(scope="module")
def profiler():
    from benchmarks import profile_scoring

    return profile_scoring


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    root = tmp_path_factory.mktemp("profile")
    for k, seconds in enumerate([1.5, 2.7, 0.8]):
        clip = sine(seconds, 22050, 200.0 + 50 * k) if k % 2 else chirp(seconds, 22050)
        sf.write(root / f"clip{k}.wav", clip, 22050)  # resampled to 16 kHz on the way
    return root


@pytest.fixture(scope="module")
def whisper_dir():
    return tiny_backbone_dir("whisper")


def _table_rows(text: str) -> dict[str, tuple[float, float]]:
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| (.+?) \| (-?[0-9.]+) \| (-?[0-9.]+) \|$", line)
        if m:
            rows[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return rows


@pytest.mark.parametrize("with_manifest", [False, True])
def test_the_table_has_every_stage_and_sums_to_100_percent(profiler, wavs, whisper_dir, capsys, with_manifest):
    if with_manifest:
        manifest = wavs / "manifest.csv"
        manifest.write_text("path,label,split\nclip0.wav,real,test\nclip1.wav,fake,train\nclip2.wav,fake,test\n")
        data = ["--manifest", str(manifest), "--split", "test", "--limit", "5"]
    else:
        data = ["--files", str(wavs / "*.wav")]
    stages = profiler.main(
        [
            "--backbone",
            str(whisper_dir),
            "--window-seconds",
            "1.0",
            "--threads",
            "1",
            "--batch-size",
            "2",
            *data,
            "--cprofile",
            "5",
        ]
    )
    out = capsys.readouterr().out
    assert "load average (1 min):" in out and "torch threads: 1" in out
    assert f"files: {2 if with_manifest else 3};" in out
    rows = _table_rows(out)
    assert set(profiler.STAGES) <= set(rows)
    percents = [rows[name][1] for name in profiler.STAGES]
    assert sum(percents) == pytest.approx(100.0, abs=0.5)  # one decimal per row
    for name in profiler.STAGES:
        if name != "Python overhead":
            assert rows[name][0] >= 0.0, name
    for name in ("decode + resample", "feature front end", "encoder layers", "head"):
        assert stages[name] > 0.0, name
    assert re.search(r"audio seconds per second", out)
    assert "cProfile, by own time" in out


def test_the_hooks_change_no_score_and_are_removed(profiler, wavs, whisper_dir):
    det = Detector.from_backbone(str(whisper_dir), window_seconds=1.0, seed=0)
    files = sorted(str(p) for p in wavs.glob("*.wav"))
    plain = det.predict(files, batch_size=2, prefetch=False)
    stages, total, timed = profiler.profile(det, files, batch_size=2)
    np.testing.assert_allclose([p.score for p in timed], [p.score for p in plain], atol=1e-6, rtol=0)
    assert sum(stages.values()) == pytest.approx(total)
    assert "decode" not in vars(det.pipeline) and "classify" not in vars(det.model)
    assert all("forward" not in vars(layer) for layer in det.model.backbone._layers())


def test_a_wav2vec2_detector_splits_its_front_end_too(profiler, wavs):
    det = Detector.from_backbone(str(tiny_backbone_dir("wav2vec2")), window_seconds=1.0, seed=0)
    stages, total, _ = profiler.profile(det, sorted(str(p) for p in wavs.glob("*.wav")), batch_size=2)
    assert stages["feature front end"] > 0 and stages["encoder layers"] > 0
    assert sum(stages.values()) == pytest.approx(total)


def test_hop_seconds_profiles_overlapping_windows(profiler, wavs, whisper_dir, capsys, monkeypatch):
    calls = []
    real_profile = profiler.profile

    def spy(detector, files, *, batch_size=8):
        result = real_profile(detector, files, batch_size=batch_size)
        calls.append([len(p.segments) for p in result[2]])
        return result

    monkeypatch.setattr(profiler, "profile", spy)
    profiler.main(
        [
            "--backbone",
            str(whisper_dir),
            "--window-seconds",
            "1.0",
            "--hop-seconds",
            "0.5",
            "--threads",
            "1",
            "--files",
            str(wavs / "clip1.wav"),
        ]
    )
    assert "windows 1.0 s every 0.5 s" in capsys.readouterr().out
    # 2.7 s at a 0.5 s hop: windows start at 0, 0.5, 1.0, 1.5 and 2.0 s (the last one partial)
    assert calls == [[5]]
