"""Hub data sets: ids go to ``datasets.load_dataset`` unchanged; local folders in the Hub layout
(what ``push_to_hub`` uploads: parquet under data/ and a dataset card) load, streamed or not,
with audio kept as ``Audio(decode=False)`` cells for wavguard's own decoder."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

datasets = pytest.importorskip("datasets")

from wavguard.data import decode_audio, load_any  # noqa: E402
from wavguard.errors import ConfigError  # noqa: E402

RATE_HZ = 16000
CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: test
    path: data/test-*
---
# A tiny spoofing data set
"""


def _wav_bytes(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, RATE_HZ, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def make_hub_folder(root, per_class: int = 4, seconds: float = 0.5):
    """``root/README.md`` + ``root/data/{train,test}-00000-of-00001.parquet``: audio bytes embedded
    (as ``push_to_hub`` stores them), labels as ClassLabel bonafide/spoof, a speaker column."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    (root / "data").mkdir(parents=True)
    for split in ("train", "test"):
        cells, labels, speakers = [], [], []
        for i in range(per_class):
            tone = (0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t)).astype(np.float32)
            noise = np.clip(0.3 * rng.standard_normal(t.size), -1, 1).astype(np.float32)
            cells += [{"bytes": _wav_bytes(tone), "path": f"{split}_real_{i}.wav"},
                      {"bytes": _wav_bytes(noise), "path": f"{split}_fake_{i}.wav"}]
            labels += [0, 1]
            speakers += [f"s{i}", f"s{i}"]
        features = datasets.Features({"audio": datasets.Audio(sampling_rate=RATE_HZ),
                                      "label": datasets.ClassLabel(names=["bonafide", "spoof"]),
                                      "speaker": datasets.Value("string")})
        ds = datasets.Dataset.from_dict({"audio": cells, "label": labels, "speaker": speakers}, features=features)
        ds.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    (root / "README.md").write_text(CARD)
    return root


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    return make_hub_folder(tmp_path_factory.mktemp("hub") / "user__spoofs")


def test_hub_layout_folder_loads_through_load_dataset(hub_folder):
    dd = load_any(str(hub_folder))
    assert sorted(dd) == ["test", "train"]
    train = load_any(str(hub_folder), split="train")
    assert isinstance(train, datasets.Dataset) and len(train) == 8
    assert train.features["audio"] == datasets.Audio(decode=False)
    assert train.features["label"].names == ["real", "fake"] and train["label"][:2] == [0, 1]
    assert train["speaker"][:2] == ["s0", "s0"]
    samples = decode_audio(train[1]["audio"], RATE_HZ)  # wavguard's decoder, from the embedded bytes
    assert samples.dtype == np.float32 and samples.shape == (RATE_HZ // 2,)


def test_hub_layout_folder_streams(hub_folder):
    stream = load_any(str(hub_folder), split="test", streaming=True)
    assert isinstance(stream, datasets.IterableDataset)
    rows = list(stream)
    assert [r["label"] for r in rows] == [0, 1] * 4
    assert rows[0]["audio"]["bytes"][:4] == b"RIFF"
    assert decode_audio(rows[0]["audio"], RATE_HZ).shape == (RATE_HZ // 2,)


def test_hub_ids_are_passed_to_load_dataset_unchanged(monkeypatch, hub_folder):
    calls = []
    real = datasets.load_dataset

    def fake_load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        return real(str(hub_folder), **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    stream = load_any("someone/spoof-set", split="train", revision="v1.0", streaming=True)
    assert calls == [("someone/spoof-set", {"split": "train", "revision": "v1.0", "streaming": True})]
    assert isinstance(stream, datasets.IterableDataset) and sum(r["label"] for r in stream) == 4


def test_unreachable_hub_id_is_a_config_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="someone/not-here: datasets.load_dataset failed"):
        load_any("someone/not-here", split="train")
    with pytest.raises(ConfigError, match="no such file or folder"):
        load_any("./someone/not-here")  # path syntax is never sent to the Hub


def test_materialize_reads_a_bounded_stream(hub_folder):
    from wavguard.data import materialize

    stream = load_any(str(hub_folder), split="train", streaming=True)
    ds = materialize(stream, limit=3)
    assert isinstance(ds, datasets.Dataset) and len(ds) == 3 and ds.features["audio"] == datasets.Audio(decode=False)
    assert materialize(ds) is ds
