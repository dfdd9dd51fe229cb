"""``--push-to-hub REPO_ID`` and ``--private``, shared by every command that writes a dataset.

The local output is always written first; the push reads it back (so the Hub gets exactly
the rows on disk), adds a dataset card from its run record and column mapping
(:mod:`ultrajudge.judge.dataset_card`) and commits both (:func:`ultrajudge.judge.hub.push_dataset`).
A push that fails is one line naming the repo and what to do, exit code 5; the output,
the store and the run record stay as written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ultrajudge import __version__
from ultrajudge.commands._common import fail

#: Exit code of a push the Hub refused or never received (README "Exit codes").
EXIT_PUSH = 5


def _check_repo_id(value: str | None) -> str | None:
    """The repo id's form, checked before anything runs (a wrong one would fail only after
    the whole run)."""
    if value is None:
        return None
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError as exc:
        raise typer.BadParameter(
            f"{value!r} is not a Hub repo id (NAME or NAMESPACE/NAME): {str(exc).splitlines()[0]}"
        ) from None
    return value


PushToHub = Annotated[
    str | None,
    typer.Option(
        "--push-to-hub",
        metavar="REPO_ID",
        callback=_check_repo_id,
        help="After writing --out, push it to this Hub dataset repo (created if missing) with a "
        "dataset card naming the judge, template and command. Needs a write token (hf auth "
        "login or HF_TOKEN); a failed push exits 5 and leaves --out as written.",
    ),
]
Private = Annotated[
    bool, typer.Option("--private", help="With --push-to-hub: the Hub repo is private.")
]


def check_push(repo_id: str | None, private: bool) -> None:
    """At a command's top: ``--private`` needs ``--push-to-hub``, and a push needs a token
    (refused now rather than after the run)."""
    if private and repo_id is None:
        raise typer.BadParameter(
            "--private goes with --push-to-hub REPO_ID", param_hint="--private"
        )
    if _check_repo_id(repo_id) is None:  # also a repo id from a pipeline file
        return
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise fail(
            f"--push-to-hub {repo_id}: HF_HUB_OFFLINE is set, so nothing can reach the Hub; "
            "unset it, or drop --push-to-hub"
        )
    if get_token() is None:
        raise fail(
            f"--push-to-hub {repo_id}: no Hugging Face token; log in with `hf auth login` or set "
            "HF_TOKEN to a token with write access, then rerun"
        )


#: Seconds a push waits for each step of a request to the Hub (connect, send, each read)
#: when HF_HUB_DOWNLOAD_TIMEOUT is not set: an upload that keeps moving is never cut.
HUB_TIMEOUT = 60.0


def hub_timeout_seconds() -> float:
    """HF_HUB_DOWNLOAD_TIMEOUT (huggingface_hub's "default timeout for other requests")
    when it is a positive number, else :data:`HUB_TIMEOUT`."""
    try:
        seconds = float(os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT") or HUB_TIMEOUT)
    except ValueError:
        return HUB_TIMEOUT
    return seconds if 0 < seconds < float("inf") else HUB_TIMEOUT


@contextmanager
def hub_timeout() -> Iterator[float]:
    """During a push, the HTTP client of ``huggingface_hub`` waits at most
    :func:`hub_timeout_seconds` for each step of a request; yields the seconds.

    Why: ``huggingface_hub`` sends every request through one shared client
    (``get_session()``) made without a timeout, and its own settings
    (HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT) bound only its downloads: a Hub that
    takes the connection and never answers hung the push for ever. The client is
    process-wide state, so the CLI sets its timeout (the library never does), and only
    for the push: the client's own timeout is put back afterwards."""
    from huggingface_hub import get_session

    seconds = hub_timeout_seconds()
    session = get_session()
    before = getattr(session, "timeout", None)
    session.timeout = seconds  # httpx(2): the same bound for connect, write, read and pool
    try:
        yield seconds
    finally:
        session.timeout = before


def push_output(
    out: Path,
    repo_id: str | None,
    *,
    private: bool,
    more: Mapping[str, Path] | None = None,
    source: str | Path | None = None,
) -> None:
    """Push the written output ``out`` (and the ``more`` outputs, each as a config of the
    same repo) to ``repo_id`` with a dataset card; nothing without ``repo_id``. ``source``:
    the input whose run record names the judge when ``out`` has none (``pairs``)."""
    if repo_id is None:
        return
    from ultrajudge.judge.dataset_card import card_facts, dataset_card
    from ultrajudge.judge.hub import PushError, push_dataset
    from ultrajudge.judge.io import load_rows, recorded_columns

    paths = {"default": out, **(more or {})}
    parts = {name: load_rows(str(path)) for name, path in paths.items()}
    command = ["ultrajudge", *sys.argv[1:]]
    facts = card_facts(
        out,
        parts["default"],
        version=__version__,
        command=command,
        columns=recorded_columns(out),
        source=source,
    )
    card = dataset_card(facts, configs=list(parts))
    try:
        with hub_timeout() as seconds:
            url = push_dataset(parts, repo_id, card=card, private=private, endpoint=os.environ.get("HF_ENDPOINT") or None)  # fmt: skip
    except PushError as exc:
        waited = f" (waited {seconds:g} s for each answer; HF_HUB_DOWNLOAD_TIMEOUT sets it)" if exc.timed_out else ""  # fmt: skip
        raise fail(
            f"{exc}{waited}. The output {out} is written and stays as it is; check the network "
            "and the token, then rerun the same command to push (what was judged comes from the "
            "store)",
            EXIT_PUSH,
        ) from None
    rows = ", ".join(f"{name} {len(ds)}" for name, ds in parts.items())
    typer.echo(f"pushed to {url} ({'private' if private else 'public'}; rows: {rows})")
