"""The API reference builds from the docstrings, offline, with pdoc (issue 26, item 9; docs/api.md)."""

from __future__ import annotations

import html
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


class _Docstrings(HTMLParser):
    """The text of every rendered docstring (``<div class="docstring">``), code blocks left out."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # nesting of <div> inside a docstring; 0: outside
        self.in_pre = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "div" and (self.depth or ("class", "docstring") in attrs):
            self.depth += 1
        elif tag == "pre" and self.depth:
            self.in_pre += 1

    def handle_endtag(self, tag):
        if tag == "div" and self.depth:
            self.depth -= 1
        elif tag == "pre" and self.in_pre:
            self.in_pre -= 1

    def handle_data(self, data):
        if self.depth and not self.in_pre:
            self.text.append(data)


def _docstring_text(page: Path) -> str:
    parser = _Docstrings()
    parser.feed(page.read_text())
    return " ".join("".join(parser.text).split())


def _first_line(obj) -> str:
    return " ".join(obj.__doc__.strip().split("\n\n")[0].split()).replace("``", "")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("pdoc", reason="pdoc builds the API reference: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("site") / "api"
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "scripts.build_api_docs", "-o", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return out


def test_the_public_modules_have_pages(site):
    from scripts.build_api_docs import MODULES

    assert (site / "index.html").is_file() and (site / "search.js").is_file()
    for module in MODULES:
        assert (site / (module.replace(".", "/") + ".html")).is_file(), module
    for module in (
        "scoring/pipeline",
        "scoring/predicts",
        "scoring/prediction",
        "evaluation/evaluate",
        "evaluation/calibration",
    ):
        assert (site / "wavguard" / f"{module}.html").is_file(), module  # submodules of packages without __all__


def test_detector_pages_carry_the_docstrings(site):
    from wavguard import Detector, Prediction
    from wavguard.scoring.predicts import Predicts

    page = (site / "wavguard.html").read_text()
    for name in (
        "Detector.from_pretrained",
        "Detector.from_backbone",
        "Detector.save_pretrained",
        "Detector.push_to_hub",
        "Prediction.score",
        "DetectorConfig",
    ):
        assert f'id="{name}"' in page, name
    text = html.unescape(_docstring_text(site / "wavguard.html"))
    assert _first_line(Detector.from_pretrained) in text
    assert "name_or_path" in text and "local_files_only" in text  # the Args section, rendered as a list
    assert _first_line(Prediction) in text
    # predict comes from the shared front end: the Detector page links to its documentation
    assert 'href="wavguard/scoring/predicts.html#Predicts.predict"' in page
    front_end = html.unescape(_docstring_text(site / "wavguard" / "scoring" / "predicts.html"))
    assert _first_line(Predicts.predict) in front_end and "on_error" in front_end


def test_docstrings_render_without_leftover_markup(site):
    """reST roles are converted, and no ``literal`` is split over two lines (markdown leaves those as written)."""
    left = {}
    for page in sorted(site.rglob("*.html")):
        text = _docstring_text(page)
        found = [marker for marker in ("``", ":class:`", ":meth:`", ":func:`", ":mod:`") if marker in text]
        if found:
            left[str(page.relative_to(site))] = found
    assert not left, left
