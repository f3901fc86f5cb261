"""The distribution name and what the plain install must carry (issue 16, item 2)."""

import os
import re
from pathlib import Path

import pytest
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
    for path in [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "examples").rglob("*.md")),
        *sorted((ROOT / "examples").rglob("requirements.txt")),
    ]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            in_pip = re.search(r"""pip install[^`\n]*?["'\s]wavguard(?![-\w])""", line)
            in_requirements = path.name == "requirements.txt" and re.match(r"wavguard(?![-\w])", line)
            in_extras = re.search(r"""[`("']wavguard\[""", line)
            if in_pip or in_requirements or in_extras:
                wrong.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not wrong, "install lines naming PyPI's other 'wavguard':\n" + "\n".join(wrong)


# -- the wheel carries the training recipes (issue 26, item 3) ------------------------------------
def _run(argv, **kwargs):
    import subprocess

    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{argv}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """The project built as a wheel (from a copy of the sources, so the checkout stays clean) and
    installed with --no-deps into a fresh venv that borrows the heavy dependencies from this one."""
    import shutil
    import sys

    pytest.importorskip("setuptools")  # --no-build-isolation: no index needed
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp / "dist"),
        ]
    )
    (wheel,) = (tmp / "dist").glob("wavguard_detector-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    # --ignore-installed: this environment's editable install must not count as "already satisfied"
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", str(wheel)])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    home = tmp / "elsewhere"  # outside the repository: no recipes/ folder to fall back on
    home.mkdir()
    where = _run([str(python), "-c", "import wavguard; print(wavguard.__file__)"], cwd=home, env=env).stdout
    assert where.strip().startswith(str(venv)), f"wavguard imported from {where}, not from the wheel"
    return {"wavguard": str(venv / "bin" / "wavguard"), "cwd": home, "env": env, "tmp": tmp}


def test_train_list_works_from_the_wheel(wheel_venv):
    out = _run([wheel_venv["wavguard"], "train", "--list"], cwd=wheel_venv["cwd"], env=wheel_venv["env"]).stdout
    assert [line.split()[0] for line in out.splitlines()] == [
        "asvspoof2019_la",
        "custom_folder",
        "custom_folder_baseline",
        "in_the_wild",
        "wavefake",
    ]


@pytest.mark.slow
def test_train_by_name_and_by_data_from_the_wheel(wheel_venv):
    """`wavguard train custom_folder_baseline train_data=DIR` and `wavguard train --data DIR` (the default
    recipe, a tiny backbone) train end to end from the installed wheel."""
    pytest.importorskip("accelerate")
    from _train_fixtures import make_folder

    from wavguard.testing import tiny_backbone_dir

    tmp, run = wheel_venv["tmp"], {"cwd": wheel_venv["cwd"], "env": wheel_venv["env"]}
    data = make_folder(tmp / "data", per_class=4, seconds=0.6)
    debug = [
        "epochs=1",
        "batch_size=4",
        "crop_seconds=0.5",
        "detector.window_seconds=0.5",
        "detector.hop_seconds=0.5",
        "mixed_precision=no",
        "num_workers=0",
        "validation_fraction=0.25",
    ]
    out = _run(
        [wheel_venv["wavguard"], "train", "custom_folder_baseline", f"train_data={data}", "-o", str(tmp / "a"), *debug],
        **run,
    ).stdout
    assert f"best detector: {tmp / 'a' / 'best'}" in out
    backbone = tiny_backbone_dir("wav2vec2", tmp / "bb")
    out = _run(
        [
            wheel_venv["wavguard"],
            "train",
            "--data",
            str(data),
            "-o",
            str(tmp / "b"),
            f"backbone={backbone}",
            "num_layers=null",
            "detector.head_channels=[8]",
            "lora_rank=2",
            *debug,
        ],
        **run,
    ).stdout
    assert f"best detector: {tmp / 'b' / 'best'}" in out


def test_predict_with_the_builtin_detector_from_the_wheel(wheel_venv):
    """`pip install` then `wavguard predict clip.wav`: the detector in the box scores from the wheel's
    package data, with no model named, no training and no network."""
    import numpy as np
    import soundfile as sf

    from wavguard import Detector
    from wavguard.layout import DEFAULT_DETECTOR

    run = {"cwd": wheel_venv["cwd"], "env": wheel_venv["env"]}
    clip = wheel_venv["tmp"] / "clip.wav"
    t = np.arange(32_000) / 16_000
    sf.write(clip, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000, subtype="FLOAT")
    score, label, path = _run([wheel_venv["wavguard"], "predict", str(clip)], **run).stdout.strip().split("\t")
    assert path == str(clip) and label in ("real", "fake")
    assert abs(float(score) - Detector.from_pretrained(DEFAULT_DETECTOR).predict(clip).score) <= 1e-4
    info = _run([wheel_venv["wavguard"], "info", "--json"], **run).stdout
    import json

    data = json.loads(info)
    assert data["directory"].startswith(str(wheel_venv["tmp"] / "venv")) and data["backbone"] == "offline:whisper-base"
    assert data["card"] and "EER" in data["card"]
