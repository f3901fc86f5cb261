"""The service under hostile or awkward input (issue 27): deeply nested JSON, a non-ASCII password
on the page's login, and no local path in anything the service sends to clients."""

from __future__ import annotations

import io
import json

import httpx
import pytest
import soundfile as sf
from _servers import ServerThread
from fastapi.testclient import TestClient

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
    with TestClient(create_app(detector, ServiceSettings(log_db=str(db)), ui=False), raise_server_exceptions=False) as c:
        yield c


# -- (a) deeply nested JSON --------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/v1/predict", "/v1/predict/batch", "/v1/feedback"])
@pytest.mark.parametrize("body", [NESTED, '{"audio_base64": ' + '{"a": ' * 100_000, '{"label": "real", "note": ' + NESTED],
                         ids=["arrays", "objects", "inside-a-field"])
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
