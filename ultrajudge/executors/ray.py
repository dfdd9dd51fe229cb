"""Run a judging job over a Ray cluster with Ray Data (extra ``ultrajudge[ray]``).

The job's input is cut into a deterministic shard plan (:mod:`.shards`); Ray Data feeds the
shards that have no success marker to ``map_batches`` over an actor pool, where each actor
holds one backend (a vLLM engine on one GPU, a transformers model on CPU, or an API client)
and a results store on its own machine's disk. An actor reads its shard, judges it with the
job's per-batch function (:mod:`.jobs`), writes the shard's Parquet part and then its marker.

Designed around what Ray Data does on small machines (measured with Ray 2.60 on 2 cores):

* the pipeline has no read or write *stage*: the source is the small list of shard numbers
  (``from_items``) and the actors read and write their shards themselves, so an actor pool
  as large as the CPU count cannot starve a read or write stage into a deadlock; the pool is
  still one CPU smaller than the cluster by default, for the driver's bookkeeping tasks;
* the resume filter runs on the driver (it lists the markers), not in a Ray actor that
  would need a CPU of its own;
* a shard is the unit of checkpointing whatever Ray's block sizes are;
* ``local_mode`` is gone: tests run a real local cluster with a few logical CPUs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ultrajudge.executors.jobs import RowJob
from ultrajudge.executors.shards import (
    ROW_COLUMN,
    OutputFolder,
    Shard,
    list_inputs,
    plan_shards,
    read_shard,
)
from ultrajudge.judge.io import DataError
from ultrajudge.judge.runner import BackendUnreachable, RunSummary

__all__ = ["RayOptions", "run_on_ray", "run_shard"]


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run.

    ``address``: a running cluster (``ray://host:10001``, ``host:6379`` or ``auto``); None
    starts a local one of its own unless ``$RAY_ADDRESS`` names one. ``actors``: backends
    held at once (default: the cluster's GPUs when ``gpus_per_actor`` is set, else its CPUs
    minus one). ``store_dir``: a folder on each machine's own disk for its results store.
    """

    address: str | None = None
    actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    shard_rows: int = 256
    store_dir: str | None = None
    repair: bool = False

    def __post_init__(self) -> None:
        if self.shard_rows < 1:
            raise ValueError(f"shard_rows must be >= 1, got {self.shard_rows}")
        if self.actors is not None and self.actors < 1:
            raise ValueError(f"actors must be >= 1, got {self.actors}")


def node_store_path(store_dir: str | None, out: str) -> Path:
    """This machine's results store for the job writing to ``out``: on local disk, never on
    a shared filesystem (SQLite is node-local)."""
    base = Path(store_dir) if store_dir else Path.home() / ".cache" / "ultrajudge" / "stores"
    return base / f"{hashlib.sha256(out.encode()).hexdigest()[:16]}.sqlite"


def run_shard(
    job: RowJob, backend: Any, store: Any, folder: OutputFolder, shard: Shard, *, repair: bool
) -> dict[str, Any]:
    """Judge one shard and write it; with ``repair``, only the failed rows of its part. A
    run that stopped because its judge is gone writes neither part nor marker (``stopped``):
    a rerun judges the shard again, its judgments so far served from the store."""
    if repair:
        rows = folder.read_part(shard.index)
        redo = [k for k, row in enumerate(rows) if job.failed(row)]
        fresh = [
            {k: v for k, v in rows[i].items() if k in _input_names(rows[i], job)} for i in redo
        ]
    else:
        rows = read_shard(shard)
        job.validate(list(rows[0]) if rows else [])
        redo, fresh = list(range(len(rows))), rows
    result = job.process(backend, store, fresh) if fresh else None
    for i, new in zip(redo, result.rows if result else []):
        rows[i] = new
    summary = result.summary if result else RunSummary()
    if summary.stopped is not None:
        return {"shard": shard.index, "stopped": summary.stopped}
    marker = {
        "rows": len(rows),
        "failed": sum(job.failed(r) for r in rows),
        "made_now": summary.made_now,
        "from_store": summary.from_store,
    }
    folder.write(shard, rows, marker)
    return {"shard": shard.index, **marker, "summary": json.dumps(summary.as_dict())}


