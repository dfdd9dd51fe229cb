"""``ultrajudge``: score datasets, compare judges, generate and filter preference pairs."""

from __future__ import annotations

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


def main() -> None:
    _register()
    _quiet_libraries()
    app()


if __name__ == "__main__":
    main()
