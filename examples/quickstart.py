"""Score a wav, an mp3 and a stereo 44.1 kHz flac with a detector, from Python and from the CLI.

Runs offline: without a detector named it builds a tiny random one (its scores are meaningless,
the pipeline is real). Name a detector directory or Hub id, as an argument or in the
``WAVGUARD_MODEL`` variable, to use a real one:

    python examples/quickstart.py [DETECTOR]
    WAVGUARD_MODEL=runs/quickstart/detector python examples/quickstart.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from wavguard import Detector
from wavguard.testing import chirp, sine, tiny_detector


def write_examples(folder: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    speechlike = chirp(3.0) + 0.02 * rng.standard_normal(48000).astype(np.float32)
    paths = [folder / "clip.wav", folder / "clip.mp3", folder / "stereo_44k.flac"]
    sf.write(paths[0], speechlike, 16000)
    sf.write(paths[1], speechlike, 16000, format="MP3")
    sf.write(paths[2], np.stack([chirp(9.0, 44100), sine(9.0, 44100)], axis=1), 44100)
    return paths


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WAVGUARD_MODEL")
        if model:
            detector = Detector.from_pretrained(model)
            model_dir = model
        else:
            detector = tiny_detector("wav2vec2", window_seconds=4.0)
            model_dir = str(detector.save_pretrained(tmp / "tiny-detector"))
        paths = write_examples(tmp)

        print("Python API (score = probability that the audio is FAKE):")
        for pred in detector.predict(paths):
            windows = ", ".join(f"{s.start_seconds:.0f}-{s.end_seconds:.0f}s: {s.score:.2f}" for s in pred.segments)
            print(f"  {Path(pred.source).name:16s} score={pred.score:.3f} label={pred.label}  windows [{windows}]")

        print("\nCLI: wavguard predict DIR --data FILES")
        # python -m wavguard is the `wavguard` command, run by this interpreter: the same install as the import above
        subprocess.run([sys.executable, "-m", "wavguard", "predict", model_dir, "--data", *map(str, paths)], check=True)


if __name__ == "__main__":
    main()
