"""Check a data source once and store it as a ``datasets`` folder that every recipe can read.

    python recipes/prepare.py SOURCE OUT_DIR [--splits train validation test]

Loads each split with ``wavguard.data.load_any`` (folders, manifests, known corpora), prints the
clip counts per label, and writes ``OUT_DIR/<split>`` with ``save_to_disk``. Point a recipe's
``train_data``/``validation_data``/``test_data`` at those folders (and their ``*_split`` at null).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="folder, manifest or corpus root")
    parser.add_argument("out_dir", help="where to write one save_to_disk folder per split")
    parser.add_argument("--splits", nargs="*", default=[None], help="splits to load (default: the whole source)")
    args = parser.parse_args(argv)

    import numpy as np

    from wavguard.data import load_any

    for split in args.splits:
        data = load_any(args.source, split=split)
        labels = np.asarray(data["label"])
        name = split or "all"
        target = Path(args.out_dir) / name
        data.save_to_disk(str(target))
        print(f"{name}: {int((labels == 0).sum())} real, {int((labels == 1).sum())} fake -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
