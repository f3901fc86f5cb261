"""Prometheus metrics of the service, and the middleware that counts every HTTP request.

``wavguard_requests_total{endpoint, status}`` and ``wavguard_request_latency_seconds{endpoint}``
are labelled by route template (``/v1/predict``), the mount a path fell into (``/ui``) or
``unmatched``, never by raw path, so ids, asset names and scanners' probes never become label
values. ``wavguard_score`` is the distribution of calibrated P(fake); ``wavguard_batch_windows``
the windows per forward pass; ``wavguard_log_write_failures_total`` the predictions returned
without their log record. A client that left mid-upload is counted under status ``499``.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.routing import Mount

from .errors import internal_error_response

__all__ = ["ServiceMetrics", "CONTENT_TYPE_LATEST", "endpoint_label", "install_request_metrics"]


class ServiceMetrics:
    """The service's metrics, in a registry of their own (two apps in one process never share counts)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("wavguard_requests", "HTTP requests", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram(
            "wavguard_request_latency_seconds", "Request latency", ["endpoint"], registry=self.registry
        )
        self.scores = Histogram(
            "wavguard_score",
            "Calibrated P(fake) of predictions",
            buckets=[i / 10 for i in range(1, 11)],
            registry=self.registry,
        )
        self.batch = Histogram(
            "wavguard_batch_windows",
            "Windows per forward pass",
            buckets=[1, 2, 4, 8, 16, 32, 64, 128],
            registry=self.registry,
        )
        self.log_failures = Counter(
            "wavguard_log_write_failures", "Predictions returned but not logged", registry=self.registry
        )

    def exposition(self) -> bytes:
        """The Prometheus text exposition (media type :data:`CONTENT_TYPE_LATEST`)."""
        return generate_latest(self.registry)


def endpoint_label(request: Request) -> str:
    """The metrics label of a request: its route's template (``/v1/predict``), the mount it fell
    into (``/ui`` for every asset of the web page), or ``unmatched``."""
    route = request.scope.get("route")
    if getattr(route, "path", None):
        return route.path
    path = request.url.path
    for mount in request.app.routes:
        if isinstance(mount, Mount) and (path == mount.path or path.startswith(mount.path + "/")):
            return mount.path
    return "unmatched"


def install_request_metrics(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Count and time every HTTP request. Added last, this middleware is the outermost, so an
    unexpected exception is turned into the documented JSON 500 here and counted as a 500."""

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:
            response = internal_error_response(request, exc)
        endpoint = endpoint_label(request)
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
        return response
