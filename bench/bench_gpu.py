"""GPU throughput of the vllm: backend against the transformers backend and an
OpenAI-compatible vLLM server (``vllm serve``) through the openai: backend.

A random-weight Llama of a real shape (1.7B: hidden 2048, 24 layers, 32/8 heads, MLP 8192,
vocabulary 49152) is built locally, so nothing downloads; verdicts mean nothing, speed is
what the shape costs. Each (backend, mode) row judges ``--rows`` UltraFeedback rows of four
completions and reports completions/s and peak GPU memory. Needs a CUDA GPU, vllm and torch.

    python bench/bench_gpu.py [--rows 512] [--backends vllm transformers server] [--out gpu.json]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ultrajudge.judge.rating import RatingConfig, rate_rows
from ultrajudge.judge.tiny import TinyShape, build_tiny_model
from ultrajudge.judge.types import GenerationParams

SHAPE_1_7B = TinyShape(
    hidden_size=2048,
    num_hidden_layers=24,
    num_attention_heads=32,
    num_key_value_heads=8,
    intermediate_size=8192,
    vocab_size=49152,
    max_position_embeddings=8192,
    tie_word_embeddings=True,
)


def workload(rows: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    words = [
        "the",
        "model",
        "answer",
        "question",
        "data",
        "rating",
        "text",
        "helpful",
        "honest",
        "score",
    ]

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    return [(text(40), [text(rng.randint(60, 200)) for _ in range(4)]) for _ in range(rows)]


def build(kind: str, model: Path, port: int) -> tuple[object, subprocess.Popen | None]:
    from ultrajudge.judge.backends import build_backend

    if kind == "vllm":
        return build_backend(f"vllm:{model}", max_model_len="8192", dtype="bfloat16"), None
    if kind == "transformers":
        return build_backend(str(model), device="cuda", dtype="bfloat16", batch_size="64"), None
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
         "--port", str(port), "--max-model-len", "8192", "--enable-prefix-caching",
         "--generation-config", "vllm", "--gpu-memory-utilization", "0.85"]
    )  # fmt: skip
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2)
            break
        except OSError:
            time.sleep(2)
    backend = build_backend(
        f"openai:{model}", base_url=f"http://127.0.0.1:{port}/v1", api_key="EMPTY",
        server_kind="vllm", concurrency="256", progress="false",
    )  # fmt: skip
    return backend, server


def run_row(kind: str, mode: str, model: Path, items: list, port: int) -> dict[str, object]:
    import torch

    torch.cuda.reset_peak_memory_stats()
    backend, server = build(kind, model, port)
    config = RatingConfig(
        mode=mode,  # type: ignore[arg-type]
        params=GenerationParams(max_new_tokens=256),
        max_retries=0,
        min_mass=0.0,
    )
    try:
        rate_rows(backend, items[:8], config)  # warm-up: compile, caches
        start = time.perf_counter()
        rate_rows(backend, items, config)
        seconds = time.perf_counter() - start
    finally:
        if server is not None:
            server.terminate()
            server.wait()
    completions = sum(len(c) for _, c in items)
    return {
        "backend": kind,
        "mode": mode,
        "completions_per_s": round(completions / seconds, 2),
        "seconds": round(seconds, 2),
        "peak_gpu_gib_this_process": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "gpu": torch.cuda.get_device_name(0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--backends", nargs="+", default=["vllm", "transformers", "server"])
    parser.add_argument("--modes", nargs="+", default=["logprob", "generate"])
    parser.add_argument("--model", type=Path, default=Path("/tmp/ultrajudge-bench-1.7b"))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not (args.model / "config.json").exists():
        build_tiny_model(args.model, shape=SHAPE_1_7B, seed=0)
    items = workload(args.rows)
    table = []
    for kind in args.backends:
        for mode in args.modes:
            row = run_row(kind, mode, args.model, items, args.port)
            print(json.dumps(row), flush=True)
            table.append(row)
    if args.out is not None:
        args.out.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":  # vLLM starts its engine in a child process
    main()
