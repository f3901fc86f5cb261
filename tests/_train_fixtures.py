"""Shared fixtures of the training tests: tiny two-class audio folders and a tiny backbone."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RATE_HZ = 16000


def tiny_config(train, validation, backbone, output_dir, cache_dir, **overrides):
    """A TrainConfig that trains a 16-channel head on a frozen tiny backbone in seconds: 1 s crops
    and windows, batch 8, head learning rate 0.01, no warm-up, no early stopping; ``overrides`` win."""
    from wavguard.training import TrainConfig

    settings = dict(
        train_data=str(train),
        validation_data=str(validation),
        backbone=str(backbone),
        mode="frozen",
        epochs=5,
        batch_size=8,
        crop_seconds=1.0,
        head_learning_rate=1e-2,
        warmup_ratio=0.0,
        early_stopping_patience=None,
        detector={"head_channels": [16], "window_seconds": 1.0},
        output_dir=str(output_dir),
        cache_dir=str(cache_dir),
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def aasist_toy_config(data, tmp, name, **overrides):
    """The AASIST tests' TrainConfig: 0.5 s crops of the toy folder ``data``, 6 epochs of batch 8,
    head learning rate 5e-2 and backbone (AASIST) 1e-3, constant, no calibration; outputs in
    ``tmp/name``, the feature cache in ``tmp/cache``; ``overrides`` win."""
    from wavguard.training import TrainConfig

    settings = dict(
        train_data=str(data),
        epochs=6,
        batch_size=8,
        crop_seconds=0.5,
        head_learning_rate=5e-2,
        backbone_learning_rate=1e-3,
        warmup_ratio=0.0,
        scheduler="constant",
        output_dir=str(tmp / name),
        cache_dir=str(tmp / "cache"),
        log_every_steps=1,
        calibration="none",
    )
    return TrainConfig(**(settings | overrides))


def make_folder(root: Path, per_class: int = 12, seconds: float = 1.0, seed: int = 0) -> Path:
    """``root/real/*.wav`` sines of varying pitch and ``root/fake/*.wav`` white noise."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    for name in ("real", "fake"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(per_class):
        tone = 0.3 * np.sin(2 * np.pi * (180 + 35 * i) * t)
        noise = np.clip(0.3 * rng.standard_normal(t.size), -1, 1)
        sf.write(root / "real" / f"real_{i:02d}.wav", tone.astype(np.float32), RATE_HZ)
        sf.write(root / "fake" / f"fake_{i:02d}.wav", noise.astype(np.float32), RATE_HZ)
    return root


CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: test
    path: data/test-*
---
# A tiny spoofing data set
"""


def _wav_bytes(samples: np.ndarray) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, RATE_HZ, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def make_hub_folder(
    root: Path,
    per_class: int = 4,
    seconds: float = 0.5,
    *,
    audio_column: str = "audio",
    label_column: str = "label",
    label_values: tuple[str, str] | None = None,
) -> Path:
    """``root/README.md`` + ``root/data/{train,test}-00000-of-00001.parquet``: audio bytes embedded
    (as ``push_to_hub`` stores them), labels as ClassLabel bonafide/spoof, a speaker column.

    ``audio_column`` and ``label_column`` name those columns; with ``label_values`` (real, fake)
    the labels are those strings in a plain string column instead of a ClassLabel.
    """
    import datasets

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    (root / "data").mkdir(parents=True)
    for split in ("train", "test"):
        cells, labels, speakers = [], [], []
        for i in range(per_class):
            tone = (0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t)).astype(np.float32)
            noise = np.clip(0.3 * rng.standard_normal(t.size), -1, 1).astype(np.float32)
            cells += [
                {"bytes": _wav_bytes(tone), "path": f"{split}_real_{i}.wav"},
                {"bytes": _wav_bytes(noise), "path": f"{split}_fake_{i}.wav"},
            ]
            labels += [0, 1] if label_values is None else list(label_values)
            speakers += [f"s{i}", f"s{i}"]
        label_feature = (
            datasets.ClassLabel(names=["bonafide", "spoof"]) if label_values is None else datasets.Value("string")
        )
        features = datasets.Features(
            {
                audio_column: datasets.Audio(sampling_rate=RATE_HZ),
                label_column: label_feature,
                "speaker": datasets.Value("string"),
            }
        )
        ds = datasets.Dataset.from_dict(
            {audio_column: cells, label_column: labels, "speaker": speakers}, features=features
        )
        ds.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    (root / "README.md").write_text(CARD)
    return root


def checkpointed_run(root: Path) -> dict[str, Path]:
    """One finished 2-epoch run of the spectrogram CNN (no backbone: fast; 2 steps per epoch, a
    checkpoint every step, 3 kept) for checkpoint tests to copy and damage.

    Returns:
        ``{"recipe": its recipe file, "out": its output_dir}``.
    """
    from wavguard.cli import main

    data = make_folder(root / "data", per_class=4, seconds=1.0)
    recipe = root / "recipe.yaml"
    recipe.write_text(
        f"train_data: {data}\nkind: spectrogram\nmode: full\nepochs: 2\nbatch_size: 4\ncrop_seconds: 0.5\n"
        "checkpoint_every_steps: 1\nkeep_checkpoints: 3\nwarmup_ratio: 0.0\ndetector: {window_seconds: 1.0}\n"
    )
    out = root / "run"
    assert main(["train", str(recipe), f"output_dir={out}"]) == 0
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["step-00000002", "step-00000003", "step-00000004"]
    return {"recipe": recipe, "out": out}


def copy_run(run: dict[str, Path], tmp_path: Path) -> Path:
    """A copy of ``run``'s output_dir under ``tmp_path``, to change without touching the shared run."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(run["out"], out)
    return out


def train_again(run: dict[str, Path], out: Path, *extra: str) -> int:
    """``wavguard train`` with ``run``'s recipe into ``out``; ``--flags`` and ``key=value`` overrides in ``extra``."""
    from wavguard.cli import main

    flags = [x for x in extra if x.startswith("--")]
    overrides = [x for x in extra if not x.startswith("--")]
    return main(["train", *flags, str(run["recipe"]), f"output_dir={out}", *overrides])
