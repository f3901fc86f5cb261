#!/usr/bin/env bash
# One command sets up everything on a fresh machine with Python 3.10+:
# torch 2.13 first (on machines with the PyTorch CPU wheel index, add
# `--index-url https://download.pytorch.org/whl/cpu`: a plain `pip install torch` may pull
# several GB of CUDA packages), then wavguard with all its extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install --quiet "torch==2.13.0"
"$PY" -m pip install --quiet -e ".[all]"
