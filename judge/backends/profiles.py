"""What each kind of OpenAI-compatible server can do, as data.

The ``openai`` backend talks to many servers through one protocol; they differ
in what they honour. A :class:`ServerProfile` says what to *ask* for; the
backend still checks what actually came back and falls back (with a warning and
a count on ``backend.usage.fallbacks``) when a server does less than its profile
promised.

Structured-output dialects (fields added to the JSON request body):

- ``json_schema`` (OpenAI, Ollama): ``response_format={"type": "json_schema", ...}``; no regex.
- ``vllm`` (current vLLM; the only form since 0.12): ``structured_outputs={"json": schema}`` / ``{"regex": r}``.
- ``vllm_guided`` (vLLM before 0.12): ``guided_json=schema`` / ``guided_regex=r``.
- ``sglang``: ``response_format`` as OpenAI for a schema; ``regex=r``.
- ``tgi``: ``response_format={"type": "json" | "regex", "value": ...}``.
- ``llamacpp``: ``json_schema=schema``; no regex (llama.cpp takes GBNF ``grammar`` only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.types import Capabilities


@dataclass(frozen=True)
class ServerProfile:
    """Capabilities of one kind of server.

    ``max_top_logprobs`` is the most alternatives per position the server
    returns (0: ask for no logprobs at all); ``continue_final_message`` means a
    final assistant message is continued in place (vLLM/SGLang extra fields), so
    an assistant prefix can be forced; ``prompt_logprobs_echo`` means
    ``/v1/completions`` scores the prompt with ``echo`` + ``logprobs``;
    ``tokenize_endpoint`` that ``POST /tokenize`` counts a prompt's tokens exactly.
    """

    kind: str
    supports_n: bool = False
    max_top_logprobs: int = 0
    structured_output: str | None = None
    raw_completions: bool = True
    prompt_logprobs_echo: bool = False
    continue_final_message: bool = False
    max_tokens_field: str = "max_tokens"
    #: ``POST /tokenize`` at the server's root counts a prompt's tokens (vLLM).
    tokenize_endpoint: bool = False

    def capabilities(self) -> Capabilities:
        return Capabilities(
            chat=True,
            raw_completion=self.raw_completions,
            logprobs=self.max_top_logprobs > 0,
            max_top_logprobs=self.max_top_logprobs,
            supports_n=self.supports_n,
            structured_output=self.structured_output,
            structured_regex=structured_fields(self.structured_output, regex=".") is not None,
        )


PROFILES: Mapping[str, ServerProfile] = {
    p.kind: p
    for p in (
        # api.openai.com: chat models only (no /v1/completions for them), top_logprobs <= 20.
        ServerProfile(
            "openai",
            supports_n=True,
            max_top_logprobs=20,
            structured_output="json_schema",
            raw_completions=False,
            max_tokens_field="max_completion_tokens",
        ),
        # vLLM; the server caps logprobs at --max-logprobs (default 20).
        ServerProfile(
            "vllm",
            supports_n=True,
            max_top_logprobs=20,
            tokenize_endpoint=True,
            structured_output="vllm",
            prompt_logprobs_echo=True,
            continue_final_message=True,
        ),
        ServerProfile(
            "vllm_guided",
            supports_n=True,
            max_top_logprobs=20,
            tokenize_endpoint=True,
            structured_output="vllm_guided",
            prompt_logprobs_echo=True,
            continue_final_message=True,
        ),
        ServerProfile(
            "sglang",
            supports_n=True,
            max_top_logprobs=20,
            structured_output="sglang",
            prompt_logprobs_echo=True,
            continue_final_message=True,
        ),
        # TGI: top_n_tokens capped by --max-top-n-tokens (default 5); n is not honoured.
        ServerProfile("tgi", max_top_logprobs=5, structured_output="tgi"),
        # Ollama's OpenAI layer: logprobs only in recent versions; not relied upon.
        ServerProfile("ollama", structured_output="json_schema"),
        ServerProfile("llamacpp", max_top_logprobs=10, structured_output="llamacpp"),
        # Unknown server: promise nothing beyond plain chat and completions.
        ServerProfile("generic"),
    )
}


def get_profile(kind: str) -> ServerProfile:
    try:
        return PROFILES[kind]
    except KeyError:
        raise ConfigError(f"unknown server_kind {kind!r}; use one of {sorted(PROFILES)}") from None


def structured_fields(
    dialect: str | None, *, json_schema: Mapping[str, Any] | None = None, regex: str | None = None
) -> dict[str, Any] | None:
    """Request-body fields that constrain the output in ``dialect``; None if it cannot.

    Exactly one of ``json_schema`` and ``regex`` must be given.

    >>> structured_fields("vllm", regex=r"[1-5]")
    {'structured_outputs': {'regex': '[1-5]'}}
    >>> structured_fields("json_schema", regex=r"[1-5]") is None
    True
    """
    if (json_schema is None) == (regex is None):
        raise ValueError("pass exactly one of json_schema and regex")
    schema = dict(json_schema) if json_schema is not None else None
    openai_format = {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }
    if schema is not None:
        table: dict[str | None, dict[str, Any]] = {
            "json_schema": {"response_format": openai_format},
            "vllm": {"structured_outputs": {"json": schema}},
            "vllm_guided": {"guided_json": schema},
            "sglang": {"response_format": openai_format},
            "tgi": {"response_format": {"type": "json", "value": schema}},
            "llamacpp": {"json_schema": schema},
        }
    else:
        table = {
            "vllm": {"structured_outputs": {"regex": regex}},
            "vllm_guided": {"guided_regex": regex},
            "sglang": {"regex": regex},
            "tgi": {"response_format": {"type": "regex", "value": regex}},
        }
    return table.get(dialect)
