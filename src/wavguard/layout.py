"""The saved detector directory: one place for its file names.

```
DETECTOR_DIR/
  config.json          DetectorConfig: preprocessing contract, head, calibration, threshold
  model.safetensors    head and layer weights (a transformer detector's backbone is not in it)
  backbone/            the backbone, when it is bundled (fine-tuned, random or local)
  adapter/             LoRA adapters in peft's format
  model.onnx           an exported graph (instead of model.safetensors / backbone / adapter)
  onnx.json            what the exported graph takes and gives
  README.md            the model card (Hub uploads)
ENSEMBLE_DIR/ensemble.json   members and fusion weights
```
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "BACKBONE_DIR",
    "ADAPTER_DIR",
    "ONNX_NAME",
    "ONNX_META_NAME",
    "CARD_NAME",
    "ENSEMBLE_NAME",
    "is_onnx_dir",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
BACKBONE_DIR = "backbone"
ADAPTER_DIR = "adapter"
ONNX_NAME = "model.onnx"
ONNX_META_NAME = "onnx.json"
CARD_NAME = "README.md"
ENSEMBLE_NAME = "ensemble.json"


def is_onnx_dir(directory: Path) -> bool:
    """Whether ``directory`` holds an exported detector (an ONNX graph and no PyTorch weights)."""
    return (directory / ONNX_NAME).is_file() and not (directory / WEIGHTS_NAME).is_file()
