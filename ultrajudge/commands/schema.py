"""``ultrajudge schema``: the JSON Schema of a YAML file the CLI reads, for editors."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)


def schema(
    file: Annotated[
        Literal["pipeline", "jury", "generators"],
        typer.Argument(help="Which file: the `run` pipeline, a `--jury` or a `--generators` file."),
    ] = "pipeline",
) -> None:
    """Print the JSON Schema of a YAML file (the same models validate the file at run time).

    Point an editor's YAML language server at it with a first line
    ``# yaml-language-server: $schema=PATH``; the repository keeps a copy in ``docs/``.
    """
    from ultrajudge.pipeline.schema import json_schema

    typer.echo(json.dumps(json_schema(file), indent=2))
