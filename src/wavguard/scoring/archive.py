"""Score a large archive into one score file: resumable shards, split across processes.

``wavguard predict MODEL --data ... --out scores.parquet``, alone or under ``accelerate launch``,
drives :func:`score_archive`:

1. the files, in input order, are cut into shards of ``shard_size``: shard ``k`` holds files
   ``k * shard_size`` to ``(k + 1) * shard_size - 1``;
2. the main process checks ``<out>.shards/manifest.json`` (the file list's digest, the model
   folder's digest, the threshold and the shard size): the same command resumes, anything else is
   refused (``overwrite`` starts over). It lists the finished shards and tells every process;
3. process ``r`` of ``N`` (accelerate's ``process_index`` and ``num_processes``) takes every
   ``N``-th unfinished shard from the ``r``-th on, so neighbouring files, often alike (a folder of
   hour-long recordings), are spread over all processes and they finish at about the same time;
   each scores its shards on its own device and writes each one, when done, atomically to
   ``<out>.shards/shard-00012.jsonl``; a process killed mid-shard loses that shard only;
4. after ``wait_for_everyone`` (processes wait up to :data:`WAIT_TIMEOUT` for the slowest) the
   main process merges the shards, in input order, into ``out`` (parquet, CSV, TSV or JSON lines,
   by its suffix), also atomically.

A file that cannot be scored is a row with its ``error``, never the end of the job. Columns are
:data:`COLUMNS`; ``score`` is the calibrated probability that the file is FAKE (higher = more
likely fake) and ``label`` is ``"fake"`` when ``score >= threshold``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from .._io import atomic_write, atomic_write_text
from ..errors import ConfigError, OutputWriteError, WavguardError
from .datasets import distributed_state
from .prediction import Prediction
from .predicts import check_predict_options
from .score_table import COLUMNS, OUTPUT_SUFFIXES, check_output, write_table

__all__ = [
    "ArchiveResult",
    "COLUMNS",
    "DEFAULT_SHARD_SIZE",
    "MANIFEST_NAME",
    "OUTPUT_SUFFIXES",
    "WAIT_TIMEOUT",
    "check_output",
    "files_sha256",
    "inputs_sha256",
    "process_state",
    "read_shard",
    "score_archive",
    "score_shard",
    "shard_dir",
    "shard_path",
]

logger = logging.getLogger("wavguard.scoring")

DEFAULT_SHARD_SIZE = 1000
#: How long processes wait for each other (the process group's timeout; torch's default is 30
#: minutes, less than one process may take longer than another over a whole archive).
WAIT_TIMEOUT = timedelta(hours=24)
MANIFEST_NAME = "manifest.json"
_FORMAT = "wavguard-score-shards"
_FORMAT_VERSION = 1
#: What a resume must share with the run that wrote the shards: (what differs, how to show a value).
_MUST_MATCH = {
    "files_sha256": ("another list of files", "{files} files, sha256 {files_sha256:.12}..."),
    "model_sha256": ("another model", "{model}, files sha256 {model_sha256:.12}..."),
    "threshold": ("another threshold", "{threshold}"),
    "shard_size": ("another shard size", "{shard_size} files"),
}

Item = str | WavguardError  # a file to score, or why an input named no file (an empty folder or pattern)


@dataclass(frozen=True)
class ArchiveResult:
    """What :func:`score_archive` did (returned on the main process).

    Attributes:
        out: the score file.
        files: rows written, one per input.
        failed: rows with an ``error``.
        shards: shards in the run.
        shards_skipped: shards found finished by an earlier run and not scored again.
    """

    out: Path
    files: int
    failed: int
    shards: int
    shards_skipped: int


def process_state(distributed: bool | None = None) -> Any:
    """accelerate's ``PartialState`` under a launch of several processes, else ``None``
    (:func:`~wavguard.scoring.datasets.distributed_state`), with :data:`WAIT_TIMEOUT` when this call
    sets the processes up. Call it before loading the model to learn this process's device."""
    return distributed_state(distributed, timeout=WAIT_TIMEOUT)


def shard_dir(out: str | os.PathLike) -> Path:
    """The folder of ``out``'s shards: ``scores.parquet`` -> ``scores.parquet.shards``."""
    out = Path(out)
    return out.with_name(out.name + ".shards")


