"""Throughput of the ``openai`` backend against a local server.

Starts the test server (tests/judge/openai_server.py) in its own process, as a
real server would be.

Fixed latency (default): ``--latency`` seconds per request; ``--rounds`` x
concurrency chat requests at each concurrency in one backend call (after one
untimed round that opens the connections); the ideal throughput is
concurrency / latency.

``--skewed``: a latency tail, as real servers have: 90% of requests take 0.1 s and
10% take 1.0 s. ``--rows`` rows (one completion each) are scored end to end by
``judge_dataset`` (the job runner, its store, the sliding window), at each
concurrency; the ideal is concurrency / mean latency (84.2 rows/s at 16). The ``bound``
column is what a perfect scheduler reaches on the same finite run (0.97 of ideal at 16,
0.90 at 64 for 2,000 rows): the last slow requests leave slots idle at the end.

    python bench/bench_concurrency.py [--latency 0.2] [--levels 1 8 32 64] [--rounds 10]
    python bench/bench_concurrency.py --skewed [--rows 2000] [--levels 16 64]
    python bench/bench_concurrency.py --generators [--rows 800] [--levels 16] [--batch-size 8]

``--jury N``: a jury of N API judges, each on its own server (the skewed latency), scores
``--rows`` rows with ``score_with_jury`` at each concurrency (per juror), once with the
jurors one after another and once at the same time (the default); the speedup is the
ratio of the two wall times, measured in the same run (ideal: N).

    python bench/bench_concurrency.py --jury 3 [--rows 500] [--levels 8 16]

``--aspects N``: ``--rows`` rows scored on N aspects (``--aspect all`` has 5) by one API
judge at each concurrency, the aspects one after another (a window each, every slot
waiting for the aspect's slowest request) and as one stream (the default); both in the
same run, as a fraction of ideal.

    python bench/bench_concurrency.py --aspects 5 [--rows 400] [--levels 16 64]

``--generators``: the skewed latency through ``generate pool`` (one completion per row,
``pool_completions`` with the job runner's Session) at each concurrency, with the CLI's
default ``--batch-size`` 8; ideal as for ``--skewed``.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


SLOW, FAST = 1.0, 0.1  # the skewed case: every tenth row is slow


def _tail(body: Mapping[str, Any]) -> float:
    """Extra latency of a skewed-case request: the slow rows' prompts say so."""
    text = json.dumps(body.get("messages", ""))
    return SLOW - FAST if "slow question" in text else 0.0


def fifo_bound(rows: int, concurrency: int) -> float:
    """Rows/s of a perfect scheduler on this finite run: the skewed rows in input order, each
    sent the instant a slot frees, with no client cost at all. Below ``ideal`` because the
    run ends with slots idle while the last slow requests finish (the drain)."""
    free = [0.0] * concurrency  # when each slot frees; a heap
    end = 0.0
    for i in range(rows):
        start = heapq.heappop(free)
        done = start + (SLOW if i % 10 == 0 else FAST)
        end = max(end, done)
        heapq.heappush(free, done)
    return rows / end


def skewed_rows(rows: int, tag: str) -> list[dict[str, Any]]:
    """``rows`` rows of one completion, every tenth slow (its prompt says so); ``tag`` makes
    the prompts, so the store keys, of one measurement its own."""
    return [
        {"instruction": f"{'slow question' if i % 10 == 0 else 'question'} {i} {tag}",
         "completions": [f"answer {i}"]}
        for i in range(rows)
    ]  # fmt: skip


def mean_latency(rows: int) -> float:
    """The mean latency of :func:`skewed_rows` (0.19 s for whole tens)."""
    return sum(SLOW if i % 10 == 0 else FAST for i in range(rows)) / rows


def run_skewed(url: str, concurrency: int, rows: int) -> dict[str, float]:
    """Score ``rows`` rows through the job runner; ideal = concurrency / mean latency."""
    import datasets

    from ultrajudge.judge.io import Columns
    from ultrajudge.judge.rating import RatingConfig
    from ultrajudge.judge.scoring import judge_dataset
    from ultrajudge.judge.store import ResultStore

    backend = build_backend(
        "openai:bench-model", base_url=url, server_kind="vllm",
        concurrency=str(concurrency), progress="0",
    )  # fmt: skip
    ds = datasets.Dataset.from_list(skewed_rows(rows, f"of {concurrency}"))
    config = RatingConfig(params=GenerationParams(max_new_tokens=16), max_retries=0)
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "s.sqlite") as store:
        start = time.perf_counter()
        summary = judge_dataset(
            backend, ds, columns=Columns(), configs=[config], store=store, progress=False
        )
        seconds = time.perf_counter() - start
    assert summary.made_now == rows
    return {"seconds": seconds, "rate": rows / seconds, "ideal": concurrency / mean_latency(rows)}


