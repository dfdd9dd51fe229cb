"""Plan and run a pipeline: generate → score → pairs → report, every step through the store."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from ultrajudge.judge.jury import Jury
from ultrajudge.judge.runner import RunSummary
from ultrajudge.pipeline.config import Pipeline
from ultrajudge.pipeline.record import BackendLog, SeenBackend
from ultrajudge.pipeline.steps import Loader


def input_rows(pipeline: Pipeline) -> list[dict[str, Any]]:
    from ultrajudge.judge.io import load_rows

    if pipeline.input is None:
        return [{"system_prompt": pipeline.generate[0].system}]
    ds = load_rows(pipeline.input, split=pipeline.split, limit=pipeline.limit)
    if not pipeline.generate:  # the judge reads the rows as they are: a bad one is named now
        pipeline.columns.validate(ds.column_names)
        pipeline.columns.check_rows(ds, pipeline.input)
    return list(ds.to_list())


def plan(pipeline: Pipeline, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """Each step with the number of model calls it makes at most (before retries; calls
    already in the store are not made again)."""
    n_rows = len(rows)
    completions = sum(len(r.get(pipeline.columns.completions or "") or []) for r in rows)
    steps = []
    for step in pipeline.generate:
        calls, n_rows, completions = step.estimate(n_rows, completions)
        steps.append((step.describe(), calls))
    per_judge = completions if any(c.per_completion for c in pipeline.ratings) else n_rows
    aspects = ", ".join(c.aspect for c in pipeline.ratings)
    for juror in pipeline.jurors:
        steps.append(
            (
                f"score ({aspects}) with {juror.name}: {juror.spec}",
                per_judge * len(pipeline.ratings),
            )
        )
    filters = ", ".join(f.name for f in pipeline.filters.filters()) or "no filters"
    steps.append((f"pairs: {pipeline.builder.strategy}, {filters}, {pipeline.format} format", 0))
    return steps


@dataclass
class PipelineRun:
    """What a run wrote, and what each step cost. ``judgments``: the scoring step's one
    summary (the failure gate's and the records'); ``records``: each dataset's run record."""

    workdir: Path
    store: Path
    protect: tuple[Path | str | None, ...] = ()
    outcome: Any = None
    generation: list[tuple[str, Any]] = field(default_factory=list)
    scoring: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    judgments: RunSummary | None = None
    backends: BackendLog = field(default_factory=BackendLog)
    records: dict[str, Path] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    #: A generator failed: the one line saying which, what the store holds, where the
    #: partial rows are and what a rerun asks for (nothing was judged; see :mod:`.generation`).
    incomplete: str | None = None

    @property
    def stopped(self) -> str | None:
        """Why the run ended early (a generator failed, or the judge was unreachable; no
        pairs were built), or None."""
        for _, summary in self.generation:
            if summary.stopped is not None:
                return summary.stopped
        return self.judgments.stopped if self.judgments is not None else None


def run_pipeline(
    pipeline: Pipeline,
    workdir: Path,
    *,
    progress: bool = True,
    loader: Loader | None = None,
    echo: Callable[[str], None] = typer.echo,
    ray: Any = None,
    source: Path | None = None,
    command: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
) -> PipelineRun:
    """Run every step through the store under ``workdir``; see the module docstring.
    ``ray`` (an ``ultrajudge.executors.ray.RayOptions``): score with one judge on Ray.

    Every dataset written gets its run record (:mod:`ultrajudge.pipeline.record`):
    ``source`` is the pipeline file (its path and hash), ``command`` the command line,
    ``settings`` what the caller adds (the failure gate). When the judge was unreachable
    (:attr:`PipelineRun.stopped`) the scored rows are written and no pairs are built; when
    a generator failed (:attr:`PipelineRun.incomplete`) the partial generated rows are
    written and nothing is judged (:mod:`.generation`)."""
    from ultrajudge.judge.backends import build_backend
    from ultrajudge.judge.store import ResultStore
    from ultrajudge.pipeline.generation import generate_rows
    from ultrajudge.pipeline.record import file_digest

    loader = loader or build_backend
    run = PipelineRun(workdir, workdir / "store.sqlite")
    digest = file_digest(source) if source is not None else None
    # Outputs may replace none of the input, the store, the pipeline file's folder or a
    # folder above them; checked for every output before any step runs.
    run.protect = (pipeline.input and pipeline.base / pipeline.input, run.store, pipeline.base)
    _check_outputs(pipeline, run)
    workdir.mkdir(parents=True, exist_ok=True)
    with ResultStore(run.store) as store:
        rows = input_rows(pipeline)
        if pipeline.generate:
            rows = generate_rows(pipeline, rows, store, run, progress=progress, loader=loader, echo=echo)  # fmt: skip
        if run.stopped is None:
            scored = _score(pipeline, rows, store, run, progress, loader, echo, ray)
    if run.stopped is None:
        _pairs(pipeline, scored, run)
    _write_records(pipeline, run, digest, command, settings or {})
    return run


def _write_records(
    pipeline: Pipeline,
    run: PipelineRun,
    digest: Mapping[str, str] | None,
    command: Sequence[str],
    settings: Mapping[str, Any],
) -> None:
    from ultrajudge import __version__
    from ultrajudge.judge.run_record import write_run_record
    from ultrajudge.pipeline.record import pipeline_records, step_entries

    generated = RunSummary(rows=0)
    for _, summary in run.generation:
        generated.add(summary)
        generated.statuses.update(summary.statuses)
    if run.generation:
        generated.rows, generated.rows_out = run.generation[0][1].rows, run.generation[-1][1].rows_out  # fmt: skip
    common = {
        "version": __version__,
        "command": list(command),
        "settings": {**_settings(pipeline), **settings},
        "store": run.store,
        "started": run.started,
        "extra": {
            "pipeline": {"name": pipeline.name, **(digest or {})},
            "steps": step_entries(run.generation, run.scoring, run.backends),
        },
    }
    records = pipeline_records(run.files, generated=generated if run.generation else None, judgments=run.judgments, backends=run.backends, common=common)  # fmt: skip
    for label, record in records.items():
        run.records[label] = write_run_record(run.files[label], record, protect=run.protect)


