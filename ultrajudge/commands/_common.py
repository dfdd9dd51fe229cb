"""Pieces every command shares: judge options, errors that tell the user what to do."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

JUDGE_OPTION_HELP = (
    "Backend option KEY=VALUE, repeatable. transformers: device=cuda|cpu, dtype=bfloat16|float32, "
    "batch_size, max_batch_tokens, trust_remote_code=true. openai: base_url, api_key, server_kind, "
    "concurrency. scripted: delay, log."
)


def parse_options(pairs: Sequence[str] | None) -> dict[str, str]:
    """``["device=cuda", "dtype=bfloat16"]`` → ``{"device": "cuda", "dtype": "bfloat16"}``."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--judge-option")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def friendly_errors(func: F) -> F:
    """Turn the project's user-facing errors into a one-line message and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from judge.backends.transformers import ModelLoadError
        from judge.io import DataError
        from judge.templates import TemplateError

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
