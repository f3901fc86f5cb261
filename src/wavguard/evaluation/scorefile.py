"""Score files: one tab-separated line per utterance, for benchmarks and for reports without a model.

``wavguard evaluate MODEL --data DATA -o DIR --scores scores.tsv`` writes one;
``wavguard evaluate --from-scores scores.tsv -o DIR`` reads it back and writes the same report (the
same metrics.json ``metrics`` and ``groups``) without the model. The format::

    # wavguard-scores: 1
    # model: "det0"
    # threshold: 0.5
    # prior_log_odds: 0.0
    # group_by: ["attack", "speaker"]
    id	score	llr	label	attack	channel	speaker
    LA_E_1000147	0.03125	-3.4339872044851463	real	bonafide	landline	LA_0031
    LA_E_1000273	0.9921875	4.844187086458591	fake	A10	landline	LA_0032

* ``# key: value`` lines come first (values in JSON): the model's name, the decision threshold of
  the thresholded metrics, the prior log-odds taken out of the LLRs and the grouping columns of
  the report. All optional when reading (defaults: the file's name, 0.5, 0.0, every extra column).
* One header line, then one line per scored utterance, in the data set's order:

  - ``id``: the data set's ``id``-like column (:data:`ID_COLUMNS`) where it has one, else the
    audio file's name without its folder and extension (ASVspoof's utterance ids), or the whole
    source where those names are not unique;
  - ``score``: P(fake), the detector's calibrated score: **higher = more likely fake**;
  - ``llr``: natural-log likelihood ratio in favour of FAKE, ``logit(score) - prior_log_odds``
    (the input of actDCF and Cllr; :mod:`wavguard.metrics`);
  - ``label``: ``fake`` or ``real`` (reading also takes 1/0, spoof/bonafide, ...);
  - then the data set's attack / generator / channel columns where it has them
    (:data:`KNOWN_COLUMNS`), then the other grouping columns of the evaluation.

* Cells are escaped: a backslash, tab, newline or carriage return in an id or a value is written
  ``\\\\``, ``\\t``, ``\\n``, ``\\r``. An empty cell is an unknown value.
* Numbers are written with Python's ``repr``, so they read back to the same float64 and the
  metrics of ``--from-scores`` equal those of the scored run. Rows that failed to score are not
  written (the scored run's report lists them).

Example:
    >>> from wavguard.evaluation.scorefile import evaluate_score_file, write_scores  # doctest: +SKIP
    >>> write_scores(result, "scores.tsv", dataset)                                  # doctest: +SKIP
    >>> evaluate_score_file("scores.tsv").metrics["eer"] == result.metrics["eer"]    # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from .._io import atomic_write_text
from ..data import parse_label
from ..errors import ConfigError
from .evaluate import _column_values
from .results import EvaluationResult, evaluate_scores

__all__ = [
    "write_scores",
    "read_scores",
    "evaluate_score_file",
    "ScoreFile",
    "ID_COLUMNS",
    "KNOWN_COLUMNS",
    "FORMAT_VERSION",
]

FORMAT_VERSION = 1
#: Data set columns taken as the utterance id, first found wins.
ID_COLUMNS = ("id", "utt_id", "utterance_id", "file_id")
#: Data set columns written when present, whether or not the report groups by them: what made
#: a fake (attack, generator, family, vocoder) and the recording or transmission channel.
KNOWN_COLUMNS = ("attack", "generator", "family", "vocoder", "channel", "codec", "transmission")
_CORE = ("id", "score", "llr", "label")
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def _escape(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return "".join(_ESCAPES.get(c, c) for c in str(value))


def _unescape(cell: str, where: str) -> str:
    out, chars = [], iter(cell)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            if nxt not in _UNESCAPES:
                raise ConfigError(f"{where}: unknown escape '\\{nxt}' (use \\\\, \\t, \\n or \\r)")
            c = _UNESCAPES[nxt]
        out.append(c)
    return "".join(out)


def _ids(result: EvaluationResult, dataset) -> list[str]:
    if dataset is not None and result.rows is not None:
        for column in ID_COLUMNS:
            if column in dataset.column_names:
                values = dataset[column]
                return [str(values[int(i)]) for i in result.rows]
    names = [PurePath(str(s).replace("\\", "/")).stem for s in result.sources]
    if len(set(names)) == len(names) == result.labels.size:
        return names
    return (
        [str(s) for s in result.sources]
        if len(result.sources) == result.labels.size
        else [str(i) for i in range(result.labels.size)]
    )


def write_scores(result: EvaluationResult, path: str | os.PathLike, dataset=None) -> Path:
    """Write ``result`` as a score file (the format in the module docstring).

    Args:
        result: an evaluation of clean audio (``evaluate_detector`` or ``evaluate_scores``).
        path: the file to write (its folder is created); replaced if it exists.
        dataset: the evaluated ``datasets.Dataset``, for the id column and the attack /
            generator / channel columns the evaluation did not group by (``None``: the
            result's own grouping columns only).

    Returns:
        the path written.
    """
    columns: dict[str, list[Any]] = {}
    if dataset is not None and result.rows is not None:
        for column in KNOWN_COLUMNS:
            if column in dataset.column_names and column not in result.columns:
                values = _column_values(dataset, column)
                columns[column] = [values[int(i)] for i in result.rows]
    columns.update(result.columns)
    order = [c for c in KNOWN_COLUMNS if c in columns] + [c for c in columns if c not in KNOWN_COLUMNS]
    llrs = result.log_odds - result.prior_log_odds
    meta = {
        "wavguard-scores": FORMAT_VERSION,
        "model": result.name,
        "threshold": float(result.threshold),
        "prior_log_odds": float(result.prior_log_odds),
        "group_by": list(result.columns),
    }
    lines = [f"# {key}: {json.dumps(value)}" for key, value in meta.items()]
    lines.append("\t".join(_escape(c) for c in (*_CORE, *order)))
    for k, utt in enumerate(_ids(result, dataset)):
        cells = [utt, repr(float(result.scores[k])), repr(float(llrs[k])), "fake" if result.labels[k] == 1 else "real"]
        lines.append("\t".join([_escape(c) for c in cells] + [_escape(columns[c][k]) for c in order]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, "\n".join(lines) + "\n")


@dataclass
class ScoreFile:
    """What a score file holds.

    Attributes:
        ids: one per utterance.
        labels: shape (N,), 1 = fake, 0 = real.
        scores: shape (N,), P(fake), higher = more likely fake.
        llrs: shape (N,), LLRs in favour of fake; ``None`` without an ``llr`` column.
        columns: ``{column: values}`` of the other columns (``None`` for an empty cell).
        meta: the ``# key: value`` lines (``model``, ``threshold``, ``prior_log_odds``, ``group_by``).
    """

    ids: list[str]
    labels: np.ndarray
    scores: np.ndarray
    llrs: np.ndarray | None
    columns: dict[str, list[str | None]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _number(cell: str, what: str, where: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise ConfigError(f"{where}: {what} must be a number, got {cell!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{where}: {what} must be finite, got {cell!r}")
    return value


def read_scores(path: str | os.PathLike) -> ScoreFile:
    """Read a score file (see the module docstring); ``ConfigError`` says which line is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such score file")
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    meta: dict[str, Any] = {}
    n = 0
    while n < len(lines) and lines[n].startswith("#"):
        key, sep, value = lines[n][1:].partition(":")
        if sep:
            try:
                meta[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                raise ConfigError(
                    f"{path}:{n + 1}: the value of {key.strip()!r} is not JSON: {value.strip()!r}"
                ) from None
        n += 1
    if n == len(lines):
        raise ConfigError(f"{path}: no header line (id, score, label, ...)")
    header = [_unescape(c, f"{path}:{n + 1}") for c in lines[n].rstrip("\r").split("\t")]
    missing = [c for c in ("score", "label") if c not in header]
    if missing or len(set(header)) != len(header):
        raise ConfigError(f"{path}:{n + 1}: the header needs 'score' and 'label' columns, each once; got {header}")
    at = {c: i for i, c in enumerate(header)}
    ids, labels, scores, llrs = [], [], [], []
    columns: dict[str, list[str | None]] = {c: [] for c in header if c not in _CORE}
    for number, line in enumerate(lines[n + 1 :], start=n + 2):
        where = f"{path}:{number}"
        cells = line.rstrip("\r").split("\t")
        if len(cells) != len(header):
            raise ConfigError(
                f"{where}: {len(cells)} cells, the header has {len(header)} (tabs in values must be escaped as \\t)"
            )
        cells = [_unescape(c, where) for c in cells]
        label = parse_label(cells[at["label"]])
        if label is None:
            raise ConfigError(f"{where}: label must be fake/real (or 1/0, spoof/bonafide), got {cells[at['label']]!r}")
        labels.append(label)
        scores.append(_number(cells[at["score"]], "score", where))
        if "llr" in at:
            llrs.append(_number(cells[at["llr"]], "llr", where))
        ids.append(cells[at["id"]] if "id" in at else str(len(ids)))
        for column, values in columns.items():
            values.append(cells[at[column]] or None)
    if not ids:
        raise ConfigError(f"{path}: no scores after the header")
    scores_array = np.asarray(scores, dtype=np.float64)
    if np.any((scores_array < 0) | (scores_array > 1)):
        raise ConfigError(
            f"{path}: score must be P(fake), in [0, 1] (higher = more likely fake); put other scores in 'llr'"
        )
    return ScoreFile(
        ids,
        np.asarray(labels, dtype=int),
        scores_array,
        np.asarray(llrs, dtype=np.float64) if "llr" in at else None,
        columns,
        meta,
    )


def evaluate_score_file(
    path: str | os.PathLike,
    *,
    threshold: float | None = None,
    group_columns: Sequence[str] | None = None,
    name: str | None = None,
    bootstrap_resamples: int = 1000,
    seed: int = 0,
) -> EvaluationResult:
    """Every metric of a score file, as :func:`~wavguard.evaluation.results.evaluate_scores` gives it.

    On a file written by :func:`write_scores` the ``metrics`` and ``groups`` equal the scored run's.

    Args:
        path: the score file.
        threshold: decision threshold of the thresholded metrics; default the file's ``threshold``
            (the model's), else 0.5.
        group_columns: columns to break the metrics down by; default the file's ``group_by``,
            else every column besides id, score, llr and label.
        name: the model's name in the report; default the file's ``model``, else its file name.
        bootstrap_resamples, seed: the EER interval's bootstrap.
    """
    scores = read_scores(path)
    meta = scores.meta
    if group_columns is None:
        listed = meta.get("group_by")
        group_columns = [c for c in listed if c in scores.columns] if isinstance(listed, list) else list(scores.columns)
    missing = [c for c in group_columns if c not in scores.columns]
    if missing:
        raise ConfigError(f"{path}: no column {missing} to group by (columns: {', '.join(scores.columns) or 'none'})")
    threshold = float(meta.get("threshold", 0.5)) if threshold is None else float(threshold)
    prior = float(meta.get("prior_log_odds", 0.0))
    common = dict(
        threshold=threshold,
        columns={c: scores.columns[c] for c in group_columns},
        name=name or str(meta.get("model") or Path(path).stem),
        bootstrap_resamples=bootstrap_resamples,
        seed=seed,
    )
    if scores.llrs is None:  # LLRs from the scores: logit(score) - prior
        result = evaluate_scores(scores.labels, scores.scores, prior_log_odds=prior, **common)
    else:  # the metrics see the file's LLRs exactly as written (no round trip through the log-odds)
        result = evaluate_scores(scores.labels, scores.scores, log_odds=scores.llrs, **common)
        result.log_odds = result.margins = scores.llrs + prior
        result.prior_log_odds = prior
    result.sources = scores.ids
    return result
