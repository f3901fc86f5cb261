import huggingface_hub
import pytest
from huggingface_hub.repocard import metadata_load

from wavguard import Detector, ModelLoadError
from wavguard.hub.publish import backbone_id, render_model_card, stage_for_hub
from wavguard.testing import tiny_detector


@pytest.fixture(scope="module")
def detector():
    det = tiny_detector("whisper", window_seconds=1.0)
    det.config.metrics = {"roc_auc": 0.97, "eer": 0.0412, "note": "text is skipped"}
    det.config.extra = {"dataset": "ASVspoof 2019 LA"}
    return det


def test_model_card_metadata_and_body(detector, tmp_path):
    card = render_model_card(detector.config, "alice/tiny-detector")
    (tmp_path / "README.md").write_text(card)
    meta = metadata_load(tmp_path / "README.md")
    assert meta["library_name"] == "wavguard"
    assert meta["pipeline_tag"] == "audio-classification"
    assert meta["license"] == "apache-2.0"
    assert meta["tags"] == ["audio-classification", "deepfake-detection", "anti-spoofing", "wavguard", "whisper"]
    results = meta["model-index"][0]["results"][0]
    assert results["dataset"]["name"] == "ASVspoof 2019 LA"
    assert [(m["type"], m["value"]) for m in results["metrics"]] == [("eer", 0.0412), ("roc_auc", 0.97)]
    assert "probability that the audio is **fake**" in card
    assert "| eer | 4.1 % |" in card and "| roc_auc | 0.97 |" in card
    assert 'Detector.from_pretrained("alice/tiny-detector")' in card


def test_card_rounds_values_and_names_a_local_backbone(tmp_path):
    det = tiny_detector("whisper", window_seconds=1.0)
    det.config.backbone = "/root/.cache/wavguard/backbones/whisper-base"
    det.config.metrics = {"eer": 0.32399999999999995, "epoch": 4.0, "validation_ece": 0.04399}
    det.config.extra = {
        "dataset": "a long description of the data",
        "dataset_id": "wavguard-offline-corpus",
        "backbone_name": "OpenAI Whisper-base (bundled)",
        "base_model": "openai/whisper-base",
    }
    card = render_model_card(det.config, "me/x")
    (tmp_path / "README.md").write_text(card)
    meta = metadata_load(tmp_path / "README.md")
    evaluation, validation = meta["model-index"][0]["results"]
    assert [(m["type"], m["value"]) for m in evaluation["metrics"]] == [("eer", 0.324)]
    assert evaluation["dataset"] == {"name": "a long description of the data", "type": "wavguard-offline-corpus"}
    assert [(m["type"], m["name"], m["value"]) for m in validation["metrics"]] == [("ece", "ECE (validation)", 0.044)]
    assert validation["dataset"]["split"] == "validation"
    assert meta["base_model"] == "openai/whisper-base"
    assert "/root/" not in card and "OpenAI Whisper-base (bundled)" in card
    assert "| eer | 32.4 % |" in card and "| validation_ece | 4.4 % |" in card
    det.config.extra = {}
    assert "`whisper-base` (a local checkpoint)" in render_model_card(det.config, "me/x")


@pytest.mark.parametrize(
    "train_data", ["alice/asvspoof-la", [{"source": "alice/asvspoof-la", "split": "train"}, "/srv/data/clips"]]
)
def test_a_trained_detector_card_indexes_eer_first_on_the_hub_dataset(tmp_path, train_data):
    """What training stores (validation_eer, validation_ece, epoch; train_data a Hub id) gives a
    model-index of type ``eer`` (not ``validation_eer``), EER before ECE, on the named dataset's
    validation split, not on ``custom``; a test source's EER sits on that source."""
    det = tiny_detector("whisper", window_seconds=1.0)
    det.config.metrics = {
        "validation_ece": 0.0412,
        "validation_eer": 0.0251,
        "epoch": 3.0,
        "test_eer[bob/in-the-wild@test]": 0.2,
    }
    det.config.extra = {"training": {"train_data": train_data, "epochs": 3}}
    card = render_model_card(det.config, "me/x")
    (tmp_path / "README.md").write_text(card)
    meta = metadata_load(tmp_path / "README.md")
    results = meta["model-index"][0]["results"]
    by_dataset = {(r["dataset"]["type"], r["dataset"].get("split")): r for r in results}
    validation = by_dataset[("alice/asvspoof-la", "validation")]
    assert validation["dataset"]["name"] == "alice/asvspoof-la"
    assert [(m["type"], m["name"], m["value"]) for m in validation["metrics"]] == [
        ("eer", "EER (validation)", 0.0251),
        ("ece", "ECE (validation)", 0.0412),
    ]
    test = by_dataset[("bob/in-the-wild", "test")]
    assert [(m["type"], m["value"]) for m in test["metrics"]] == [("eer", 0.2)]
    assert "custom" not in card and "validation_eer" not in str(meta["model-index"])
    assert meta["datasets"] == ["alice/asvspoof-la"]
    assert (
        "Data: alice/asvspoof-la" in card
        and "| validation_eer | 2.5 % |" in card
        and "| test_eer[bob/in-the-wild@test] | 20.0 % |" in card
    )


