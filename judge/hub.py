"""Share a written output on the Hugging Face Hub: its rows as Parquet and a dataset card,
in one commit.

Why not ``Dataset.push_to_hub``: it commits the data with a card of its own making, so
ours would need a second commit (a window in which the repo has data and no card, or a
card that a failure leaves behind without data), and it reads the Hub's address from the
environment once, when ``datasets`` is imported. Here ``datasets`` still writes the
Parquet files (``Dataset.to_parquet``) and ``huggingface_hub`` sends them
(``HfApi.create_commit``: LFS/Xet, its own retries); what is ours is only the layout the
Hub's loader reads (``data/train-00000-of-00001.parquet``, the ``configs`` of the card)
and one line per way a push fails.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

__all__ = ["PushError", "data_dir", "push_dataset", "shard_paths"]

#: Parquet shards of at most this many bytes of Arrow data (the size ``datasets`` uses).
MAX_SHARD_BYTES = 500 << 20


class PushError(Exception):
    """A push the Hub refused or never received; the message is one line saying why.
    ``timed_out``: the Hub took the connection but did not answer in time."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def data_dir(config: str) -> str:
    """The folder of a config's files in the repo: ``data`` for ``default`` (as ``datasets``
    lays it out), else the config's name."""
    return "data" if config == "default" else config


def shard_paths(config: str, num_shards: int) -> list[str]:
    """``data/train-00000-of-00002.parquet``, ... for one config.

    >>> shard_paths("scored", 2)
    ['scored/train-00000-of-00002.parquet', 'scored/train-00001-of-00002.parquet']
    """
    folder = data_dir(config)
    return [f"{folder}/train-{i:05d}-of-{num_shards:05d}.parquet" for i in range(num_shards)]


def push_dataset(
    parts: Mapping[str, Any],
    repo_id: str,
    *,
    card: str,
    private: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
    commit_message: str = "Upload with ultrajudge",
) -> str:
    """Push ``parts`` (config name → ``datasets.Dataset``; ``default`` is what a plain
    ``load_dataset(repo_id)`` returns) and the dataset ``card`` (the README.md text) to
    the Hub dataset repo ``repo_id`` in one commit, creating the repo if it is missing.
    ``private``: the repo is private afterwards (an existing public one is made private).
    Parquet files of these configs from an earlier push that this one does not replace are
    deleted in the same commit. Returns the repo's URL; raises :class:`PushError`."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.utils import HFValidationError

    api = HfApi(endpoint=endpoint, token=token, library_name="ultrajudge")
    failures: tuple[type[Exception], ...] = (HFValidationError, *_network_errors())
    try:
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        repo_id = url.repo_id
        if private:  # create_repo leaves an existing repo as it was
            api.update_repo_settings(repo_id, private=True, repo_type="dataset")
        adds = [CommitOperationAdd(p, b) for p, b in _parquet_files(parts)]
        adds.append(CommitOperationAdd("README.md", card.encode("utf-8")))
        stale = _stale_files(api, repo_id, parts, {op.path_in_repo for op in adds})
        api.create_commit(repo_id, [*adds, *stale], commit_message=commit_message, repo_type="dataset")  # fmt: skip
    except failures as exc:
        raise PushError(_reason(exc, repo_id, api.endpoint), timed_out=_timed_out(exc)) from exc
    return str(url)


def _network_errors() -> tuple[type[Exception], ...]:
    """What the Hub client raises when a request fails: ``HfHubHTTPError`` (an ``OSError``,
    as are the errors of ``requests``, which ``huggingface_hub`` < 1 uses) and the transport
    errors of ``httpx`` (``huggingface_hub`` 1) or ``httpx2`` (2)."""
    import importlib

    found: list[type[Exception]] = [OSError]
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).HTTPError)
        except ImportError:
            continue
    return tuple(found)


def _parquet_files(parts: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    files = []
    for config, ds in parts.items():
        num_shards = max(1, -(-int(ds.data.nbytes) // MAX_SHARD_BYTES))
        for index, path in enumerate(shard_paths(config, num_shards)):
            buffer = io.BytesIO()
            ds.shard(num_shards, index, contiguous=True).to_parquet(buffer)
            files.append((path, buffer.getvalue()))
    return files


def _stale_files(api: Any, repo_id: str, parts: Mapping[str, Any], new: set[str]) -> list[Any]:
    """Deletions of the earlier shards (``<dir>/train-*.parquet``) this push replaces."""
    from huggingface_hub import CommitOperationDelete

    folders = {data_dir(c) for c in parts}
    old = api.list_repo_files(repo_id, repo_type="dataset")
    return [
        CommitOperationDelete(path)
        for path in old
        if path not in new
        and path.rpartition("/")[0] in folders
        and path.rpartition("/")[2].startswith("train-")
        and path.endswith(".parquet")
    ]


def _reason(exc: Exception, repo_id: str, endpoint: str) -> str:
    """One line for a failed push: a bad repo id, an HTTP error of the Hub, or no answer."""
    from huggingface_hub.utils import HfHubHTTPError, HFValidationError

    where = f"could not push to the Hub dataset {repo_id!r}"
    if isinstance(exc, HFValidationError):
        return f"{where}: {_first_line(exc)}"
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        hint = _STATUS_HINTS.get(status, "the Hub answered with an error")
        return f"{where}: HTTP {status}, {hint} ({_first_line(exc)})"
    if _timed_out(exc):
        return f"{where}: the Hub at {endpoint} did not answer in time ({type(exc).__name__}: {_first_line(exc)})"  # fmt: skip
    return f"{where}: the Hub at {endpoint} is unreachable ({type(exc).__name__}: {_first_line(exc)})"  # fmt: skip


def _timed_out(exc: BaseException) -> bool:
    """A timeout of the HTTP client (``httpx``/``httpx2``'s ``TimeoutException``, a
    ``requests`` or socket timeout), here or as the cause of a wrapped error."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_STATUS_HINTS = {
    401: "the token was refused: log in with `hf auth login` or set HF_TOKEN to a token with write access",
    403: "no right to create or write this repo: use your own namespace or an organisation you can write to, with a write token",
    404: "the repo or namespace was not found: check the repo id",
    409: "the repo is busy or exists as another type: retry, or pick another repo id",
}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.splitlines()[0].split())[:300]
