"""The service under hostile or awkward input (issue 27): deeply nested JSON, a non-ASCII password
on the page's login, and no local path in anything the service sends to clients."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
import soundfile as sf
from _servers import ServerThread
from fastapi.testclient import TestClient

from wavguard import Detector
from wavguard.serve import ServiceSettings, create_app
from wavguard.testing import chirp, tiny_detector

NESTED = "[" * 100_000


def _wav(seconds: float = 1.5) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, chirp(seconds), 16000, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def detector():
    return tiny_detector("wav2vec2", window_seconds=1.0)


@pytest.fixture(scope="module")
def client(detector, tmp_path_factory):
    db = tmp_path_factory.mktemp("faults") / "log.sqlite"
    with TestClient(
        create_app(detector, ServiceSettings(log_db=str(db)), ui=False), raise_server_exceptions=False
    ) as c:
        yield c


# -- (a) deeply nested JSON --------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/v1/predict", "/v1/predict/batch", "/v1/feedback"])
@pytest.mark.parametrize(
    "body",
    [NESTED, '{"audio_base64": ' + '{"a": ' * 100_000, '{"label": "real", "note": ' + NESTED],
    ids=["arrays", "objects", "inside-a-field"],
)
def test_deeply_nested_json_is_a_422_not_a_500(client, path, body):
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["error"] == "InvalidRequest" and "nested" in detail["message"], detail


def test_json_uploads_of_ordinary_depth_still_work(client):
    import base64

    audio = base64.b64encode(_wav()).decode()
    single = client.post("/v1/predict", json={"audio_base64": audio, "filename": "a.wav"})
    assert single.status_code == 200 and single.json()["source"] == "a.wav"
    batch = client.post("/v1/predict/batch", json={"files": [{"audio_base64": audio}, {"audio_base64": audio}]})
    assert [r["status"] for r in batch.json()["results"]] == [200, 200]
    deep_but_fine = {"label": "real", "prediction_id": None, "note": None, "audio_base64": audio}
    assert client.post("/v1/feedback", json=deep_but_fine).status_code == 200
    for bad in ([1, 2], {"files": 3}, {"filename": "x"}, {"audio_base64": "@@"}, "not json", "[" * 150 + "]" * 150):
        body = bad if isinstance(bad, str) else json.dumps(bad)
        answer = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422 and answer.json()["detail"]["error"] == "InvalidRequest"


# -- (c) the page's login with a non-ASCII password --------------------------------------------
def test_login_with_a_non_ascii_password_is_refused_or_accepted_never_a_500(detector):
    pytest.importorskip("gradio", reason="the demo page needs gradio: pip install 'wavguard-detector[demo]'")
    app = create_app(detector, ServiceSettings(api_keys=("s3cret", "clé-ünïcode-🔑")))
    with ServerThread(app) as base:
        client = httpx.Client(base_url=base)
        for wrong in ("pässwörd", "s3crét", "🔑"):
            refused = client.post("/ui/login", data={"username": "anyone", "password": wrong})
            assert refused.status_code == 400, refused.text
            assert refused.headers["content-type"].startswith("application/json")
        accepted = client.post("/ui/login", data={"username": "anyone", "password": "clé-ünïcode-🔑"})
        assert accepted.status_code == 200 and accepted.json() == {"success": True}
        assert client.post("/ui/login", data={"username": "x", "password": "s3cret"}).json() == {"success": True}


# -- (d) no local path reaches a client --------------------------------------------------------
@pytest.fixture(scope="module")
def saved(detector, tmp_path_factory):
    """A detector folder whose config names local paths (as a training run leaves it), and the
    path it was given as on the command line."""
    root = tmp_path_factory.mktemp("machine-secret")
    directory = root / "my-detector"
    config = detector.config.replace(
        extra={
            "training": {"train_data": str(root / "data" / "train.csv"), "epochs": 2},
            "dataset": f"folders under {root / 'corpus'}",
        },
        metrics={"eer": 0.1, f"test_eer[{root / 'data' / 'test.csv'}]": 0.2},
    )
    Detector(detector.model, config, backbone_is_reference=True).save_pretrained(directory)
    return Detector.from_pretrained(directory), directory


def _leaks(text: str, directory) -> list[str]:
    """The local folders ``text`` names: the detector's folder, its parents, the backbone's folder."""
    return [str(p) for p in (directory, directory.parent) if str(p) in text] + (["/tmp/"] if "/tmp/" in text else [])


def test_responses_name_no_local_path(saved):
    loaded, directory = saved
    assert str(directory.parent) in json.dumps(loaded.config.to_dict())  # the config on disk does
    settings = ServiceSettings(model_id=str(directory))  # as `wavguard serve /abs/path/my-detector` sets it
    with TestClient(create_app(loaded, settings, ui=False)) as client:
        prediction = client.post("/v1/predict", files={"file": ("clip.wav", _wav())})
        assert prediction.status_code == 200
        assert prediction.json()["model"]["id"] == "my-detector"
        batch = client.post("/v1/predict/batch", files=[("files", ("a.wav", _wav()))])
        assert batch.json()["results"][0]["model"]["id"] == "my-detector"
        info = client.get("/v1/model")
        body = info.json()
        assert body["id"] == "my-detector"
        assert body["config"]["extra"]["training"]["train_data"] == "train.csv"
        assert body["config"]["metrics"] == body["metrics"] == {"eer": 0.1, "test_eer[test.csv]": 0.2}
        assert "/" not in body["config"]["backbone"] and "/" not in body["backbone"]
        for response in (prediction, batch, info):
            assert not _leaks(response.text, directory), response.text


def test_hub_ids_and_plain_names_are_kept(detector):
    with TestClient(create_app(detector, ServiceSettings(model_id="user/detector"), ui=False)) as client:
        assert client.get("/v1/model").json()["id"] == "user/detector"
    with TestClient(create_app(detector, ServiceSettings(), ui=False)) as client:
        assert client.get("/v1/model").json()["id"] == "wavguard-detector"


def test_the_page_names_no_local_path(saved):
    pytest.importorskip("gradio", reason="the demo page needs gradio: pip install 'wavguard-detector[demo]'")
    loaded, directory = saved
    with TestClient(create_app(loaded, ServiceSettings(model_id=str(directory)))) as client:
        config = client.get("/ui/config")
        assert config.status_code == 200
        assert "my-detector" in config.text and not _leaks(config.text, directory)


def test_a_silent_upload_still_gets_its_own_name_only(client):
    buf = io.BytesIO()
    sf.write(buf, np.zeros(16000 * 3, dtype=np.float32), 16000, format="WAV")
    answer = client.post("/v1/predict", files={"file": ("quiet.wav", buf.getvalue())})
    assert answer.status_code == 422 and answer.json()["detail"]["message"].startswith("quiet.wav: ")


def test_portable_name():
    from wavguard.hub.portable import portable_name

    assert portable_name("/srv/models/my-detector/") == "my-detector"
    assert portable_name("C:\\models\\det") == "det"
    assert portable_name("user/detector") == "user/detector"
    assert portable_name("wavguard-detector") == "wavguard-detector"