def test_card_orders_the_asvspoof5_metrics_after_eer(tmp_path):
    det = tiny_detector("whisper", window_seconds=1.0)
    det.config.metrics = {"roc_auc": 0.99, "cllr": 0.3, "act_dcf": 0.2, "min_dcf": 0.1, "accuracy": 0.9, "eer": 0.05}
    det.config.extra = {"dataset_id": "alice/asvspoof-la"}
    (tmp_path / "README.md").write_text(render_model_card(det.config, "me/x"))
    results = metadata_load(tmp_path / "README.md")["model-index"][0]["results"]
    assert len(results) == 1 and results[0]["dataset"] == {"name": "alice/asvspoof-la", "type": "alice/asvspoof-la"}
    assert [(m["type"], m["name"]) for m in results[0]["metrics"]] == [
        ("eer", "EER"),
        ("min_dcf", "minDCF"),
        ("act_dcf", "actDCF"),
        ("cllr", "Cllr"),
        ("roc_auc", "ROC AUC"),
        ("accuracy", "accuracy"),
    ]


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"dataset": "x " * 50, "dataset_id": "my-corpus"}, "my-corpus"),  # a paragraph: the id
        ({"dataset": "x " * 50, "dataset_id": "my-corpus", "dataset_name": "My corpus"}, "My corpus"),
        ({"dataset": "one line\nand another", "dataset_id": "my-corpus"}, "my-corpus"),
    ],
)
def test_the_model_index_names_the_dataset_briefly(tmp_path, extra, name):
    det = tiny_detector("whisper", window_seconds=1.0)
    det.config.metrics = {"eer": 0.2}
    det.config.extra = extra
    card = render_model_card(det.config, "me/x")
    (tmp_path / "README.md").write_text(card)
    results = metadata_load(tmp_path / "README.md")["model-index"][0]["results"][0]
    assert results["dataset"] == {"name": name, "type": "my-corpus"}
    assert extra["dataset"].strip().splitlines()[0].strip() in card  # the description stays in the text


def test_card_without_metrics_has_no_model_index(tmp_path):
    det = tiny_detector("wav2vec2")
    (tmp_path / "README.md").write_text(render_model_card(det.config, "bob/x"))
    meta = metadata_load(tmp_path / "README.md")
    assert "model-index" not in meta and "base_model" not in meta  # a temp dir is not a Hub id


def test_staged_folder_is_a_loadable_detector(detector, tmp_path):
    folder = stage_for_hub(detector, tmp_path / "stage", "alice/tiny-detector")
    assert {p.name for p in folder.iterdir()} == {
        "README.md",
        "config.json",
        "model.safetensors",
        "backbone",
        "preprocessor_config.json",
    }
    assert Detector.from_pretrained(folder).config.metrics["eer"] == 0.0412


def test_push_to_hub_uploads_the_staged_folder(detector, monkeypatch):
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create"] = (repo_id, kwargs)

    def upload_folder(self, *, repo_id, folder_path, commit_message, revision, repo_type, delete_patterns):
        from pathlib import Path

        calls["files"] = sorted(p.name for p in Path(folder_path).iterdir())
        calls["upload"] = (repo_id, commit_message, revision, repo_type)
        calls["token"] = self.token
        return "commit-info"

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    out = detector.push_to_hub("alice/tiny-detector", private=True, token="hf_test")
    assert out == "commit-info"
    assert calls["create"] == ("alice/tiny-detector", {"private": True, "exist_ok": True, "repo_type": "model"})
    assert calls["files"] == ["README.md", "backbone", "config.json", "model.safetensors", "preprocessor_config.json"]
    assert calls["upload"] == ("alice/tiny-detector", "Upload wavguard detector", None, "model")
    assert calls["token"] == "hf_test"