def _input_names(row: dict[str, Any], job: RowJob) -> set[str]:
    """Input columns of an output row: those before the first result column (the job adds
    its columns after the input's)."""
    names = list(row)
    stop = names.index(ROW_COLUMN) + 1 if ROW_COLUMN in names else len(names)
    return set(names[:stop])


class _ShardWorker:
    """One Ray actor: one backend and one store for its life, a shard per call."""

    def __init__(self, job: RowJob, out: str, shards: list[Shard], store: str, repair: bool):
        from ultrajudge.judge.backends import build_backend
        from ultrajudge.judge.metering import quiet_progress
        from ultrajudge.judge.store import ResultStore

        self.job, self.repair = job, repair
        self.shards = {s.index: s for s in shards}
        self.folder = OutputFolder(out)
        self.node = _node_id()
        self.error: str | None = None
        self.stopped: str | None = None  # the judge is gone (a dead engine, a silent server)
        try:
            self.backend = build_backend(job.judge, **dict(job.options))
        except _user_errors() as exc:  # reported by the first call, as one line
            self.error = f"judge {job.judge!r}: {exc}"
            return
        quiet_progress(self.backend)
        self.store = ResultStore(node_store_path(store or None, out))

    def _judge(self) -> str:
        """The backend's id and what it resolved (a Hub commit, the context limit): the
        run record's ``judges``, as JSON."""
        resolved = dict(getattr(self.backend, "resolved", None) or {})
        return json.dumps({"id": self.backend.id, "resolved": resolved}, default=str)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        done = [self._one(self.shards[int(i)]) for i in batch["shard"]]
        return {key: [d.get(key) for d in done] for key in _MARKER_KEYS}

    def _one(self, shard: Shard) -> dict[str, Any]:
        """The shard's marker, or its error: a user's mistake (a bad model path, a malformed
        line) comes back as a row, so the driver can print it as one line."""
        if self.error is None and self.stopped is None:
            try:
                marker = run_shard(
                    self.job, self.backend, self.store, self.folder, shard, repair=self.repair
                )
                self.stopped = marker.get("stopped")
                return {"node": self.node, "judge": self._judge(), **marker}
            except _user_errors() as exc:
                self.error = str(exc)
            except BackendUnreachable as exc:  # EngineDied: this actor's judge is gone
                self.stopped = str(exc)
        if self.stopped is not None:
            return {"shard": shard.index, "stopped": self.stopped}
        return {"shard": shard.index, "error": self.error}


_MARKER_KEYS = (
    "shard", "rows", "failed", "made_now", "from_store", "node", "summary", "judge", "error",
    "stopped",
)  # fmt: skip


def _user_errors() -> tuple[type[BaseException], ...]:
    from ultrajudge.judge.backends.transformers import ModelLoadError
    from ultrajudge.judge.templates import TemplateError

    return (DataError, TemplateError, ModelLoadError, ValueError, FileNotFoundError, ImportError)


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


def _connect(options: RayOptions) -> None:
    """Join ``options.address`` or ``$RAY_ADDRESS``; else start a local Ray of our own
    (``address="local"``: Ray's default would join any Ray already running on the machine,
    another user's or another job's, whose workers may not even have ultrajudge)."""
    import os

    import ray

    if not ray.is_initialized():
        address = options.address or os.environ.get("RAY_ADDRESS") or "local"
        ray.init(address=address, include_dashboard=False, log_to_driver=False)


