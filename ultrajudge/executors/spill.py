"""Run a job over rows held in memory (a pipeline's generated rows) with the Ray executor:
the rows are spilled to a Parquet file named by their content, so a rerun with the same rows
resumes the same job, and different rows get a folder of their own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ultrajudge.executors.jobs import RowJob
from ultrajudge.executors.ray import RayOptions, run_on_ray
from ultrajudge.executors.shards import ROW_COLUMN, read_output
from ultrajudge.judge.runner import RunSummary

__all__ = ["run_rows_on_ray"]


def run_rows_on_ray(
    job: RowJob, ds: Any, folder: Path, options: RayOptions
) -> tuple[Any, RunSummary]:
    """Judge the rows of the ``datasets.Dataset`` ``ds`` on Ray under ``folder``; return the
    rows with their result columns (a ``datasets.Dataset``, input order) and the summary."""
    import datasets
    import pyarrow.parquet as pq

    from ultrajudge.judge.store import make_key

    key = make_key("spill/v1", job.identity(), ds.to_list())[:16]
    work = folder / key
    source = work / "input.parquet"
    if not source.exists():
        work.mkdir(parents=True, exist_ok=True)
        partial = work / "input.parquet.partial"
        pq.write_table(ds.data.table, partial)
        partial.replace(source)  # whole or absent: a killed spill is written again
    out = str(work / "out")
    # Like a rerun in process, which asks again for what failed: the failed rows of earlier
    # runs first (only they are judged), then the shards not written yet.
    repaired = run_on_ray(job, str(source), out, replace(options, repair=True))
    summary = run_on_ray(job, str(source), out, replace(options, repair=False))
    summary.add(repaired)
    table = read_output(out).drop_columns([ROW_COLUMN])
    return datasets.Dataset(table), summary