def test_from_pretrained_with_a_hub_id_uses_snapshot_download(detector, tmp_path, monkeypatch):
    local = detector.save_pretrained(tmp_path / "snapshot")
    seen = {}

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None):
        seen["args"] = (repo_id, revision)
        return str(local)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    loaded = Detector.from_pretrained("alice/tiny-detector", revision="v1")
    assert seen["args"] == ("alice/tiny-detector", "v1")
    assert loaded.config == detector.config


@pytest.mark.parametrize("error", ["LocalEntryNotFoundError", "HFValidationError"])
def test_unreachable_hub_id_gives_a_clear_error(monkeypatch, error):
    """What snapshot_download raises offline (no network, HF_HUB_OFFLINE) or for a malformed id,
    raised here without touching the network."""
    from huggingface_hub import errors

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None):
        raise getattr(errors, error)(f"cannot fetch {repo_id}")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    with pytest.raises(
        ModelLoadError, match="not a local directory, and fetching it from the Hugging Face Hub failed"
    ) as info:
        Detector.from_pretrained("nobody/does-not-exist-wavguard")
    assert f"({error}: cannot fetch nobody/does-not-exist-wavguard)" in str(info.value)


def test_card_is_a_huggingface_model_card_without_local_paths(tmp_path):
    from huggingface_hub import ModelCard

    from wavguard.hub.publish import build_model_card

    det = tiny_detector("wav2vec2", window_seconds=1.0)
    det.config.metrics = {"eer": 0.05, f"test_eer[{tmp_path}/held-out/test.csv]": 0.07, "epoch": 3}
    det.config.extra = {
        "dataset": f"clips under {tmp_path}/data",
        "dataset_id": "alice/spoof-clips",
        "training": {"train_data": "bob/more-clips", "init_from": str(tmp_path / "prev")},
    }
    card = build_model_card(det.config, "alice/tiny")
    assert isinstance(card, ModelCard)
    data = card.data.to_dict()
    assert data["library_name"] == "wavguard" and data["pipeline_tag"] == "audio-classification"
    assert data["datasets"] == ["alice/spoof-clips", "bob/more-clips"]
    assert "base_model" not in data  # a local backbone has no Hub id
    result, held_out = data["model-index"][0]["results"]  # one task; the test source's EER on its own data
    assert [(m["type"], m["value"]) for m in result["metrics"]] == [("eer", 0.05)]
    assert result["task"]["type"] == "audio-classification" and result["dataset"]["type"] == "alice/spoof-clips"
    assert [(m["type"], m["name"], m["value"]) for m in held_out["metrics"]] == [("eer", "EER (test: test.csv)", 0.07)]
    assert held_out["dataset"] == {"name": "test.csv", "type": "test.csv", "split": "test"}
    text = str(card)
    assert str(tmp_path) not in text and "/tmp" not in text
    assert "clips under data" in text and "(a local checkpoint)" in text
    # the text round-trips through huggingface_hub's parser
    card.save(tmp_path / "README.md")
    assert ModelCard.load(tmp_path / "README.md").data.to_dict() == data


def test_card_of_a_hub_backbone_names_it_as_base_model():
    det = tiny_detector("wav2vec2", window_seconds=1.0)
    det.config = det.config.replace(backbone="facebook/wav2vec2-base")
    meta = render_model_card(det.config, "me/x")
    assert "base_model: facebook/wav2vec2-base" in meta and "`facebook/wav2vec2-base`" in meta


def test_backbone_id_names_the_hub_model_never_a_path():
    config = tiny_detector("whisper", window_seconds=1.0).config
    assert backbone_id(config.replace(backbone="facebook/wav2vec2-base")) == "facebook/wav2vec2-base"
    # a bundled copy of a converted checkpoint: the Hub model it copies
    bundled = config.replace(backbone="backbone", extra={"base_model": "openai/whisper-base", "backbone_name": "x"})
    assert backbone_id(bundled) == "openai/whisper-base"
    assert backbone_id(bundled.replace(extra={})) == "backbone"
    assert backbone_id(config.replace(backbone="/home/me/.cache/my-whisper", extra={})) == "my-whisper"
    assert backbone_id(config.replace(backbone="")) == "none"  # the spectrogram CNN
