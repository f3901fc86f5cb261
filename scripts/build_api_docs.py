"""Build the API reference, HTML pages made from the docstrings by pdoc, offline (docs/api.md).

    python -m scripts.build_api_docs -o site/api        # then open site/api/index.html

pdoc imports each module below and renders its public names (``__all__`` where a module has one)
with their Google-style docstrings. A module that fails to import, or any other pdoc warning, fails
the build instead of leaving a page out. Needs the ``dev`` extra (pdoc) and the extras the listed
modules import (``serving`` for ``wavguard.serve``, ``training`` for ``wavguard.training``).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

#: The public API: the package (Detector, Prediction, DetectorConfig, the errors) and the modules a
#: user calls. Packages without ``__all__`` (scoring, evaluation) bring their submodules along.
MODULES = [
    "wavguard",
    "wavguard.config",
    "wavguard.errors",
    "wavguard.scoring",
    "wavguard.training",
    "wavguard.evaluation",
    "wavguard.metrics",
    "wavguard.hub",
    "wavguard.export",
    "wavguard.export.onnx",
    "wavguard.export.quantize",
    "wavguard.data",
    "wavguard.audio",
    "wavguard.serve",
    "wavguard.testing",
]


def build(out: str | os.PathLike, modules: list[str] = MODULES) -> list[str]:
    """Write the pages for ``modules`` under ``out``; returns pdoc's warnings (empty on a clean build)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # importing wavguard never downloads; make sure of it
    import pdoc
    import pdoc.render

    pdoc_dir = str(Path(pdoc.__file__).parent)
    pdoc.render.configure(docformat="google", footer_text=f"wavguard {_version()}", search=True, show_source=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*modules, output_directory=Path(out))
    return [str(w.message) for w in caught if w.filename.startswith(pdoc_dir)]


def _version() -> str:
    from wavguard import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="site/api", help="output folder (default: site/api)")
    args = parser.parse_args(argv)
    problems = build(args.out)
    for problem in problems:
        print(f"pdoc: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"API reference: {Path(args.out) / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
