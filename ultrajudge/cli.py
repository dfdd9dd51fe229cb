"""``ultrajudge``: score datasets, compare judges, generate and filter preference pairs."""

from __future__ import annotations

import logging
import sys
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
        schema,
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
        schema,
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
    if os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1" and "datasets" in sys.modules:
        # `datasets` read the switch when it was imported, before this (a program that
        # embeds the CLI): the same bars off, whichever came first.
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()


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


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: the process's arguments) and return the exit code.
    A usage error (a number out of range, an unknown choice) is one line and code 2, checked
    before any model loads; Ctrl-C at any point, start-up included, is the "interrupted" line
    and code 130."""
    try:
        _quiet_libraries()
        code = command()(args=argv, prog_name="ultrajudge", standalone_mode=False)
    except KeyboardInterrupt:  # during start-up; a command's own Ctrl-C is handled inside it
        return _interrupted()
    except typer.Abort:
        typer.secho("aborted", err=True)
        return 1
    except typer.TyperException as exc:  # a usage error: the click exception Typer vendors
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `ultrajudge`: the help, as usual
            exc.show()  # type: ignore[attr-defined]
        else:
            message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
            typer.secho(f"error: {message} (see --help)", fg=typer.colors.RED, err=True)
        return int(getattr(exc, "exit_code", 2))
    return code if isinstance(code, int) else 0


def _interrupted() -> int:
    from ultrajudge.commands._common import INTERRUPTED

    typer.secho(f"\n{INTERRUPTED}", err=True)
    return 130


def main() -> None:
    from ultrajudge.judge.backends.cpu import keep_freed_memory

    keep_freed_memory()  # process-wide malloc tuning: the CLI's choice, never the library's
    sys.exit(run())


if __name__ == "__main__":
    main()
