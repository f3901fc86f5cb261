"""Run every reader on the real packages and print what it found (the README's Sources table).

``python -m recipes.offline_corpus.readers.survey [--cache-dir DIR] [--families queen sky ...]``
downloads and extracts what is missing, then prints, per family: clips, minutes, speaker keys,
languages, channels, and the seconds the reader took (extraction included on a first run).
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
from collections import Counter
from pathlib import Path

from . import FAMILIES, Clip

DEFAULT_CACHE = os.environ.get("WAVGUARD_CORPUS_CACHE", "~/.cache/wavguard/offline_corpus")


def summarise(clips: list[Clip]) -> dict:
    """Counts of one family's clips: clips, minutes, speakers, languages, channels, rates."""
    return {
        "clips": len(clips),
        "minutes": sum(c.duration_seconds for c in clips) / 60,
        "speakers": Counter(c.speaker for c in clips),
        "reliability": Counter(c.speaker_reliability for c in clips),
        "languages": Counter(c.language for c in clips),
        "channels": Counter(c.channel for c in clips),
        "rates": Counter(c.sample_rate_hz for c in clips),
        "with_text": sum(bool(c.text) for c in clips),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE)
    parser.add_argument("--debs-dir", default=None)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES)
    args = parser.parse_args(argv)
    cache = Path(args.cache_dir).expanduser()
    for name in args.families:
        start = time.perf_counter()
        clips = importlib.import_module(f"{__package__}.{name}").read(
            cache, Path(args.debs_dir) if args.debs_dir else None
        )
        seconds = time.perf_counter() - start
        s = summarise(clips)
        print(
            f"## {name}: {s['clips']} clips, {s['minutes']:.1f} min, {len(s['speakers'])} speaker keys, {seconds:.1f} s"
        )
        for key in ("languages", "channels", "rates", "reliability"):
            print(f"  {key}: {dict(sorted(s[key].items()))}")
        print(f"  with text: {s['with_text']}")
        print(f"  speakers: {dict(s['speakers'].most_common())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
