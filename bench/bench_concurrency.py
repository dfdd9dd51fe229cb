"""Throughput of the ``openai`` backend against a local server with fixed latency.

Starts the test server (tests/judge/openai_server.py) in its own process, as a
real server would be, with ``--latency`` seconds per request, and sends
``--rounds`` x concurrency chat requests at each concurrency (after one
untimed round that opens the connections); the ideal throughput is
concurrency / latency.

    python bench/bench_concurrency.py [--latency 0.2] [--levels 1 8 32 64] [--rounds 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "judge")]

from openai_server import OpenAITestServer  # noqa: E402

from ultrajudge.judge.backends import build_backend  # noqa: E402
from ultrajudge.judge.types import GenerationParams, Message  # noqa: E402


def run_level(url: str, concurrency: int, requests: int, latency: float) -> dict[str, float]:
    backend = build_backend(
        "openai:bench-model",
        base_url=url,
        server_kind="vllm",
        concurrency=str(concurrency),
        progress="0",
    )
    conversations = [[Message("user", f"question {i}")] for i in range(requests)]
    backend.chat(
        conversations[:concurrency], GenerationParams(max_new_tokens=16)
    )  # open connections
    start = time.perf_counter()
    out = backend.chat(conversations, GenerationParams(max_new_tokens=16))
    seconds = time.perf_counter() - start
    failed = sum(c.failed for c in out)
    rate = requests / seconds
    return {"seconds": seconds, "rate": rate, "ideal": concurrency / latency, "failed": failed}


def _serve(latency: float, urls: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    with OpenAITestServer(latency=latency) as server:
        urls.put(server.url)
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument(
        "--rounds", type=int, default=10, help="requests per level = rounds x concurrency"
    )
    args = parser.parse_args()
    urls: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    process = multiprocessing.Process(target=_serve, args=(args.latency, urls, stop), daemon=True)
    process.start()
    try:
        url = urls.get(timeout=30)
        run_level(url, 1, 1, args.latency)  # warm-up: imports
        print(f"latency {args.latency * 1000:.0f} ms per request\n")
        print(
            f"{'concurrency':>11} {'requests':>8} {'seconds':>8} {'req/s':>8} {'ideal':>8} {'ratio':>6} {'failed':>6}"
        )
        for c in args.levels:
            n = max(c * args.rounds, 8)
            r = run_level(url, c, n, args.latency)
            print(
                f"{c:>11} {n:>8} {r['seconds']:>8.2f} {r['rate']:>8.1f} {r['ideal']:>8.1f} "
                f"{r['rate'] / r['ideal']:>6.2f} {r['failed']:>6}"
            )
    finally:
        stop.set()
        process.join(timeout=5)


if __name__ == "__main__":
    main()
