"""The generate steps of ``ultrajudge run``, and what a run writes when a generator fails.

Each step runs through a :class:`~ultrajudge.generators.engine.Session` on the run's
store. When a generator's backend fails (unreachable from the start, stops answering
partway, or some requests fail in the backend after their retries), the generated rows are
incomplete for a reason a rerun fixes, so the run goes no further: no later step, no
judging, no pairs. Why not score what there is: a generator drops a request it got no
answer for, so a row would be judged (and paired) with fewer completions than the rerun
gives it; exit 0 would promise an output that the next run changes.

What is written then: the rows so far, built from the store, under a name of their own,
``generated.partial.jsonl`` (:func:`partial_name`), with their run record marked
``"partial": true`` and the reason in its summary's ``stopped``. Never ``generated.jsonl``:
a partial file under the complete file's name (or a complete file left from an earlier
run, beside a record that says otherwise) is what someone reads as finished. The rows are
worth writing: a long generation that dies at 80% can be inspected before the rerun. A
later run that completes the step removes the partial file and its record (we wrote them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ultrajudge.generators.engine import Session
    from ultrajudge.judge.store import ResultStore
    from ultrajudge.pipeline.config import Pipeline
    from ultrajudge.pipeline.runner import PipelineRun

__all__ = ["drop_partial", "generate_rows", "partial_name"]

Echo = Callable[[str], None]
Loader = Callable[..., Any]


def partial_name(name: str) -> str:
    """The partial rows' output name: ``.partial`` before a file suffix, else after.

    >>> partial_name("generated.jsonl"), partial_name("gen/rows.parquet"), partial_name("gen")
    ('generated.partial.jsonl', 'gen/rows.partial.parquet', 'gen.partial')
    """
    from ultrajudge.judge.io import FILE_SUFFIXES

    path = Path(name)
    if path.suffix.lower() in FILE_SUFFIXES:
        return str(path.with_name(f"{path.stem}.partial{path.suffix}"))
    return f"{name}.partial"


def generate_rows(
    pipeline: Pipeline,
    rows: list[dict[str, Any]],
    store: ResultStore,
    run: PipelineRun,
    *,
    progress: bool,
    loader: Loader,
    echo: Echo,
) -> list[dict[str, Any]]:
    """Run every generate step of ``pipeline`` over ``rows``; write the generated rows
    (``run.files["generated"]``), or when a step's generator failed, the partial rows
    (``run.files["generated_partial"]``), the reason in the step summary's ``stopped`` and
    the one-line account (generator, store, partial file, rerun) in ``run.incomplete``."""
    import datasets

    from ultrajudge.generators.engine import Session
    from ultrajudge.judge.io import save_rows

    stop = None
    for k, step in enumerate(pipeline.generate):
        session = Session(store, max_retries=pipeline.max_retries, batch_size=pipeline.batch_size, progress=progress, partial=True)  # fmt: skip
        session.summary.rows = len(rows)
        rows = step.run(rows, session, run.backends.wrap(loader, f"generate {k}"))
        session.summary.rows_out = len(rows)
        run.generation.append((step.describe(), session.summary))
        s = session.summary
        echo(f"{step.describe()}: {s.made_now} generated now, {s.from_store} from the store; {s.rows} → {s.rows_out} rows")  # fmt: skip
        if s.api is not None:
            echo(f"  {s.api.describe()}")
        if session.backend_errors:
            stop = _why(k, step.describe(), session)
            break
    name = pipeline.outputs.generated
    out = partial_name(name) if stop else name
    path = save_rows(datasets.Dataset.from_list(rows), run.workdir / out, protect=run.protect)
    if stop is None:
        run.files["generated"] = path
        drop_partial(run.workdir / partial_name(name))
        return rows
    run.files["generated_partial"] = path
    why, missing = stop
    run.incomplete = (
        f"{why}; the rows so far are in {path} (partial: not scored, no pairs built); rerun "
        f"the same command when the server answers: it asks only for the {missing} the store lacks"
    )
    return rows


def _why(k: int, step: str, session: Session) -> tuple[str, int]:
    """The step, its generator's failure (the backend id: host and port; the last error)
    and what the store holds; how many generations it lacks. Sets the summary's
    ``stopped`` where the runner did not (some requests failed, the rest answered)."""
    s = session.summary
    failures = "; ".join(
        f"{n} request(s) to {backend} failed after their retries; last error: {error}"
        for backend, (n, error) in session.backend_errors.items()
    )
    s.stopped = s.stopped or failures
    asked, held = sum(s.statuses.values()), s.statuses["ok"]
    why = (
        f"generate step {k + 1} ({step}): {s.stopped.rstrip('. ')}. The store holds {held} of the {asked} "
        "generations this step asked for"
    )
    return why, asked - held


def drop_partial(path: Path) -> None:
    """Remove the partial rows an earlier stopped run wrote at ``path`` (and their run
    record and CSV sidecar), if their run record says they are partial: a complete run
    supersedes them. Anything else at ``path`` is left alone."""
    from ultrajudge.judge.io import remove_output
    from ultrajudge.judge.run_record import record_path

    record = record_path(path)
    try:
        partial = json.loads(record.read_text(encoding="utf-8")).get("partial") is True
    except (OSError, ValueError, AttributeError):
        return
    if not partial:
        return
    remove_output(path)
    record.unlink()