def _pool_size(options: RayOptions, pending: int) -> int:
    import ray

    if options.actors is not None:
        return max(1, min(options.actors, pending))
    resources = ray.cluster_resources()
    if options.gpus_per_actor:
        fit = int(resources.get("GPU", 0) / options.gpus_per_actor)
    else:  # one CPU stays free for the driver's tasks
        fit = int((resources.get("CPU", 1) - 1) / max(options.cpus_per_actor, 1e-9))
    return max(1, min(fit, pending))


def run_on_ray(
    job: RowJob,
    source: str,
    out: str,
    options: RayOptions = RayOptions(),
    *,
    on_shard: Callable[[dict[str, Any]], None] | None = None,
) -> RunSummary:
    """Judge every row of ``source`` (a .parquet/.jsonl file or a folder of them) into the
    Parquet folder ``out``; resumable (see the module docstring). ``options.repair`` re-judges
    only the failed rows of finished shards.

    The summary adds up the shards' own summaries (judgments, retries, tokens, API usage,
    statuses of what this run judged); ``rows``/``rows_out`` count the whole output, and
    ``counts`` holds ``shards``, ``shards_run``, ``rows_written`` (by this run) and
    ``failed_rows`` (rows of the whole output with a failed status)."""
    start = time.perf_counter()
    _check_paths(source, out)
    shards = plan_shards(list_inputs(source), options.shard_rows)
    folder = OutputFolder(out)
    folder.check_plan(job.identity(), shards)
    markers = folder.markers()
    if options.repair:
        pending = [s for s in shards if markers.get(s.index, {}).get("failed")]
    else:
        pending = [s for s in shards if s.index not in markers]
    summary = RunSummary()
    if pending:
        _run_pending(job, out, pending, options, summary, markers, on_shard)
    summary.rows = summary.rows_out = sum(m["rows"] for m in markers.values())
    summary.counts.update(
        shards=len(shards), failed_rows=sum(m["failed"] for m in markers.values())
    )
    summary.seconds = time.perf_counter() - start
    return summary


def _check_paths(source: str, out: str) -> None:
    """The output folder may be neither the input nor inside an input folder (its parts would
    become input on a rerun) nor above the input."""
    if "://" in source or "://" in out:
        inside = out.rstrip("/").startswith(source.rstrip("/"))
        above = source.rstrip("/").startswith(out.rstrip("/") + "/")
    else:
        src, dst = Path(source).resolve(), Path(out).resolve()
        inside, above = dst == src or src in dst.parents, dst in src.parents
    if inside or above:
        raise DataError(
            f"--out {out} is the input, inside it or above it; pass a folder outside {source}"
        )


def _run_pending(
    job: RowJob,
    out: str,
    pending: list[Shard],
    options: RayOptions,
    summary: RunSummary,
    markers: dict[int, dict[str, Any]],
    on_shard: Callable[[dict[str, Any]], None] | None,
) -> None:
    import ray

    _connect(options)
    size = _pool_size(options, len(pending))
    ds = ray.data.from_items(
        [{"shard": s.index} for s in pending], override_num_blocks=len(pending)
    ).map_batches(
        _ShardWorker,
        fn_constructor_kwargs={
            "job": job,
            "out": out,
            "shards": pending,
            "store": options.store_dir or "",
            "repair": options.repair,
        },
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=options.cpus_per_actor,
        num_gpus=options.gpus_per_actor or None,
    )
    for done in ds.iter_rows():
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in done.items()}
        if row.get("error"):
            raise DataError(str(row["error"]))
        if row.get("stopped"):
            raise BackendUnreachable(
                f"{row['stopped']} (shard {row['shard']}; the shards finished before it are "
                "written and marked)"
            )
        markers[int(row["shard"])] = {
            k: v for k, v in row.items() if k not in ("error", "summary", "judge")
        }
        part = RunSummary.from_dict(json.loads(row["summary"]))
        part.rows = part.rows_out = part.completions = 0  # the whole output's, counted at the end
        summary.merge(part)
        summary.counts.update(shards_run=1, rows_written=row["rows"])
        if on_shard is not None:
            on_shard(row)
