"""``POST /v1/predict`` and ``POST /v1/predict/batch``: score uploaded audio files.

Contract:

- ``/v1/predict``: one file, as multipart/form-data with a ``file`` field, or JSON
  ``{"audio_base64": ..., "filename"?: ...}``; ``?threshold=`` in [0, 1] optional. 200 with a
  :class:`~wavguard.serve.schemas.PredictionOut`.
- ``/v1/predict/batch``: several files (multipart ``files`` parts, or JSON ``{"files": [...]}``);
  200 with one entry per file in order, each ``status`` 200 with its prediction or the status that
  file alone would have got (one bad file does not fail the others).
- Errors: 401/403 (API key), 413 (too large, too many files, too long), 415 (not audio, not
  multipart nor JSON), 422 (cannot be scored, bad request), 500, 504 (timeout), all
  ``{"detail": {"error", "message"}}``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from ..dependencies import ServiceDep, ThresholdDep, require_key
from ..predictions import score_upload
from ..requests import read_uploads
from ..schemas import BatchOut, PredictionOut, error_responses, openapi_extra, upload_body

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_key)])

_UPLOAD_ERRORS = error_responses(401, 403, 413, 415, 422, 500, 504)


@router.post("/v1/predict", responses={200: {"model": PredictionOut}, **_UPLOAD_ERRORS},
             openapi_extra=openapi_extra(body=upload_body(batch=False), threshold=True))
async def predict(request: Request, service: ServiceDep, threshold: ThresholdDep):
    """Score one audio file: multipart/form-data with a `file` field, or JSON `{"audio_base64": ...}`."""
    [(name, data)] = await read_uploads(request, service.settings, max_files=1)
    return await score_upload(service, name, data, threshold)


@router.post("/v1/predict/batch", responses={200: {"model": BatchOut}, **_UPLOAD_ERRORS},
             openapi_extra=openapi_extra(body=upload_body(batch=True), threshold=True))
async def predict_batch(request: Request, service: ServiceDep, threshold: ThresholdDep):
    """Score several files (multipart `files` parts, or JSON `{"files": [{"audio_base64": ...}]}`);
    a file that fails gets its own status in `results`, the others are still scored."""
    files = await read_uploads(request, service.settings, max_files=service.settings.max_batch_files)

    async def guarded(name: str, data: bytes) -> dict[str, Any]:
        try:
            return {"status": 200, **(await score_upload(service, name, data, threshold))}
        except HTTPException as exc:
            return {"status": exc.status_code, "source": name, **exc.detail}

    return {"results": await asyncio.gather(*(guarded(n, d) for n, d in files))}
