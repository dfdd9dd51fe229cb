"""``ultrajudge run``: the whole pipeline from one YAML file, resumable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ultrajudge.commands._common import (
    DEFAULT_MAX_FAILURE_RATE,
    EXIT_UNREACHABLE,
    check_gate,
    fail,
    friendly_errors,
    load_backend,
)
from ultrajudge.commands._executor import (
    Actors,
    Executor,
    GpusPerActor,
    RayAddress,
    ShardRows,
    check_executor,
    ray_options,
)
from ultrajudge.commands._hub import Private, PushToHub, check_push, push_output

if TYPE_CHECKING:
    from ultrajudge.pipeline import PipelineRun


def register(app: typer.Typer) -> None:
    app.command("run")(run)


@friendly_errors
def run(
    pipeline_file: Annotated[
        Path,
        typer.Argument(
            help="Pipeline YAML: input, generate steps, judge or jury, score, pairs, filters, outputs."
        ),
    ],
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Where outputs and the results store go. Default: the file's 'workdir', else ./<name>-run."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Validate the file, print the plan and the model calls each step would make; load no model.",
        ),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    actors: Actors = None,
    shard_rows: ShardRows = 256,
    gpus_per_actor: GpusPerActor = 0.0,
    push_to_hub: PushToHub = None,
    private: Private = False,
    max_failure_rate: Annotated[
        float | None,
        typer.Option(
            "--max-failure-rate",
            min=0.0,
            max=1.0,
            help="Above this share of failed judgments the run still writes its outputs, store "
            "and run records, then exits with code 3. Default: the file's max_failure_rate, "
            f"else {DEFAULT_MAX_FAILURE_RATE}.",
        ),
    ] = None,
) -> None:
    """Generate → score with a judge or a jury → pairs → report, as one resumable run.

    Every model call goes through the results store in the work directory, so rerunning
    the same command after a crash or a kill repeats none of the committed work. With
    --push-to-hub (or the file's outputs.push_to_hub) the pairs are pushed as the repo's
    default config and the scored rows as its 'scored' config. Every dataset written gets
    its run record (<out>.run.json). Exit 3: more judgments failed than --max-failure-rate
    allows; 4: the judge was unreachable (no pairs were built, nothing pushed), or a
    generator failed (its rows so far go to generated.partial.jsonl, marked partial in
    their run record; nothing is judged; a rerun asks only for what the store lacks).
    """
    from ultrajudge.judge.jury import Jury
    from ultrajudge.pipeline import input_rows, load_pipeline, plan, run_pipeline

    pipeline = load_pipeline(pipeline_file)
    ray = check_executor(executor, limit=None, jury=executor == "ray" and isinstance(pipeline.judges, Jury))  # fmt: skip
    workdir = workdir or pipeline.workdir or Path(f"{pipeline.name}-run")
    if dry_run:
        rows = input_rows(pipeline)
        steps = plan(pipeline, rows)
        typer.echo(f"pipeline {pipeline.name}: {len(rows)} input rows; outputs in {workdir}")
        for k, (step, calls) in enumerate(steps, 1):
            typer.echo(f"  {k}. {step}" + (f" — at most {calls} model calls" if calls else ""))
        total = sum(calls for _, calls in steps)
        typer.echo(
            f"at most {total} model calls in all (before retries; calls already in the store "
            "are not made again)"
        )
        return
    repo_id = push_to_hub or pipeline.outputs.push_to_hub
    check_push(repo_id, private)
    options = ray_options(ray_address, actors, shard_rows, gpus_per_actor, None) if ray else None
    gate = next(r for r in (max_failure_rate, pipeline.max_failure_rate, DEFAULT_MAX_FAILURE_RATE) if r is not None)  # fmt: skip
    result = run_pipeline(
        pipeline,
        workdir,
        progress=progress,
        loader=load_backend,
        ray=options,
        source=pipeline_file,
        command=["ultrajudge", *sys.argv[1:]],
        settings={"max_failure_rate": gate},
    )
    _report(pipeline.name, result)
    if result.incomplete is not None:  # a generator failed: partial rows, nothing judged
        raise fail(result.incomplete, EXIT_UNREACHABLE)
    if result.judgments is not None:
        check_gate(result.judgments, gate)  # a failed run is not pushed
    files = result.files
    scored = {"scored": files["scored"]} if "scored" in files else {}
    push_output(files["pairs"], repo_id, private=private, more=scored, source=scored.get("scored"))


def _report(name: str, result: PipelineRun) -> None:
    """What was written (stdout), then the run in one line on stderr."""
    from ultrajudge.commands.pairs import print_outcome
    from ultrajudge.pipeline.record import failed_judgments

    files = result.files
    if result.outcome is not None:
        print_outcome(result.outcome, out=files.get("pairs"), dropped=files.get("dropped"), report=files.get("report"))  # fmt: skip
    shown = {"generated": "generated", "generated_partial": "generated (partial)", "scored": "scored"}  # fmt: skip
    for label, what in shown.items():
        if label in files:
            typer.echo(f"wrote {what}: {files[label]}")
    typer.echo(f"store: {result.store}")
    records = ", ".join(p.name for p in result.records.values()) or "none"
    if result.incomplete is not None:
        typer.echo(f"pipeline {name}: stopped in a generate step; nothing judged, no pairs; run records: {records}", err=True)  # fmt: skip
        return
    failed, judged = failed_judgments(result.judgments) if result.judgments else (0, 0)
    pairs = "no pairs (the run stopped early)" if result.outcome is None else f"{len(result.outcome.records)} pairs"  # fmt: skip
    rate = f" ({failed / judged:.1%})" if judged else ""
    typer.echo(
        f"pipeline {name}: {judged} judgments, {failed} failed{rate}; {pairs}; run records: {records}",
        err=True,
    )
