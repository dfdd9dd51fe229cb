"""Jury scoring for ``ultrajudge score``: build the jury from flags or YAML, run it, report."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.jury import Jury, parse_juror
from ultrajudge.judge.runner import RunSummary


def load_jury(
    path: Path | None, judges: Sequence[str], reducer: str, options: Mapping[str, str]
) -> Jury:
    """A jury from a YAML file (``--jury``) or from repeated ``--judge`` specs; ``options``
    (``-O``) apply to every ``--judge`` juror."""
    if path is not None:
        if judges:
            raise ConfigError("pass the judges either with --jury FILE or with --judge, not both")
        return load_jury_file(path)
    return Jury(tuple(parse_juror(j, options) for j in judges), reducer=reducer.replace("-", "_"))


def load_jury_file(path: Path) -> Jury:
    """A jury from a ``--jury`` YAML file, validated by :class:`~.schema.JuryFile` (errors
    name ``file:line`` and the key path). Model specs are used as written."""
    from ultrajudge.pipeline.config import jury
    from ultrajudge.pipeline.schema import JuryFile
    from ultrajudge.pipeline.validate import located, validated
    from ultrajudge.pipeline.yaml_source import YamlSource

    source = YamlSource.read(path, "jury file")
    section = validated(JuryFile, source, "jury file")
    with located(source, ()):
        return jury(section)


def run_jury_score(
    ds: Any,
    out: Path,
    jury: Jury,
    columns: Any,
    configs: Sequence[Any],
    store_path: Path | None,
    batch_size: int,
    progress: bool,
    *,
    source: str,
) -> RunSummary:
    """Score ``ds`` with every juror (resumable), reduce, write ``out`` and its run record,
    print a summary; return the summary of the jury's judgments (every juror's figures, the
    reduced ratings' statuses, why the run stopped if a juror did) for the failure gate.
    ``out`` may not replace ``source``, the store or files ultrajudge did not write."""
    from ultrajudge import __version__
    from ultrajudge.commands._common import load_backend
    from ultrajudge.judge.io import check_output, drop_cache_files, save_rows
    from ultrajudge.judge.jury import score_with_jury
    from ultrajudge.judge.run_record import run_record, write_run_record
    from ultrajudge.judge.store import ResultStore, default_store_path
    from ultrajudge.pipeline.record import BackendLog, judgment_summary, step_entries

    started = time.time()
    store_path = store_path or default_store_path(out)
    protect = (source, store_path)
    check_output(out, protect=protect)
    log, names = BackendLog(), iter(jury.names)  # the jury loads its jurors in order

    def loader(spec: str, **options: Any) -> Any:
        return log.wrap(load_backend, f"score {next(names)}")(spec, **options)

    with ResultStore(store_path, exclusive=True) as store:
        scored, summaries = score_with_jury(
            ds,
            jury,
            columns=columns,
            configs=configs,
            store=store,
            chunk_rows=batch_size,
            progress=progress,
            loader=loader,
        )
        save_rows(scored, out, protect=protect)
    summary = judgment_summary(summaries, scored["rating_status"])
    record = run_record(
        summary,
        version=__version__,
        command=["ultrajudge", *sys.argv[1:]],
        judges=log.of("score"),
        settings={
            "jury": jury.id(),
            "configs": [c.key_fields() for c in configs],
            "batch_size": batch_size,
        },
        store=store_path,
        started=started,
        extra={"steps": step_entries((), summaries, log)},
    )
    write_run_record(out, record, protect=protect)
    print_jury_summary(scored, jury, summaries, out, store_path)
    drop_cache_files(scored)  # the jurors' columns and the reduced ones, copied in the output
    return summary


def print_jury_summary(
    scored: Any, jury: Jury, summaries: Mapping[str, Any], out: Path, store_path: Path
) -> None:
    from collections import Counter

    from ultrajudge.analysis.jury_agreement import format_jury_table, jury_table

    typer.echo(f"\nwrote {out} ({len(scored)} rows); jury {jury.id()}, store {store_path}")
    for name, s in summaries.items():
        failed = sum(n for status, n in s.statuses.items() if status not in ("ok", "na"))
        typer.echo(
            f"  {name:<16} {s.made_now:>6} judged now, {s.from_store:>6} from the store, "
            f"{failed} failed ratings"
        )
        if s.api is not None:
            typer.echo(f"  {'':<16} {s.api.describe()}")
    reduced = Counter(status for row in scored["rating_status"] for status in row)
    typer.echo("jury ratings: " + ", ".join(f"{k} {v}" for k, v in reduced.most_common()))
    table = jury_table(scored)  # the scale the jurors' judge ids name
    if table is not None:
        typer.echo("agreement between judges (95% intervals resampling rows):")
        typer.echo(format_jury_table(table))
