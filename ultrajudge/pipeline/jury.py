"""Jury scoring for ``ultrajudge score``: build the jury from flags or YAML, run it, report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.jury import Jury, parse_juror


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
) -> None:
    """Score ``ds`` with every juror (resumable), reduce, write ``out``, print a summary.
    ``out`` may not replace ``source``, the store or files ultrajudge did not write."""
    from ultrajudge.commands._common import load_backend
    from ultrajudge.judge.io import check_output, save_rows
    from ultrajudge.judge.jury import score_with_jury
    from ultrajudge.judge.store import ResultStore, default_store_path

    store_path = store_path or default_store_path(out)
    protect = (source, store_path)
    check_output(out, protect=protect)
    with ResultStore(store_path) as store:
        scored, summaries = score_with_jury(
            ds,
            jury,
            columns=columns,
            configs=configs,
            store=store,
            chunk_rows=batch_size,
            progress=progress,
            loader=load_backend,
        )
        save_rows(scored, out, protect=protect)
    print_jury_summary(scored, jury, summaries, out, store_path)


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
