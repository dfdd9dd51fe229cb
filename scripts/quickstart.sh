#!/usr/bin/env bash
# Install, then run the main job end to end on the bundled examples (offline, no downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/ultrajudge quickstart "$@"
