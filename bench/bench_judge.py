"""How fast ultrajudge scores a dataset, against a plain-transformers baseline and distilabel.

One command runs everything and prints a Markdown table (also written to
``bench/results/judge.md``)::

    python bench/bench_judge.py

Workload: 64 instructions x 4 completions from ``bench/judge_workload.py`` (seeded).
Judge: a random-weight Llama in SmolLM2-135M shape with a 16k BPE tokenizer trained
on the workload, bf16, 2 threads. Every row of the table runs in its own process
(peak RSS is that process's). distilabel 1.5.3 runs in ``bench/.venv-distilabel``,
created here on first use (it sees this environment's torch/transformers through a
``.pth`` file), never as a project dependency. Random weights never emit EOS, so
generation always runs to max_new_tokens: generating rows compare at equal
max_new_tokens (128, greedy). The slow rows run on a subset of the rows (stated in
the table); rates are per completion.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

DISTILABEL_VENV = HERE / ".venv-distilabel"


# -- setup -----------------------------------------------------------------------------


def build_model(workdir: Path, layers: int | None = None) -> Path:
    """SmolLM2-135M-shaped random Llama (``layers`` overrides the depth), cached on disk."""
    from dataclasses import replace

    from judge_workload import make_rows

    from ultrajudge.judge.templates import load_template
    from ultrajudge.judge.tiny import SMOLLM2_135M, build_tiny_model

    shape = SMOLLM2_135M if layers is None else replace(SMOLLM2_135M, num_hidden_layers=layers)
    out = workdir / ("model" if layers is None else f"model-{layers}l")
    if (out / "config.json").exists():
        return out
    corpus = [t for r in make_rows(64) for t in [r["instruction"], *r["completions"]]]
    corpus += [load_template(n).source for n in ("ultrafeedback/overall", "score_rationale")]
    return build_tiny_model(out, shape=shape, corpus=corpus, tokenizer_vocab=16384)


def ensure_distilabel() -> Path | None:
    """``bench/.venv-distilabel`` with distilabel 1.5.3; None (and why) if it can't be made."""
    python = DISTILABEL_VENV / "bin" / "python"
    if python.exists():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(DISTILABEL_VENV)], check=True)
        site = subprocess.run(
            [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        ours = next(p for p in sys.path if p.endswith("site-packages"))
        Path(site, "_ultrajudge_main.pth").write_text(ours + "\n")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "distilabel==1.5.3", "requests"],
            check=True,
        )
    except (subprocess.CalledProcessError, OSError, StopIteration) as exc:
        print(f"distilabel could not be installed: {exc}", file=sys.stderr)
        return None
    return python


# -- child processes -------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ultrajudge(args: argparse.Namespace) -> dict:
    import tempfile

    from ultrajudge.judge.backends import build_backend
    from ultrajudge.judge.io import Columns, load_rows, save_rows
    from ultrajudge.judge.rating import RatingConfig
    from ultrajudge.judge.scoring import add_score_columns, judge_dataset
    from ultrajudge.judge.store import ResultStore
    from ultrajudge.judge.types import GenerationParams

    backend = build_backend(args.model, dtype="bfloat16", device="cpu")
    ds = load_rows(args.rows_file, limit=args.rows)
    config = RatingConfig(
        mode=args.mode,
        per_completion=args.per_completion,
        params=GenerationParams(max_new_tokens=args.max_new_tokens),
        max_retries=0,
    )
    columns = Columns()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with ResultStore(Path(tmp) / "store.sqlite") as store:
            summary = judge_dataset(
                backend,
                ds,
                columns=columns,
                configs=[config],
                store=store,
                chunk_rows=args.chunk_rows,
                progress=False,
            )
            scored = add_score_columns(
                backend, ds, columns=columns, configs=[config], store=store, summary=summary
            )
            save_rows(scored, Path(tmp) / "out.jsonl")
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rows": len(ds),
        "completions": summary.completions,
        "prompt_tokens": backend.tokens_processed,
        "padding_tokens": backend.padding_tokens,
        "statuses": dict(summary.statuses),
    }