def run_generators(url: str, concurrency: int, rows: int, batch_size: int) -> dict[str, float]:
    """Generate one completion for each of ``rows`` rows (every tenth slow) with ``pool``."""
    from dataclasses import fields

    from ultrajudge.generators.engine import Session
    from ultrajudge.generators.pooling import PoolConfig, PoolGenerator, pool_completions
    from ultrajudge.judge.store import ResultStore

    options = {"base_url": url, "server_kind": "vllm", "concurrency": str(concurrency), "progress": "0"}  # fmt: skip
    config = PoolConfig((PoolGenerator("openai:bench-model", options=options),), max_new_tokens=16)
    rows_in = [{"instruction": r["instruction"]} for r in skewed_rows(rows, f"of {concurrency}")]
    # the engine before the runner's stream called its batch size chunk_rows
    size = "batch_size" if "batch_size" in {f.name for f in fields(Session)} else "chunk_rows"
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "s.sqlite") as store:
        session = Session(store, max_retries=0, progress=False, **{size: batch_size})
        start = time.perf_counter()
        out = pool_completions(rows_in, config, session)
        seconds = time.perf_counter() - start
    assert session.summary.made_now == rows and all(r["completions"] for r in out)
    return {"seconds": seconds, "rate": rows / seconds, "ideal": concurrency / mean_latency(rows)}


def _generators_table(url: str, levels: list[int], rows: int, batch_size: int) -> None:
    print(
        f"generate pool, skewed latency: 90% {FAST:g} s, 10% {SLOW:g} s; {rows} rows per "
        f"level, --batch-size {batch_size}\n"
    )
    print(
        f"{'concurrency':>11} {'rows':>6} {'seconds':>8} {'rows/s':>8} {'ideal':>8} {'ratio':>6} "
        f"{'bound':>6}"
    )
    for c in levels:
        r = run_generators(url, c, rows, batch_size)
        print(
            f"{c:>11} {rows:>6} {r['seconds']:>8.2f} {r['rate']:>8.1f} {r['ideal']:>8.1f} "
            f"{r['rate'] / r['ideal']:>6.2f} {fifo_bound(rows, c) / r['ideal']:>6.2f}"
        )


def run_jury(urls: list[str], concurrency: int, rows: int, together: bool) -> float:
    """Seconds for a jury of ``len(urls)`` API judges to score ``rows`` skewed rows, the
    jurors at the same time (``together``) or one after another."""
    from unittest import mock

    import datasets

    from ultrajudge.judge import jury as jury_module
    from ultrajudge.judge.io import Columns
    from ultrajudge.judge.rating import RatingConfig
    from ultrajudge.judge.store import ResultStore

    options = {"server_kind": "vllm", "concurrency": str(concurrency), "progress": "0"}
    jury = jury_module.Jury(
        tuple(
            jury_module.Juror(f"j{k}", "openai:bench-model", {**options, "base_url": url})
            for k, url in enumerate(urls)
        )
    )
    ds = datasets.Dataset.from_list(skewed_rows(rows, str(together)))
    config = RatingConfig(params=GenerationParams(max_new_tokens=16), max_retries=0)
    one_by_one = mock.patch.object(jury_module, "concurrent_requests", lambda backend: 0)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ResultStore(Path(tmp) / "s.sqlite") as store,
        contextlib.nullcontext() if together else one_by_one,
    ):
        start = time.perf_counter()
        _, summaries = jury_module.score_with_jury(
            ds, jury, columns=Columns(), configs=[config], store=store, progress=False
        )
        seconds = time.perf_counter() - start
    assert all(s.made_now == rows for s in summaries.values())
    return seconds


def _jury_table(urls: list[str], levels: list[int], rows: int) -> None:
    print(
        f"jury of {len(urls)} API judges, each on its own server; skewed latency: 90% "
        f"{FAST:g} s, 10% {SLOW:g} s; {rows} rows\n"
    )
    print(f"{'concurrency':>11} {'one by one':>10} {'together':>9} {'speedup':>8} {'ideal':>6}")
    for c in levels:
        apart = run_jury(urls, c, rows, together=False)
        together = run_jury(urls, c, rows, together=True)
        print(f"{c:>11} {apart:>9.2f}s {together:>8.2f}s {apart / together:>8.2f} {len(urls):>6}")
    print("\nconcurrency: requests in flight per juror; speedup = one by one / together")


ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness", "overall")


