"""``ultrajudge meta-eval``: a judge on a human-labelled suite, in the suite's numbers and ours."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ultrajudge.commands._common import (
    JudgeOption,
    Limit,
    Progress,
    StorePath,
    friendly_errors,
    judge_to_file,
    parse_options,
)
from ultrajudge.commands._hub import Private, PushToHub, check_push, push_output


def register(app: typer.Typer) -> None:
    app.command("meta-eval")(meta_eval)


@friendly_errors
def meta_eval(
    suite: Annotated[
        str,
        typer.Argument(
            help="judgebench, rewardbench, rewardbench2, mt_bench, helpsteer2 or ultrafeedback."
        ),
    ],
    judge: Annotated[
        str,
        typer.Option(
            "--judge", "-j", help="Local model folder, Hub id, 'scripted:...' or 'openai:MODEL'."
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option(help="A local file in the suite's own format. Default: the suite's Hub id."),
    ] = None,
    split: Annotated[str | None, typer.Option(help="Split. Default: the suite's.")] = None,
    limit: Limit = None,
    judge_option: JudgeOption = None,
    mode: Annotated[
        Literal["generate", "logprob"],
        typer.Option(help="generate, or logprob (P(A/B/tie) or expected scores)."),
    ] = "generate",
    template: Annotated[
        str, typer.Option(help="Pairwise suites: the verdict template.")
    ] = "pairwise/mt_bench",
    seed: Annotated[int, typer.Option(help="Seeds which response each pair shows first.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the judged rows here (.jsonl/.parquet/folder)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the figures and conventions as JSON.")
    ] = None,
    store: StorePath = None,
    progress: Progress = False,
    push_to_hub: PushToHub = None,
    private: Private = False,
) -> None:
    """Judge a meta-evaluation suite in the layout it expects (pairs in both orders, or
    pointwise grades) and print the suite's published metrics next to ultrajudge's own,
    with the conventions behind both. Resumable through the results store."""
    from ultrajudge.analysis.meta_eval import (
        JudgingOptions,
        SuiteJudging,
        get_suite,
        load_suite_rows,
    )

    if push_to_hub is not None and out is None:
        raise typer.BadParameter("--push-to-hub pushes the judged rows: pass --out too", param_hint="--push-to-hub")  # fmt: skip
    check_push(push_to_hub, private)
    chosen = get_suite(suite)
    rows = load_suite_rows(chosen, data, split=split, limit=limit)
    job = SuiteJudging(chosen, rows, JudgingOptions(mode, template, seed, progress=progress))  # type: ignore[arg-type]
    options = parse_options(judge_option)
    with tempfile.TemporaryDirectory(prefix="ultrajudge-meta-eval-") as tmp:
        target = out or Path(tmp) / "judged.jsonl"
        store_path = store or (None if out else Path(tmp) / "store.sqlite")
        judge_to_file(
            target, judge, options, store_path, job.judge_rows, job.add_columns,
            source=data or chosen.hub_id,
        )  # fmt: skip
        result = chosen.score(job.judged.to_pandas())
    _print(result, len(rows))
    if out is not None:
        typer.echo(f"wrote {out}")
    if json_out is not None:
        from ultrajudge.judge.io import write_text

        text = json.dumps(result.to_dict(), indent=2) + "\n"
        typer.echo(f"wrote {write_text(json_out, text, protect=[data])}")
    if out is not None:
        push_output(out, push_to_hub, private=private)


def _print(result: Any, n_rows: int) -> None:
    import pandas as pd

    typer.echo(f"{result.suite}: {n_rows} rows")
    with pd.option_context("display.width", 160, "display.max_columns", None):
        typer.echo(result.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for key, value in result.overall.items():
        typer.echo(f"{key}: {value:.3f}")
    typer.echo("conventions:")
    for line in result.conventions:
        typer.echo(f"  - {line}")
    for note in result.notes:
        typer.echo(f"note: {note}")
