"""Corpus protocol parsers on tiny copies of each corpus's real file layout (audio generated here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavguard.data import (
    detect_corpus,
    load_any,
    load_asvspoof2019_la,
    load_asvspoof2021,
    load_fake_or_real,
    load_in_the_wild,
    load_wavefake,
)
from wavguard.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "corpora"
RATE_HZ = 16000


def tone(path: Path, seconds: float = 0.25, rate_hz: int = RATE_HZ) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    sf.write(path, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate_hz)
    return path


def copy_fixture(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def protocol_files(path: Path) -> list[str]:
    return [line.split()[1] for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def asv19(tmp_path):
    root = copy_fixture("asvspoof2019_la", tmp_path) / "LA"
    for part, proto in [("train", "train.trn"), ("dev", "dev.trl"), ("eval", "eval.trl")]:
        for file in protocol_files(root / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{proto}.txt"):
            tone(root / f"ASVspoof2019_LA_{part}" / "flac" / f"{file}.flac")
    return root


def test_asvspoof2019_la_splits_columns_and_labels(asv19):
    dd = load_asvspoof2019_la(asv19)
    assert sorted(dd) == ["test", "train", "validation"]
    assert [len(dd[s]) for s in ("train", "validation", "test")] == [5, 3, 4]
    train = dd["train"]
    assert train["speaker"] == ["LA_0079", "LA_0079", "LA_0080", "LA_0080", "LA_0081"]
    assert train["attack"] == ["bonafide", "A01", "bonafide", "A02", "A03"]
    assert train["label"] == [0, 1, 0, 1, 1]
    assert set(train["language"]) == {"en"}
    assert train[1]["audio"]["path"].endswith("ASVspoof2019_LA_train/flac/LA_T_1271820.flac")
    assert train["duration_seconds"] == pytest.approx([0.25] * 5)
    assert dd["test"]["attack"] == ["A11", "bonafide", "A16", "A19"]
    assert train.features["label"].names == ["real", "fake"]


def test_asvspoof2019_la_split_aliases_and_load_any(asv19):
    dev = load_asvspoof2019_la(asv19, split="dev")
    assert dev["attack"] == ["bonafide", "A04", "A05"]
    assert detect_corpus(asv19.parent) == ["asvspoof2019_la"]
    ev = load_any(asv19.parent, split="eval")
    assert len(ev) == 4 and ev["label"] == [1, 0, 1, 1]


def test_asvspoof2019_missing_audio_raises_or_skips(asv19):
    (asv19 / "ASVspoof2019_LA_eval" / "flac" / "LA_E_6828287.flac").unlink()
    with pytest.raises(ConfigError, match=r"1 of 4 listed audio files do not exist.*LA_E_6828287"):
        load_asvspoof2019_la(asv19, split="test")
    assert load_asvspoof2019_la(asv19, split="test", missing="skip")["attack"] == ["A11", "bonafide", "A19"]


def test_asvspoof2019_short_protocol_line_is_reported(asv19):
    proto = asv19 / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.dev.trl.txt"
    proto.write_text(proto.read_text() + "LA_0070 LA_D_9999999 spoof\n")
    with pytest.raises(ConfigError, match=r"1 lines have fewer than 5 fields.*line 4"):
        load_asvspoof2019_la(asv19, split="dev")


def test_asvspoof2021_la_conditions(tmp_path):
    root = copy_fixture("asvspoof2021_la", tmp_path)
    for file in protocol_files(root / "LA-keys-full/keys/LA/CM/trial_metadata.txt"):
        tone(root / "ASVspoof2021_LA_eval" / "flac" / f"{file}.flac")
    ds = load_asvspoof2021(root, "LA")
    assert len(ds) == 5
    assert ds["codec"] == ["alaw", "none", "ulaw", "gsm", "pstn"]
    assert ds["transmission"] == ["ita_tx", "-", "loc_tx", "sin_tx", "mad_tx"]
    assert ds["attack"] == ["A07", "bonafide", "A10", "bonafide", "A19"]
    assert ds["label"] == [1, 0, 1, 0, 1]
    assert ds["trim"] == ["notrim", "notrim", "trim", "notrim", "notrim"]
    evald = load_asvspoof2021(root, "LA", subset="eval")
    assert evald["subset"] == ["eval"] * 3
    assert detect_corpus(root) == ["asvspoof2021_la"]
    assert load_any(root)["codec"] == ds["codec"]


def test_asvspoof2021_df_parts_and_columns(tmp_path):
    root = copy_fixture("asvspoof2021_df", tmp_path)
    files = protocol_files(root / "DF-keys-full/keys/DF/CM/trial_metadata.txt")
    for i, file in enumerate(files):  # the DF release is split over several part folders
        tone(root / f"ASVspoof2021_DF_eval_part0{i % 2}" / "ASVspoof2021_DF_eval" / "flac" / f"{file}.flac")
    ds = load_asvspoof2021(root, "DF")
    assert [Path(a["path"]).stem for a in ds["audio"]] == files
    assert ds["source"] == ["asvspoof", "vcc2020", "vcc2020", "asvspoof", "vcc2018"]
    assert ds["attack"] == ["A14", "Task1-team20", "Task2-team12", "bonafide", "bonafide"]
    assert ds["vocoder"][:2] == ["traditional_vocoder", "neural_vocoder_nonautoregressive"]
    assert ds["codec"] == ["nocodec", "low_m4a", "mp3m4a", "high_mp3", "nocodec"]
    assert ds["label"] == [1, 1, 1, 0, 0]
    assert "transmission" not in ds.column_names
    with pytest.raises(ConfigError, match="no keys/LA/CM/trial_metadata.txt"):
        load_asvspoof2021(root, "LA")


def test_in_the_wild(tmp_path):
    root = copy_fixture("in_the_wild", tmp_path) / "release_in_the_wild"
    for i in range(5):
        tone(root / f"{i}.wav", seconds=0.1 * (i + 1))
    ds = load_in_the_wild(root)
    assert ds["label"] == [1, 1, 0, 1, 0]
    assert ds["speaker"] == ["Alec Guinness", "Alec Guinness", "Barack Obama", "Barack Obama", "Donald Trump"]
    assert ds["attack"] == [None, None, "bonafide", None, "bonafide"]
    assert ds["duration_seconds"] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert detect_corpus(root.parent) == ["in_the_wild"]
    assert load_any(root.parent)["label"] == ds["label"]


def test_in_the_wild_unknown_label(tmp_path):
    root = copy_fixture("in_the_wild", tmp_path) / "release_in_the_wild"
    for i in range(5):
        tone(root / f"{i}.wav")
    meta = root / "meta.csv"
    meta.write_text(meta.read_text().replace("2.wav,Barack Obama,bona-fide", "2.wav,Barack Obama,maybe"))
    with pytest.raises(ConfigError, match=r"1 rows have a label.*row 4: 'maybe'"):
        load_in_the_wild(root)


def test_wavefake_vocoders_and_ljspeech(tmp_path):
    gen = tmp_path / "WaveFake" / "generated_audio"
    for vocoder in ("ljspeech_melgan", "ljspeech_hifiGAN", "jsut_parallel_wavegan"):
        for n in (1, 2):
            tone(gen / vocoder / f"LJ001-000{n}_gen.wav")
    for n in (1, 2, 3):
        tone(tmp_path / "WaveFake" / "LJSpeech-1.1" / "wavs" / f"LJ001-000{n}.wav")
    ds = load_wavefake(gen)
    assert len(ds) == 9
    by_attack = {a: ds.filter(lambda r, a=a: r["attack"] == a) for a in set(ds["attack"])}
    assert {a: len(d) for a, d in by_attack.items()} == {
        "ljspeech_melgan": 2,
        "ljspeech_hifiGAN": 2,
        "jsut_parallel_wavegan": 2,
        "bonafide": 3,
    }
    assert set(by_attack["bonafide"]["label"]) == {0} and set(by_attack["ljspeech_melgan"]["label"]) == {1}
    assert set(by_attack["jsut_parallel_wavegan"]["language"]) == {"ja"}
    assert set(by_attack["bonafide"]["speaker"]) == {"LJ"}
    assert detect_corpus(tmp_path / "WaveFake") == ["wavefake"]
    assert len(load_any(tmp_path / "WaveFake")) == 9


def test_fake_or_real_versions(tmp_path):
    root = tmp_path / "FoR"
    for split in ("training", "validation", "testing"):
        for cls in ("real", "fake"):
            tone(root / "for-norm" / split / cls / f"{split}_{cls}.wav")
    tone(root / "for-2seconds" / "training" / "real" / "a.wav")
    with pytest.raises(ConfigError, match="several FoR versions"):
        load_fake_or_real(root)
    dd = load_fake_or_real(root, version="for-norm")
    assert sorted(dd) == ["test", "train", "validation"]
    assert dd["train"]["label"] == [0, 1]
    assert dd["test"]["language"] == ["en", "en"]
    assert load_fake_or_real(root / "for-norm", split="testing")["attack"] == ["bonafide", None]
    assert detect_corpus(root) == ["fake_or_real"]
    with pytest.raises(ConfigError, match="several FoR versions"):
        load_any(root)  # two versions: pick one folder
    assert len(load_any(root / "for-norm", split="validation")) == 2


def test_loaders_do_not_decode_audio(asv19, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("audio was decoded while loading")

    monkeypatch.setattr(sf.SoundFile, "read", boom)
    monkeypatch.setattr(sf, "read", boom)
    assert len(load_any(asv19.parent, split="train")) == 5
