"""HTTP service for a detector: ``wavguard serve MODEL`` or :func:`create_app` + uvicorn."""

from ..feedback.store import PredictionStore
from .app import create_app
from .settings import ServiceSettings

__all__ = ["create_app", "ServiceSettings", "PredictionStore", "run"]


def run(detector, host: str = "127.0.0.1", port: int = 8000, settings: ServiceSettings | None = None) -> None:
    """Serve ``detector`` with uvicorn until interrupted."""
    import uvicorn

    settings = settings or ServiceSettings()
    uvicorn.run(create_app(detector, settings), host=host, port=port, log_level="info", **settings.server_options())