def run_aspects(url: str, concurrency: int, rows: int, aspects: int, stream: bool) -> float:
    """Seconds to score ``rows`` skewed rows on the first ``aspects`` aspects, as one
    stream or aspect after aspect."""
    from unittest import mock

    import datasets

    from ultrajudge.judge import scoring
    from ultrajudge.judge.io import Columns
    from ultrajudge.judge.rating import RatingConfig
    from ultrajudge.judge.store import ResultStore

    backend = build_backend(
        "openai:bench-model", base_url=url, server_kind="vllm",
        concurrency=str(concurrency), progress="0",
    )  # fmt: skip
    ds = datasets.Dataset.from_list(skewed_rows(rows, f"{stream} {concurrency}"))
    params = GenerationParams(max_new_tokens=16)
    configs = [RatingConfig(aspect=a, params=params, max_retries=0) for a in ASPECTS[:aspects]]
    apart = mock.patch.object(scoring, "_one_stream", lambda *args: False)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ResultStore(Path(tmp) / "s.sqlite") as store,
        contextlib.nullcontext() if stream else apart,
    ):
        start = time.perf_counter()
        summary = scoring.judge_dataset(
            backend, ds, columns=Columns(), configs=configs, store=store, progress=False
        )
        seconds = time.perf_counter() - start
    assert summary.made_now == rows * aspects
    return seconds


def _aspects_table(url: str, levels: list[int], rows: int, aspects: int) -> None:
    print(
        f"{aspects} aspects x {rows} rows through one API judge; skewed latency: 90% "
        f"{FAST:g} s, 10% {SLOW:g} s\n"
    )
    print(
        f"{'concurrency':>11} {'apart':>8} {'ratio':>6} {'stream':>8} {'ratio':>6} {'speedup':>8}"
    )
    for c in levels:
        ideal = rows * aspects * mean_latency(rows) / c  # seconds at concurrency / latency
        apart = run_aspects(url, c, rows, aspects, stream=False)
        stream = run_aspects(url, c, rows, aspects, stream=True)
        print(
            f"{c:>11} {apart:>7.2f}s {ideal / apart:>6.2f} {stream:>7.2f}s "
            f"{ideal / stream:>6.2f} {apart / stream:>8.2f}"
        )
    print("\nratio = ideal seconds / seconds; apart = one window per aspect")


def _serve(
    latency: float, skewed: bool, urls: multiprocessing.Queue, stop: multiprocessing.Event
) -> None:
    with OpenAITestServer(latency=FAST if skewed else latency, latency_of=_tail if skewed else None) as server:  # fmt: skip
        urls.put(server.url)
        stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument(
        "--rounds", type=int, default=10, help="requests per level = rounds x concurrency"
    )
    parser.add_argument("--skewed", action="store_true", help="90%% 0.1 s, 10%% 1.0 s, via score")
    parser.add_argument("--rows", type=int, default=2000, help="rows per level (--skewed)")
    parser.add_argument("--generators", action="store_true", help="--skewed through generate pool")
    parser.add_argument("--batch-size", type=int, default=8, help="--generators: the CLI's")
    parser.add_argument("--jury", type=int, default=0, help="N API jurors, N servers")
    parser.add_argument("--aspects", type=int, default=0, help="N aspects, one API judge")
    args = parser.parse_args()
    args.skewed = args.skewed or args.generators or args.jury > 0 or args.aspects > 0
    urls: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    processes = [
        multiprocessing.Process(
            target=_serve, args=(args.latency, args.skewed, urls, stop), daemon=True
        )
        for _ in range(max(1, args.jury))
    ]
    for process in processes:
        process.start()
    try:
        servers = [urls.get(timeout=30) for _ in processes]
        url = servers[0]
        run_level(url, 1, 1, args.latency)  # warm-up: imports
        if args.jury:
            import datasets

            datasets.disable_progress_bars()  # the read-back's map bars, per juror
            _jury_table(servers, args.levels, args.rows)
            return
        if args.aspects:
            _aspects_table(url, args.levels, args.rows, min(args.aspects, len(ASPECTS)))
            return
        if args.generators:
            _generators_table(url, args.levels, args.rows, args.batch_size)
            return
        if args.skewed:
            _skewed_table(url, args.levels, args.rows)
            return
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
        for process in processes:
            process.join(timeout=5)


def _skewed_table(url: str, levels: list[int], rows: int) -> None:
    print(f"skewed latency: 90% {FAST:g} s, 10% {SLOW:g} s; {rows} rows scored per level\n")
    print(
        f"{'concurrency':>11} {'rows':>6} {'seconds':>8} {'rows/s':>8} {'ideal':>8} {'ratio':>6} "
        f"{'bound':>6}"
    )
    for c in levels:
        r = run_skewed(url, c, rows)
        print(
            f"{c:>11} {rows:>6} {r['seconds']:>8.2f} {r['rate']:>8.1f} {r['ideal']:>8.1f} "
            f"{r['rate'] / r['ideal']:>6.2f} {fifo_bound(rows, c) / r['ideal']:>6.2f}"
        )
    print(
        "\nratio = rows/s / ideal (concurrency / mean latency); bound = the same for a perfect "
        "scheduler on these rows (no client cost; slots idle only in the final drain)"
    )


if __name__ == "__main__":
    main()
