"""``POST /v1/feedback``: the true label of a prediction, for the next round of training.

Contract: JSON :class:`~wavguard.serve.requests.FeedbackIn`, ``{"label": "real"|"fake",
"prediction_id"?, "audio_base64"?, "note"?}`` with a ``prediction_id`` from a ``/v1/predict``
answer, or the audio itself, or both. 200 ``{"id": row, "stored_audio": bool}`` (audio is kept
only with ``store_feedback_audio``). Errors: 401/403 (API key), 404 ``UnknownPrediction``, 408
(the body came too slowly), 413 (body too large), 422 (body not in the schema, neither id nor
audio), 503 ``FeedbackDisabled`` (no ``--log-db``), ``LogUnavailable`` (the log cannot be
written now) or ``ServerBusy`` (too many uploads held), with ``Retry-After`` for the last two.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3

from fastapi import APIRouter, Depends, Request

from ..dependencies import ServiceDep, StoreDep, TicketDep, require_key
from ..errors import api_error
from ..limits import RETRY_AFTER_SECONDS
from ..requests import parse_feedback, read_body
from ..schemas import FeedbackOut, error_responses, feedback_body, openapi_extra

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_key)])


@router.post(
    "/v1/feedback",
    responses={200: {"model": FeedbackOut}, **error_responses(401, 403, 404, 408, 413, 422, 500, 503)},
    openapi_extra=openapi_extra(body=feedback_body()),
)
async def feedback(request: Request, service: ServiceDep, store: StoreDep, ticket: TicketDep):
    """The true label of a prediction (by `prediction_id`) or of audio sent along (`audio_base64`)."""
    body = await read_body(request, service.settings, ticket)
    payload, audio = await asyncio.to_thread(parse_feedback, body)
    prediction_id = payload.prediction_id
    try:
        sha = await asyncio.to_thread(lambda: hashlib.sha256(audio).hexdigest()) if audio is not None else None
        if prediction_id is not None:
            known = await asyncio.to_thread(store.get_prediction, prediction_id)
            if known is None:
                raise api_error(404, "UnknownPrediction", f"no prediction with id {prediction_id!r}")
            sha = sha or known["audio_sha256"]
        if prediction_id is None and audio is None:
            raise api_error(422, "InvalidRequest", "send a prediction_id, or the audio itself (audio_base64)")
        kept = audio if service.settings.store_feedback_audio else None
        row = await asyncio.to_thread(store.add_feedback, payload.label, prediction_id, sha, kept, payload.note)
    except sqlite3.Error as exc:  # the feedback is the write itself: nothing to return without it
        unavailable = api_error(
            503, "LogUnavailable", f"the feedback could not be stored ({type(exc).__name__}: {exc}); retry later"
        )
        unavailable.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        raise unavailable from None
    return {"id": row, "stored_audio": kept is not None}
