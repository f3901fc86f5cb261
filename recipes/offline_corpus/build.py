"""Build the offline deepfake-speech corpus: ``python -m recipes.offline_corpus.build [--full | --max-clips N]``.

Writes ``OUTPUT/wav/{split}/{real,fake}/*.wav`` (16 kHz mono 16-bit), ``OUTPUT/manifest.csv``
(path,label,split,speaker,attack,family,language,text,duration_seconds,source_id,source,channel,
speaker_reliability),
``skipped.csv``, ``report.md`` (tables and shortcut AUC) and ``shortcut.json``. Progress is
recorded clip by clip in ``progress.jsonl``; rerunning the same command skips finished clips.
Exit status: 0 built, 1 language balance off, 2 bad configuration or missing engine.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from functools import partial
from pathlib import Path

from recipes.offline_corpus import families, plan, readers, report
from recipes.offline_corpus.postprocess import ChainConfig
from wavguard._io import atomic_write_text
from wavguard.errors import ConfigError

__all__ = ["MANIFEST_COLUMNS", "build", "main"]

logger = logging.getLogger("offline_corpus")

MANIFEST_COLUMNS = (
    "path",
    "label",
    "split",
    "speaker",
    "attack",
    "family",
    "language",
    "text",
    "duration_seconds",
    "source_id",
    "source",
    "channel",
    "speaker_reliability",
)
#: Test hook: send this process SIGTERM after making this many clips (0: never). Lets a test
#: stop a build at a known point instead of racing a fast machine.
_SIGTERM_AFTER_CLIPS = int(os.environ.get("WAVGUARD_CORPUS_SIGTERM_AFTER", "0"))
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _read_progress(path: Path) -> dict[str, dict]:
    records: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a crash
                continue
            records[record["clip_id"]] = record
    return records


def _check_plan(out: Path, fingerprint: str, seed: int, n_clips: int) -> None:
    marker = out / "plan.json"
    if marker.exists():
        old = json.loads(marker.read_text(encoding="utf-8"))
        if old.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"{out} holds a corpus built with other settings (seed {old.get('seed')}, "
                f"{old.get('clips')} clips); pass a new --output or delete the folder"
            )
    else:
        atomic_write_text(marker, json.dumps({"fingerprint": fingerprint, "seed": seed, "clips": n_clips}) + "\n")


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def build(
    config: dict,
    output_dir: Path,
    *,
    cache_dir: Path,
    debs_dir: Path | None = None,
    real_per_split: int | None = None,
    jobs: int = 1,
    limit_new: int | None = None,
    shortcut: bool = True,
    progress_bar: bool = True,
) -> dict:
    """Build (or resume) the corpus described by ``config`` into ``output_dir``.

    The steps, each a function below: plan the clips from the sources and check the plan matches
    the folder's (:func:`_check_plan`); find what is left (:func:`_finished`) and that its engines
    can run here (:func:`_check_engines`); make those clips, recording each one
    (:func:`_make_clips`); once none is left, write the manifest (:func:`_manifest_rows`,
    :func:`_write_manifest`), check the language balance and run the shortcut check
    (:func:`_shortcut_check`).

    Args:
        config: from :func:`plan.load_config`, with ``seed`` set.
        real_per_split: real clips per split; ``None`` = every clip (``--full``).
        jobs: worker processes.
        limit_new: make at most this many new clips, then stop (the rest on the next run).
        shortcut: run the shortcut check on a complete corpus.

    Returns:
        ``{"planned", "already_done", "made", "skipped", "left", "rows", "balance_problems",
        "shortcut", "seconds"}``; ``rows`` holds the manifest rows once the corpus is complete.
    """
    start = time.time()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed = int(config["seed"])
    chain = ChainConfig.from_dict(config["chain"])
    cache_dir = Path(cache_dir).expanduser()
    # worker processes inherit it: the HiFi-GAN family caches its ONNX export there
    os.environ["WAVGUARD_CORPUS_CACHE"] = str(cache_dir)
    specs = plan.make_plan(config, readers.read_all(cache_dir, debs_dir), real_per_split, seed)
    _check_plan(out, plan.plan_fingerprint(specs, config["chain"]), seed, len(specs))

    records = _read_progress(out / "progress.jsonl")
    finished = _finished(out, specs, records)
    todo = [s for s in specs if s.clip_id not in finished]
    if limit_new is not None:
        todo = todo[: max(0, limit_new)]
    _check_engines(todo)
    logger.info("%d clips planned, %d already finished, making %d now", len(specs), len(finished), len(todo))
    made = _make_clips(
        todo, chain, out, records, jobs=jobs, bar_total=len(specs), bar_initial=len(finished), progress_bar=progress_bar
    )

    left = sum(
        1
        for s in specs
        if s.clip_id not in records or (records[s.clip_id]["status"] == "done" and not (out / s.rel_path).exists())
    )
    result = {
        "planned": len(specs),
        "already_done": len(finished),
        "made": made,
        "left": left,
        "rows": [],
        "skipped": [],
        "balance_problems": [],
        "shortcut": None,
    }
    if not left:
        rows, skipped = _manifest_rows(specs, records)
        _write_manifest(out, rows, skipped)
        result.update(
            rows=rows,
            skipped=skipped,
            balance_problems=report.balance_problems(rows, float(config["balance_tolerance_points"])),
        )
        if shortcut:
            result["shortcut"] = _shortcut_check(out, rows, config)
    result["seconds"] = time.time() - start
    return result


def _finished(out: Path, specs: list[plan.ClipSpec], records: dict[str, dict]) -> set[str]:
    """Clip ids of the plan that need no more work: skipped, or done with their file still there."""
    return {
        s.clip_id
        for s in specs
        if s.clip_id in records
        and (
            records[s.clip_id]["status"] == "skipped"
            or (records[s.clip_id]["status"] == "done" and (out / s.rel_path).exists())
        )
    }


def _check_engines(todo: list[plan.ClipSpec]) -> None:
    """Refuse to start when an engine, voice or package that a clip left to make needs is missing."""
    variants: dict[str, set[str]] = {}
    for s in todo:
        variants.setdefault(s.family, set()).add(s.variant)
    missing = families.missing_engines(set(variants), variants)
    if missing:
        raise ConfigError("cannot run: " + "; ".join(missing) + " (see recipes/offline_corpus/install.sh)")


def _make_clips(
    todo: list[plan.ClipSpec],
    chain: ChainConfig,
    out: Path,
    records: dict[str, dict],
    *,
    jobs: int,
    bar_total: int,
    bar_initial: int,
    progress_bar: bool,
) -> int:
    """Make ``todo`` (in ``jobs`` worker processes), appending each result to ``progress.jsonl`` and
    ``records`` as it arrives, so that a killed build resumes where it stopped. Returns how many were made."""
    from tqdm import tqdm

    from recipes.offline_corpus.generate import make_clip

    bar = tqdm(total=bar_total, initial=bar_initial, unit="clip", disable=not progress_bar, desc="corpus")
    worker = partial(make_clip, chain=chain, out_dir=str(out))
    made = 0
    with open(out / "progress.jsonl", "a", encoding="utf-8") as log:

        def record(result: dict) -> None:
            nonlocal made
            log.write(json.dumps(result, ensure_ascii=False, sort_keys=True) + "\n")
            log.flush()
            os.fsync(log.fileno())
            records[result["clip_id"]] = result
            made += 1
            if made == _SIGTERM_AFTER_CLIPS:  # test hook: a real SIGTERM at a known point
                os.kill(os.getpid(), signal.SIGTERM)
            if result["status"] == "skipped":
                logger.warning("skipped %s: %s", result["clip_id"], result["reason"])
            bar.update(1)

        if jobs <= 1 or len(todo) <= 1:
            for spec in todo:
                record(worker(spec))
        else:
            import multiprocessing

            for var in _THREAD_VARS:  # workers split the cores; one thread each (and identical bytes)
                os.environ[var] = "1"
            warm_numba_cache()
            with multiprocessing.get_context("spawn").Pool(jobs) as pool:
                for result in pool.imap_unordered(worker, todo, chunksize=1):
                    record(result)
    bar.close()
    return made


def _manifest_rows(specs: list[plan.ClipSpec], records: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """(manifest rows of the clips made, rows of ``skipped.csv``), both in plan order."""
    rows, skipped = [], []
    for spec in specs:
        rec = records[spec.clip_id]
        if rec["status"] != "done":
            skipped.append(
                {
                    "clip_id": spec.clip_id,
                    "split": spec.split,
                    "label": spec.label,
                    "attack": spec.attack,
                    "source_id": spec.source_id,
                    "reason": rec["reason"],
                }
            )
            continue
        rows.append(
            {
                "path": spec.rel_path,
                "label": spec.label,
                "split": spec.split,
                "speaker": spec.speaker,
                "attack": spec.attack,
                "family": spec.family,
                "language": spec.language,
                "text": spec.text,
                "duration_seconds": rec["duration_seconds"],
                "source_id": spec.source_id,
                "source": spec.source,
                "channel": spec.channel,
                "speaker_reliability": spec.speaker_reliability,
            }
        )
    return rows, skipped


def _write_manifest(out: Path, rows: list[dict], skipped: list[dict]) -> None:
    _write_csv(out / "manifest.csv", MANIFEST_COLUMNS, rows)
    _write_csv(out / "skipped.csv", ("clip_id", "split", "label", "attack", "source_id", "reason"), skipped)


def _shortcut_check(out: Path, rows: list[dict], config: dict) -> dict:
    """Can trivial features tell real from fake? Written to ``shortcut.json`` and returned."""
    from recipes.offline_corpus.shortcut import shortcut_check

    found = shortcut_check(
        [str(out / r["path"]) for r in rows],
        [int(r["label"] == "fake") for r in rows],
        [r["split"] for r in rows],
        int(config["shortcut"]["folds"]),
        int(config["seed"]),
    )
    atomic_write_text(out / "shortcut.json", json.dumps(found, indent=2) + "\n")
    return found


def warm_numba_cache() -> None:
    """Compile librosa's cached gufuncs in this process before workers start.

    librosa's ``guvectorize(cache=True)`` functions compile when their module is imported and
    write two cache files each; workers importing them at the same time can leave a pair from two
    processes, and every later process that loads it segfaults (numba/numba#10128). Importing the
    modules here first writes the cache once, so the workers only read it.
    """
    import librosa.core.audio  # noqa: F401
    import librosa.core.pitch  # noqa: F401
    import librosa.util.utils  # noqa: F401


def _report_text(result: dict, config: dict) -> str:
    rows = result["rows"]
    lines = [
        f"# Corpus report\n\n{len(rows)} clips, {len(result['skipped'])} skipped, seed {config['seed']}.\n",
        "## Real speakers, languages and channels\n",
        report.coverage_text(rows),
        "",
        "## Language x class per split\n",
        report.language_table(rows),
        "",
        "## Channel x class per split\n",
        report.channel_table(rows),
        "",
        "## Clips per generator family and variant\n",
        report.family_table(rows),
        "",
    ]
    sc = result["shortcut"]
    if sc:
        lines.append(f"## Shortcut check ({sc['engine']})\n")
        lines.append(
            f"Combined cross-validated ROC AUC (logistic regression on trivial features): "
            f"**{sc['combined_auc']:.3f}** (target <= {config['shortcut']['max_auc']}); per split: "
            + ", ".join(f"{k} {v:.3f}" for k, v in sc["per_split"].items())
            + ".\n"
        )
        per = sc.get("per_split_feature_auc") or {}
        lines += ["| feature | AUC pooled | " + " | ".join(per) + " |", "| --- | --- |" + " --- |" * len(per)]
        lines += [
            f"| {k} | {v:.3f} | " + " | ".join(f"{per[s].get(k, float('nan')):.3f}" for s in per) + " |"
            for k, v in sc["feature_auc"].items()
        ]
    lines += ["", "## Clips per split x class x language x family\n", report.count_table(rows)]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m recipes.offline_corpus.build",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--config", help="YAML merged over defaults.yaml")
    p.add_argument("--output", help="output folder (default: output_dir of the config)")
    p.add_argument(
        "--cache-dir", help="where the Debian packages are unpacked (default: $WAVGUARD_CORPUS_CACHE or cache_dir)"
    )
    p.add_argument("--debs-dir", help="folder with already downloaded .deb files (else apt-get download)")
    p.add_argument("--seed", type=int, help="corpus seed (default: the config's)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="every usable real clip (about 22,000 clips)")
    size.add_argument("--max-clips", type=int, help="about this many clips in all (for tests)")
    size.add_argument("--real-per-split", type=int, help="real clips per split")
    p.add_argument("--jobs", type=int, help="worker processes (default: the config's)")
    p.add_argument(
        "--pair-copy-sources",
        nargs="+",
        metavar="SPLIT",
        help="splits whose copy-synthesis sources are bona fide clips too (default: the config's pair_copy_sources)",
    )
    p.add_argument("--limit-new", type=int, help="make at most this many new clips, then stop; rerun to continue")
    p.add_argument("--no-shortcut-check", action="store_true", help="skip the logistic-regression shortcut check")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _exit_on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise SystemExit(128 + signum)  # unwinds the worker pool (terminating its processes) and the progress log


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0 built or stopped early, 1 balance off, 2 error)."""
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        config = plan.load_config(args.config)
        if args.seed is not None:
            config["seed"] = args.seed
        if args.pair_copy_sources is not None:
            config["pair_copy_sources"] = args.pair_copy_sources
        n_splits = len(config["splits"])
        if args.full:
            real = None
        elif args.max_clips is not None:
            if args.max_clips < 2 * n_splits:
                raise ConfigError(f"--max-clips must be at least {2 * n_splits} (one real and one fake clip per split)")
            real = args.max_clips // (2 * n_splits)
        else:
            real = args.real_per_split or int(config["size"]["real_per_split"])
        out = Path(args.output or config["output_dir"])
        cache = Path(args.cache_dir or os.environ.get("WAVGUARD_CORPUS_CACHE") or config["cache_dir"])
        out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(out / "build.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        result = build(
            config,
            out,
            cache_dir=cache,
            debs_dir=Path(args.debs_dir) if args.debs_dir else None,
            real_per_split=real,
            jobs=args.jobs or int(config["jobs"]),
            limit_new=args.limit_new,
            shortcut=not args.no_shortcut_check,
            progress_bar=not args.quiet,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"made {result['made']} clips now, {result['already_done']} were done, {result['left']} left "
        f"({result['seconds']:.1f} s)"
    )
    if result["left"]:
        print("stopped early; rerun the same command to continue")
        return 0
    text = _report_text(result, config)
    atomic_write_text(out / "report.md", text)
    print(text)
    if result["skipped"]:
        print(f"{len(result['skipped'])} clips skipped (see {out / 'skipped.csv'})")
    sc = result["shortcut"]
    limit = float(config["shortcut"]["max_auc"])
    over = {
        name: auc
        for name, auc in ({"pooled": sc["combined_auc"], **sc["per_split"]} if sc else {}).items()
        if auc > limit
    }
    if over:
        print(
            "WARNING: trivial features separate real from fake (AUC "
            + ", ".join(f"{k} {v:.3f}" for k, v in over.items())
            + f" > {limit}); see {out / 'report.md'}",
            file=sys.stderr,
        )
    if result["balance_problems"]:
        print("error: language balance is off:\n  " + "\n  ".join(result["balance_problems"]), file=sys.stderr)
        return 1
    print(f"manifest: {out / 'manifest.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
