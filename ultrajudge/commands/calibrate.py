"""``ultrajudge calibrate``: map a judge's scores onto human ratings (isotonic, cross-validated)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ultrajudge.commands._common import Source, Split, friendly_errors
from ultrajudge.commands._hub import Private, PushToHub, check_push, push_output


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)


@friendly_errors
def calibrate(
    source: Source,
    human_col: Annotated[
        str, typer.Option(help="Human ratings: one per completion (a list) or one per row.")
    ],
    scores_col: Annotated[
        str,
        typer.Option(help="Judge scores (logprob mode: the expected scores). Default: ratings."),
    ] = "ratings",
    scale: Annotated[str, typer.Option(help="The human rating scale: 1-5, 0-4, 1-10 ...")] = "1-5",
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Seeds the folds.")] = 0,
    split: Split = "train",
    save_map: Annotated[Path | None, typer.Option(help="Write the fitted map (JSON) here.")] = None,
    apply: Annotated[
        list[str] | None,
        typer.Option(help="Scored file to calibrate (repeatable with --out each)."),
    ] = None,
    out: Annotated[
        list[Path] | None,
        typer.Option(
            "--out", "-o", help="Where each --apply file goes, with <scores-col>_calibrated."
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="HTML report with the reliability plot.")
    ] = None,
    push_to_hub: PushToHub = None,
    private: Private = False,
) -> None:
    """Fit a monotone map from the judge's scores to human ratings on a labelled file,
    print agreement before and after (cross-validated), and apply it to new scored files."""
    from ultrajudge.analysis.calibration import fit_calibration
    from ultrajudge.analysis.calibration_report import apply_map, build_report, paired_values
    from ultrajudge.judge.io import load_rows, save_rows, write_text
    from ultrajudge.judge.scales import parse_scale

    if len(apply or []) != len(out or []):
        raise typer.BadParameter("give one --out per --apply file", param_hint="--out")
    if push_to_hub is not None and len(out or []) != 1:
        raise typer.BadParameter(
            "--push-to-hub pushes the one calibrated file: give exactly one --apply and --out",
            param_hint="--push-to-hub",
        )
    check_push(push_to_hub, private)
    values = parse_scale(scale)
    ds = load_rows(source, split=split)
    scores, human = paired_values(ds, scores_col, human_col)
    result = fit_calibration(scores, human, scale=values, folds=folds, seed=seed)
    typer.echo(f"{len(result.scores)} items, {folds}-fold cross-validated isotonic regression")
    typer.echo(f"{'statistic':<16}{'before':>10}{'after':>10}")
    for name in result.before:
        typer.echo(f"{name:<16}{result.before[name]:>10.3f}{result.after[name]:>10.3f}")
    protect = [source, *(apply or [])]
    if save_map is not None:
        typer.echo(f"wrote {write_text(save_map, result.map.to_json() + chr(10), protect=protect)}")
    for path, target in zip(apply or [], out or []):
        new = apply_map(load_rows(path, split=split), result.map, scores_col)
        typer.echo(f"wrote {save_rows(new, target, protect=protect)}")
    if report is not None:
        typer.echo(f"wrote {build_report(result, source=source).write(report, protect=protect)}")
    if out:
        push_output(out[0], push_to_hub, private=private)