def child_plain(args: argparse.Namespace) -> dict:
    """Per-completion UltraFeedback prompt, one forward each, unsorted batches of 16."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ultrajudge.judge.io import load_rows
    from ultrajudge.judge.templates import load_template

    tok = AutoTokenizer.from_pretrained(args.model)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(
        args.model, dtype=torch.bfloat16, attn_implementation="sdpa"
    ).eval()
    template = load_template("ultrafeedback/overall")
    ds = load_rows(args.rows_file, limit=args.rows)
    prompts = []
    for row in ds:
        for completion in row["completions"]:
            messages = template.render(instruction=row["instruction"], completions=[completion])
            text = tok.apply_chat_template(
                [m.as_dict() for m in messages], tokenize=False, add_generation_prompt=True
            )
            prompts.append(text + "#### Output for Text 1\nRating:")
    fed = padding = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(prompts), 16):
            batch = tok(prompts[i : i + 16], return_tensors="pt", padding=True)
            fed += batch["input_ids"].numel()
            padding += int((batch["attention_mask"] == 0).sum())
            logits = model(**batch, logits_to_keep=1).logits[:, -1].float()
            torch.log_softmax(logits, dim=-1)
    return {
        "seconds": time.perf_counter() - start,
        "rows": len(ds),
        "completions": len(prompts),
        "prompt_tokens": fed,
        "padding_tokens": padding,
    }


def child_gemm(args: argparse.Namespace) -> dict:
    """Best bf16 GEMM rate over square and model-shaped products."""
    import torch

    best = 0.0
    for m, k, n in [(2048, 2048, 2048), (4096, 576, 1536), (2048, 1536, 576), (3072, 3072, 3072)]:
        a = torch.randn(m, k, dtype=torch.bfloat16)
        b = torch.randn(k, n, dtype=torch.bfloat16)
        a @ b
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(5):
                a @ b
            best = max(best, 2 * m * k * n * 5 / (time.perf_counter() - start) / 1e9)
    return {"gflops": best}


CHILDREN = {"ultrajudge": child_ultrajudge, "plain": child_plain, "gemm": child_gemm}


def run_child(kind: str, threads: int, **options: object) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--threads", str(threads)]
    for key, value in options.items():
        if value is True:
            cmd.append(f"--{key.replace('_', '-')}")
        elif value not in (None, False):
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    return _run(cmd)


def _run(cmd: list[str]) -> dict:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


# -- the FLOP bound --------------------------------------------------------------------


def flop_bound(model_dir: Path, rows_file: Path, n_rows: int) -> dict:
    """FLOPs of the least work that reads every token once, for both prompt layouts: each
    distinct token run (the radix tree of all prompts: template prefix once, instruction
    once per row, each completion once) times 2 x non-embedding params, plus causal
    attention (QK and PV: 4 x heads x head_dim per token per context position)."""
    from transformers import AutoConfig

    from ultrajudge.judge.backends.packed import build_tree
    from ultrajudge.judge.backends.transformers import TransformersBackend
    from ultrajudge.judge.io import load_rows
    from ultrajudge.judge.logprob import uf_forced
    from ultrajudge.judge.templates import load_template

    config = AutoConfig.from_pretrained(model_dir)
    backend = TransformersBackend(str(model_dir), dtype="bfloat16", device="cpu")
    embedding = backend.model.get_input_embeddings().weight.numel()
    params = sum(p.numel() for p in backend.model.parameters()) - embedding
    width = config.num_attention_heads * (config.hidden_size // config.num_attention_heads)
    rows = list(load_rows(str(rows_file), limit=n_rows))
    uf, per_completion = load_template("ultrafeedback/overall"), load_template("score_rationale")
    layouts: dict[str, list[list[int]]] = {"ultrafeedback": [], "per_completion": []}
    for row in rows:
        n = len(row["completions"])
        forced = "".join(f + (" 3" if k + 1 < n else "") for k, f in enumerate(uf_forced(n)))
        layouts["ultrafeedback"].append(backend.encode(backend.render(uf.render(**row)) + forced))
        for c in row["completions"]:
            text = backend.render(
                per_completion.render(instruction=row["instruction"], completion=c)
            )
            layouts["per_completion"].append(backend.encode(text))
    out = {"non_embedding_params": params}
    for name, seqs in layouts.items():
        nodes, _, _ = build_tree(seqs, [], keep_leaves=False)
        tokens = sum(len(n.tokens) for n in nodes)
        contexts = sum(sum(range(n.pos0 + 1, n.pos0 + len(n.tokens) + 1)) for n in nodes)
        attention = 4 * width * config.num_hidden_layers * contexts
        out[name] = {
            "tokens": tokens,
            "flops": 2 * params * tokens + attention,
            "attention": attention,
        }
    return out


# -- the table -------------------------------------------------------------------------


def _fmt_row(name: str, r: dict, reference: float | None) -> str:
    if "error" in r:
        return f"| {name} | failed: {r['error'][:300]} | | | | | |"
    rate = r["completions"] / r["seconds"]
    ratio = f"{rate / reference:.1f}x" if reference else "n/a"
    pad = r["padding_tokens"] / r["prompt_tokens"] if r["prompt_tokens"] else 0.0
    return (
        f"| {name} | {r['seconds']:.1f} s ({r['completions']} compl.) | {rate:.2f} | {ratio} | "
        f"{r['prompt_tokens']:,} | {pad:.1%} | {r['peak_rss_mb']:.0f} MB |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="ultrajudge judging benchmark")
    ap.add_argument("--child", choices=sorted(CHILDREN))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model")
    ap.add_argument("--rows-file")
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--mode", default="logprob")
    ap.add_argument("--per-completion", action="store_true")
    ap.add_argument("--chunk-rows", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--generate-rows", type=int, default=16, help="rows for generate mode")
    ap.add_argument("--distilabel-rows", type=int, default=8, help="rows for distilabel runs")
    ap.add_argument("--memory-factor", type=int, default=10)
    ap.add_argument("--memory-layers", type=int, default=2, help="depth of the RSS-test model")
    ap.add_argument("--skip-distilabel", action="store_true")
    ap.add_argument(
        "--repeats", type=int, default=2, help="runs per row; the table keeps the fastest"
    )
    ap.add_argument("--workdir", type=Path, default=HERE / "results")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        result = CHILDREN[args.child](args)
        result["peak_rss_mb"] = _peak_rss_mb()
        print("RESULT " + json.dumps(result))
        return
    report(args)


def report(args: argparse.Namespace) -> None:
    from judge_workload import write_rows

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows_file = write_rows(work / "workload.jsonl", args.rows)
    big_file = write_rows(work / "workload-x10.jsonl", args.rows * args.memory_factor)
    model = build_model(work)
    common = {"model": model, "rows_file": rows_file}
    results: dict[str, dict] = {}

    def best_of(name: str, once: Callable[[], dict]) -> None:
        """The fastest of ``--repeats`` runs (other processes can only slow a run down);
        peak RSS is the largest seen."""
        runs = []
        for attempt in range(args.repeats):
            print(
                f"running: {name} ({attempt + 1}/{args.repeats}) ...", file=sys.stderr, flush=True
            )
            runs.append(once())
            print(f"  {runs[-1]}", file=sys.stderr, flush=True)
        ok = [r for r in runs if "error" not in r]
        if not ok:
            results[name] = runs[-1]
            return
        results[name] = {
            **min(ok, key=lambda r: r["seconds"]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
            "all_seconds": [round(r["seconds"], 1) for r in ok],
        }

    def run(name: str, kind: str, **options: object) -> None:
        best_of(name, lambda: run_child(kind, args.threads, **{**common, **options}))

    gemm = run_child("gemm", args.threads)["gflops"]
    run("ultrajudge logprob", "ultrajudge", rows=args.rows, mode="logprob")
    run("ultrajudge logprob --per-completion", "ultrajudge", rows=args.rows, per_completion=True)
    run(
        f"ultrajudge generate ({args.max_new_tokens} new tokens, greedy)",
        "ultrajudge",
        rows=args.generate_rows,
        mode="generate",
        max_new_tokens=args.max_new_tokens,
    )
    run("plain transformers, per-completion forward, unsorted batches of 16", "plain")
    distilabel_note = ""
    python = None if args.skip_distilabel else ensure_distilabel()
    if python is None:
        distilabel_note = (
            "distilabel skipped" if args.skip_distilabel else "distilabel failed to install"
        )
    else:
        for batch, label in [(1, "as shipped: pipeline batch 1"), (8, "patched: pipeline batch 8")]:
            name = f"distilabel 1.5.3 UltraFeedback + TransformersLLM ({label}, {args.max_new_tokens} new tokens)"
            script = HERE / "bench_judge_distilabel.py"
            command = [
                *(str(python), str(script), str(model), str(rows_file)),
                *("--rows", str(args.distilabel_rows), "--batch-size", str(batch)),
                *("--max-new-tokens", str(args.max_new_tokens)),
                *("--threads", str(args.threads)),
            ]
            best_of(name, lambda command=command: _run(command))  # type: ignore[misc]
    small = build_model(work, layers=args.memory_layers)
    memory = {
        n: run_child(
            "ultrajudge", args.threads, model=small, rows_file=big_file, rows=n, mode="logprob"
        )
        for n in (args.rows, args.rows * args.memory_factor)
    }
    bound = flop_bound(model, rows_file, args.rows)
    # the machine's rate is the best seen: other processes can only slow a measurement down
    gemm = max(gemm, run_child("gemm", args.threads)["gflops"])
    print(table(args, results, memory, gemm, bound, distilabel_note, time.perf_counter() - t0))


def table(
    args: argparse.Namespace,
    results: dict[str, dict],
    memory: dict[int, dict],
    gemm: float,
    bound: dict,
    note: str,
    total: float,
) -> str:
    rates = {
        k: r["completions"] / r["seconds"]
        for k, r in results.items()
        if "error" not in r and k.startswith("distilabel")
    }
    best = max(rates.values(), default=None)
    lines = [
        "| run | wall time | completions/s | vs distilabel best | prompt tokens processed "
        "| padding | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_fmt_row(name, r, best) for name, r in results.items()]
    out = "\n".join(lines) + "\n"
    if args.repeats > 1:
        runs = "; ".join(
            f"{name}: {r['all_seconds']}" for name, r in results.items() if "all_seconds" in r
        )
        out += (
            f"\nEach row is the fastest of {args.repeats} runs (peak RSS: the largest); "
            f"every run's seconds: {runs}.\n"
        )
    if note:
        out += f"\n{note}\n"
    minimum = min(("ultrafeedback", "per_completion"), key=lambda k: bound[k]["flops"])
    least = bound[minimum]
    bound_s = least["flops"] / (gemm * 1e9)
    out += (
        f"\nbf16 GEMM, measured (best of a run at the start and one at the end): {gemm:.0f} "
        f"GFLOP/s ({args.threads} threads). FLOP lower bound "
        f"for the workload's minimum token count ({least['tokens']:,} tokens, {minimum} layout: "
        f"every distinct token run once): {least['flops'] / 1e12:.2f} TFLOP (attention "
        f"{least['attention'] / 1e12:.2f}; {bound['non_embedding_params'] / 1e6:.1f}M "
        f"non-embedding params) = {bound_s:.1f} s at the measured GEMM rate.\n"
    )
    for name, layout in [
        ("ultrajudge logprob", "ultrafeedback"),
        ("ultrajudge logprob --per-completion", "per_completion"),
    ]:
        r = results.get(name, {})
        if "seconds" in r:
            own = bound[layout]["flops"] / (gemm * 1e9)
            out += (
                f"{name}: {r['seconds']:.1f} s = {bound_s / r['seconds']:.0%} of the workload's "
                f"FLOP lower bound ({own / r['seconds']:.0%} of its own layout's bound, "
                f"{bound[layout]['tokens']:,} tokens).\n"
            )
    gen = next((r for k, r in results.items() if k.startswith("ultrajudge generate")), {})
    shipped = next((v for k, v in rates.items() if "as shipped" in k), None)
    if "seconds" in gen and shipped and best:
        rate = gen["completions"] / gen["seconds"]
        out += (
            f"ultrajudge generate: {rate / shipped:.1f}x distilabel as shipped, "
            f"{rate / best:.1f}x distilabel's best, at equal max_new_tokens.\n"
        )
    small, big = memory.get(args.rows, {}), memory.get(args.rows * args.memory_factor, {})
    if "peak_rss_mb" in small and "peak_rss_mb" in big:
        out += (
            f"Peak RSS, logprob mode, {args.memory_layers}-layer model of the same width and "
            f"vocabulary, separate processes: {args.rows} rows {small['peak_rss_mb']:.0f} MB, "
            f"{args.rows * args.memory_factor} rows {big['peak_rss_mb']:.0f} MB "
            f"({big['peak_rss_mb'] / small['peak_rss_mb'] - 1:+.1%}).\n"
        )
    load = os.getloadavg()[0]
    out += f"(benchmark wall time {total / 60:.1f} min; 1-min load average at the end {load:.1f})\n"
    (args.workdir / "judge.md").write_text(out)
    return out


if __name__ == "__main__":
    main()
