"""``POST /v1/predict`` and ``POST /v1/predict/batch``: score uploaded audio files.

Contract:

- ``/v1/predict``: one file, as multipart/form-data with a ``file`` field, or JSON
  ``{"audio_base64": ..., "filename"?: ...}``; ``?threshold=`` in [0, 1] optional. 200 with a
  :class:`~wavguard.serve.schemas.PredictionOut`.
- ``/v1/predict/batch``: several files (multipart ``files`` parts, or JSON ``{"files": [...]}``);
  200 with one entry per file in order, each ``status`` 200 with its prediction or the status that
  file alone would have got (one bad file does not fail the others).
- A prediction whose log record could not be written is still returned, with the header
  ``X-Wavguard-Warning: prediction-not-logged`` (:mod:`wavguard.serve.prediction_log`).
- Errors: 401/403 (API key), 408 (the body came too slowly), 413 (too large, too many files,
  too long a file or request), 415 (not audio, not multipart nor JSON), 422 (cannot be scored,
  bad request), 500, 503 (the server holds too many uploads: retry after ``Retry-After``),
  504 (timeout), all ``{"detail": {"error", "message"}}``. A client that leaves mid-upload is
  counted as 499 and sent nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from ..dependencies import ServiceDep, ThresholdDep, TicketDep, require_key
from ..prediction_log import NOT_LOGGED, WARNING_HEADER
from ..predictions import Scored, score_uploads
from ..schemas import BatchOut, PredictionOut, error_responses, openapi_extra, upload_body
from ..uploads import read_uploads

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_key)])

_UPLOAD_ERRORS = error_responses(401, 403, 408, 413, 415, 422, 500, 503, 504)


def _warn_if_not_logged(response: Response, scored: Scored) -> None:
    if scored.not_logged:
        response.headers[WARNING_HEADER] = NOT_LOGGED


@router.post(
    "/v1/predict",
    responses={200: {"model": PredictionOut}, **_UPLOAD_ERRORS},
    openapi_extra=openapi_extra(body=upload_body(batch=False), threshold=True),
)
async def predict(
    request: Request, response: Response, service: ServiceDep, ticket: TicketDep, threshold: ThresholdDep
):
    """Score one audio file: multipart/form-data with a `file` field, or JSON `{"audio_base64": ...}`."""
    uploads = await read_uploads(request, service.settings, ticket, max_files=1)
    scored = await score_uploads(service, ticket, uploads, threshold)
    [result] = scored.results
    if isinstance(result, HTTPException):
        raise result
    _warn_if_not_logged(response, scored)
    return result


@router.post(
    "/v1/predict/batch",
    responses={200: {"model": BatchOut}, **_UPLOAD_ERRORS},
    openapi_extra=openapi_extra(body=upload_body(batch=True), threshold=True),
)
async def predict_batch(
    request: Request, response: Response, service: ServiceDep, ticket: TicketDep, threshold: ThresholdDep
):
    """Score several files (multipart `files` parts, or JSON `{"files": [{"audio_base64": ...}]}`);
    a file that fails gets its own status in `results`, the others are still scored."""
    uploads = await read_uploads(request, service.settings, ticket, max_files=service.settings.max_batch_files)
    scored = await score_uploads(service, ticket, uploads, threshold)
    _warn_if_not_logged(response, scored)
    return {
        "results": [
            {"status": r.status_code, "source": u.name, **r.detail}
            if isinstance(r, HTTPException)
            else {"status": 200, **r}
            for u, r in zip(uploads, scored.results)
        ]
    }
