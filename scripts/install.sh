#!/usr/bin/env bash
# Install ultrajudge and its development tools into ./.venv (or $VENV).
#
# torch: a machine with an NVIDIA GPU (nvidia-smi present) or a venv that already has torch
# keeps its own; otherwise the pinned CPU build is installed first, so that resolving the
# other dependencies never pulls gigabytes of CUDA packages. Outside this project's build
# machines, point TORCH_INDEX_URL at PyTorch's CPU index to get the CPU wheel from there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --upgrade pip

if "$PY" -c "import torch" 2>/dev/null; then
  echo "install: keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1; then
  echo "install: GPU machine: torch comes with the dependencies (CUDA build)"
else
  echo "install: CPU machine: installing torch==$TORCH_VERSION (CPU build) first"
  "$PY" -m pip install --quiet ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==$TORCH_VERSION"
fi

"$PY" -m pip install --quiet -e ".[hf,dev${EXTRAS:+,$EXTRAS}]"
echo "install: done; activate with: source $VENV/bin/activate"
