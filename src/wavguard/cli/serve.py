"""``wavguard serve MODEL --host --port``: the HTTP API (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import os

from . import _args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve a detector over HTTP",
        description="Serve a detector over HTTP: "
        "POST /v1/predict, /v1/predict/batch, /v1/feedback; GET /healthz, /readyz, /v1/model, /metrics, /docs, /ui (browser page); "
        "WS /v1/stream.",
    )
    _args.add_model(p, optional=True)
    _args.add_device(p)
    _args.add_backend(p)
    _args.add_revision(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--api-key",
        action="append",
        default=None,
        help="accepted API key (repeatable); also read from WAVGUARD_API_KEYS (comma-separated)",
    )
    p.add_argument("--log-db", default=None, help="SQLite file for the prediction log and feedback")
    p.add_argument("--store-feedback-audio", action="store_true", help="keep audio that clients send with feedback")
    p.add_argument("--max-upload-mb", type=float, default=25.0)
    p.add_argument("--max-duration-seconds", type=float, default=600.0, help="longest audio per file")
    p.add_argument(
        "--max-request-audio-seconds",
        type=float,
        default=1800.0,
        help="most audio in one request, all its files together (413 beyond it)",
    )
    p.add_argument(
        "--max-inflight-upload-mb",
        type=float,
        default=None,
        help="most request-body MiB held at once by all requests (503 + Retry-After beyond it); "
        "default: four times --max-upload-mb",
    )
    p.add_argument(
        "--body-timeout-seconds",
        type=float,
        default=60.0,
        help="a request body not received in full within this time gets 408",
    )
    p.add_argument(
        "--max-files-scoring",
        type=int,
        default=16,
        help="most files decoded and scored at once, all requests together (bounds decoding memory)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=64,
        help="most open connections; beyond it uvicorn answers 503 (0: no cap)",
    )
    p.add_argument("--timeout-seconds", type=float, default=60.0)
    p.add_argument("--max-batch-windows", type=int, default=16, help="most windows per forward pass")
    p.add_argument(
        "--max-client-batch-windows",
        type=int,
        default=None,
        help="most windows of one request per forward pass: a request arriving beside a big one waits for "
        "at most one pass of this size (default: 1 on the CPU, --max-batch-windows on a GPU)",
    )
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument(
        "--max-stream-seconds", type=float, default=3600.0, help="close a /v1/stream websocket after this much audio"
    )
    p.add_argument(
        "--max-stream-frame-kb", type=float, default=1024.0, help="largest binary frame on /v1/stream, in KiB"
    )
    p.add_argument(
        "--metrics-public",
        action="store_true",
        help="serve /metrics without an API key (by default it needs one when keys are set)",
    )
    p.add_argument(
        "--no-ui", action="store_true", help="do not mount the browser page at /ui (mounted when gradio is installed)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..serve import ServiceSettings, create_app

    keys = list(args.api_key or []) + [k for k in os.environ.get("WAVGUARD_API_KEYS", "").split(",") if k]
    settings = ServiceSettings(
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_duration_seconds=args.max_duration_seconds,
        max_request_audio_seconds=args.max_request_audio_seconds,
        max_inflight_upload_bytes=None
        if args.max_inflight_upload_mb is None
        else int(args.max_inflight_upload_mb * 1024 * 1024),
        body_timeout_seconds=args.body_timeout_seconds,
        max_files_scoring=args.max_files_scoring,
        max_connections=args.max_connections or None,
        request_timeout_seconds=args.timeout_seconds,
        max_batch_windows=args.max_batch_windows,
        max_client_batch_windows=args.max_client_batch_windows,
        max_wait_ms=args.max_wait_ms,
        max_stream_seconds=args.max_stream_seconds,
        max_stream_frame_bytes=int(args.max_stream_frame_kb * 1024),
        metrics_public=args.metrics_public,
        api_keys=tuple(keys),
        log_db=args.log_db,
        store_feedback_audio=args.store_feedback_audio,
        model_id=str(args.model),
    )
    app = create_app(_args.load_scorer(args, args.model, ensembles=False), settings, ui=not args.no_ui)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", **settings.server_options())
    return 0
