"""The lint rules in pyproject.toml ([tool.ruff.lint]) and ruff's formatting hold over the whole tree."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    folders = ["src", "tests", "benchmarks", "recipes", "scripts", "examples"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "concise", *folders],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_tree_is_formatted():
    """`ruff format` (line length 120 from pyproject.toml) leaves every file as it is: run it before committing."""
    folders = ["src", "tests", "benchmarks", "recipes", "scripts", "examples"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *folders],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
