"""Hub data sets: ids go to ``datasets.load_dataset`` unchanged; local folders in the Hub layout
(what ``push_to_hub`` uploads: parquet under data/ and a dataset card) load, streamed or not,
with audio kept as ``Audio(decode=False)`` cells for wavguard's own decoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

datasets = pytest.importorskip("datasets")

from _train_fixtures import RATE_HZ, make_hub_folder  # noqa: E402

from wavguard.data import decode_audio, load_any  # noqa: E402
from wavguard.errors import ConfigError  # noqa: E402


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


def test_named_columns_and_a_label_mapping_whole_or_streamed(tmp_path):
    folder = make_hub_folder(
        tmp_path / "named", audio_column="speech", label_column="is_spoof", label_values=("bonafide", "spoof")
    )
    named = {"audio_column": "speech", "label_column": "is_spoof"}
    with pytest.raises(ConfigError, match="needs a label column"):
        load_any(str(folder), split="test")
    mapping = {"bonafide": "fake", "spoof": "real"}  # reversed: the mapping decides, not the usual names
    whole = load_any(str(folder), split="test", label_mapping=mapping, **named)
    stream = load_any(str(folder), split="test", streaming=True, label_mapping=mapping, **named)
    assert whole["label"] == [r["label"] for r in stream] == [1, 0] * 4
    assert whole.features["audio"] == datasets.Audio(decode=False) and "is_spoof" not in whole.column_names
    partial = load_any(str(folder), split="test", streaming=True, label_mapping={"bonafide": 0}, **named)
    with pytest.raises(ConfigError, match="label column 'is_spoof' holds 'spoof'"):
        list(partial)


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


def test_score_dataset_streams_rows_and_matches_the_materialized_scores(hub_folder, w2v_detector):
    from wavguard.evaluation.evaluate import evaluate_detector
    from wavguard.scoring.datasets import score_dataset

    stream = load_any(str(hub_folder), split="test", streaming=True)
    streamed = score_dataset(w2v_detector, stream)
    in_memory = score_dataset(w2v_detector, load_any(str(hub_folder), split="test"))
    assert [r.row for r in streamed] == list(range(8))
    np.testing.assert_allclose([r.score for r in streamed], [r.score for r in in_memory], rtol=0, atol=1e-6)
    result = evaluate_detector(w2v_detector, stream, bootstrap_resamples=0)  # labels and groups: read once
    assert list(result.labels) == [0, 1] * 4 and list(result.rows) == list(range(8))
    np.testing.assert_allclose(result.scores, [r.score for r in in_memory], rtol=0, atol=1e-6)
    assert set(result.groups) == {"speaker"} and np.isfinite(result.metrics["eer"])


def test_training_reads_a_hub_layout_folder_streamed_up_to_max_train_clips(hub_folder, tmp_path):
    pytest.importorskip("accelerate")
    from wavguard.testing import tiny_backbone_dir
    from wavguard.training import TrainConfig, Trainer

    base = dict(
        train_data=str(hub_folder),
        train_split="train",
        backbone=str(tiny_backbone_dir("wav2vec2", tmp_path / "bb")),
        mode="frozen",
        epochs=1,
        batch_size=4,
        crop_seconds=0.5,
        mixed_precision="no",
        detector={"head_channels": [8], "window_seconds": 0.5, "hop_seconds": 0.5},
        calibration="none",
        test_data={"source": str(hub_folder), "split": "test", "streaming": True},
        max_eval_clips=8,
        output_dir=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
        early_stopping_patience=None,
    )
    with pytest.raises(ConfigError, match="set max_train_clips"):
        Trainer(TrainConfig(**base, streaming=True)).setup()
    trainer = Trainer(TrainConfig(**base, streaming=True, max_train_clips=6, revision="main"))
    result = trainer.fit()
    assert len(trainer.train_dataset) == 6 and result.global_step == 2
    training = json.loads((result.best_dir / "config.json").read_text())["extra"]["training"]
    assert training["train_data"] == str(hub_folder) and training["revision"] == "main"
    assert list(result.test_metrics) == [f"{hub_folder}@test"]


def test_source_mappings_take_revision_and_streaming(monkeypatch, hub_folder):
    from wavguard.training.data import load_sources

    calls = []
    real = datasets.load_dataset
    monkeypatch.setattr(
        datasets, "load_dataset", lambda path, **kw: calls.append((path, kw)) or real(str(hub_folder), **kw)
    )
    data = load_sources(
        {"source": "someone/spoofs", "split": "train", "revision": "abc123", "streaming": True}, None, limit=5
    )
    assert calls == [("someone/spoofs", {"split": "train", "revision": "abc123", "streaming": True})]
    assert isinstance(data, datasets.Dataset) and len(data) == 5
    data = load_sources("someone/spoofs", "test", revision="v2")
    assert calls[-1] == ("someone/spoofs", {"split": "test", "revision": "v2", "streaming": False}) and len(data) == 8
    with pytest.raises(ConfigError, match="unknown key"):
        load_sources({"source": "someone/spoofs", "revison": "x"}, None)


def test_datasets_audiofolder_decodes_with_torchcodec(tmp_path):
    """datasets' own Audio decoding (load_dataset("audiofolder")) works in the installed environment
    (torchcodec 0.12/0.13 + Debian ffmpeg, see scripts/install.sh); wavguard's loaders never need it."""
    try:
        from torchcodec.decoders import AudioDecoder  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - ImportError, or RuntimeError "Could not load this library"
        pytest.skip(
            f"torchcodec cannot load here ({type(exc).__name__}: {str(exc)[:200]}); "
            "install ffmpeg (apt) and torchcodec>=0.12,<0.14 as scripts/install.sh does"
        )
    t = np.arange(RATE_HZ // 4) / RATE_HZ
    for name, freq in (("real", 220.0), ("fake", 440.0)):
        (tmp_path / name).mkdir()
        sf.write(tmp_path / name / f"{name}.wav", (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), RATE_HZ)
    ds = datasets.load_dataset("audiofolder", data_dir=str(tmp_path), split="train")
    assert sorted(ds.features["label"].names) == ["fake", "real"]
    row = ds[0]
    samples = row["audio"].get_all_samples()  # a torchcodec AudioDecoder cell
    assert samples.sample_rate == RATE_HZ and samples.data.shape[-1] == RATE_HZ // 4
    ours = load_any(ds)  # into the common schema: Audio(decode=False) cells for wavguard's decoder
    assert ours.features["audio"] == datasets.Audio(decode=False)
    np.testing.assert_allclose(decode_audio(ours[0]["audio"], RATE_HZ), samples.data.numpy()[0], atol=1e-4)


def test_hub_layout_is_a_card_or_data_files_not_any_csv(tmp_path, hub_folder):
    from wavguard.data.hub_data import is_hub_id, is_hub_layout

    assert is_hub_layout(hub_folder)
    (tmp_path / "meta.csv").write_text("file,speaker,label\n")  # In-the-Wild's protocol file, say
    (tmp_path / "README.md").write_text("# notes, no dataset card\n")
    assert not is_hub_layout(tmp_path)
    assert is_hub_id("someone/spoof-set") and is_hub_id("org/data.v2")
    assert not any(map(is_hub_id, ["spoofs", "./a/b", "/a/b", "a/b/c", "dir/manifest.csv"]))
