"""Find and drop bad audio: unreadable, empty, silent, too short.

:func:`scan_dataset` decodes every file once (in parallel with ``num_proc``) and reports each bad
one with the wavguard error that describes it; :func:`drop_bad` removes exactly those rows and
logs what it removed. Nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..errors import AudioError, AudioTooShortError, ConfigError, SilentAudioError
from .processing import decode_audio

__all__ = ["BadFile", "ScanReport", "scan_dataset", "drop_bad"]

logger = logging.getLogger("wavguard.data")


@dataclass(frozen=True)
class BadFile:
    """One unusable row. ``error`` is the wavguard exception class name, e.g. ``"SilentAudioError"``."""

    index: int
    path: str
    error: str
    reason: str


@dataclass
class ScanReport:
    """The result of :func:`scan_dataset`.

    Attributes:
        num_rows: rows scanned (the length of the scanned dataset).
        bad: the unusable rows, in row order.
        fingerprint: the scanned dataset's fingerprint, checked by :func:`drop_bad`.
    """

    num_rows: int
    bad: list[BadFile] = field(default_factory=list)
    fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        return not self.bad

    def counts(self) -> dict[str, int]:
        """Bad rows per error class name."""
        return dict(Counter(b.error for b in self.bad))

    def __str__(self) -> str:
        head = f"scanned {self.num_rows} files: {len(self.bad)} bad"
        if self.bad:
            head += " (" + ", ".join(f"{n} {e}" for e, n in sorted(self.counts().items())) + ")"
        return "\n".join([head] + [f"  {b.path}: {b.error}: {b.reason}" for b in self.bad])


def _check_one(audio, sample_rate_hz: int, min_duration_seconds: float, silence_peak_db: float) -> tuple[str, str]:
    try:
        samples = decode_audio(audio, sample_rate_hz)
    except (AudioError, ConfigError) as exc:
        return type(exc).__name__, getattr(exc, "reason", str(exc))
    duration = samples.shape[0] / sample_rate_hz
    if duration < min_duration_seconds:
        return AudioTooShortError.__name__, f"{duration:.3f} s is shorter than the minimum {min_duration_seconds} s"
    peak = float(np.max(np.abs(samples)))
    peak_db = 20.0 * np.log10(peak) if peak > 0 else -np.inf
    if peak_db < silence_peak_db:
        return (
            SilentAudioError.__name__,
            f"peak level {peak_db:.1f} dBFS is below the silence threshold {silence_peak_db} dBFS",
        )
    return "", ""


def scan_dataset(
    ds,
    sample_rate_hz: int,
    *,
    min_duration_seconds: float = 0.1,
    silence_peak_db: float = -60.0,
    num_proc: int | None = None,
) -> ScanReport:
    """Decode every file once and report the unusable ones.

    Args:
        ds: a ``Dataset`` with an ``audio`` column.
        sample_rate_hz: decode at this rate (the model's rate).
        min_duration_seconds: shorter files are reported as ``AudioTooShortError``.
        silence_peak_db: files whose peak is below this level (dBFS) are reported as
            ``SilentAudioError`` (all-zero files always are).
        num_proc: worker processes for decoding.

    Returns:
        :class:`ScanReport`: path + wavguard error name + reason for each missing, unreadable,
        truncated, empty, non-finite, silent or too-short file.
    """
    if "audio" not in ds.column_names:
        raise ConfigError(f"the dataset has no 'audio' column (columns: {ds.column_names})")

    def check(example):
        error, reason = _check_one(example["audio"], sample_rate_hz, min_duration_seconds, silence_peak_db)
        return {"_error": error, "_reason": reason}

    checked = ds.select_columns(["audio"]).map(check, num_proc=num_proc, keep_in_memory=True, desc="scan_dataset")
    errors, reasons = checked["_error"], checked["_reason"]
    bad = []
    for i, (error, reason) in enumerate(zip(errors, reasons)):
        if error:
            audio = ds[i]["audio"]
            path = (audio.get("path") if isinstance(audio, dict) else audio) or f"<row {i}>"
            bad.append(BadFile(i, str(path), error, reason))
    report = ScanReport(len(ds), bad, getattr(ds, "_fingerprint", None))
    logger.info("%s", report if bad else f"scanned {len(ds)} files: all usable")
    return report


def drop_bad(ds, report: ScanReport):
    """Remove the rows ``report`` lists as bad, logging how many and why.

    Raises:
        ConfigError: ``report`` was made for a different dataset (length or fingerprint differ).
    """
    if report.num_rows != len(ds) or (report.fingerprint and report.fingerprint != getattr(ds, "_fingerprint", None)):
        raise ConfigError(
            f"the scan report covers {report.num_rows} rows of another dataset; this one has {len(ds)}: "
            "scan this dataset (scan_dataset) and pass that report"
        )
    if not report.bad:
        logger.info("drop_bad: nothing to drop (%d rows)", len(ds))
        return ds
    dropped = {b.index for b in report.bad}
    kept = ds.select([i for i in range(len(ds)) if i not in dropped])
    logger.warning(
        "drop_bad: dropped %d of %d rows (%s); first: %s",
        len(dropped),
        len(ds),
        ", ".join(f"{n} {e}" for e, n in sorted(report.counts().items())),
        report.bad[0].path,
    )
    return kept
