"""scan_dataset / drop_bad on deliberately broken files, and map_audio's on-disk cache."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavguard.data import drop_bad, load_any, map_audio, scan_dataset
from wavguard.errors import ConfigError

RATE_HZ = 16000


def write(path: Path, samples: np.ndarray, rate_hz: int = RATE_HZ) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples.astype(np.float32), rate_hz)
    return path


def tone(seconds: float, amplitude: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return amplitude * np.sin(2 * np.pi * 220 * t)


@pytest.fixture
def messy(tmp_path):
    write(tmp_path / "real" / "good.wav", tone(0.3))
    write(tmp_path / "real" / "silent.wav", np.zeros(4000))
    write(tmp_path / "real" / "whisper.wav", tone(0.3, amplitude=1e-4))  # peak -80 dBFS
    write(tmp_path / "fake" / "good.flac", tone(0.3))
    write(tmp_path / "fake" / "short.wav", tone(0.02))
    (tmp_path / "fake" / "empty.wav").write_bytes(b"")
    (tmp_path / "fake" / "garbage.wav").write_bytes(b"this is not audio at all" * 10)
    full = write(tmp_path / "fake" / "cut.wav", tone(0.3)).read_bytes()
    (tmp_path / "fake" / "cut.wav").write_bytes(full[: len(full) // 2])
    return load_any(tmp_path)


def test_scan_reports_each_bad_file_with_its_error(messy):
    report = scan_dataset(messy, RATE_HZ, min_duration_seconds=0.05)
    found = {Path(b.path).name: b.error for b in report.bad}
    assert found == {
        "silent.wav": "SilentAudioError",
        "whisper.wav": "SilentAudioError",
        "short.wav": "AudioTooShortError",
        "empty.wav": "EmptyAudioError",
        "garbage.wav": "AudioDecodeError",
        "cut.wav": "AudioDecodeError",
    }
    assert report.num_rows == 8 and not report.ok
    assert report.counts() == {
        "SilentAudioError": 2,
        "AudioTooShortError": 1,
        "EmptyAudioError": 1,
        "AudioDecodeError": 2,
    }
    short = next(b for b in report.bad if b.path.endswith("short.wav"))
    assert "0.020 s is shorter than the minimum 0.05 s" in short.reason
    assert "truncated" in next(b for b in report.bad if b.path.endswith("cut.wav")).reason
    assert "6 bad" in str(report)


def test_scan_thresholds_are_respected(messy):
    lenient = scan_dataset(messy, RATE_HZ, min_duration_seconds=0.0, silence_peak_db=-100.0)
    assert {Path(b.path).name for b in lenient.bad} == {"silent.wav", "empty.wav", "garbage.wav", "cut.wav"}


def test_drop_bad_removes_exactly_the_reported_rows_and_logs(messy, caplog):
    report = scan_dataset(messy, RATE_HZ, min_duration_seconds=0.05)
    with caplog.at_level(logging.WARNING, logger="wavguard.data"):
        clean = drop_bad(messy, report)
    assert sorted(Path(a["path"]).name for a in clean["audio"]) == ["good.flac", "good.wav"]
    assert clean["label"] == [0, 1]
    assert "dropped 6 of 8 rows" in caplog.text
    assert scan_dataset(clean, RATE_HZ).ok
    assert drop_bad(clean, scan_dataset(clean, RATE_HZ)) is clean
    with pytest.raises(ConfigError, match="another dataset"):
        drop_bad(clean, report)


def test_scan_in_parallel_matches_serial(messy):
    serial = scan_dataset(messy, RATE_HZ)
    parallel = scan_dataset(messy, RATE_HZ, num_proc=2)
    assert parallel.bad == serial.bad


def peak_and_length(samples):
    return {"peak": float(np.max(np.abs(samples))), "num_samples": int(samples.shape[0])}


CALLS = []


def counted(samples):
    CALLS.append(1)
    return {"num_samples": int(samples.shape[0])}


def test_map_audio_adds_columns_and_reuses_the_disk_cache(tmp_path):
    write(tmp_path / "data" / "real" / "a.wav", tone(0.5))
    write(tmp_path / "data" / "fake" / "b.wav", tone(0.25, amplitude=0.5), rate_hz=8000)
    ds = load_any(tmp_path / "data")
    out = map_audio(ds, peak_and_length, 16000, cache_dir=tmp_path / "cache")
    assert out["num_samples"] == [8000, 8000]  # b: 4000 samples written at 8 kHz = 0.5 s, resampled to 16 kHz
    assert out["peak"] == pytest.approx([0.1, 0.5], abs=0.01)
    assert out.column_names[:2] == ["audio", "label"]
    CALLS.clear()
    first = map_audio(ds, counted, 16000, cache_dir=tmp_path / "cache")
    assert len(CALLS) == 2 and len(list((tmp_path / "cache").glob("map_audio-*.arrow"))) == 2
    CALLS.clear()
    again = map_audio(ds, counted, 16000, cache_dir=tmp_path / "cache")
    assert CALLS == [] and again["num_samples"] == first["num_samples"]
    other_rate = map_audio(ds, counted, 8000, cache_dir=tmp_path / "cache", config={"v": 2})
    assert len(CALLS) == 2 and other_rate["num_samples"] == [4000, 4000]


def test_map_audio_in_parallel(tmp_path):
    for i in range(4):
        write(tmp_path / ("real" if i % 2 else "fake") / f"{i}.wav", tone(0.1 * (i + 1)))
    ds = load_any(tmp_path)
    marker = tmp_path / "calls.txt"

    def logged(samples):
        with open(marker, "a") as fh:
            fh.write("x")
        return peak_and_length(samples)

    out = map_audio(ds, logged, RATE_HZ, num_proc=2, cache_dir=tmp_path / "cache")
    assert out["num_samples"] == [int(round(d * RATE_HZ)) for d in ds["duration_seconds"]]
    assert marker.read_text() == "xxxx" and len(list((tmp_path / "cache").glob("map_audio-*_of_00002.arrow"))) == 2
    again = map_audio(ds, logged, RATE_HZ, num_proc=2, cache_dir=tmp_path / "cache")
    assert marker.read_text() == "xxxx" and again["num_samples"] == out["num_samples"]
