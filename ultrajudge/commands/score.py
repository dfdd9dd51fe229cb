"""``ultrajudge score``: rate every completion of every instruction."""

from __future__ import annotations

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

ASPECT_HELP = (
    "Aspect to rate, repeatable: overall, helpfulness, honesty, instruction_following, "
    "truthfulness, or 'all' for the five. With several, columns get an _<aspect> suffix "
    "and 'ratings' mirrors 'overall' (or the mean of the aspects when overall is not asked)."
)


def register(app: typer.Typer) -> None:
    app.command("score")(score)


@friendly_errors
def score(
    source: Source,
    out: Out,
    judge: Annotated[
        list[str] | None,
        typer.Option(
            "--judge",
            "-j",
            help="Local model folder, Hub id, 'scripted:auto', 'scripted:FILE.jsonl', or 'openai:MODEL'. "
            "Repeat for a jury (optionally NAME=SPEC; NAME labels the ratings__NAME columns).",
        ),
    ] = None,
    reducer: Annotated[
        Literal["mean", "median", "trimmed_mean", "majority"],
        typer.Option(help="Jury: mean, median, trimmed_mean or majority of the judges' ratings."),
    ] = "mean",
    jury: Annotated[
        Path | None,
        typer.Option(
            help="Jury YAML: judges (specs or {name, model, options}), reducer, trim, spread, quorum."
        ),
    ] = None,
    judge_option: JudgeOption = None,
    aspect: Annotated[list[str] | None, typer.Option("--aspect", "-a", help=ASPECT_HELP)] = None,
    mode: Annotated[
        Literal["generate", "logprob"],
        typer.Option(
            help="generate: rating + rationale text. logprob: probability-weighted score from one "
            "forward pass, no rationale. Over an API, logprob mode needs a server that returns "
            "top_logprobs and, with the UltraFeedback templates, continues an assistant prefix "
            "(-O server_kind=vllm or sglang); elsewhere use --per-completion or generate mode."
        ),
    ] = "generate",
    min_mass: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="logprob mode: a rating whose scale tokens got less probability than this is "
            "low_mass (no value; rating_probs and rating_mass are kept).",
        ),
    ] = 0.5,
    template: Annotated[
        str | None,
        typer.Option(
            help="A built-in template name or your own .jinja2 file (sandboxed, StrictUndefined)."
        ),
    ] = None,
    per_completion: Annotated[
        bool,
        typer.Option(
            "--per-completion",
            help="One prompt per completion ('score - rationale' format) instead of all completions in one prompt.",
        ),
    ] = False,
    structured: Annotated[
        bool,
        typer.Option(
            help="generate mode, built-in templates: where the judge can constrain its output "
            "(an API server with structured output, e.g. -O server_kind=vllm), hold the answer "
            "to the rating format, so that it always parses. --no-structured lets it write freely."
        ),
    ] = True,
    answer_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="Answer format: ultrafeedback (all completions in one prompt, or 'score - "
            "rationale' with --per-completion), prometheus (rubric grading: feedback, then "
            "[RESULT] n; needs --rubric), mt_bench ('Rating: [[n]]' on 1-10), json "
            '({"rating": n, "rationale": ...}). The last three grade one completion per prompt.',
        ),
    ] = "ultrafeedback",
    rubric: Annotated[
        str | None,
        typer.Option(
            help="Score rubric: a bundled one (helpfulness, harmlessness, factual_correctness, "
            "instruction_following) or your YAML file (criteria + one line per score; the "
            "scores are the scale). prometheus needs one, json uses one when given."
        ),
    ] = None,
    reference_col: Annotated[
        str | None,
        typer.Option(
            help="Column with a reference answer (e.g. for maths and reasoning), shown to the "
            "judge by the prometheus, mt_bench and json formats; empty cells show none."
        ),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            help="Integer rating scale, LOW-HIGH or a list: 1-10, 0-4, 0,1. Default: the "
            "rubric's scores, else 1-5 (MT-Bench: 1-10). Other scales than 1-5 show in the "
            "judge id, so that compare reads them."
        ),
    ] = None,
    split: Split = "train",
    instruction_col: Annotated[
        str,
        typer.Option(
            help="Column with the instruction (text, or a chat whose last user turn is the instruction)."
        ),
    ] = "instruction",
    completions_col: Annotated[
        str, typer.Option(help="Column with a list of completions.")
    ] = "completions",
    completion_col: Annotated[
        list[str] | None,
        typer.Option(
            help="A column with one completion; repeat for each (e.g. --completion-col chosen --completion-col rejected)."
        ),
    ] = None,
    limit: Limit = None,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1, help="Rows sent to the judge at a time, and committed to the store together."
        ),
    ] = 8,
    max_new_tokens: Annotated[
        int, typer.Option(min=1, help="Generation budget per prompt (generate mode).")
    ] = 512,
    temperature: Annotated[float, typer.Option(min=0.0, help="0 = greedy.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Sampling seed (retries use seed+attempt).")] = 0,
    max_retries: Annotated[
        int,
        typer.Option(
            min=0,
            help="Re-ask a completion whose rating could not be read, or whose request failed (429, 5xx, timeout), at most this many times; a request the server refused (other 4xx) is not asked again in this run.",
        ),
    ] = 2,
    store: StorePath = None,
    max_failure_rate: MaxFailureRate = DEFAULT_MAX_FAILURE_RATE,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check columns and template, print the first prompt and the number of judge calls, write nothing. No model is loaded.",
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
    """Rate every completion of every instruction, UltraFeedback style.

    Adds ratings, rationales, rating_status (ok, na, parse_error, out_of_range, missing,
    backend_error, low_mass, invalid_input: a completion that is not a text, never
    judged), rating_raw (the judge's text where a rating failed) and
    judge to every input row; in logprob mode ratings are expected scores, plus
    rating_argmax, rating_probs and rating_mass. Interrupted runs resume from the store.
    """
    from ultrajudge.judge.io import Columns, load_rows, record_columns
    from ultrajudge.judge.rating import RatingConfig
    from ultrajudge.judge.types import GenerationParams

    aspects = _aspects(aspect)
    grading = _grading(answer_format, rubric, scale)
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    configs = [
        RatingConfig(
            aspect=a,
            **grading,
            template=template,
            mode=mode,
            params=params,
            max_retries=max_retries,
            per_completion=per_completion,
            min_mass=min_mass,
            structured=structured,
        )
        for a in aspects
    ]
    columns = Columns(
        instruction_col, completions_col, tuple(completion_col or ()), reference=reference_col
    )
    ray = check_executor(executor, limit=limit, jury=jury is not None or len(judge or []) > 1)
    if not dry_run:
        check_push(push_to_hub, private)
    if ray and not dry_run:
        from ultrajudge.executors.jobs import ScoreJob

        if not judge:
            raise fail(
                "pass --judge (a local model folder, vllm:FOLDER, scripted:auto or openai:MODEL)"
            )
        job = ScoreJob(judge[0], tuple(configs), columns, parse_options(judge_option), batch_size)
        options = ray_options(ray_address, actors, shard_rows, gpus_per_actor, store, repair=repair)
        record = {"kind": "pointwise", **columns.as_dict()}
        run_ray_job(job, source, out, options, columns=record, progress=progress,
                    max_failure_rate=max_failure_rate)  # fmt: skip
        push_output(out, push_to_hub, private=private)
        return
    panel = None
    if jury is not None or len(judge or []) > 1:  # a bad jury file fails before data loads
        from ultrajudge.pipeline.jury import load_jury

        panel = load_jury(jury, judge or [], reducer, parse_options(judge_option))
    ds = load_rows(source, split=split, limit=limit)
    columns.validate(ds.column_names)
    columns.check_rows(ds, source)
    if panel is not None:
        from ultrajudge.pipeline.jury import run_jury_score

        if dry_run:
            _dry_run(ds, columns, configs)
            typer.echo(f"× {len(panel.jurors)} judges: {', '.join(panel.names)}")
            return
        summary = run_jury_score(
            ds, out, panel, columns, configs, store, batch_size, progress, source=source
        )
        record_columns(out, {"kind": "pointwise", **columns.as_dict()})
        check_gate(summary, max_failure_rate)  # over the jury's reduced ratings
        push_output(out, push_to_hub, private=private)
        return
    spec = (judge or [""])[0]
    if dry_run:
        _dry_run(ds, columns, configs)
        return
    if not spec:
        raise fail(
            "pass --judge (a local model folder, a Hub id, scripted:auto or openai:MODEL), or --dry-run"
        )
    summary = _run(
        source,
        out,
        spec,
        parse_options(judge_option),
        ds,
        columns,
        configs,
        store,
        batch_size,
        progress,
    )
    record_columns(out, {"kind": "pointwise", **columns.as_dict()})
    check_gate(summary, max_failure_rate)
    push_output(out, push_to_hub, private=private)


