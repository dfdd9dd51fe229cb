"""``ultrajudge quickstart``: the three jobs end to end, offline, on bundled examples."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from ultrajudge.commands._common import friendly_errors

WARNING = """\
NOTE: the quickstart judge is a tiny model with RANDOM weights, built on this machine so that
nothing is downloaded. Its verdicts mean nothing. In logprob mode it still yields expected scores
(from a random distribution over "1".."5"; --min-mass 0 accepts them although the scale tokens
get almost no probability, which a real run would flag as low_mass); in generate mode its free text holds no rating, and
you will see every completion recorded as a failure (missing / parse_error), never as a made-up
score, which is exactly what ultrajudge does with a real judge that fails to answer.
To judge for real, point --judge at a real model, e.g.
  ultrajudge score my_data.jsonl --judge Qwen/Qwen2.5-1.5B-Instruct --out scored.jsonl
  ultrajudge score my_data.jsonl --judge ./path/to/local/model --mode logprob --out scored.parquet
"""


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)


def example_path(name: str = "feedback.jsonl") -> Path:
    """A bundled example file (shipped as package data)."""
    return Path(str(resources.files("ultrajudge") / "examples" / name))


@friendly_errors
def quickstart(
    workdir: Annotated[Path, typer.Option(help="Where the tiny model and the outputs go.")] = Path(
        "quickstart-out"
    ),
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Score the bundled examples with a tiny local judge, compare judges, and build DPO pairs.

    Nothing is downloaded. Rerun it: stored judgments are reused, only failures are asked again.
    """
    from ultrajudge.cli import app
    from ultrajudge.judge.tiny import build_tiny_model

    model_dir = workdir / "tiny-judge"
    if not (model_dir / "config.json").exists():
        typer.echo(f"building a tiny random judge model in {model_dir} ...")
        build_tiny_model(model_dir)
    typer.secho(WARNING, fg=typer.colors.YELLOW)
    examples = str(example_path())
    bar = [] if progress else ["--no-progress"]
    steps: list[tuple[str, list[str]]] = [
        (
            "1. Score: tiny model, logprob mode (expected score from one forward pass)",
            [
                "score",
                examples,
                "--judge",
                str(model_dir),
                "--mode",
                "logprob",
                "--min-mass",
                "0",
                "--out",
                f"{workdir}/scored-logprob.jsonl",
            ],
        ),
        (
            "2. Score: tiny model, generate mode (rating + rationale as text)",
            [
                "score",
                examples,
                "--judge",
                str(model_dir),
                "--max-new-tokens",
                "48",
                "--max-retries",
                "1",
                "--out",
                f"{workdir}/scored-generate.jsonl",
            ],
        ),
        (
            "3. Score: scripted judge (replays well-formed answers; shows the output shape)",
            [
                "score",
                examples,
                "--judge",
                "scripted:auto",
                "--out",
                f"{workdir}/scored-scripted.jsonl",
            ],
        ),
        (
            "4. Compare the judges with each other and with the human ratings",
            [
                "compare",
                f"{workdir}/scored-logprob.jsonl",
                f"{workdir}/scored-scripted.jsonl",
                "--human-col",
                "human_ratings",
                "--bootstrap",
                "200",
                "--out",
                f"{workdir}/compare.json",
                "--report",
                f"{workdir}/compare.html",
            ],
        ),
        (
            "5. Build filtered DPO pairs from the scripted judge's scores",
            [
                "pairs",
                f"{workdir}/scored-scripted.jsonl",
                "--strategy",
                "best-vs-worst",
                "--min-margin",
                "1",
                "--out",
                f"{workdir}/pairs.jsonl",
                "--dropped",
                f"{workdir}/dropped.jsonl",
                "--report",
                f"{workdir}/pairs.html",
            ],
        ),
    ]
    for title, args in steps:
        typer.secho(f"\n== {title}\n$ ultrajudge {' '.join(args)}", bold=True)
        app(args + (bar if args[0] == "score" else []), standalone_mode=False)
    typer.echo(
        f"\nInputs: {examples}\nOutputs, reports and result stores: {workdir}/"
        "\nOpen compare.html and pairs.html in a browser. The full pipeline (generate → jury → pairs) is "
        "`ultrajudge run` with ultrajudge/examples/pipeline.yaml."
    )
