"""``wavguard stream MODEL``: score raw PCM from stdin as it arrives (e.g. from a microphone).

Example::

    arecord -f S16_LE -r 16000 -c 1 -t raw | wavguard stream my-detector --sample-rate 16000

Prints one line per completed window (``start-end<TAB>score``) and the whole stream's verdict at
the end of input.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ..audio.decode import MAX_CHANNELS, MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ
from . import _args

_DTYPES = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}


# Option types: argparse turns their ArgumentTypeError into a usage error (exit 2) naming the
# option, before a model is loaded (--channels 0 divided by zero; --chunk-bytes 0 read nothing
# and -5 all of stdin at once).
def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _sample_rate(text: str) -> int:
    rate_hz = _whole(text)
    if not MIN_SAMPLE_RATE_HZ <= rate_hz <= MAX_SAMPLE_RATE_HZ:  # the library's range (audio.decode.check_sample_rate)
        raise argparse.ArgumentTypeError(f"must be from {MIN_SAMPLE_RATE_HZ} to {MAX_SAMPLE_RATE_HZ} Hz, got {rate_hz}")
    return rate_hz


def _channels(text: str) -> int:
    channels = _whole(text)
    if not 1 <= channels <= MAX_CHANNELS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_CHANNELS} interleaved channels, got {channels}")
    return channels


def _chunk_bytes(text: str) -> int:
    size_bytes = _whole(text)
    if size_bytes <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of bytes, got {size_bytes}")
    return size_bytes


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stream",
        help="score raw PCM from stdin, a score per window as it arrives",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _args.add_model(p)
    p.add_argument("--sample-rate", type=_sample_rate, required=True, help="rate of the incoming PCM (Hz)")
    p.add_argument(
        "--channels", type=_channels, default=1, help=f"interleaved channels, 1-{MAX_CHANNELS} (averaged to mono)"
    )
    p.add_argument("--format", choices=sorted(_DTYPES), default="s16le", help="sample format (default s16le)")
    p.add_argument("--chunk-bytes", type=_chunk_bytes, default=8192, help="bytes read from stdin at a time (positive)")
    _args.add_json(p, help="print JSON lines")
    _args.add_device(p)
    _args.add_backend(p)
    _args.add_revision(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, stdin=None, stdout=None) -> int:
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout
    dtype = _DTYPES[args.format]
    frame_bytes = dtype.itemsize * args.channels
    scorer = _args.load_scorer(args, args.model, ensembles=False).stream(
        sample_rate=args.sample_rate, channels=args.channels, source="<stdin>"
    )

    emitted = 0

    def emit(segments) -> None:
        nonlocal emitted
        emitted += len(segments)
        for s in segments:
            line = json.dumps(s.__dict__) if args.json else f"{s.start_seconds:.2f}-{s.end_seconds:.2f}\t{s.score:.4f}"
            print(line, file=stdout, flush=True)

    pending = b""
    while True:
        data = stdin.read(args.chunk_bytes)
        if not data:
            break
        pending += data
        usable = len(pending) - len(pending) % frame_bytes
        if usable:
            frames = np.frombuffer(pending[:usable], dtype=dtype).reshape(-1, args.channels)
            pending = pending[usable:]
            emit(scorer.push(frames))
    if pending:
        print(f"wavguard: warning: ignored {len(pending)} trailing bytes (not a whole frame)", file=sys.stderr)
    final = scorer.close()
    emit(final.segments[emitted:])  # the last, partial window
    summary = final.to_dict()
    summary.pop("segments")
    summary.pop("error")
    print(json.dumps(summary) if args.json else f"total\t{final.score:.4f}\t{final.label}", file=stdout, flush=True)
    return 0
