"""Pieces every command shares: options, judge loading, errors that tell the user what to do."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from ultrajudge.judge.backends.base import Backend
    from ultrajudge.judge.metering import ApiUsage
    from ultrajudge.judge.store import ResultStore

F = TypeVar("F", bound=Callable[..., Any])

JUDGE_OPTION_HELP = (
    "Backend option KEY=VALUE, repeatable. transformers: device=cuda|cpu, dtype=bfloat16|float32, "
    "batch_size, max_batch_tokens, trust_remote_code=true. openai: base_url, api_key, "
    "api_key_env, server_kind (vllm, sglang, tgi, ollama, llamacpp, openai, generic), "
    "concurrency, rpm, tpm, max_attempts, backoff_base, price_in, price_out (USD per million "
    "tokens), progress. scripted: delay, log."
)

# Options several commands declare the same way (Typer reads them from the annotations).
Source = Annotated[
    str,
    typer.Argument(help="Input: .jsonl/.json/.csv/.parquet, a save_to_disk folder, or a Hub id."),
]
Out = Annotated[
    Path, typer.Option("--out", "-o", help="Output: .jsonl, .parquet, or a folder (save_to_disk).")
]
JudgeOption = Annotated[
    list[str] | None, typer.Option("--judge-option", "-O", help=JUDGE_OPTION_HELP)
]
Split = Annotated[str, typer.Option(help="Split to read from a Hub dataset or DatasetDict.")]
Limit = Annotated[int | None, typer.Option(help="Only the first N rows.")]
StorePath = Annotated[
    Path | None, typer.Option("--store", help="Results store (SQLite). Default: next to --out.")
]
Progress = Annotated[bool, typer.Option(help="Show a progress bar.")]


def parse_options(pairs: Sequence[str] | None) -> dict[str, str]:
    """``["device=cuda", "dtype=bfloat16"]`` → ``{"device": "cuda", "dtype": "bfloat16"}``."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--judge-option")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def load_backend(spec: str, **options: str) -> Backend:
    """Build a backend for a command that draws its own progress bar: the backend's own
    per-call bar (an API's requests in flight) stays off unless ``-O progress=true``."""
    from ultrajudge.judge.backends import build_backend
    from ultrajudge.judge.metering import quiet_progress

    backend = build_backend(spec, **options)
    if "progress" not in options:
        quiet_progress(backend)
    return backend


def judge_to_file(
    out: Path,
    spec: str,
    options: dict[str, str],
    store_path: Path | None,
    judge_rows: Callable[[Backend, ResultStore], Any],
    add_columns: Callable[[Backend, ResultStore, Any], Any],
    *,
    source: str,
) -> tuple[Any, Path]:
    """The shape of every judging command: load the judge, open the results store next to
    ``out`` (or at ``store_path``), judge what the store lacks (``judge_rows`` returns a
    summary), write the dataset with the result columns (``add_columns``) to ``out``. An
    output that would replace the input, the store or files the toolkit did not write is
    refused before the judge loads. Returns the summary and the store's path."""
    from ultrajudge.judge.io import check_output, save_rows
    from ultrajudge.judge.store import ResultStore, default_store_path

    store_path = store_path or default_store_path(out)
    protect = (source, store_path)
    check_output(out, protect=protect)  # before the judge loads: refuse early, lose nothing
    backend = load_backend(spec, **options)
    with ResultStore(store_path) as store:
        summary = judge_rows(backend, store)
        save_rows(add_columns(backend, store, summary), out, protect=protect)
    return summary, store_path


def echo_api_usage(api: ApiUsage | None) -> None:
    """The requests, retries, billed tokens and cost of an API judge (nothing for a local one)."""
    if api is not None:
        typer.echo(api.describe())


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def friendly_errors(func: F) -> F:
    """Turn the project's user-facing errors into a one-line message and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ultrajudge.judge.backends.transformers import ModelLoadError
        from ultrajudge.judge.io import DataError
        from ultrajudge.judge.templates import TemplateError

        try:
            return func(*args, **kwargs)
        except (DataError, TemplateError, ModelLoadError, ValueError, FileNotFoundError) as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            typer.secho(
                "\ninterrupted: everything judged so far is in the store; rerun the same command to resume.",
                err=True,
            )
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def echo_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
