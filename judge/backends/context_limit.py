"""The context limit of an OpenAI-compatible judge: ``-O max_context=N``, else what the
server reports, else unknown (prompts are sent as they are).

vLLM's OpenAI server lists every served model in ``GET /v1/models`` with its
``max_model_len`` (prompt plus generated tokens; a vLLM extension of OpenAI's model
object). Other servers (OpenAI, TGI, Ollama, ...) list no limit, or no models: then the
limit stays unknown. The backend asks once, before its first request, and records the
limit and where it came from in ``resolved`` (the run record).

A prompt is measured by an estimate (4 characters a token) unless it could be near the
limit: one estimated above half of it is counted exactly by the server where it can
(vLLM's ``POST /tokenize``, at the server's root), so an estimate that is wrong by up to
2x in either direction never marks a prompt that fits ``too_long``, nor sends one that
does not. A server without the endpoint is asked once; then the estimate decides. A count
that fails for a passing reason (busy server, timeout) leaves that one prompt to the
estimate and the next is counted again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "COUNTED",
    "OPTION",
    "SERVER",
    "ask_server",
    "count_prompt",
    "listed_limit",
    "tokenize_url",
]

OPTION = "option max_context"
SERVER = "server: GET /v1/models max_model_len"
COUNTED = "server: POST /tokenize for prompts estimated above half the limit"


def listed_limit(entries: Iterable[Any], model: str) -> tuple[int | None, str]:
    """``(limit, source)`` from the entries of a model list: the ``max_model_len`` of the
    entry whose ``id`` is ``model``; None and why when there is none.

    >>> listed_limit([{"id": "a", "max_model_len": 4096}, {"id": "m", "max_model_len": 8192}], "m")
    (8192, 'server: GET /v1/models max_model_len')
    >>> listed_limit([{"id": "m"}], "m")
    (None, "unknown: the server lists 'm' without max_model_len")
    """
    for entry in entries:
        if _field(entry, "id") != model:
            continue
        value = _field(entry, "max_model_len")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value, SERVER
        return None, f"unknown: the server lists {model!r} without max_model_len"
    return None, f"unknown: the server does not list {model!r}"


def ask_server(client: Any, model: str, timeout: float) -> tuple[int | None, str]:
    """``(limit, source)`` from ``GET /v1/models`` of an ``OpenAI`` client; a server that
    cannot list its models (404, down, slow) leaves the limit unknown."""
    import openai

    try:
        page = client.models.list(timeout=timeout)
    except openai.OpenAIError as exc:
        return None, f"unknown: listing the models failed ({type(exc).__name__})"
    return listed_limit(page.data, model)


def tokenize_url(base_url: str) -> str:
    """vLLM's ``/tokenize`` sits at the server's root, beside ``/v1``.

    >>> tokenize_url("http://127.0.0.1:8000/v1/"), tokenize_url("https://h/vllm/v1")
    ('http://127.0.0.1:8000/tokenize', 'https://h/vllm/tokenize')
    """
    root = base_url.rstrip("/")
    return (root[: -len("/v1")] if root.endswith("/v1") else root) + "/tokenize"


def count_prompt(client: Any, url: str, body: dict[str, Any], timeout: float) -> int | None:
    """The prompt tokens of a chat or completions ``body`` as the server counts them (the
    chat template applied, as for the request itself); None when the server cannot count
    (no such endpoint: it refuses the request, or answers without a count).

    A failure that says nothing about the endpoint (no connection, a timeout, HTTP 408,
    429 or 5xx other than 501: a busy server) is raised as the client's error, so that one
    busy moment does not stop the counting for the rest of the run."""
    import openai

    ask: dict[str, Any] = {"model": body.get("model")}
    if "messages" in body:
        ask |= {"messages": body["messages"], "add_generation_prompt": True}
    else:
        ask["prompt"] = body.get("prompt", "")
    try:
        answer = client.post(url, body=ask, cast_to=object, options={"timeout": timeout})
    except openai.APIStatusError as exc:
        if exc.status_code in (408, 429) or (exc.status_code >= 500 and exc.status_code != 501):
            raise  # 501: not implemented, as a 404
        return None
    count = answer.get("count") if isinstance(answer, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None


def _field(entry: Any, name: str) -> Any:
    if isinstance(entry, dict):
        return entry.get(name)
    extra = getattr(entry, "model_extra", None) or {}  # a pydantic model keeps extras here
    return extra.get(name, getattr(entry, name, None))