def _grading(answer_format: str, rubric: str | None, scale: str | None) -> dict[str, Any]:
    """``format``, ``rubric`` and ``scale`` of the rating configs, checked before any model
    loads; the scale is --scale, else the rubric's scores, else the format's default."""
    from ultrajudge.judge.formats import FORMATS, load_rubric
    from ultrajudge.judge.rating import ANSWER_FORMATS
    from ultrajudge.judge.scales import DEFAULT_SCALE, parse_scale

    if answer_format not in ANSWER_FORMATS:
        raise typer.BadParameter(
            f"unknown format {answer_format!r}; choose from {', '.join(ANSWER_FORMATS)}",
            param_hint="--format",
        )
    loaded = load_rubric(rubric) if rubric is not None else None
    fmt = FORMATS.get(answer_format)
    if scale is not None:
        try:
            values = parse_scale(scale)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--scale") from None
    elif loaded is not None:
        values = loaded.scale
    else:
        values = fmt.default_scale if fmt is not None else DEFAULT_SCALE
    return {"format": answer_format, "rubric": loaded, "scale": values}


def _aspects(aspect: list[str] | None) -> list[str]:
    from ultrajudge.judge.rating import ASPECTS

    names = [a.replace("-", "_") for a in (aspect or ["overall"])]
    if "all" in names:
        return list(ASPECTS)
    unknown = sorted(set(names) - set(ASPECTS))
    if unknown:
        raise typer.BadParameter(
            f"unknown aspect(s) {unknown}; choose from {', '.join(ASPECTS)} or all",
            param_hint="--aspect",
        )
    return list(dict.fromkeys(names))


