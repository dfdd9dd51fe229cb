"""Pieces every command shares: options, judge loading, errors that tell the user what to do."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ultrajudge import __version__

if TYPE_CHECKING:
    from ultrajudge.judge.backends.base import Backend
    from ultrajudge.judge.metering import ApiUsage
    from ultrajudge.judge.runner import RunSummary
    from ultrajudge.judge.store import ResultStore

F = TypeVar("F", bound=Callable[..., Any])

JUDGE_OPTION_HELP = (
    "Backend option KEY=VALUE, repeatable. transformers: device=cuda|cpu, dtype=bfloat16|float32, "
    "batch_size, max_batch_tokens, trust_remote_code=true. openai: base_url, api_key, "
    "api_key_env, server_kind (vllm, sglang, tgi, ollama, llamacpp, openai, generic), "
    "concurrency, rpm, tpm, timeout, backoff_base, price_in, price_out (USD per million "
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
Limit = Annotated[int | None, typer.Option(min=1, help="Only the first N rows (N >= 1).")]
StorePath = Annotated[
    Path | None, typer.Option("--store", help="Results store (SQLite). Default: next to --out.")
]
Progress = Annotated[bool, typer.Option(help="Show a progress bar.")]
MaxFailureRate = Annotated[
    float,
    typer.Option(
        "--max-failure-rate",
        min=0.0,
        max=1.0,
        help="Above this share of failed judgments the run still writes its output, store and "
        "run record, then exits with code 3.",
    ),
]

#: Exit codes (README "Exit codes"): 0 done; 2 bad input or options; 3 more judgments
#: failed than --max-failure-rate allows; 4 the judge was unreachable, the run stopped
#: early; 130 interrupted. Output, store and run record are written for 3 and 4.
EXIT_FAILURE_RATE = 3
EXIT_UNREACHABLE = 4
DEFAULT_MAX_FAILURE_RATE = 0.5


def one_of(choices: Sequence[str]) -> Callable[[list[str] | None], list[str] | None]:
    """A callback for a repeatable option whose every value must be one of ``choices``
    (Typer's choice types do not cover lists): a usage error while the options are read."""

    def check(values: list[str] | None) -> list[str] | None:
        for value in values or []:
            if value not in choices:
                raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return values

    return check


def top_p(value: float) -> float:
    """Nucleus sampling's share of probability: in (0, 1] (Typer's ranges are closed)."""
    if not 0.0 < value <= 1.0:
        raise typer.BadParameter(f"{value:g} is not in the range 0<x<=1")
    return value


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
    settings: Mapping[str, Any] | None = None,
) -> tuple[Any, Path]:
    """The shape of every judging command: load the judge, open the results store next to
    ``out`` (or at ``store_path``), judge what the store lacks (``judge_rows`` returns a
    summary), write the dataset with the result columns (``add_columns``) to ``out``. An
    output that would replace the input, the store or files the toolkit did not write is
    refused before the judge loads. The run record ``<out>.run.json`` (``settings``: what
    changes judgments) is written beside it. Returns the summary and the store's path;
    :func:`check_gate` then turns a failed run into its exit code."""
    from ultrajudge.judge.io import check_output, drop_cache_files, save_rows
    from ultrajudge.judge.run_record import run_record, write_run_record
    from ultrajudge.judge.store import ResultStore, default_store_path

    started = time.time()
    store_path = store_path or default_store_path(out)
    protect = (source, store_path)
    check_output(out, protect=protect)  # before the judge loads: refuse early, lose nothing
    backend = load_backend(spec, **options)
    with ResultStore(store_path, exclusive=True) as store:
        summary = judge_rows(backend, store)
        judged = add_columns(backend, store, summary)
        try:
            save_rows(judged, out, protect=protect)
        finally:
            drop_cache_files(judged)  # the output's copy in datasets' cache
    record = run_record(
        summary,
        version=__version__,
        command=["ultrajudge", *sys.argv[1:]],
        judges=[backend],
        settings=settings or {},
        store=store_path,
        started=started,
    )
    write_run_record(out, record, protect=protect)
    return summary, store_path


def check_gate(summary: RunSummary, max_failure_rate: float) -> None:
    """Exit 4 when the judge was unreachable (the run stopped early), 3 when more judgments
    failed than ``max_failure_rate`` allows; one line on stderr either way."""
    if summary.stopped is not None:
        raise fail(
            f"{summary.stopped}. The output, the store and the run record hold what was "
            "judged; rerun when the server answers",
            EXIT_UNREACHABLE,
        )
    rate = summary.failure_rate()
    if rate > max_failure_rate:
        raise fail(
            f"{rate:.1%} of judgments failed, above --max-failure-rate {max_failure_rate:g}; "
            "the output, the store and the run record are written (see the status and raw "
            "columns); rerun to retry the failures",
            EXIT_FAILURE_RATE,
        )


def echo_api_usage(api: ApiUsage | None) -> None:
    """The requests, retries, billed tokens and cost of an API judge (nothing for a local one)."""
    if api is not None:
        typer.echo(api.describe())


INTERRUPTED = (
    "interrupted: everything judged so far is in the store; rerun the same command to resume."
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` as one line on stderr; return the ``Exit`` to raise."""
    line = " ".join(message.split())  # one line, whatever the message held
    typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def describe_os_error(exc: OSError) -> str:
    """One line for an error of the machine rather than of the code: a full disk, a missing
    or unreadable file, a folder where a file should be. Names the file."""
    import errno

    name = f" {_visible_name(str(exc.filename))!r}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"the disk is full (writing{name or ' the output'}); free some space and rerun the "
            "same command: nothing written before is lost, and what was judged is in the store"
        )
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{reason}:{name or ' (no file named)'}"


def _visible_name(filename: str) -> str:
    """The output a hidden temporary ``dir/.NAME.<random>.tmp`` stands for: ``dir/NAME``."""
    import re

    path = Path(filename)
    match = re.fullmatch(r"\.(.+)\.[a-z0-9_]{8}(\.old)?\.tmp", path.name)
    return str(path.with_name(match.group(1))) if match else filename


def friendly_errors(func: F) -> F:
    """Turn what the user can fix into one line and exit code 2: a :class:`UserError` from the
    library (bad data, options, templates, config files, a damaged store, refused credentials)
    and an ``OSError`` (a full disk, a missing file). Anything else is a bug and keeps its
    traceback. Ctrl-C prints how to resume and exits 130."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ultrajudge.judge.backends.base import MissingExtraError
        from ultrajudge.judge.errors import UserError
        from ultrajudge.judge.runner import BackendUnreachable

        try:
            return func(*args, **kwargs)
        except (UserError, MissingExtraError) as exc:
            raise fail(str(exc)) from None
        except BackendUnreachable as exc:  # what was judged or generated is in the store
            hint = "" if "rerun" in str(exc) else "; rerun when the server answers"
            raise fail(f"{exc}{hint}", EXIT_UNREACHABLE) from None
        except OSError as exc:
            raise fail(describe_os_error(exc)) from None
        except KeyboardInterrupt:
            typer.secho(f"\n{INTERRUPTED}", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def echo_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
