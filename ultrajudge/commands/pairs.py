"""``ultrajudge pairs``: scored completions → filtered, TRL-ready preference pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ultrajudge.commands._common import Limit, fail, friendly_errors
from ultrajudge.commands._hub import Private, PushToHub, check_push, push_output


def register(app: typer.Typer) -> None:
    app.command("pairs")(pairs)


def _positive(value: float | None) -> float | None:
    # Typer's ranges are closed; a ratio or a z threshold of 0 would drop every pair.
    if value is not None and value <= 0:
        raise typer.BadParameter(f"{value:g} is not above 0")
    return value


def _contamination_option(value: str) -> str:
    try:
        ok = value == "auto" or 0 < float(value) <= 0.5
    except ValueError:
        ok = False
    if not ok:
        raise typer.BadParameter(f"{value!r} is neither a share in (0, 0.5] nor 'auto'")
    return value


@friendly_errors
def pairs(
    source: Annotated[
        str,
        typer.Argument(
            help="Scored data (ultrajudge score output): file, save_to_disk folder or Hub id."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Pairs: .jsonl, .parquet, or a folder (save_to_disk)."),
    ] = None,
    strategy: Annotated[
        Literal["best-vs-worst", "best-vs-random-lower", "all-pairs"],
        typer.Option(
            help="best-vs-worst, best-vs-random-lower (UltraFeedback/Zephyr binarisation), or all-pairs."
        ),
    ] = "best-vs-worst",
    seed: Annotated[
        int, typer.Option(help="Seed of per-row random choices and the isolation forest.")
    ] = 0,
    format: Annotated[
        Literal["standard", "conversational"],
        typer.Option(
            "--format",
            help="standard: prompt/chosen/rejected strings. conversational: message lists.",
        ),
    ] = "standard",
    min_margin: Annotated[
        float | None, typer.Option(min=0.0, help="Drop pairs whose score margin is below this.")
    ] = None,
    min_judge_margin: Annotated[
        float | None,
        typer.Option(min=0.0, help="Jury: drop pairs where some juror's own margin is below this."),
    ] = None,
    jury_order: Annotated[
        Literal["any", "no-reversal", "unanimous"],
        typer.Option(
            help="Jury: any (off), no-reversal (drop if a juror prefers rejected), unanimous (drop unless every juror prefers chosen)."
        ),
    ] = "any",
    max_spread: Annotated[
        float | None,
        typer.Option(
            min=0.0, help="Jury: drop pairs whose jury spread (chosen or rejected) exceeds this."
        ),
    ] = None,
    max_length_ratio: Annotated[
        float | None,
        typer.Option(
            callback=_positive,
            help="Drop pairs whose chosen is more than K times longer than rejected (K > 0).",
        ),
    ] = None,
    near_duplicates: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Drop pairs whose chosen and rejected are at least this similar (0-1; 0.7 is a good start).",
        ),
    ] = None,
    embedding_model: Annotated[
        str | None,
        typer.Option(
            help="sentence-transformers model: near duplicates by cosine similarity of embeddings "
            "(threshold --near-duplicates, default 0.95) instead of lexical."
        ),
    ] = None,
    dedupe_prompts: Annotated[
        bool,
        typer.Option(
            "--dedupe-prompts", help="Keep only the first source row of each repeated prompt."
        ),
    ] = False,
    outliers: Annotated[
        Literal["none", "iforest", "zscore"],
        typer.Option(help="none, iforest (IsolationForest) or zscore (median/MAD)."),
    ] = "none",
    contamination: Annotated[
        str,
        typer.Option(
            callback=_contamination_option,
            help="iforest: share of pairs to drop, in (0, 0.5], or 'auto'.",
        ),
    ] = "0.05",
    z_threshold: Annotated[
        float,
        typer.Option(callback=_positive, help="zscore: drop pairs with a robust |z| above this."),
    ] = 3.5,
    report: Annotated[
        Path | None, typer.Option(help="HTML report: funnel, margins, lengths, jury agreement.")
    ] = None,
    dropped: Annotated[
        Path | None,
        typer.Option(help="Write every removed pair (and row without a pair) with its reason."),
    ] = None,
    push_to_hub: PushToHub = None,
    private: Private = False,
    ratings_col: Annotated[
        str, typer.Option(help="Column with the ratings to pair on.")
    ] = "ratings",
    instruction_col: Annotated[
        str | None,
        typer.Option(
            help="Column with the instruction. Default: the columns recorded when the file was "
            "scored (<FILE>.columns.json), else 'instruction'."
        ),
    ] = None,
    completions_col: Annotated[
        str | None,
        typer.Option(
            help="Column with the list of completions. Default: as recorded, else 'completions'."
        ),
    ] = None,
    completion_col: Annotated[
        list[str] | None,
        typer.Option(help="A column with one completion; repeat for each (as in score)."),
    ] = None,
    id_col: Annotated[
        str, typer.Option(help="Row id column (seeds per-row choices; provenance).")
    ] = "id",
    split: Annotated[str, typer.Option(help="Split of a Hub dataset or DatasetDict.")] = "train",
    limit: Limit = None,
) -> None:
    """Build DPO pairs from scored completions, filter them, and export them for TRL.

    Ties never become pairs, chosen always differs from rejected, and completions with
    a failed rating never enter a pair. Each filter is optional and counted; the funnel
    (pairs in, dropped, out per filter) is printed and, with --report, drawn.
    """
    from ultrajudge.analysis.filters import FilterConfig
    from ultrajudge.analysis.pairs import PairBuilder, make_pairs, write_outputs
    from ultrajudge.judge.io import load_rows

    if out is None:
        raise fail(
            "pass --out (a .jsonl/.parquet file or a folder); --push-to-hub pushes what it writes"
        )
    check_push(push_to_hub, private)
    config = FilterConfig(
        min_margin=min_margin,
        min_judge_margin=min_judge_margin,
        jury_order=jury_order,
        max_spread=max_spread,
        max_length_ratio=max_length_ratio,
        near_duplicates=near_duplicates,
        embedding_model=embedding_model,
        duplicate_prompts=dedupe_prompts,
        outliers=outliers,
        contamination=_contamination(contamination),  # type: ignore[arg-type]
        z_threshold=z_threshold,
        seed=seed,
    )
    columns = _columns(source, instruction_col, completions_col, completion_col)
    builder = PairBuilder(strategy, seed, columns, ratings_col, id_col=id_col)
    filters = config.filters()
    ds = load_rows(source, split=split, limit=limit)
    outcome = make_pairs(ds, builder, filters, format=format)
    write_outputs(
        outcome,
        out=out,
        dropped=dropped,
        report=report,
        scored=ds,
        protect=(source,),
        subtitle=f"{source}; strategy {strategy}; format {format}",
    )
    print_outcome(outcome, out=out, dropped=dropped, report=report)
    push_output(out, push_to_hub, private=private, source=source)


def _columns(
    source: str, instruction: str | None, completions: str | None, each: list[str] | None
) -> Any:
    """The column flags when any is given; else the mapping recorded when ``source`` was
    scored; else the defaults."""
    from ultrajudge.judge.io import Columns, recorded_columns

    if instruction is None and completions is None and not each:
        recorded = recorded_columns(source)
        if recorded is not None and recorded.get("kind") == "pointwise":
            return Columns.from_dict(recorded)
    return Columns(instruction or "instruction", completions or "completions", tuple(each or ()))


def _contamination(value: str) -> float | str:
    # checked by _contamination_option while the options are read
    return value if value == "auto" else float(value)


def print_outcome(
    outcome: Any, *, out: Path | None, dropped: Path | None, report: Path | None
) -> None:
    """The build summary and the funnel, as plain text."""
    stats = outcome.stats
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(stats.no_pair.items())) or "none"
    typer.echo(
        f"{stats.rows} rows → {stats.pairs} pairs from {stats.rows_with_pairs} rows "
        f"(rows without a pair: {reasons})"
    )
    if stats.excluded_completions:
        left = ", ".join(f"{r} {n}" for r, n in sorted(stats.excluded_completions.items()))
        typer.echo(f"completions left out: {left}")
    for step in outcome.result.funnel.to_dict("records"):
        typer.echo(
            f"  {step['step']:<18} {step['in']:>7} in  {step['dropped']:>7} dropped  "
            f"{step['out']:>7} out"
        )
    typer.echo(f"{len(outcome.records)} pairs kept")
    if not outcome.records:
        typer.secho(
            "warning: no pair was kept; see why with --dropped FILE or --report FILE, "
            "and loosen the filters",
            fg=typer.colors.YELLOW,
            err=True,
        )
    for label, path in (("pairs", out), ("dropped", dropped), ("report", report)):
        if path is not None:
            typer.echo(f"wrote {label}: {path}")