def _dry_run(ds: Any, columns: Any, configs: list[Any]) -> None:
    from ultrajudge.judge.io import iter_rows

    first = ds[0] if len(ds) else None
    calls = 0
    for index, row in enumerate(iter_rows(ds)):
        texts = columns.item_of(row, index)[1]
        calls += len(texts) if configs[0].one_per_prompt else int(bool(texts))
    typer.echo(
        f"{len(ds)} rows; {calls * len(configs)} judge calls for {len(configs)} aspect(s) (before retries)."
    )
    if first is not None:
        from ultrajudge.judge.rating import first_prompt

        item = columns.item_of(first, 0)
        for message in first_prompt((*item, columns.reference_of(first)), configs[0]):
            typer.echo(f"--- {message.role} ---\n{message.content}")


def _run(
    source: str,
    out: Path,
    judge: str,
    options: dict[str, str],
    ds: Any,
    columns: Any,
    configs: list[Any],
    store_path: Path | None,
    batch_size: int,
    progress: bool,
) -> Any:
    from ultrajudge.judge.scoring import add_score_columns, judge_dataset

    summary, store_path = judge_to_file(
        out,
        judge,
        options,
        store_path,
        lambda backend, store: judge_dataset(
            backend,
            ds,
            columns=columns,
            configs=configs,
            store=store,
            chunk_rows=batch_size,
            progress=progress,
        ),
        lambda backend, store, summary: add_score_columns(
            backend, ds, columns=columns, configs=configs, store=store, summary=summary
        ),
        source=source,
        settings={"configs": [c.key_fields() for c in configs], "batch_size": batch_size},
    )
    _print_summary(summary, out, store_path)
    return summary


def _print_summary(summary: Any, out: Path, store_path: Path) -> None:
    total = sum(summary.statuses.values())
    typer.echo(f"\nwrote {out} ({summary.rows} rows, {summary.completions} completions)")
    typer.echo(
        f"judgments: {summary.made_now} made now, {summary.from_store} from the store ({store_path})"
    )
    for status, n in summary.statuses.most_common():
        typer.echo(f"  {status:<14} {n:>7}  {n / total:6.1%}")
    rate = summary.rows / summary.seconds if summary.seconds else float("nan")
    typer.echo(
        f"tokens: {summary.prompt_tokens} prompt, {summary.completion_tokens} generated; "
        f"time: {summary.seconds:.1f} s ({rate:.2f} rows/s)"
    )
    echo_api_usage(summary.api)
