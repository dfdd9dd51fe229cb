"""``ultrajudge compare``: judges against each other and against human (gold) labels."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ultrajudge.commands._common import friendly_errors


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


@friendly_errors
def compare(
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE[:COLUMN]",
            help="Scored files (ultrajudge score) or verdict files (ultrajudge pairwise); "
            "FILE:COLUMN picks a column, e.g. scored.jsonl:ratings_helpfulness.",
        ),
    ],
    name: Annotated[
        list[str] | None,
        typer.Option(
            "--name", "-n", help="Judge name, once per file in order. Default: file stem."
        ),
    ] = None,
    human_col: Annotated[
        list[str] | None,
        typer.Option(
            "--human-col",
            "--gold-col",
            help="Human ratings (or gold verdicts) column, repeatable; several give a human ceiling.",
        ),
    ] = None,
    id_col: Annotated[
        str | None,
        typer.Option(help="Row id column. Default: 'id' if every file has it, else row order."),
    ] = None,
    text_col: Annotated[
        list[str] | None,
        typer.Option(
            help="Texts for the length statistics. Default: completions (scored), "
            "response_a and response_b (verdicts)."
        ),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            help="Rating scale: 1-5, 1-10 or 1,2,3. Default: the scale the judge ids name "
            "(score writes '| scale=1-10' into them), else 1-5."
        ),
    ] = None,
    headline: Annotated[
        str | None,
        typer.Option(
            help="Sorts the leaderboard. Default: kappa_quadratic, or accuracy for verdicts."
        ),
    ] = None,
    ties: Annotated[
        Literal["half", "exclude", "judgebench"],
        typer.Option(
            help="Verdict accuracy: a tie against A/B counts 'half', or 'exclude' it; "
            "'judgebench': each order votes, correct when the votes sum to the gold side."
        ),
    ] = "half",
    bootstrap: Annotated[
        int, typer.Option(min=0, help="Bootstrap resamples for intervals; 0 skips.")
    ] = 1000,
    resample: Annotated[
        Literal["row", "item"],
        typer.Option(
            help="Bootstrap unit: 'row' (all completions of an instruction together; their "
            "ratings are correlated) or 'item'."
        ),
    ] = "row",
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    price_in: Annotated[
        float | None,
        typer.Option(min=0.0, help="USD per million prompt tokens (for cost per 1,000)."),
    ] = None,
    price_out: Annotated[
        float | None, typer.Option(min=0.0, help="USD per million completion tokens.")
    ] = None,
    out: Annotated[
        list[Path] | None,
        typer.Option(
            "--out", "-o", help="FILE.json (every table) or FILE.csv (the leaderboard); repeatable."
        ),
    ] = None,
    csv_dir: Annotated[
        Path | None,
        typer.Option(help="Folder for every table as CSV (leaderboard.csv, pairs.csv, ...)."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Self-contained HTML report with plots (FILE.html).")
    ] = None,
) -> None:
    """Compare judges: agreement matrices, a judge-vs-human leaderboard and a report.

    Rows are aligned by id (or row order, checked against the instructions) and completion;
    a statistic between two raters uses the items both rated. Files sharing no rows are an
    error; a partial overlap is reported. Intervals resample whole rows unless --resample item. The leaderboard has agreement
    with humans, bias, failure rate, length and position bias, runs across seeds, and tokens,
    seconds and cost per 1,000 judgments from each file's run record (<file>.run.json).
    """
    from ultrajudge.analysis.compare import CompareOptions, Source
    from ultrajudge.analysis.compare import compare as run_compare

    if name and len(name) != len(files):
        raise typer.BadParameter(
            f"give one --name per file ({len(files)}), got {len(name)}", param_hint="--name"
        )
    for path in out or []:
        if path.suffix.lower() not in (".json", ".csv"):
            raise typer.BadParameter(f"{path} must end in .json or .csv", param_hint="--out")
    options = CompareOptions(
        scale=_parse_scale(scale) if scale is not None else None,
        headline=headline,
        ties=ties,
        bootstrap=bootstrap,
        resample=resample,
        seed=seed,
        price_in=price_in,
        price_out=price_out,
    )
    names: list[str | None] = list(name) if name else [None] * len(files)
    sources = [Source.parse(f, n) for f, n in zip(files, names)]
    result = run_compare(
        sources,
        human_cols=human_col or (),
        id_col=id_col,
        text_cols=text_col or _recorded_texts(sources),
        options=options,
    )
    _print(result)
    inputs = [str(s.data) for s in sources if isinstance(s.data, (str, Path))]
    _write(result, out or [], csv_dir, report, inputs)


def _recorded_texts(sources: list[Any]) -> tuple[str, ...]:
    """The answer columns recorded when the files were judged (``<FILE>.columns.json``),
    when every file that has a record agrees; else () and compare's defaults."""
    from ultrajudge.judge.io import recorded_columns

    found: set[tuple[str, ...]] = set()
    for src in sources:
        recorded = None if not isinstance(src.data, str | Path) else recorded_columns(src.data)
        if recorded is None:
            continue
        if recorded.get("kind") == "pairwise":
            found.add((str(recorded["response_a"]), str(recorded["response_b"])))
        else:
            each = recorded.get("completion_columns") or [recorded.get("completions")]
            found.add(tuple(str(c) for c in each))
    return found.pop() if len(found) == 1 else ()


def _parse_scale(text: str) -> tuple[float, ...]:
    """``1-5`` → (1, 2, 3, 4, 5); ``1,2,3`` → (1, 2, 3)."""
    if m := re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", text):
        low, high = int(m[1]), int(m[2])
        values: tuple[float, ...] = tuple(range(low, high + 1))
    else:
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError:
            values = ()
    if len(values) < 2:
        raise typer.BadParameter(f"{text!r} is not a scale like 1-5 or 1,2,3", param_hint="--scale")
    return values


def _print(result: Any) -> None:
    from ultrajudge.analysis.compare_text import summary

    typer.echo(summary(result))


def _write(
    result: Any, outs: list[Path], csv_dir: Path | None, report: Path | None, inputs: list[str]
) -> None:
    import json

    from ultrajudge.judge.io import write_text

    def _atomic(path: Path, text: str) -> None:
        write_text(path, text, protect=inputs)

    for path in outs:
        if path.suffix.lower() == ".json":
            _atomic(path, json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
        else:
            _atomic(path, result.leaderboard.to_csv(index=False))
        typer.echo(f"wrote {path}")
    if csv_dir is not None:
        csv_dir.mkdir(parents=True, exist_ok=True)
        for stem, table in result.tables().items():
            index = stem.startswith("matrix_")
            _atomic(csv_dir / f"{stem}.csv", table.to_csv(index=index))
        typer.echo(f"wrote {len(result.tables())} tables to {csv_dir}")
    if report is not None:
        from ultrajudge.analysis.compare_report import write_report

        typer.echo(f"wrote {write_report(result, report, protect=inputs)}")
