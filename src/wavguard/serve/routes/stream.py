"""``WS /v1/stream``: live PCM in, window scores out, with caps on rate, frame size and duration.

Contract: query ``?sample_rate=16000&channels=1&dtype=int16|float32`` (defaults: the model's
rate, mono, float32); the key as ``X-API-Key``/``Authorization: Bearer``, the subprotocol
``api-key.KEY`` (offer ``wavguard`` beside it) or ``?api_key=``. Send binary frames of
interleaved samples, receive ``{"segments": [...]}`` per completed window; send the text ``end``
for the final ``{"final": prediction}``, then the server closes with 1000.

The socket is always accepted first, so every refusal reaches the client as a JSON message
``{"error": ..., "message": ...}`` followed by a close frame whose code and reason say why
(a handshake refused before ``accept`` would reach it as a bare HTTP 403):

=====  ==========================================================================================
code   when
=====  ==========================================================================================
4401   no API key (the service has keys); 4403: a wrong key
1008   invalid parameters (sample_rate outside 1 kHz-768 kHz, channels outside 1..32, unknown
       dtype), or the stream ran past ``max_stream_seconds``
1009   a binary frame over ``max_stream_frame_bytes``
1003   a frame that is not whole samples (an odd number of bytes for int16), does not split into
       the channels, holds NaN/inf, a text message other than ``end``, or audio that cannot be
       scored at ``end`` (silent, too short)
1011   an unexpected server error (logged)
=====  ==========================================================================================
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from ...audio.decode import MAX_CHANNELS, check_sample_rate
from ...detector import Detector
from ...errors import WavguardError
from ..auth import SUBPROTOCOL, check_key, presented_key
from ..dependencies import ServiceDep
from ..errors import logger
from ..settings import ServiceSettings

__all__ = ["router", "StreamParams", "stream_params", "serve_stream"]

router = APIRouter()

_DTYPES = {"float32": np.float32, "int16": np.int16}
_MAX_REASON_BYTES = 123  # a close frame's reason must fit in 123 bytes of UTF-8


@dataclass(frozen=True)
class StreamParams:
    """The query parameters of one stream: ``sample_rate`` (Hz), ``channels``, ``dtype``."""

    sample_rate: int
    channels: int
    dtype: type

    @property
    def frame_bytes(self) -> int:
        """Bytes of one multichannel sample frame."""
        return self.channels * np.dtype(self.dtype).itemsize


class _Refusal(Exception):
    def __init__(self, code: int, kind: str, message: str):
        super().__init__(message)
        self.code, self.kind, self.message = code, kind, message


def stream_params(query, default_rate: int) -> StreamParams:
    """Parse and check ``?sample_rate=&channels=&dtype=``; :class:`_Refusal` (1008) otherwise."""
    try:
        rate = check_sample_rate(int(query.get("sample_rate", default_rate)), "sample_rate")
        channels = int(query.get("channels", 1))
        dtype_name = query.get("dtype", "float32")
        if dtype_name not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype_name!r}")
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"channels must be in 1..{MAX_CHANNELS}, got {channels}")
    except (ValueError, WavguardError) as exc:  # int("abc"), SampleRateError
        raise _Refusal(1008, "InvalidStreamParameters", f"bad stream parameters: {exc}") from None
    return StreamParams(rate, channels, _DTYPES[dtype_name])


async def _refuse(websocket: WebSocket, refusal: _Refusal) -> None:
    try:
        await websocket.send_json({"error": refusal.kind, "message": refusal.message})
        reason = f"{refusal.kind}: {refusal.message}".encode()[:_MAX_REASON_BYTES].decode(errors="ignore")
        await websocket.close(code=refusal.code, reason=reason)
    except (WebSocketDisconnect, RuntimeError):  # the client left first
        pass


def _frame(data: bytes, params: StreamParams, settings: ServiceSettings) -> np.ndarray:
    """A binary frame as (time, channels) samples, after checking its size."""
    if len(data) > settings.max_stream_frame_bytes:
        raise _Refusal(
            1009, "FrameTooLarge", f"a frame of {len(data)} bytes; the limit is {settings.max_stream_frame_bytes}"
        )
    if len(data) % params.frame_bytes:
        name = np.dtype(params.dtype).name
        raise _Refusal(
            1003,
            "InvalidFrame",
            f"a frame of {len(data)} bytes is not a whole number of {params.channels}-channel {name} samples "
            f"({params.frame_bytes} bytes each)",
        )
    return np.frombuffer(data, dtype=params.dtype).reshape(-1, params.channels)


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket, service: ServiceDep):
    """Live scoring: send binary PCM frames (``dtype`` float32 or int16, interleaved channels),
    receive ``{"segments": [...]}`` per completed window; send the text ``end`` for the final
    ``{"final": prediction}``. Refusals close the socket with a code and reason (table above)."""
    await serve_stream(websocket, service.detector, service.settings)


async def serve_stream(websocket: WebSocket, detector: Detector, settings: ServiceSettings) -> None:
    """Run one ``/v1/stream`` session: accept, authenticate, check parameters, then score frames
    until the client sends ``end`` (-> ``{"final": prediction}``) or leaves."""
    offered = list(websocket.scope.get("subprotocols") or [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    query = websocket.query_params
    try:
        try:
            check_key(settings, presented_key(websocket.headers, query.get("api_key"), offered))
        except HTTPException as exc:
            raise _Refusal(4000 + exc.status_code, exc.detail["error"], exc.detail["message"]) from None
        params = stream_params(query, detector.config.sample_rate_hz)
        await _score_frames(websocket, detector, settings, params)
    except _Refusal as refusal:
        await _refuse(websocket, refusal)
    except WebSocketDisconnect:
        return
    except Exception as exc:  # keep serving others; the client learns it was not its fault
        logger.error("unexpected error on the /v1/stream websocket", exc_info=exc)
        await _refuse(
            websocket,
            _Refusal(1011, "InternalServerError", "an unexpected error stopped this stream; the server logged it"),
        )


async def _score_frames(
    websocket: WebSocket, detector: Detector, settings: ServiceSettings, params: StreamParams
) -> None:
    scorer = detector.stream(sample_rate=params.sample_rate, channels=params.channels, source="websocket")
    max_frames = int(settings.max_stream_seconds * params.sample_rate)
    received = 0
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        try:
            if message.get("bytes") is not None:
                frame = _frame(message["bytes"], params, settings)
                received += frame.shape[0]
                if received > max_frames:
                    raise _Refusal(
                        1008,
                        "StreamTooLong",
                        f"the stream passed {settings.max_stream_seconds:g} s of audio, the limit",
                    )
                segments = await asyncio.to_thread(scorer.push, frame)
                if segments:
                    await websocket.send_json({"segments": [s.__dict__ for s in segments]})
            elif (message.get("text") or "").strip() == "end":
                final = (await asyncio.to_thread(scorer.close)).to_dict()
                final.pop("error")
                await websocket.send_json({"final": final})
                await websocket.close()
                return
            else:
                raise _Refusal(1003, "InvalidFrame", "send binary PCM frames, then the text 'end'")
        except WavguardError as exc:
            raise _Refusal(1003, type(exc).__name__, str(exc)) from None
