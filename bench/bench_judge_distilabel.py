"""distilabel 1.5.3's ``UltraFeedback`` task with its ``TransformersLLM``, timed on a workload.

Runs inside ``bench/.venv-distilabel`` (made by ``bench/bench_judge.py``), never in the
project's environment. Prints one JSON line: wall time, completions, prompt tokens fed
to the model (prefill, padding included), padding tokens, peak RSS.

    bench/.venv-distilabel/bin/python bench/bench_judge_distilabel.py MODEL ROWS.jsonl \
        --rows 8 --batch-size 1 --max-new-tokens 128
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("rows")
    ap.add_argument("--rows", dest="n", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=1, help="1 = as shipped (pipeline batch 1)")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from distilabel.models.llms import TransformersLLM
    from distilabel.steps.tasks import UltraFeedback

    torch.set_num_threads(args.threads)
    with open(args.rows, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f][: args.n]
    llm = TransformersLLM(
        model=args.model,
        torch_dtype="bfloat16",
        device="cpu",
        generation_kwargs={"max_new_tokens": args.max_new_tokens, "do_sample": False},
    )
    task = UltraFeedback(llm=llm, aspect="overall-rating", input_batch_size=len(rows))
    task.load()
    pipe = llm._pipeline
    if args.batch_size > 1:  # the patch: TransformersLLM calls the pipeline with no batch_size
        pipe._batch_size = args.batch_size
    counts = {"prompt": 0, "padding": 0}

    def count(module, arguments, kwargs):  # prefill calls only (decode steps feed 1 token)
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] > 1:
            counts["prompt"] += ids.numel()
            mask = kwargs.get("attention_mask")
            if mask is not None:
                counts["padding"] += int((mask == 0).sum())

    pipe.model.register_forward_pre_hook(count, with_kwargs=True)
    inputs = [{"instruction": r["instruction"], "generations": r["completions"]} for r in rows]
    start = time.perf_counter()
    out = next(task.process(inputs))
    seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "rows": len(rows),
        "completions": sum(len(r["completions"]) for r in rows),
        "prompt_tokens": counts["prompt"],
        "padding_tokens": counts["padding"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "outputs": len(out),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
