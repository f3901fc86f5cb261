#!/usr/bin/env bash
# The default test suite: offline, no GPU; long tests are marked slow (run them with -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
${PYTHON:-python3} -m pytest -q "$@"
