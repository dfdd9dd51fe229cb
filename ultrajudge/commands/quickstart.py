"""``ultrajudge quickstart``: the main job end to end, offline, on bundled examples."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from ultrajudge.commands._common import friendly_errors

WARNING = """\
NOTE: the quickstart judge is a tiny model with RANDOM weights, built on this machine so that
nothing is downloaded. Its verdicts mean nothing: its free-text answers are noise with no rating
in them, and you will see them recorded as failures (missing / parse_error), never as made-up
scores, which is exactly what ultrajudge does with a real judge that fails to answer.
To judge for real, point --judge at a real model, e.g.
  ultrajudge score my_data.jsonl --judge Qwen/Qwen2.5-1.5B-Instruct --out scored.jsonl
  ultrajudge score my_data.jsonl --judge ./path/to/local/model --mode logprob --out scored.parquet
"""


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)


def example_path(name: str = "feedback.jsonl") -> Path:
    """A bundled example file (shipped as package data)."""
    return Path(str(resources.files("ultrajudge").joinpath("examples", name)))


@friendly_errors
def quickstart(
    workdir: Annotated[Path, typer.Option(help="Where the tiny model and the outputs go.")] = Path(
        "quickstart-out"
    ),
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Build a tiny local judge and score the bundled examples with it (no downloads)."""
    from judge.tiny import build_tiny_model
    from ultrajudge.commands.score import score

    examples = example_path()
    model_dir = workdir / "tiny-judge"
    if not (model_dir / "config.json").exists():
        typer.echo(f"building a tiny random judge model in {model_dir} ...")
        build_tiny_model(model_dir)
    typer.secho(WARNING, fg=typer.colors.YELLOW)
    runs = [
        (
            "scripted judge (replays well-formed answers; shows the output shape)",
            "scripted:auto",
            {},
            "scored-scripted.jsonl",
        ),
        (
            "tiny model, generate mode (rating + rationale)",
            str(model_dir),
            {"max_new_tokens": 48},
            "scored-generate.jsonl",
        ),
        (
            "tiny model, logprob mode (expected score from one forward pass, no generation; "
            "--min-mass 0 because a random model puts almost no probability on '1'..'5', "
            "see rating_mass)",
            str(model_dir),
            {"mode": "logprob", "min_mass": 0.0},
            "scored-logprob.jsonl",
        ),
    ]
    for title, judge, extra, name in runs:
        typer.secho(f"\n== {title}", bold=True)
        score(source=str(examples), out=workdir / name, judge=judge, progress=progress, **extra)
    typer.echo(
        f"\nInputs: {examples}\nOutputs and result stores: {workdir}/. Run the same command again: stored judgments are reused, only failures are asked again."
    )
