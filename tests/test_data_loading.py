"""Folder layouts, manifests, existing datasets, load_any dispatch, streaming and save_to_disk round trips."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile as sf

from wavguard.audio.decode import load_audio
from wavguard.data import decode_audio, from_dataset, load_any, load_folder, load_manifest, parse_label, to_streaming
from wavguard.errors import ConfigError

RATE_HZ = 16000


def tone(path: Path, seconds: float = 0.25, rate_hz: int = RATE_HZ, freq_hz: float = 220.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds * rate_hz))) / rate_hz
    sf.write(path, (0.1 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), rate_hz)
    return path


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1, 1),
        (1.0, 1),
        ("0", 0),
        ("1", 1),
        (True, 1),
        ("REAL", 0),
        ("fake", 1),
        ("bonafide", 0),
        ("bona-fide", 0),
        ("Spoof", 1),
        (" genuine ", 0),
        (2, None),
        ("maybe", None),
        (None, None),
        ("", None),
    ],
)
def test_parse_label(value, expected):
    assert parse_label(value) == expected


def test_folder_case_insensitive_aliases_attack_and_duration(tmp_path):
    tone(tmp_path / "BONAFIDE" / "a.wav", seconds=0.5)
    tone(tmp_path / "BONAFIDE" / "nested" / "b.flac", seconds=0.25)
    tone(tmp_path / "Spoof" / "c.wav")
    tone(tmp_path / "Spoof" / "melgan" / "d.wav")
    (tmp_path / "Spoof" / "notes.txt").write_text("not audio")
    ds = load_folder(tmp_path)
    assert [Path(a["path"]).name for a in ds["audio"]] == ["a.wav", "b.flac", "c.wav", "d.wav"]
    assert ds["label"] == [0, 0, 1, 1]
    assert ds["attack"] == ["bonafide", "bonafide", None, "melgan"]
    assert ds["duration_seconds"] == pytest.approx([0.5, 0.25, 0.25, 0.25])
    assert isinstance(ds.features["audio"], datasets.Audio) and ds.features["audio"].decode is False
    assert ds.features["label"] == datasets.ClassLabel(names=["real", "fake"])


def test_folder_with_split_aliases_gives_dataset_dict(tmp_path):
    for split in ("Training", "dev", "testing"):
        tone(tmp_path / split / "real" / "r.wav")
        tone(tmp_path / split / "fake" / "f.wav")
    tone(tmp_path / "testing" / "fake" / "g.wav")
    dd = load_any(tmp_path)
    assert isinstance(dd, datasets.DatasetDict)
    assert {k: len(v) for k, v in dd.items()} == {"train": 2, "validation": 2, "test": 3}
    assert load_any(tmp_path, split="eval")["label"] == [0, 1, 1]
    with pytest.raises(ConfigError, match="has no split 'nope'"):
        load_any(tmp_path, split="nope")


def test_folder_errors(tmp_path):
    with pytest.raises(ConfigError, match="expected sub-folders real/ and fake/"):
        load_folder(tmp_path)
    (tmp_path / "real").mkdir()
    with pytest.raises(ConfigError, match="found no audio files"):
        load_folder(tmp_path)
    tone(tmp_path / "real" / "a.wav")
    tone(tmp_path / "train" / "fake" / "b.wav")
    with pytest.raises(ConfigError, match="both class folders .* and split folders"):
        load_folder(tmp_path)


def test_folder_without_splits_returns_everything_for_a_split(tmp_path, caplog):
    tone(tmp_path / "real" / "a.wav")
    tone(tmp_path / "fake" / "b.wav")
    assert len(load_any(tmp_path, split="train")) == 2
    assert "has no split sub-sets" in caplog.text


def test_csv_manifest_relative_paths_labels_and_extra_columns(tmp_path):
    tone(tmp_path / "audio" / "a.wav", seconds=0.5)
    tone(tmp_path / "audio" / "b.flac")
    absolute = tone(tmp_path / "elsewhere" / "c.wav")
    (tmp_path / "m.csv").write_text(
        f"path,label,speaker,snr_db\naudio/a.wav,bona-fide,s1,20.5\naudio/b.flac,spoof,s2,\n{absolute},1,s1,3\n"
    )
    ds = load_any(tmp_path / "m.csv")
    assert [a["path"] for a in ds["audio"]] == [
        str(tmp_path / "audio" / "a.wav"),
        str(tmp_path / "audio" / "b.flac"),
        str(absolute),
    ]
    assert ds["label"] == [0, 1, 1]
    assert ds["speaker"] == ["s1", "s2", "s1"]
    assert ds["snr_db"] == [20.5, None, 3.0]
    assert ds["duration_seconds"] == pytest.approx([0.5, 0.25, 0.25])


def test_jsonl_manifest_with_split_column(tmp_path):
    rows = []
    for i, (split, label) in enumerate([("train", "real"), ("train", "fake"), ("dev", 0), ("eval", 1)]):
        tone(tmp_path / f"{i}.wav")
        rows.append(
            {"file": f"{i}.wav", "label": label, "split": split, "attack": None if label in ("real", 0) else "A01"}
        )
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    dd = load_manifest(tmp_path / "m.jsonl")
    assert {k: v["label"] for k, v in dd.items()} == {"train": [0, 1], "validation": [0], "test": [1]}
    assert dd["train"]["attack"] == [None, "A01"]
    assert load_any(tmp_path / "m.jsonl", split="validation")["label"] == [0]
    (tmp_path / "list.json").write_text(json.dumps(rows[:2]))
    assert load_manifest(tmp_path / "list.json", split="train")["label"] == [0, 1]


def test_manifest_missing_paths_and_unknown_labels_fail_with_offenders_and_count(tmp_path):
    tone(tmp_path / "ok.wav")
    lines = ["path,label", "ok.wav,real"] + [f"gone{i}.wav,fake" for i in range(7)] + ["ok.wav,perhaps"]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        load_manifest(tmp_path / "m.csv")
    message = str(info.value)
    assert "7 files do not exist" in message and "gone0.wav" in message and "gone4.wav" in message
    assert "gone5.wav" not in message and "(and 2 more)" in message
    assert "1 rows have an unknown 'label': row 10: 'perhaps'" in message


def test_manifest_with_named_columns_and_a_label_mapping(tmp_path):
    tone(tmp_path / "a.wav")
    tone(tmp_path / "b.wav")
    (tmp_path / "m.csv").write_text("wav,origin\na.wav,studio\nb.wav,tts\n")
    data = load_any(
        tmp_path / "m.csv", audio_column="wav", label_column="origin", label_mapping={"studio": 0, "tts": "fake"}
    )
    assert data["label"] == [0, 1]
    with pytest.raises(
        ConfigError, match=r"m.csv: label column 'origin' holds 'tts', which label_mapping does not map"
    ):
        load_manifest(tmp_path / "m.csv", path_column="wav", label_column="origin", label_mapping={"studio": 0})


def test_manifest_needs_path_and_label_columns(tmp_path):
    (tmp_path / "m.csv").write_text("wav,label\nx.wav,0\n")
    with pytest.raises(ConfigError, match="needs a path column named one of"):
        load_manifest(tmp_path / "m.csv")
    (tmp_path / "n.csv").write_text("path,kind\nx.wav,0\n")
    with pytest.raises(ConfigError, match="needs a label column"):
        load_manifest(tmp_path / "n.csv")


def test_from_dataset_maps_label_names_and_casts_paths(tmp_path):
    a, b = tone(tmp_path / "a.wav"), tone(tmp_path / "b.wav")
    raw = datasets.Dataset.from_dict(
        {"file": [str(a), str(b)], "key": [0, 1], "gender": ["f", "m"]},
        features=datasets.Features(
            {
                "file": datasets.Value("string"),
                "key": datasets.ClassLabel(names=["spoof", "bonafide"]),
                "gender": datasets.Value("string"),
            }
        ),
    )
    ds = from_dataset(raw)
    assert ds.column_names == ["audio", "label", "gender"]
    assert ds["label"] == [1, 0]  # class 0 was "spoof" -> fake
    assert ds[0]["audio"] == {"path": str(a), "bytes": None}
    assert ds.features["label"].names == ["real", "fake"]
    strings = datasets.Dataset.from_dict({"path": [str(a), str(b)], "label": ["bonafide", "what"]})
    with pytest.raises(ConfigError, match="1 rows of column 'label' hold an unknown label: row 1: 'what'"):
        from_dataset(strings)


def test_save_to_disk_round_trip_decodes_embedded_bytes(tmp_path):
    tone(tmp_path / "src" / "real" / "a.wav", freq_hz=300.0)
    tone(tmp_path / "src" / "fake" / "b.wav", freq_hz=500.0)
    ds = load_any(tmp_path / "src")
    ds.save_to_disk(str(tmp_path / "saved"))
    again = load_any(tmp_path / "saved")
    assert again["label"] == ds["label"] and again["attack"] == ds["attack"]
    cell = again[1]["audio"]
    assert cell["bytes"] and "/" not in cell["path"]  # embedded; path is only a base name
    expected, _ = load_audio(tmp_path / "src" / "fake" / "b.wav", 8000)
    np.testing.assert_array_equal(decode_audio(cell, 8000), expected)
    assert load_any(again)["label"] == ds["label"]


def test_streaming_yields_the_same_rows(tmp_path):
    for i in range(4):
        tone(tmp_path / ("real" if i % 2 else "fake") / f"{i}.wav")
    ds = load_any(tmp_path)
    stream = load_any(tmp_path, streaming=True)
    assert isinstance(stream, datasets.IterableDataset)
    assert [r["audio"]["path"] for r in stream] == [a["path"] for a in ds["audio"]]
    sharded = to_streaming(ds, num_shards=2)
    assert sharded.num_shards == 2 and sorted(r["label"] for r in sharded) == [0, 0, 1, 1]


def test_load_any_rejects_unknown_sources(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ConfigError, match="a manifest must end in"):
        load_any(tmp_path / "x.txt")
    with pytest.raises(ConfigError, match="no such file or folder"):
        load_any(tmp_path / "missing")
    with pytest.raises(ConfigError, match="not a recognised data source"):
        load_any(tmp_path)


def test_manifest_column_with_mixed_types_is_a_config_error(tmp_path):
    tone(tmp_path / "a.wav")
    tone(tmp_path / "b.wav")
    (tmp_path / "m.jsonl").write_text(
        '{"path": "a.wav", "label": 0, "snr": 3}\n{"path": "b.wav", "label": 1, "snr": "high"}\n'
    )
    with pytest.raises(ConfigError, match="column 'snr' mixes value types"):
        load_manifest(tmp_path / "m.jsonl")


def test_relative_roots_give_absolute_paths(tmp_path, monkeypatch):
    tone(tmp_path / "data" / "real" / "a.wav")
    tone(tmp_path / "data" / "fake" / "b.wav")
    monkeypatch.chdir(tmp_path)
    ds = load_any("data")
    assert [a["path"] for a in ds["audio"]] == [
        str(tmp_path / "data" / "real" / "a.wav"),
        str(tmp_path / "data" / "fake" / "b.wav"),
    ]


def test_with_duration_false_skips_the_header_reads(tmp_path):
    tone(tmp_path / "real" / "a.wav")
    tone(tmp_path / "fake" / "b.wav")
    ds = load_any(tmp_path, with_duration=False)
    assert ds.column_names == ["audio", "label", "attack"]