def shard_path(directory: str | os.PathLike, index: int) -> Path:
    """Shard ``index``'s file in ``directory``: ``shard-00012.jsonl``."""
    return Path(directory) / f"shard-{index:05d}.jsonl"


def _item_path(item: Item) -> str:
    return item if isinstance(item, str) else str(getattr(item, "source", item))


def inputs_sha256(items: Sequence[Item]) -> str:
    """SHA-256 of the input list: every path (and every input that named no file) in order."""
    digest = hashlib.sha256()
    for item in items:
        kind = b"F" if isinstance(item, str) else b"E"
        digest.update(kind + _item_path(item).encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def files_sha256(directory: str | os.PathLike) -> str:
    """SHA-256 over every file under ``directory`` (relative path, size and bytes, in path order):
    what tells one saved model from another, wherever it was copied to."""
    root = Path(directory)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(
            f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0".encode("utf-8", "surrogateescape")
        )
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


# -- one shard -------------------------------------------------------------------------------------
def _row(path: str, pred: Prediction | None, error: str | None = None) -> dict[str, Any]:
    if pred is not None and pred.ok:
        return {
            "path": path,
            "score": float(pred.score),
            "label": pred.label,
            "error": None,
            "duration_seconds": float(pred.duration_seconds),
            "backend": pred.backend or None,
        }
    message = error if pred is None else str(pred.error)
    backend = None if pred is None else pred.backend or None
    return {
        "path": path,
        "score": None,
        "label": "error",
        "error": message,
        "duration_seconds": None,
        "backend": backend,
    }


def score_shard(
    scorer: Any, items: Sequence[Item], *, batch_size: int = 8, threshold: float | None = None
) -> list[dict[str, Any]]:
    """One row (a dict of :data:`COLUMNS`) per item, in order; a file that fails is a row with its error.

    Args:
        scorer: a :class:`~wavguard.Detector` or an ensemble (anything with ``predict``).
        items: paths, and errors in the place of inputs that named no file.
        batch_size: windows per forward pass.
        threshold: the decision threshold (default: the scorer's).
    """
    paths = [item for item in items if isinstance(item, str)]
    scored = iter(scorer.predict(paths, batch_size=batch_size, threshold=threshold, on_error="return") if paths else [])
    return [
        _row(item, next(scored)) if isinstance(item, str) else _row(_item_path(item), None, str(item)) for item in items
    ]


def _writing(path: Path, write: Callable[[], Any]) -> Any:
    """``write()``, an ``OSError`` turned into one :class:`OutputWriteError` naming ``path``."""
    try:
        return write()
    except OSError as exc:
        raise OutputWriteError(
            str(path),
            exc.errno or 0,
            (
                f"{path}: cannot be written ({exc.strerror or exc}); free space or make the folder writable, then rerun "
                "the same command: finished shards are kept"
            ),
        ) from exc


def _write_shard(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    text = "".join(json.dumps(row) + "\n" for row in rows)
    _writing(path, lambda: atomic_write_text(path, text))


def read_shard(path: str | os.PathLike, expected: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The rows of a finished shard; with ``expected``, checked to hold exactly those paths, in order.

    Raises:
        ConfigError: the shard cannot be read or holds other files (it was changed by hand or comes
            from another run): delete it and run again.
    """
    path = Path(path)
    fix = "delete it and run the same command again (it is scored anew), or add --overwrite to start over"
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as a shard ({exc}); {fix}") from None
    if expected is not None and [row.get("path") for row in rows] != list(expected):
        raise ConfigError(
            f"{path}: does not hold the {len(expected)} files this shard stands for in the input list; {fix}"
        )
    return rows


# -- the run -----------------------------------------------------------------------------------------
def _differences(found: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """How the run that wrote the shards (``found``) differs from this one, in words."""
    if (found.get("format"), found.get("version")) != (_FORMAT, _FORMAT_VERSION):
        return [
            f"another format ({found.get('format')} {found.get('version')}; this wavguard writes {_FORMAT} {_FORMAT_VERSION})"
        ]
    said = []
    for key, (what, value) in _MUST_MATCH.items():
        if found.get(key) != wanted[key]:
            try:
                before = value.format(**found)
            except (KeyError, TypeError, ValueError):  # a manifest edited by hand
                before = repr(found.get(key))
            said.append(f"{what} ({before}; this run: {value.format(**wanted)})")
    return said


def _prepare(directory: Path, record: dict[str, Any], num_shards: int, overwrite: bool) -> list[int]:
    """Main process: refuse shards of another run, clear them with ``overwrite``, write the
    manifest; returns the finished shards."""
    manifest = directory / MANIFEST_NAME
    if directory.is_dir():
        for entry in directory.iterdir():
            name = entry.name
            temporary = name.startswith((".shard-", f".{MANIFEST_NAME}.")) and name.endswith(".tmp")  # a killed write's
            earlier = name == MANIFEST_NAME or (name.startswith("shard-") and name.endswith(".jsonl"))
            if entry.is_file() and (temporary or (overwrite and earlier)):
                entry.unlink()
    if manifest.is_file():
        try:
            found = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{manifest}: cannot be read ({exc}); add --overwrite to start over") from None
        said = _differences(found if isinstance(found, dict) else {}, record)
        if said:
            raise ConfigError(
                f"{manifest}: the shards in {directory} were written for " + "; ".join(said) + ". Run the same command "
                "as before to resume, add --overwrite to score everything again, or choose another --out"
            )
    else:
        leftovers = sorted(p.name for p in directory.glob("shard-*.jsonl")) if directory.is_dir() else []
        if leftovers:
            listed = ", ".join(leftovers[:3]) + (", ..." if len(leftovers) > 3 else "")
            raise ConfigError(
                f"{directory}: holds shards ({listed}) but no {MANIFEST_NAME} saying which run wrote them; "
                "add --overwrite to start over, or choose another --out"
            )
        atomic_write_text(manifest, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return [k for k in range(num_shards) if shard_path(directory, k).is_file()]


def _on_main(state: Any, work: Callable[[], Any]) -> Any:
    """``work()`` on the main process, its result (or its error) handed to every process."""
    if state is None:
        return work()
    from accelerate.utils import broadcast_object_list

    outcome: list[Any] = [None]
    failure: WavguardError | None = None
    if state.is_main_process:
        try:
            outcome = [("ok", work())]
        except WavguardError as exc:
            failure, outcome = exc, [("error", isinstance(exc, ConfigError), str(exc))]
    kind, *value = broadcast_object_list(outcome, from_process=0)[0]
    if failure is not None:
        raise failure
    if kind == "error":  # the same sentence (and exit status) on every process
        usage, message = value
        raise (ConfigError if usage else WavguardError)(message)
    return value[0]


def _merge(directory: Path, plan: list[list[Item]], out: Path, record: dict[str, Any]) -> tuple[int, int]:
    """Write every shard's rows, in input order, to ``out``; returns (rows, rows with an error)."""
    counts = [0, 0]

    def shards() -> Iterator[list[dict[str, Any]]]:
        for k, items in enumerate(plan):
            path = shard_path(directory, k)
            if not path.is_file():
                raise WavguardError(
                    f"{path}: missing after every process finished; the processes must write to a folder "
                    "the main process sees (with several machines, a shared file system)"
                )
            rows = read_shard(path, [_item_path(item) for item in items])
            counts[0] += len(rows)
            counts[1] += sum(row["error"] is not None for row in rows)
            yield rows

    _writing(out, lambda: atomic_write(out, lambda tmp: write_table(tmp, out.suffix.lower(), shards(), record)))
    return counts[0], counts[1]


def score_archive(
    scorer: Any,
    items: Sequence[Item],
    out: str | os.PathLike,
    *,
    model_directory: str | os.PathLike | None = None,
    model_name: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch_size: int = 8,
    threshold: float | None = None,
    overwrite: bool = False,
    progress: bool = False,
    distributed: bool | None = None,
) -> ArchiveResult | None:
    """Score every item into one score file ``out``, in resumable shards, split across processes.

    See the module docstring for the steps. Every process of a launch calls this with the same
    arguments; ``out`` must be on a file system every process sees.

    Args:
        scorer: a :class:`~wavguard.Detector` or an ensemble, already on this process's device (it
            is moved to accelerate's device for the process when that is not the CPU).
        items: the files in order (``str``), and errors in the place of inputs that named no file
            (they become error rows).
        out: the score file; its suffix (:data:`OUTPUT_SUFFIXES`) picks the format.
        model_directory: the model's folder, whose files' digest (:func:`files_sha256`) tells whether
            shards on disk came from this model (default: ``scorer.directory``).
        model_name: the model as the user named it, recorded for messages (default: the folder).
        shard_size: files per shard (the unit of resuming and of splitting across processes).
        batch_size: windows per forward pass.
        threshold: the decision threshold (default: the scorer's).
        overwrite: score every shard again, even those an earlier run of the same command finished.
        progress: a progress bar over files on the main process.
        distributed: split the shards across processes (``None``: when launched so, see
            :func:`~wavguard.scoring.datasets.distributed_state`).

    Returns:
        an :class:`ArchiveResult` on the main process; ``None`` on the others.

    Raises:
        ConfigError: a bad option, or shards on disk from another run (another file list, model,
            threshold or shard size; the message says which, and what to do).
        OutputWriteError: a shard or the score file could not be written.
    """
    out = check_output(out)
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ConfigError(f"shard_size is a number of files and must be at least 1, got {shard_size!r}")
    threshold = check_predict_options("return", threshold, scorer.default_threshold, batch_size)
    directory = model_directory if model_directory is not None else getattr(scorer, "directory", None)
    if directory is None or not Path(directory).is_dir():
        raise ConfigError(
            "score_archive needs the model's folder (model_directory) to tell on a resume whether the shards "
            "came from this model; save the detector with save_pretrained and load it from there"
        )
    items = list(items)
    plan = [items[start : start + shard_size] for start in range(0, len(items), shard_size)]
    record = {
        "format": _FORMAT,
        "version": _FORMAT_VERSION,
        "files": len(items),
        "files_sha256": inputs_sha256(items),
        "model": str(model_name or directory),
        "model_sha256": None,
        "threshold": threshold,
        "shard_size": shard_size,
    }
    state = process_state(distributed)
    if state is not None and state.device.type != "cpu":
        scorer.to(state.device)
    shards_dir = shard_dir(out)

    def prepare() -> tuple[list[int], str]:
        record["model_sha256"] = files_sha256(directory)  # on the main process only: a model may be gigabytes
        return _writing(shards_dir, lambda: _prepare(shards_dir, record, len(plan), overwrite)), record["files_sha256"]

    finished_list, listed = _on_main(state, prepare)
    if listed != record["files_sha256"]:  # another file system, or files that came or went while listing
        raise ConfigError(
            f"process {state.process_index} of {state.num_processes} lists {len(items)} files (sha256 "
            f"{record['files_sha256']:.12}...), the main process other ones (sha256 {listed:.12}...); every process "
            "must see the same --data (with several machines, on a shared file system)"
        )
    finished = set(finished_list)
    main = state is None or state.is_main_process
    if finished and main:
        logger.info("%s: skipping %d finished shards of %d", shards_dir, len(finished), len(plan))
    todo = [k for k in range(len(plan)) if k not in finished]
    mine = todo if state is None else todo[state.process_index :: state.num_processes]
    where = "" if state is None else f"process {state.process_index} of {state.num_processes}, "
    logger.info(
        "%sshards to score: %d of %d (%d files each) on %s",
        where,
        len(mine),
        len(plan),
        shard_size,
        getattr(scorer, "device", "cpu"),
    )
    bar = None
    if progress and main:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(len(plan[k]) for k in mine), desc="scoring", unit="file")
    try:
        for k in mine:
            _write_shard(
                shard_path(shards_dir, k), score_shard(scorer, plan[k], batch_size=batch_size, threshold=threshold)
            )
            if bar is not None:
                bar.update(len(plan[k]))
    finally:
        if bar is not None:
            bar.close()
    if state is not None:
        state.wait_for_everyone()
    if not main:
        return None
    files, failed = _merge(shards_dir, plan, out, record)
    logger.info("%s: %d rows, %d with an error", out, files, failed)
    return ArchiveResult(out, files, failed, len(plan), len(finished))
