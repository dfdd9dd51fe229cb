"""``--executor`` and its options, shared by the judging commands: run in process (default)
or spread over a Ray cluster (:mod:`ultrajudge.executors.ray`)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

if TYPE_CHECKING:
    from ultrajudge.executors.jobs import RowJob
    from ultrajudge.executors.ray import RayOptions
    from ultrajudge.judge.runner import RunSummary

Executor = Annotated[
    Literal["local", "ray"],
    typer.Option(
        help="local: judge in this process. ray: spread the rows over a Ray cluster (extra "
        "ultrajudge[ray]); --out is then a folder of Parquet parts, resumable shard by shard, "
        "and --store a folder on each machine's own disk (default ~/.cache/ultrajudge/stores)."
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        envvar="RAY_ADDRESS",
        help="--executor ray: the cluster to join (host:6379, ray://host:10001, auto); "
        "default: start a local one.",
    ),
]
Actors = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="--executor ray: backends held at once (default: the cluster's GPUs with "
        "--gpus-per-actor, else its CPUs minus one).",
    ),
]
ShardRows = Annotated[
    int, typer.Option(min=1, help="--executor ray: rows per shard (the unit of resume).")
]
GpusPerActor = Annotated[
    float, typer.Option(min=0.0, help="--executor ray: GPUs each actor holds (1 for vllm:).")
]
Repair = Annotated[
    bool,
    typer.Option(
        "--repair",
        help="--executor ray: re-judge only the failed rows of a finished job's output.",
    ),
]

EXECUTORS = ("local", "ray")


def check_executor(executor: str, *, limit: int | None, jury: bool = False) -> bool:
    """Validate ``--executor`` once, at the top of a command; True for ray."""
    if executor not in EXECUTORS:
        raise typer.BadParameter(
            f"unknown executor {executor!r}; use {' or '.join(EXECUTORS)}", param_hint="--executor"
        )
    if executor == "ray" and limit is not None:
        raise typer.BadParameter(
            "--limit is not supported with --executor ray; cut the input file instead",
            param_hint="--limit",
        )
    if executor == "ray" and jury:
        raise typer.BadParameter(
            "a jury runs in process only; drop --executor ray or judge with one --judge",
            param_hint="--executor",
        )
    return executor == "ray"


def run_ray_job(
    job: RowJob,
    source: str,
    out: Path,
    options: RayOptions,
    *,
    columns: Mapping[str, Any],
    progress: bool,
    max_failure_rate: float = 1.0,
) -> None:
    """Run ``job`` with the Ray executor, record the ``columns`` mapping next to ``out`` (as
    the in-process commands do), write the run record when shards ran (the judges as the
    actors loaded them; a finished job's rerun loads none and keeps the record it has),
    print the summary, and exit 3 when more of this run's judgments failed than
    ``max_failure_rate`` allows (a judge gone mid-job has already stopped it: exit 4)."""
    from tqdm.auto import tqdm

    from ultrajudge.executors.ray import run_on_ray
    from ultrajudge.judge.io import record_columns

    started = time.time()
    judges: dict[str, dict[str, Any]] = {}

    def on_shard(row: Mapping[str, Any]) -> None:
        judge = json.loads(row.get("judge") or "{}")
        judges.setdefault(judge.get("id"), judge)
        bar.update()

    with tqdm(unit="shard", disable=not progress, desc="shards") as bar:
        summary = run_on_ray(job, source, str(out), options, on_shard=on_shard)
    record_columns(out, dict(columns))
    if judges:
        _write_record(job, source, out, options, summary, list(judges.values()), started)
    _print(summary, str(out), options.repair)
    rate = summary.failure_rate()
    if rate > max_failure_rate:
        from ultrajudge.commands._common import EXIT_FAILURE_RATE, fail

        raise fail(
            f"{rate:.1%} of judgments failed, above --max-failure-rate {max_failure_rate:g}; "
            f"the output in {out} and the stores are written (see the status columns); "
            "rerun with --repair to judge the failed rows again",
            EXIT_FAILURE_RATE,
        )


def _write_record(
    job: RowJob,
    source: str,
    out: Path,
    options: RayOptions,
    summary: RunSummary,
    judges: list[dict[str, Any]],
    started: float,
) -> None:
    """``<out>.run.json`` of a Ray run: each judge's id and ``resolved`` as an actor loaded
    it (one entry per distinct id), the job's identity as its settings, the stores' folder."""
    from types import SimpleNamespace

    from ultrajudge import __version__
    from ultrajudge.judge.run_record import run_record, write_run_record

    stores = options.store_dir or "~/.cache/ultrajudge/stores"
    record = run_record(
        summary,
        version=__version__,
        command=["ultrajudge", *sys.argv[1:]],
        judges=[SimpleNamespace(**j) for j in judges],
        settings={"executor": "ray", **job.identity()},
        store=f"{stores} (on each machine)",
        started=started,
    )
    write_run_record(out, record, protect=(source,))


def ray_options(
    address: str | None,
    actors: int | None,
    shard_rows: int,
    gpus_per_actor: float,
    store: Path | None,
    *,
    repair: bool = False,
) -> RayOptions:
    """The Ray executor's options from the command line; fails early without Ray."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise typer.BadParameter(
            f"--executor ray needs Ray Data ({exc}); pip install 'ultrajudge[ray]'",
            param_hint="--executor",
        ) from None
    from ultrajudge.executors.ray import RayOptions

    return RayOptions(
        address=address,
        actors=actors,
        gpus_per_actor=gpus_per_actor,
        shard_rows=shard_rows,
        store_dir=str(store) if store is not None else None,
        repair=repair,
    )


def _print(s: RunSummary, out: str, repair: bool) -> None:
    what = "repaired" if repair else "written"
    shards, run, failed = (s.counts[k] for k in ("shards", "shards_run", "failed_rows"))
    typer.echo(
        f"\n{out}: {run} shard(s) {what} now, {shards - run} already "
        f"done; {s.rows} rows in all, {failed} with a failed status"
    )
    typer.echo(
        f"judgments: {s.made_now} made now, {s.from_store} from the machines' stores; "
        f"time: {s.seconds:.1f} s"
    )
    if s.api is not None:
        typer.echo(s.api.describe())
    if failed and not repair:
        typer.echo("rerun with --repair to re-judge only the failed rows")
