"""Push -> load elsewhere -> save again, with a mocked Hub (issue 16, item 1).

The "other machine" is a fresh copy of the uploaded folder in another temp dir, loaded after
the source backbone directory is deleted; scores must equal the original detector's exactly.
"""

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import huggingface_hub
import numpy as np
import pytest
import torch

from wavguard import ConfigError, Detector, ModelLoadError
from wavguard.hub.portable import is_hub_id, is_local_path, scrub_local_paths
from wavguard.models.lora import apply_lora, lora_config
from wavguard.testing import chirp, sine, tiny_backbone_dir

FIXTURES = Path(__file__).parent / "fixtures" / "release_0_1_0"


def _clips():
    rng = np.random.default_rng(3)
    return [chirp(2.2) + 0.01 * rng.standard_normal(35200).astype(np.float32), sine(1.3, frequency_hz=330.0)]


def _scores(det):
    return [[p.score] + [s.score for s in p.segments] for p in det.predict(_clips(), sample_rate=16000)]


def _local_backbone_detector(root: Path, lora: bool) -> Detector:
    """A detector whose config.backbone is a local folder it references (the quickstart's case)."""
    source = tiny_backbone_dir("wav2vec2", root / "my-backbone", seed=1)
    det = Detector.from_backbone(str(source), seed=1, head_channels=(16,), window_seconds=1.0)
    assert det.backbone_is_reference
    if lora:
        apply_lora(det.model, lora_config(rank=2))
        with torch.no_grad():  # non-zero adapters, so a load that dropped them would show
            for name, p in det.model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.05)
        det.model.eval()
    det.config.metrics = {"eer": 0.1, f"test_eer[{root}/data/test.csv]": 0.2}
    det.config.extra = {
        "training": {"train_data": str(root / "data" / "train.csv"), "init_from": str(source)},
        "dataset": f"clips under {root}/data",
    }
    return det


@pytest.fixture
def mocked_hub(monkeypatch, tmp_path):
    """HfApi whose upload_folder copies the folder into ``uploaded/``; snapshot_download serves ``served/``."""
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create"] = repo_id

    def upload_folder(self, *, repo_id, folder_path, delete_patterns=None, **kwargs):
        shutil.copytree(folder_path, tmp_path / "uploaded")
        calls["delete_patterns"] = delete_patterns
        return "commit"

    def snapshot_download(repo_id, revision=None, **kwargs):
        calls["download"] = (repo_id, revision, kwargs)
        return str(tmp_path / "served")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def _text_files(folder: Path):
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".md", ".txt", ".yaml")]


@pytest.mark.parametrize("lora", [False, True], ids=["plain", "lora"])
def test_push_then_load_on_a_machine_that_never_saw_the_backbone(tmp_path, mocked_hub, lora):
    work = tmp_path / "author"
    det = _local_backbone_detector(work, lora)
    expected = _scores(det)
    assert det.push_to_hub("alice/detector", token="hf_x") == "commit"
    uploaded = tmp_path / "uploaded"

    # what was uploaded: a bundled backbone, wavguard's card only, no local paths anywhere
    names = {p.relative_to(uploaded).as_posix() for p in uploaded.rglob("*") if p.is_file()}
    assert {
        "config.json",
        "model.safetensors",
        "README.md",
        "preprocessor_config.json",
        "backbone/config.json",
        "backbone/model.safetensors",
    } <= names
    assert ("adapter/adapter_config.json" in names) == lora
    assert "adapter/README.md" not in names
    assert mocked_hub["delete_patterns"] == ["adapter/README.md"]
    for path in _text_files(uploaded):
        text = path.read_text()
        assert str(tmp_path) not in text and "/tmp" not in text, f"{path.name} names a local path"
    config = json.loads((uploaded / "config.json").read_text())
    assert config["backbone"] == "backbone" and config["model_type"] == "wavguard"
    assert config["extra"]["backbone_name"] == "my-backbone"
    assert config["extra"]["training"]["train_data"] == "train.csv"
    assert "test_eer[test.csv]" in config["metrics"]
    if lora:
        assert json.loads((uploaded / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"] is None
    assert "library_name: wavguard" in (uploaded / "README.md").read_text()

    # another machine: the author's folder is gone, the download is a fresh copy elsewhere
    shutil.rmtree(work)
    shutil.copytree(uploaded, tmp_path / "served")
    loaded = Detector.from_pretrained("alice/detector", revision="v1", token="hf_y", cache_dir=tmp_path / "cache")
    assert mocked_hub["download"][:2] == ("alice/detector", "v1")
    assert mocked_hub["download"][2]["token"] == "hf_y" and mocked_hub["download"][2]["cache_dir"] == str(
        tmp_path / "cache"
    )
    assert _scores(loaded) == expected

    # and saved again there: the bundle (and the adapters) survive
    again = loaded.save_pretrained(tmp_path / "resaved")
    assert (again / "backbone" / "model.safetensors").is_file()
    assert (again / "adapter").is_dir() == lora and not (again / "adapter" / "README.md").exists()
    shutil.rmtree(tmp_path / "served")
    assert _scores(Detector.from_pretrained(again)) == expected


def test_a_plain_save_still_references_a_local_backbone_and_portable_bundles_it(tmp_path):
    det = _local_backbone_detector(tmp_path / "w", lora=False)
    plain = det.save_pretrained(tmp_path / "plain")
    assert not (plain / "backbone").exists()
    assert json.loads((plain / "config.json").read_text())["backbone"] == str(tmp_path / "w" / "my-backbone")
    portable = det.save_pretrained(tmp_path / "portable", portable=True)
    assert (portable / "backbone").is_dir()
    with pytest.raises(ConfigError, match="local folder; bundle it"):
        det.save_pretrained(tmp_path / "broken", portable=True, bundle_backbone=False)


def test_a_hub_backbone_stays_a_reference_in_a_portable_save(tmp_path):
    det = _local_backbone_detector(tmp_path / "w", lora=True)
    det.config = det.config.replace(backbone="facebook/wav2vec2-base", backbone_revision="main")
    out = det.save_pretrained(tmp_path / "out", portable=True)
    assert not (out / "backbone").exists()
    config = json.loads((out / "config.json").read_text())
    assert (config["backbone"], config["backbone_revision"]) == ("facebook/wav2vec2-base", "main")
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "facebook/wav2vec2-base"


def test_peft_missing_gives_a_model_load_error_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` now raises ModuleNotFoundError
    with pytest.raises(ModelLoadError, match=r"need the peft package: pip install 'peft>=0\.13'"):
        Detector.from_pretrained(FIXTURES / "wav2vec2_lora")
    Detector.from_pretrained(FIXTURES / "wav2vec2")  # detectors without adapters never need peft


def test_hub_ids_and_local_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_hub_id("facebook/wav2vec2-base") and is_hub_id("gpt2")
    assert not is_hub_id("/abs/dir") and not is_hub_id("./dir") and not is_hub_id("a/b/c") and not is_hub_id("")
    (tmp_path / "here").mkdir()
    assert is_local_path("here") and not is_hub_id("here")
    assert scrub_local_paths({"k": ["/a/b/c.wav", "openai/whisper-base", "see /x/y now", "https://h.co/a/b"]}) == {
        "k": ["c.wav", "openai/whisper-base", "see y now", "https://h.co/a/b"]
    }
