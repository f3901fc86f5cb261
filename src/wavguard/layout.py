"""The saved detector directory: one place for its file names.

```
DETECTOR_DIR/
  config.json          DetectorConfig: preprocessing contract, head, calibration, threshold;
                       its "model_type": "wavguard" lets transformers' AutoConfig read it
  preprocessor_config.json  what transformers' audio-classification pipeline feeds the model
                       (raw mono float32 at the detector's rate; wavguard windows it)
  model.safetensors    head and layer weights (a transformer detector's backbone is not in it)
  backbone/            the backbone, when it is bundled (fine-tuned, random or local); a
                       portable save names it "backbone" in config.json when it has no Hub id
  adapter/             LoRA adapters in peft's format (without peft's template README.md)
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
    "FAST_PATH_DIR",
    "CARD_NAME",
    "ENSEMBLE_NAME",
    "PREPROCESSOR_NAME",
    "MODEL_TYPE",
    "BUILTIN_DETECTORS",
    "DEFAULT_DETECTOR",
    "BUILTIN_ROOT",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
BACKBONE_DIR = "backbone"
ADAPTER_DIR = "adapter"
ONNX_NAME = "model.onnx"
ONNX_META_NAME = "onnx.json"
#: a checked int8 export inside a detector folder, which ``wavguard predict`` scores with by default
FAST_PATH_DIR = "onnx-int8"
CARD_NAME = "README.md"
ENSEMBLE_NAME = "ensemble.json"
PREPROCESSOR_NAME = "preprocessor_config.json"
#: ``model_type`` in config.json: the key transformers' Auto classes dispatch on.
MODEL_TYPE = "wavguard"


#: detectors in the box, by name -> their folder under ``wavguard/detectors/`` (package data)
BUILTIN_DETECTORS = {"wavguard-offline-base": "offline-whisper-base"}
#: what ``wavguard predict``, ``serve``, ``demo`` and ``info`` use when no model is named
DEFAULT_DETECTOR = "wavguard-offline-base"
#: where the built-in detectors' folders are
BUILTIN_ROOT = Path(__file__).resolve().parent / "detectors"
