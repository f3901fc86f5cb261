"""The distribution name and what the plain install must carry (issue 16, item 2)."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NAME = "wavguard-detector"  # PyPI's "wavguard" is an unrelated WAV validator


def _names(requirements):
    return [re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in requirements]


def test_the_distribution_has_its_own_name_and_extras_refer_to_it():
    assert PROJECT["name"] == NAME
    for extra, requirements in PROJECT["optional-dependencies"].items():
        for requirement in requirements:
            if requirement.lower().startswith("wavguard"):
                assert requirement.startswith(f"{NAME}["), f"extra {extra!r} refers to {requirement!r}"
    assert PROJECT["scripts"]["wavguard"] == "wavguard.cli:main"  # the command and the import keep their name


def test_lora_detectors_load_in_the_plain_install():
    assert "peft" in _names(PROJECT["dependencies"])


def test_install_lines_in_docs_use_the_distribution_name():
    wrong = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").rglob("*.md")),
                 *sorted((ROOT / "examples").rglob("requirements.txt"))]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            in_pip = re.search(r"""pip install[^`\n]*?["'\s]wavguard(?![-\w])""", line)
            in_requirements = path.name == "requirements.txt" and re.match(r"wavguard(?![-\w])", line)
            in_extras = re.search(r"""[`("']wavguard\[""", line)
            if in_pip or in_requirements or in_extras:
                wrong.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not wrong, "install lines naming PyPI's other 'wavguard':\n" + "\n".join(wrong)
