"""Where the time of a scoring call goes: a stage-by-stage profile of ``Detector.predict``.

Times, with ``time.perf_counter`` around each stage, one ``predict`` call on a list of files:

| stage | what is timed |
| --- | --- |
| decode + resample | the decode iterator (soundfile + soxr), ``ScoringPipeline.decode`` |
| preprocess + windowing | ``ScoringPipeline.feed`` / ``end`` (denoising if configured, window cutting) |
| batch assembly | the backend minus the network's stages: padding, tensors, grouping by length, numpy |
| feature front end | Whisper's log-mel (``Backbone.log_mel``) or wav2vec2's conv feature encoder |
| encoder stem | the rest of the backbone outside its transformer layers (Whisper's convs + positions, wav2vec2's projection + positional conv) |
| encoder layers | the transformer layers |
| head | ``DetectorModel.classify`` (layer weights + CNN head) |
| calibration + aggregation | ``ScoringPipeline.record`` and ``finish`` |
| Python overhead | the whole call minus every stage above |

The hooks wrap methods of the detector's instances from outside (nothing in the library is
changed) and are removed afterwards; the scores are the same with and without them. Decoding runs
on the calling thread here (``prefetch=False``) so the stages add up to the wall time.

Usage:

    python -m benchmarks.profile_scoring --detector path/to/detector --files 'clips/*.flac'
    python -m benchmarks.profile_scoring --backbone offline:whisper-base --num-layers 4 \\
        --manifest data/manifest.csv --split test --limit 200 --cprofile 25

Timings mean something only on an otherwise idle machine: the 1-minute load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import glob
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

STAGES = (
    "decode + resample",
    "preprocess + windowing",
    "batch assembly",
    "feature front end",
    "encoder stem",
    "encoder layers",
    "head",
    "calibration + aggregation",
    "Python overhead",
)


class StageTimer:
    """Accumulated seconds per hook name; ``wrap`` times a callable, ``wrap_iter`` its iterator's steps."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed

    def wrap_iter(self, name: str, fn):
        def timed(*args, **kwargs):
            return self._steps(name, fn(*args, **kwargs))

        return timed

    def _steps(self, name: str, iterator) -> Iterator:
        iterator = iter(iterator)
        try:
            while True:
                start = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self.seconds[name] += time.perf_counter() - start
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()


@contextlib.contextmanager
def _patched(patches: list[tuple[object, str, object]]):
    """Set instance attributes (shadowing methods) and delete them again afterwards."""
    done = []
    try:
        for obj, attr, value in patches:
            if attr in vars(obj):
                raise RuntimeError(f"{type(obj).__name__}.{attr} is already patched")
            setattr(obj, attr, value)
            done.append((obj, attr))
        yield
    finally:
        for obj, attr in reversed(done):
            delattr(obj, attr)


def _hooks(detector, timer: StageTimer) -> list[tuple[object, str, object]]:
    pipe = detector.pipeline
    patches = [
        (pipe, "decode", timer.wrap_iter("decode", pipe.decode)),
        (pipe, "feed", timer.wrap("windowing", pipe.feed)),
        (pipe, "end", timer.wrap("windowing", pipe.end)),
        (pipe, "logits", timer.wrap("backend", pipe.logits)),
        (pipe, "record", timer.wrap("calibration", pipe.record)),
        (pipe, "finish", timer.wrap("calibration", pipe.finish)),
    ]
    model = getattr(detector.backend, "module", None)
    backbone = getattr(model, "backbone", None)
    if backbone is not None:
        patches.append((backbone, "forward", timer.wrap("backbone", backbone.forward)))
        if backbone.model_type == "whisper":
            patches.append((backbone, "log_mel", timer.wrap("frontend", backbone.log_mel)))
        else:
            fe = backbone.model.feature_extractor
            patches.append((fe, "forward", timer.wrap("frontend", fe.forward)))
        for layer in backbone._layers():
            patches.append((layer, "forward", timer.wrap("layers", layer.forward)))
        patches.append((model, "classify", timer.wrap("head", model.classify)))
    elif model is not None and hasattr(model, "frontend"):  # the spectrogram CNN
        patches.append((model.frontend, "forward", timer.wrap("frontend", model.frontend.forward)))
        patches.append((model, "forward", timer.wrap("model", model.forward)))
    return patches


def stage_seconds(raw: dict[str, float], total: float) -> dict[str, float]:
    """Exclusive seconds per stage of :data:`STAGES` from the nested hook times."""
    backend, backbone, frontend = raw.get("backend", 0.0), raw.get("backbone", 0.0), raw.get("frontend", 0.0)
    layers, head = raw.get("layers", 0.0), raw.get("head", 0.0)
    if "model" in raw:  # the spectrogram CNN: front end, then everything else is its head
        head = raw["model"] - frontend
        network = raw["model"]
    else:
        network = backbone + head
    stages = {
        "decode + resample": raw.get("decode", 0.0),
        "preprocess + windowing": raw.get("windowing", 0.0),
        "batch assembly": backend - network,
        "feature front end": frontend,
        "encoder stem": backbone - frontend - layers if backbone else 0.0,
        "encoder layers": layers,
        "head": head,
        "calibration + aggregation": raw.get("calibration", 0.0),
    }
    stages["Python overhead"] = total - sum(stages.values())
    return stages


