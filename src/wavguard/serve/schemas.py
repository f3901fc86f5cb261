"""The service's OpenAPI: request bodies, success responses and the error shape of every endpoint.

The routes read their bodies themselves (uploads are size-checked while they stream in, see
:mod:`wavguard.serve.requests`), so FastAPI cannot infer the bodies from parameters; they are
declared here instead, and ``/docs`` ("Try it out") offers a file picker for the multipart
uploads and an editor for the JSON alternative. Success models are documented, not enforced
(``responses=``, not ``response_model=``): the handlers' dicts go out unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .requests import FeedbackIn

__all__ = [
    "ErrorDetail",
    "ErrorOut",
    "SegmentOut",
    "ModelRef",
    "PredictionOut",
    "BatchItemOut",
    "BatchOut",
    "HealthOut",
    "ReadyOut",
    "ModelInfoOut",
    "FeedbackOut",
    "UploadJSON",
    "BatchUploadJSON",
    "upload_body",
    "error_responses",
    "auth_parameters",
    "threshold_parameter",
    "openapi_extra",
]


# -- errors ---------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    error: str = Field(description="the kind of error, e.g. PayloadTooLarge, AudioDecodeError, Unauthorized")
    message: str = Field(description="what was wrong, in a sentence")


class ErrorOut(BaseModel):
    """Every error the service answers (its own, FastAPI's, Starlette's and 500s) has this body."""

    detail: ErrorDetail


_ERROR_TEXT = {
    401: "no API key (the server has keys): send X-API-Key or Authorization: Bearer",
    403: "the API key is not valid",
    404: "no such prediction id",
    408: "the request body did not arrive within the body timeout",
    413: "the upload is too large, holds too many files, or a file or the whole request holds more audio than its limit",
    415: "not audio (cannot be decoded), or neither multipart/form-data nor JSON",
    422: "audio that cannot be scored (empty, silent, too short, bad sample rate) or an invalid request",
    500: "an unexpected error; the server logged it",
    503: "the server holds too many uploads (retry after Retry-After), is not ready (/readyz), or keeps no feedback log "
    "(--log-db) or cannot write it",
    504: "scoring took longer than the request timeout",
}


def error_responses(*codes: int, by_reference: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for ``codes``, each with the :class:`ErrorOut` JSON body.

    ``by_reference``: name the schema as JSON explicitly, for a route whose own responses are not
    JSON (FastAPI would give a ``model`` the route's media type); ``ErrorOut`` is registered by the others.
    """
    if by_reference:
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        return {code: {"content": content, "description": _ERROR_TEXT[code]} for code in codes}
    return {code: {"model": ErrorOut, "description": _ERROR_TEXT[code]} for code in codes}


# -- success bodies -------------------------------------------------------------------------
class SegmentOut(BaseModel):
    start_seconds: float
    end_seconds: float
    score: float = Field(description="calibrated probability that this window is fake")


class ModelRef(BaseModel):
    id: str | None
    version: str
    backbone: str = Field(
        description="the pretrained backbone: a Hub id where there is one, else a folder name; 'none' for the spectrogram CNN"
    )


class PredictionOut(BaseModel):
    """A scored upload: ``Prediction.to_dict()`` plus the request's id, hash, timing and model."""

    source: str = Field(description="the uploaded file's name")
    score: float = Field(description="calibrated probability that the audio is FAKE, in [0, 1]")
    label: Literal["real", "fake"]
    threshold: float
    duration_seconds: float
    segments: list[SegmentOut]
    logit_margin: float | None = Field(description="aggregated FAKE-minus-REAL logit before calibration")
    backend: str = Field(description="the runtime that scored: torch, onnx or onnx-int8")
    id: str = Field(description="the prediction id, for /v1/feedback")
    audio_sha256: str
    processing_ms: float
    model: ModelRef


class BatchItemOut(BaseModel):
    """One file of a batch: ``status`` 200 with the :class:`PredictionOut` fields, or an error
    status with ``error`` and ``message`` (one bad file does not fail the batch)."""

    model_config = {"extra": "allow"}

    status: int = Field(description="200, or the HTTP status this file alone would have got")
    source: str
    score: float | None = None
    label: Literal["real", "fake"] | None = None
    error: str | None = None
    message: str | None = None


class BatchOut(BaseModel):
    results: list[BatchItemOut] = Field(description="one entry per uploaded file, in order")


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class ReadyOut(BaseModel):
    status: Literal["ready"]
    version: str
    checks: dict[str, str] = Field(description="each check and its state: ok, or disabled (no --log-db)")


class ModelInfoOut(BaseModel):
    id: str | None
    version: str
    backbone: str = Field(description="the pretrained backbone, as in a prediction's model.backbone")
    backend: str = Field(description="the runtime that scores: torch, onnx or onnx-int8 (wavguard.loading's rule)")
    config: dict[str, Any] = Field(description="the detector's config.json")
    metrics: dict[str, Any]
    score: str


class FeedbackOut(BaseModel):
    id: int = Field(description="the feedback row")
    stored_audio: bool


# -- request bodies -------------------------------------------------------------------------
class UploadJSON(BaseModel):
    """The JSON alternative to a multipart upload."""

    audio_base64: str = Field(description="the encoded audio file (wav, flac, ogg, mp3), base64")
    filename: str | None = Field(None, description="a name for the upload (default: upload)")


class BatchUploadJSON(BaseModel):
    files: list[UploadJSON]


def _binary(description: str) -> dict[str, Any]:
    # format: binary is what Swagger UI turns into a file picker (FastAPI's own UploadFile schema).
    return {"type": "string", "format": "binary", "description": description}


def upload_body(batch: bool) -> dict[str, Any]:
    """The ``requestBody`` of /v1/predict (``file``) or /v1/predict/batch (``files``): multipart or JSON."""
    if batch:
        form = {
            "type": "object",
            "required": ["files"],
            "properties": {
                "files": {
                    "type": "array",
                    "items": _binary("an audio file"),
                    "description": "audio files, one part each",
                }
            },
        }
        json_schema = BatchUploadJSON.model_json_schema(ref_template="#/components/schemas/{model}")
    else:
        form = {
            "type": "object",
            "required": ["file"],
            "properties": {"file": _binary("an audio file (wav, flac, ogg, mp3)")},
        }
        json_schema = UploadJSON.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "required": True,
        "content": {"multipart/form-data": {"schema": form}, "application/json": {"schema": _inline(json_schema)}},
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic schema with its ``$defs`` resolved in place (openapi_extra is not post-processed)."""
    defs = schema.pop("$defs", {})

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref.split("/")[-1] in defs:
                return walk(dict(defs[ref.split("/")[-1]]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def auth_parameters() -> list[dict[str, Any]]:
    """The API key headers (needed only when the server has keys)."""
    return [
        {
            "name": "X-API-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "API key (when the server has keys); or Authorization: Bearer KEY",
        }
    ]


def threshold_parameter() -> dict[str, Any]:
    return {
        "name": "threshold",
        "in": "query",
        "required": False,
        "schema": {"type": "number", "minimum": 0.0, "maximum": 1.0},
        "description": "decision threshold (default: the detector's)",
    }


def openapi_extra(*, body: dict[str, Any] | None = None, auth: bool = True, threshold: bool = False) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    parameters = ([threshold_parameter()] if threshold else []) + (auth_parameters() if auth else [])
    if parameters:
        extra["parameters"] = parameters
    if body is not None:
        extra["requestBody"] = body
    return extra


def feedback_body() -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _inline(FeedbackIn.model_json_schema())}}}