def _settings(pipeline: Pipeline) -> dict[str, Any]:
    """What changes the results: the rating configs (templates, generation parameters),
    the generate steps' configs, the jury, the pair builder and filters."""
    from dataclasses import asdict, is_dataclass

    def plain(obj: Any) -> Any:
        return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else obj

    return {
        "configs": [c.key_fields() for c in pipeline.ratings],
        "generate": [{"step": s.describe(), "config": plain(s.config)} for s in pipeline.generate],
        "judges": {j.name: j.spec for j in pipeline.jurors},
        "jury": pipeline.judges.id() if isinstance(pipeline.judges, Jury) else None,
        "pairs": {"strategy": pipeline.builder.strategy, "format": pipeline.format},
        "filters": [f.name for f in pipeline.filters.filters()],
        "batch_size": pipeline.batch_size,
        "max_retries": pipeline.max_retries,
    }


def _check_outputs(pipeline: Pipeline, run: PipelineRun) -> None:
    from ultrajudge.judge.io import check_output
    from ultrajudge.pipeline.generation import partial_name

    out = pipeline.outputs
    generated = [out.generated, partial_name(out.generated)] if pipeline.generate else []
    datasets = [out.scored, out.pairs, out.dropped, *generated]
    for name in datasets:
        if name is not None:
            check_output(run.workdir / name, protect=run.protect)
    if out.report is not None:
        check_output(run.workdir / out.report, protect=run.protect, folder=False)


def _score(
    pipeline: Pipeline,
    rows: list[dict[str, Any]],
    store: Any,
    run: PipelineRun,
    progress: bool,
    loader: Loader,
    echo: Callable[[str], None],
    ray: Any = None,
) -> Any:
    import datasets

    from ultrajudge.judge.io import save_rows
    from ultrajudge.judge.jury import score_with_jury
    from ultrajudge.judge.scoring import add_score_columns, judge_dataset
    from ultrajudge.pipeline.record import judgment_summary

    ds = datasets.Dataset.from_list(rows)
    columns, configs = pipeline.columns, list(pipeline.ratings)
    columns.validate(ds.column_names)
    if isinstance(pipeline.judges, Jury):
        names = iter(pipeline.judges.names)  # the jury loads its jurors in order
        log = run.backends

        def juror_loader(spec: str, **options: Any) -> Any:
            return log.wrap(loader, f"score {next(names)}")(spec, **options)

        scored, run.scoring = score_with_jury(ds, pipeline.judges, columns=columns, configs=configs, store=store, chunk_rows=pipeline.batch_size, progress=progress, loader=juror_loader)  # fmt: skip
    elif ray is not None:  # the rows spill to Parquet under the workdir; Ray judges them
        from ultrajudge.executors import ScoreJob
        from ultrajudge.executors.spill import run_rows_on_ray

        juror = pipeline.judges
        job = ScoreJob(juror.spec, tuple(configs), columns, dict(juror.options), pipeline.batch_size)  # fmt: skip
        scored, on_ray = run_rows_on_ray(job, ds, run.workdir / "ray", ray)
        run.backends.steps[f"score {juror.name}"] = [SeenBackend(juror.spec, {})]  # on Ray
        run.scoring = {juror.name: on_ray}
    else:
        juror = pipeline.judges
        backend = run.backends.wrap(loader, f"score {juror.name}")(juror.spec, **juror.options)
        summary = judge_dataset(backend, ds, columns=columns, configs=configs, store=store, chunk_rows=pipeline.batch_size, progress=progress)  # fmt: skip
        scored = add_score_columns(backend, ds, columns=columns, configs=configs, store=store, summary=summary)  # fmt: skip
        run.scoring = {juror.name: summary}
    for name, s in run.scoring.items():
        echo(f"score with {name}: {s.made_now} judged now, {s.from_store} from the store")
        if s.api is not None:
            echo(f"  {s.api.describe()}")
    run.judgments = judgment_summary(run.scoring, scored["rating_status"])
    path = run.workdir / pipeline.outputs.scored
    save_rows(scored, path, protect=run.protect)
    run.files["scored"] = path
    return scored


def _pairs(pipeline: Pipeline, scored: Any, run: PipelineRun) -> None:
    from ultrajudge.analysis.pairs import make_pairs, write_outputs

    out = pipeline.outputs
    run.outcome = make_pairs(scored, pipeline.builder, pipeline.filters.filters(), format=pipeline.format)  # type: ignore[arg-type]  # fmt: skip
    files = {
        "pairs": run.workdir / out.pairs,
        "dropped": run.workdir / out.dropped if out.dropped else None,
        "report": run.workdir / out.report if out.report else None,
    }
    write_outputs(
        run.outcome,
        out=files["pairs"],
        dropped=files["dropped"],
        report=files["report"],
        scored=scored,
        protect=run.protect,
        subtitle=f"pipeline {pipeline.name}; strategy {pipeline.builder.strategy}; format {pipeline.format}",
    )
    run.files.update({k: v for k, v in files.items() if v is not None})
