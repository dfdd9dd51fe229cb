"""``ultrajudge``: score datasets, compare judges, generate and filter preference pairs."""

from __future__ import annotations

import logging
from typing import Any

import typer

app = typer.Typer(
    name="ultrajudge",
    help=(
        "LLM-as-judge toolkit: rate completions UltraFeedback-style, compare judges, "
        "and build filtered DPO pairs. Every run is resumable: rerun the same command "
        "after a crash and it continues where it stopped."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from ultrajudge import __version__

        typer.echo(f"ultrajudge {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Also print the toolkit's informational messages."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print errors only."),
) -> None:
    """Options for every command (before the command's name)."""
    _log_to_stderr(logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING)


def _log_to_stderr(level: int) -> None:
    # Library code only logs to the "ultrajudge" logger; the command line shows it.
    logger = logging.getLogger("ultrajudge")
    logger.setLevel(level)
    if not any(getattr(h, "_ultrajudge_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler._ultrajudge_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def _register() -> None:
    # One line per command module; each module adds its commands to ``app``. Idempotent.
    if app.registered_commands:
        return
    from ultrajudge.commands import (
        calibrate,
        compare,
        generate,
        meta_eval,
        pairs,
        pairwise,
        quickstart,
        run,
        score,
    )

    for module in (
        score,
        pairwise,
        compare,
        meta_eval,
        calibrate,
        generate,
        pairs,
        run,
        quickstart,
    ):
        module.register(app)


def _quiet_libraries() -> None:
    # ultrajudge draws its own progress bars; the libraries' per-step bars are noise.
    # Environment switches rather than imports, so that `--help` stays fast.
    import os

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def command() -> Any:
    """The click command behind ``app``, with every command registered. Typer's rich help
    prints a value type for boolean flags (``--dry-run <bool>``), as if they took a value;
    an empty metavar shows them bare."""
    _register()
    root = typer.main.get_command(app)
    _bare_flags(root)
    return root


def _bare_flags(cmd: Any) -> None:
    for param in cmd.params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    make_help = cmd.get_help_option  # click builds --help per context
    cmd.get_help_option = lambda ctx: _bare_option(make_help(ctx))
    for sub in getattr(cmd, "commands", {}).values():
        _bare_flags(sub)


def _bare_option(option: Any) -> Any:
    if option is not None and option.metavar is None:
        option.metavar = ""
    return option


def main() -> None:
    from ultrajudge.judge.backends.cpu import keep_freed_memory

    _quiet_libraries()
    keep_freed_memory()  # process-wide malloc tuning: the CLI's choice, never the library's
    command()(prog_name="ultrajudge")


if __name__ == "__main__":
    main()
