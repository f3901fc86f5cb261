"""Tiny labelled data sets for the evaluation tests (wavguard's schema, built without torchcodec)."""

from pathlib import Path

import numpy as np
import soundfile as sf

from wavguard.testing import chirp, sine


def make_dataset(rows):
    """A datasets.Dataset in wavguard's schema (audio as Audio(decode=False)) built with pyarrow."""
    import datasets
    import pyarrow as pa

    cells = [r["audio"] if isinstance(r["audio"], dict) else {"path": r["audio"], "bytes": None} for r in rows]
    arrays = {
        "audio": pa.array(cells, type=datasets.Audio().pa_type),
        "label": pa.array([r["label"] for r in rows], pa.int64()),
    }
    for key in rows[0]:
        if key not in ("audio", "label"):
            arrays[key] = pa.array([r[key] for r in rows], pa.string())
    table = pa.table(arrays)
    features = datasets.Features.from_arrow_schema(table.schema)
    features["audio"] = datasets.Audio(decode=False)
    return datasets.Dataset(table.cast(features.arrow_schema), info=datasets.DatasetInfo(features=features))


def write_clips(folder: Path):
    """8 real tones and 8 fake chirps/noise, with attack and speaker columns."""
    rng = np.random.default_rng(0)
    rows = []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        path = folder / f"real_{i}.wav"
        sf.write(path, sine(0.5 + 0.1 * i, frequency_hz=150 + 60 * i), 16000)
        rows.append({"audio": str(path), "label": 0, "attack": "-", "speaker": f"s{i % 2}"})
    for i in range(8):
        path = folder / f"fake_{i}.wav"
        clip = chirp(0.6, f0_hz=200 + 50 * i) if i % 2 == 0 else (0.1 * rng.standard_normal(9000)).astype(np.float32)
        sf.write(path, clip, 16000 if i < 6 else 22050)
        rows.append({"audio": str(path), "label": 1, "attack": "A1" if i % 2 == 0 else "A2", "speaker": f"s{i % 2}"})
    return rows
