"""``ultrajudge pairwise``: which of two responses is better, judged in both orders."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ultrajudge.commands._common import (
    DEFAULT_MAX_FAILURE_RATE,
    JudgeOption,
    Limit,
    MaxFailureRate,
    Out,
    Progress,
    Source,
    Split,
    StorePath,
    check_gate,
    echo_api_usage,
    fail,
    friendly_errors,
    judge_to_file,
    parse_options,
)
from ultrajudge.commands._executor import (
    Actors,
    Executor,
    GpusPerActor,
    RayAddress,
    Repair,
    ShardRows,
    check_executor,
    ray_options,
    run_ray_job,
)
from ultrajudge.commands._hub import Private, PushToHub, check_push, push_output


def register(app: typer.Typer) -> None:
    app.command("pairwise")(pairwise)


@friendly_errors
def pairwise(
    source: Source,
    out: Out,
    judge: Annotated[
        str,
        typer.Option(
            "--judge",
            "-j",
            help="Local model folder, Hub id, 'scripted:FILE.jsonl', or 'openai:MODEL'.",
        ),
    ] = "",
    judge_option: JudgeOption = None,
    mode: Annotated[
        Literal["generate", "logprob"],
        typer.Option(
            help="generate: the judge writes a comparison ending in a verdict. logprob: P(A), "
            "P(B), P(tie) read after '[[' from one forward pass per order (abc templates only)."
        ),
    ] = "generate",
    template: Annotated[
        str,
        typer.Option(
            help="pairwise/mt_bench ([[A]]/[[B]]/[[C]]=tie), pairwise/arena_hard ([[A>>B]] ...), "
            "prometheus/relative (rubric grading: feedback, then [RESULT] A or B; no tie), "
            "or your own .jinja2 file declaring 'verdict format: abc|arena|output_ab|result'."
        ),
    ] = "pairwise/mt_bench",
    rubric: Annotated[
        str | None,
        typer.Option(
            help="Score rubric shown by prometheus/relative: a bundled one (helpfulness, "
            "harmlessness, factual_correctness, instruction_following) or your YAML file."
        ),
    ] = None,
    reference_col: Annotated[
        str | None,
        typer.Option(help="Column with a reference answer, shown by prometheus/relative."),
    ] = None,
    split: Split = "train",
    instruction_col: Annotated[
        str | None,
        typer.Option(
            help="Column with the instruction (text or chat). Default: 'instruction', else 'prompt'."
        ),
    ] = None,
    a_col: Annotated[
        str, typer.Option(help="Column with response A (e.g. 'chosen' for preference data).")
    ] = "response_a",
    b_col: Annotated[
        str, typer.Option(help="Column with response B (e.g. 'rejected' for preference data).")
    ] = "response_b",
    limit: Limit = None,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1, help="Rows per batch (two prompts each), committed to the store together."
        ),
    ] = 8,
    max_new_tokens: Annotated[
        int, typer.Option(min=1, help="Generation budget per prompt (generate mode).")
    ] = 1024,
    temperature: Annotated[float, typer.Option(min=0.0, help="0 = greedy.")] = 0.0,
    seed: Annotated[
        int,
        typer.Option(
            help="Seeds which response each row shows first (per row) and sampling (retries use seed+attempt)."
        ),
    ] = 0,
    max_retries: Annotated[
        int,
        typer.Option(
            min=0,
            help="Re-ask an order whose verdict could not be read, or whose request failed (429, 5xx, timeout), at most this often; a request the server refused (other 4xx) is not asked again in this run.",
        ),
    ] = 2,
    min_mass: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="logprob mode: below this probability on A/B/C the order is 'low_mass', not a verdict.",
        ),
    ] = 0.5,
    store: StorePath = None,
    max_failure_rate: MaxFailureRate = DEFAULT_MAX_FAILURE_RATE,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check columns and template, print the first prompt and the number of judge calls, write nothing.",
        ),
    ] = False,
    progress: Progress = True,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    actors: Actors = None,
    shard_rows: ShardRows = 256,
    gpus_per_actor: GpusPerActor = 0.0,
    repair: Repair = False,
    push_to_hub: PushToHub = None,
    private: Private = False,
) -> None:
    """Judge response A against response B for every row, in both orders.

    Adds verdict (A, B or tie in the input's own a/b labels; empty when it failed),
    verdict_status (ok, parse_error, backend_error, low_mass), verdict_first and
    verdict_second (each order's verdict), raw_first and raw_second, first_position,
    consistent (both orders agree; a disagreement is a tie) and judge; in logprob mode
    also p_a, p_b, p_tie (the two orders' mean), probs_first/second and mass_first/second.
    Interrupted runs resume from the store.
    """
    from dataclasses import asdict

    from ultrajudge.judge.formats import load_rubric
    from ultrajudge.judge.io import load_rows, record_columns
    from ultrajudge.judge.pairwise import PairColumns, PairwiseConfig
    from ultrajudge.judge.types import GenerationParams

    config = PairwiseConfig(
        rubric=load_rubric(rubric) if rubric is not None else None,
        template=template,
        mode=mode,
        params=GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed),
        max_retries=max_retries,
        seed=seed,
        min_mass=min_mass,
    )
    config.verdict_format()  # a bad template or mode fails before anything loads
    if not dry_run:
        check_push(push_to_hub, private)
    if check_executor(executor, limit=limit) and not dry_run:
        from ultrajudge.executors.jobs import PairwiseJob

        if not judge:
            raise fail(
                "pass --judge (a local model folder, vllm:FOLDER, scripted:FILE.jsonl or openai:MODEL)"
            )
        columns = PairColumns(instruction_col or "instruction", a_col, b_col, reference_col)
        job = PairwiseJob(judge, config, columns, parse_options(judge_option), batch_size)
        options = ray_options(ray_address, actors, shard_rows, gpus_per_actor, store, repair=repair)
        record = {"kind": "pairwise", **asdict(columns)}
        run_ray_job(job, source, out, options, columns=record, progress=progress,
                    max_failure_rate=max_failure_rate)  # fmt: skip
        push_output(out, push_to_hub, private=private)
        return
    ds = load_rows(source, split=split, limit=limit)
    columns = PairColumns.resolve(
        ds.column_names,
        instruction=instruction_col,
        response_a=a_col,
        response_b=b_col,
        reference=reference_col,
    )
    columns.check_rows(ds, source)
    if dry_run:
        _dry_run(ds, columns, config)
        return
    if not judge:
        raise fail(
            "pass --judge (a local model folder, a Hub id, scripted:FILE.jsonl or openai:MODEL), or --dry-run"
        )
    summary = _run(source, out, judge, parse_options(judge_option), ds, columns, config, store, batch_size, progress)  # fmt: skip
    record_columns(out, {"kind": "pairwise", **asdict(columns)})
    check_gate(summary, max_failure_rate)
    push_output(out, push_to_hub, private=private)


def _dry_run(ds: Any, columns: Any, config: Any) -> None:
    from ultrajudge.judge.pairwise import shown_orders

    typer.echo(f"{len(ds)} rows; {2 * len(ds)} judge calls, one per order (before retries).")
    if len(ds):
        position, first, _ = shown_orders(columns.pair_of(ds[0]), config.seed)
        typer.echo(f"first row, first judging: response {position.lower()} is shown as A")
        for message in first.render(config.load_template(), config.rubric):
            typer.echo(f"--- {message.role} ---\n{message.content}")


def _run(
    source: str,
    out: Path,
    judge: str,
    options: dict[str, str],
    ds: Any,
    columns: Any,
    config: Any,
    store_path: Path | None,
    batch_size: int,
    progress: bool,
) -> Any:
    from ultrajudge.judge.pairwise import add_pairwise_columns, judge_pairs_dataset

    if batch_size < 1:
        raise typer.BadParameter(f"must be >= 1, got {batch_size}", param_hint="--batch-size")
    summary, store_path = judge_to_file(
        out,
        judge,
        options,
        store_path,
        lambda backend, store: judge_pairs_dataset(
            backend,
            ds,
            columns=columns,
            config=config,
            store=store,
            chunk_rows=batch_size,
            progress=progress,
        ),
        lambda backend, store, summary: add_pairwise_columns(
            backend, ds, columns=columns, config=config, store=store, summary=summary
        ),
        source=source,
        settings={"config": config.key_fields(), "seed": config.seed, "batch_size": batch_size},
    )
    _print_summary(summary, out, store_path)
    return summary


def _print_summary(summary: Any, out: Path, store_path: Path) -> None:
    from ultrajudge.judge.pairwise import consistency, shown_first_rate

    n = summary.rows
    typer.echo(f"\nwrote {out} ({n} pairs)")
    typer.echo(
        f"order judgings: {summary.made_now} made now, {summary.from_store} from the store ({store_path})"
    )
    typer.echo("verdicts:")
    for verdict in ("A", "B", "tie", "none"):
        count = summary.counts[f"verdict:{verdict}"]
        typer.echo(f"  {verdict:<14} {count:>7}  {count / n if n else 0:6.1%}")
    typer.echo("status:")
    for status, count in summary.statuses.most_common():
        typer.echo(f"  {status:<14} {count:>7}  {count / n:6.1%}")
    typer.echo(
        f"position consistency: {_pct(consistency(summary))} of judged pairs got the same "
        "verdict in both orders (disagreements count as ties); the response shown first won "
        f"{_pct(shown_first_rate(summary))} of decided judgings (50% = no position bias)"
    )
    typer.echo(f"failure rate: {_pct(summary.failure_rate())} of pairs have no verdict")
    typer.echo(
        f"tokens: {summary.prompt_tokens} prompt, {summary.completion_tokens} generated; "
        f"time: {summary.seconds:.1f} s"
    )
    echo_api_usage(summary.api)


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.1%}"