def profile(detector, files: Sequence[str], *, batch_size: int = 8):
    """(seconds per stage, total seconds, predictions) of one ``predict`` call on ``files``."""
    timer = StageTimer()
    with _patched(_hooks(detector, timer)):
        start = time.perf_counter()
        preds = detector.predict(list(files), batch_size=batch_size, prefetch=False)
        total = time.perf_counter() - start
    return stage_seconds(timer.seconds, total), total, preds


def markdown_table(stages: dict[str, float], total: float, audio_seconds: float) -> str:
    rows = ["| stage | seconds | % of total |", "| --- | ---: | ---: |"]
    for name in STAGES:
        rows.append(f"| {name} | {stages[name]:.4f} | {100.0 * stages[name] / total:.1f} |")
    rows.append(f"| **total** | {total:.4f} | 100.0 |")
    speed = audio_seconds / total if total > 0 else float("nan")
    rows.append("")
    rows.append(f"{audio_seconds:.1f} s of audio in {total:.3f} s: **{speed:.1f} audio seconds per second** overall")
    return "\n".join(rows)


def manifest_files(path: str, split: str | None, limit: int | None) -> list[str]:
    """Audio paths of a CSV/TSV manifest (relative paths from its folder), one split, the first ``limit``."""
    from wavguard.data.manifest import PATH_COLUMNS

    base = Path(path).parent
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t" if path.endswith(".tsv") else ","))
    if not rows:
        raise SystemExit(f"{path}: no rows")
    column = next((c for c in PATH_COLUMNS if c in rows[0]), None)
    if column is None:
        raise SystemExit(f"{path}: no path column (one of {', '.join(PATH_COLUMNS)})")
    if split is not None:
        rows = [r for r in rows if r.get("split") == split]
    files = [str(p if (p := Path(r[column])).is_absolute() else base / p) for r in rows]
    return files[:limit] if limit else files


def _build_detector(args):
    from wavguard import Detector

    if args.detector:
        det = Detector.from_pretrained(args.detector)
    else:
        overrides = {"num_layers": args.num_layers} if args.num_layers else {}
        if args.window_seconds:
            overrides["window_seconds"] = args.window_seconds
        det = Detector.from_backbone(args.backbone, **overrides)
    if args.hop_seconds:
        det.config = det.config.replace(hop_seconds=args.hop_seconds)
    return det.to(args.device)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--detector", help="a saved detector directory (or Hub id)")
    which.add_argument("--backbone", help="build an untrained detector on this backbone (e.g. offline:whisper-base)")
    parser.add_argument("--num-layers", type=int, help="with --backbone: keep this many encoder layers")
    parser.add_argument("--window-seconds", type=float, help="with --backbone: the scoring window")
    parser.add_argument(
        "--hop-seconds", type=float, help="score with windows this far apart (< the window: overlapping windows)"
    )
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--files", nargs="+", help="audio files or glob patterns")
    data.add_argument("--manifest", help="a CSV/TSV manifest with a path column")
    parser.add_argument("--split", help="with --manifest: only this split (e.g. test)")
    parser.add_argument("--limit", type=int, help="score at most this many files")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs after a warm-up (the fastest is shown)")
    parser.add_argument(
        "--cprofile", type=int, metavar="N", help="also run once under cProfile and print the top N functions"
    )
    parser.add_argument(
        "--torch-profile", type=int, metavar="N", help="also run once under torch.profiler and print the top N ops"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    if args.files:
        files = sorted({f for pattern in args.files for f in (glob.glob(pattern) or [pattern])})
        files = files[: args.limit] if args.limit else files
    else:
        files = manifest_files(args.manifest, args.split, args.limit)
    if not files:
        raise SystemExit("no audio files to score")
    detector = _build_detector(args)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"load average (1 min): {load:.2f}; torch threads: {args.threads}; cpu count: {os.cpu_count()}; "
        f"device: {args.device}; files: {len(files)}; batch size: {args.batch_size}"
    )
    params = sum(p.numel() for p in detector.model.parameters())
    print(
        f"detector: {detector.config.backbone} ({getattr(detector.config, 'num_layers', None)} layers), "
        f"{params / 1e6:.1f} M parameters, windows {detector.config.window_seconds} s "
        f"every {detector.config.effective_hop_seconds} s"
    )
    detector.predict(files[0], batch_size=args.batch_size, prefetch=False)  # warm-up
    best = None
    for _ in range(max(1, args.repeats)):
        stages, total, preds = profile(detector, files, batch_size=args.batch_size)
        if best is None or total < best[1]:
            best = (stages, total, preds)
    stages, total, preds = best
    audio_seconds = sum(p.duration_seconds for p in preds)
    print()
    print(markdown_table(stages, total, audio_seconds))
    if args.cprofile:
        prof = cProfile.Profile()
        prof.runcall(detector.predict, files, batch_size=args.batch_size, prefetch=False)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.cprofile)
        print("\ncProfile, by own time:\n" + out.getvalue())
    if args.torch_profile:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as tprof:
            detector.predict(files, batch_size=args.batch_size, prefetch=False)
        print(
            "\ntorch.profiler, by self CPU time:\n"
            + tprof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.torch_profile)
        )
    sys.stdout.flush()
    return stages


if __name__ == "__main__":
    main()
