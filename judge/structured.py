"""Constrained (structured) output for rating: the shape of a judge's answer as a regex or a
JSON schema, for backends that can hold generation to it.

A backend that implements :class:`SupportsStructured` and names a dialect in
``capabilities.structured_output`` gets the UltraFeedback answer constrained: as a regex
(exactly the blocks ``#### Output for Text i`` / ``Rating: <scale value>`` /
``Rationale: <one line>`` for ``i = 1..n``) where the dialect takes one
(``capabilities.structured_regex``), else as a JSON schema (``{"text_i": {"rating",
"rationale"}}``, read by :func:`ultrajudge.judge.parsing.parse_ultrafeedback_json`). What comes back
is parsed and validated as always: a constraint makes parse failures rare, not impossible
(a server may ignore it, a token limit may cut the answer).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from ultrajudge.judge.types import Completion, Conversation, GenerationParams

__all__ = [
    "Form",
    "SupportsStructured",
    "score_rationale_regex",
    "structured_form",
    "ultrafeedback_regex",
    "ultrafeedback_schema",
]

#: How an answer is constrained: a regex over its text, or a JSON schema.
Form = Literal["regex", "json"]


@runtime_checkable
class SupportsStructured(Protocol):
    """Optional: a backend that can constrain its output (e.g. the ``openai`` backend)."""

    def chat_structured(
        self,
        conversations: Sequence[Conversation],
        params: GenerationParams,
        *,
        json_schema: Mapping[str, Any] | None = None,
        regex: str | None = None,
    ) -> list[Completion]: ...


def structured_form(backend: object, *, per_completion: bool) -> Form | None:
    """The constraint ``backend`` can take for a rating answer, or None (plain generation).

    The one-line ``score - rationale`` answer (``per_completion``) is only constrained by
    a regex; the UltraFeedback blocks by a regex, else a JSON schema.
    """
    caps = getattr(backend, "capabilities", None)
    kind: Any = type(backend)  # classes are hashable; mypy's view of type[object] is not
    if not _structured_type(kind) or not getattr(caps, "structured_output", None):
        return None
    if getattr(caps, "structured_regex", False):
        return "regex"
    return None if per_completion else "json"


@functools.lru_cache(maxsize=64)
def _structured_type(cls: type) -> bool:
    """Whether instances of ``cls`` take structured requests, once per class: the Protocol
    check walks its members on every call, and this is asked for every row."""
    return issubclass(cls, SupportsStructured)


def _values(scale: Sequence[int], allow_na: bool) -> str:
    return "(" + "|".join([*(str(s) for s in scale), *(["N/A"] if allow_na else [])]) + ")"


def ultrafeedback_regex(n: int, scale: Sequence[int], *, allow_na: bool = False) -> str:
    r"""Exactly ``n`` UltraFeedback blocks, Text 1 to n, one-line rationales.

    >>> ultrafeedback_regex(2, (1, 2))
    '#### Output for Text 1\\nRating: (1|2)\\nRationale: [^\\n]+\\n\\n#### Output for Text 2\\nRating: (1|2)\\nRationale: [^\\n]+'
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    value = _values(scale, allow_na)
    return r"\n\n".join(
        rf"#### Output for Text {i}\nRating: {value}\nRationale: [^\n]+" for i in range(1, n + 1)
    )


def score_rationale_regex(scale: Sequence[int]) -> str:
    r"""One line ``<score> - <rationale>``.

    >>> score_rationale_regex((1, 2, 3))
    '(1|2|3) - [^\\n]+'
    """
    return _values(scale, False) + r" - [^\n]+"


def ultrafeedback_schema(n: int, scale: Sequence[int], *, allow_na: bool = False) -> dict:
    """JSON schema of the answer for ``n`` texts: ``{"text_i": {"rating": <scale value>,
    "rationale": <string>}}``, every key required, nothing else allowed (OpenAI's strict
    mode accepts it)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rating: list[int | str] = [*scale, *(["N/A"] if allow_na else [])]
    item = {
        "type": "object",
        "properties": {"rating": {"enum": rating}, "rationale": {"type": "string"}},
        "required": ["rating", "rationale"],
        "additionalProperties": False,
    }
    keys = [f"text_{i}" for i in range(1, n + 1)]
    return {
        "type": "object",
        "properties": {k: item for k in keys},
        "required": keys,
        "additionalProperties": False,
    }
