"""API keys: where a client may send one, and how the service checks it.

HTTP endpoints take the key in a header: ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``.
Browsers cannot set headers on a websocket, so ``/v1/stream`` also takes it as the subprotocol
``api-key.KEY`` (offer ``wavguard`` beside it: the server answers with ``wavguard`` and never
echoes the key) and, for old clients, as ``?api_key=KEY``, which the access log redacts
(:mod:`wavguard.serve.logs`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

from .errors import api_error
from .settings import ServiceSettings

__all__ = ["SUBPROTOCOL", "KEY_SUBPROTOCOL_PREFIX", "presented_key", "check_key"]

#: The subprotocol the server selects when a websocket client offers it.
SUBPROTOCOL = "wavguard"
#: A websocket client may offer ``api-key.<KEY>`` as a subprotocol to send its key.
KEY_SUBPROTOCOL_PREFIX = "api-key."


def presented_key(
    headers: Mapping[str, str], query_key: str | None = None, subprotocols: Sequence[str] = ()
) -> str | None:
    """The key a client sent: ``X-API-Key``, ``Authorization: Bearer``, an ``api-key.`` subprotocol,
    then the query string (websocket only), in that order; ``None`` if none."""
    key = headers.get("x-api-key")
    auth = headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    if not key:
        key = next(
            (p[len(KEY_SUBPROTOCOL_PREFIX) :] for p in subprotocols if p.startswith(KEY_SUBPROTOCOL_PREFIX)), None
        )
    return key or query_key or None


def check_key(settings: ServiceSettings, key: str | None) -> None:
    """Raise 401 (no key) or 403 (a wrong key) when the service has API keys; compare in constant time."""
    if not settings.api_keys:
        return
    if not key:
        raise api_error(401, "Unauthorized", "an API key is required: send it in the X-API-Key header")
    if not any(hmac.compare_digest(key.encode(), k.encode()) for k in settings.api_keys):
        raise api_error(403, "Forbidden", "the API key is not valid")
