"""The service's OpenAPI document: every endpoint declares its request and response schemas and
the error shape, and an upload built from the schema alone (what /docs' "Try it out" sends) works."""

import base64
import io

import httpx
import numpy as np
import pytest
import soundfile as sf
from _servers import ServerThread

from wavguard.serve import ServiceSettings, create_app
from wavguard.testing import chirp, tiny_detector

ERRORS = {"401", "403", "413", "415", "422", "500", "504"}


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    settings = ServiceSettings(max_upload_bytes=400_000, log_db=str(tmp_path_factory.mktemp("db") / "log.sqlite"))
    with ServerThread(create_app(tiny_detector("wav2vec2", window_seconds=1.0), settings, ui=False)) as base:
        yield base


@pytest.fixture(scope="module")
def spec(url):
    return httpx.get(f"{url}/openapi.json").json()


@pytest.fixture(scope="module")
def wav():
    buf = io.BytesIO()
    sf.write(
        buf, chirp(2.0) + 0.01 * np.random.default_rng(0).standard_normal(32000).astype(np.float32), 16000, format="WAV"
    )
    return buf.getvalue()


def _resolve(spec, schema):
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.split("/")[-1]] if ref else schema


def test_every_endpoint_declares_request_and_response_schemas(spec):
    paths = spec["paths"]
    assert set(paths) == {
        "/healthz",
        "/readyz",
        "/v1/model",
        "/v1/predict",
        "/v1/predict/batch",
        "/v1/feedback",
        "/metrics",
    }
    for path, operations in paths.items():
        for method, op in operations.items():
            ok = op["responses"]["200"]["content"]
            assert all(media.get("schema") for media in ok.values()), (method, path)
            if method == "post":
                body = op["requestBody"]
                assert body["required"] and all(m.get("schema") for m in body["content"].values()), path
            for code, response in op["responses"].items():
                if code != "200":  # every error has the one documented shape
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorOut"
                    }
    for path in ("/v1/predict", "/v1/predict/batch"):
        op = paths[path]["post"]
        assert set(op["responses"]) >= ERRORS, path
        assert set(op["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
        assert {p["name"] for p in op["parameters"]} == {"threshold", "X-API-Key"}
    error = _resolve(spec, {"$ref": "#/components/schemas/ErrorOut"})
    detail = _resolve(spec, error["properties"]["detail"])
    assert set(detail["required"]) == {"error", "message"}
    assert paths["/v1/feedback"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "label"
    ]


def _file_fields(schema):
    """Multipart fields the schema says carry files (format: binary), and whether each is a list."""
    fields = {}
    for name, prop in schema["properties"].items():
        if prop.get("format") == "binary":
            fields[name] = False
        elif prop.get("type") == "array" and prop["items"].get("format") == "binary":
            fields[name] = True
    return fields


def test_a_multipart_upload_built_from_the_schema_works(url, spec, wav):
    predict = spec["paths"]["/v1/predict"]["post"]
    fields = _file_fields(predict["requestBody"]["content"]["multipart/form-data"]["schema"])
    assert fields == {"file": False}  # Swagger UI shows a file picker for it
    reply = httpx.post(f"{url}/v1/predict", files={name: ("clip.wav", wav, "audio/wav") for name in fields})
    assert reply.status_code == 200, reply.text
    out_schema = _resolve(spec, predict["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(out_schema["required"]) <= set(reply.json())

    batch = spec["paths"]["/v1/predict/batch"]["post"]
    fields = _file_fields(batch["requestBody"]["content"]["multipart/form-data"]["schema"])
    assert fields == {"files": True}
    reply = httpx.post(f"{url}/v1/predict/batch", files=[("files", (f"{i}.wav", wav, "audio/wav")) for i in range(2)])
    assert reply.status_code == 200 and [r["status"] for r in reply.json()["results"]] == [200, 200]


def test_the_json_alternative_follows_its_schema(url, spec, wav):
    schema = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["audio_base64"]
    reply = httpx.post(f"{url}/v1/predict", json={"audio_base64": base64.b64encode(wav).decode(), "filename": "c.wav"})
    assert reply.status_code == 200 and reply.json()["source"] == "c.wav"
    refused = httpx.post(f"{url}/v1/predict", content=b"x", headers={"content-type": "text/plain"})
    assert refused.status_code == 415 and set(refused.json()["detail"]) == {"error", "message"}
