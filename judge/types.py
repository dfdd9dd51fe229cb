"""Plain frozen records that flow through ultrajudge.

Everything a judge produces is one of these; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ultrajudge.judge.errors import ConfigError

Role = Literal["system", "user", "assistant"]

#: Outcome of one rating. Only ``ok`` (and ``na`` where the aspect allows it)
#: is an answer; everything else is a failure that is counted, never a grade.
RatingStatus = Literal[
    "ok",  # a rating on the scale was read
    "na",  # the judge answered N/A (allowed for honesty)
    "parse_error",  # the output has the block but no readable rating
    "out_of_range",  # a number was read, but it is not on the scale
    "missing",  # no block for this completion in the output
    "backend_error",  # the model call itself failed
    "low_mass",  # logprob mode: the scale tokens got too little probability
    "too_long",  # the prompt does not fit the judge's context: not sent
    "invalid_input",  # the completion is not a text (null, a number, ...): never judged
]
OK_STATUSES: frozenset[str] = frozenset({"ok", "na"})
#: Statuses about the input, not the judge: left out of a judge's failure rate.
INPUT_STATUSES: frozenset[str] = frozenset({"invalid_input"})
#: A backend that refuses an over-long prompt before sending it returns an item whose
#: ``error`` starts with this; callers record the status ``too_long`` (never retried).
TOO_LONG = "too_long:"


#: A request the server refused as such (HTTP 4xx but 408 and 429: a bad request, an
#: unknown model, no permission) comes back with an ``error`` starting with this: a
#: ``backend_error`` that asking again cannot mend, so it is never retried.
REFUSED = "refused:"


def final_failure(status: str, error: str | None) -> bool:
    """Whether a failed item is final: asking again gets the same answer (``too_long``,
    or a ``backend_error`` the server refused as a request).

    >>> final_failure("backend_error", "refused: HTTP 404: no such model")
    True
    >>> final_failure("backend_error", "HTTP 503: overloaded"), final_failure("too_long", None)
    (False, True)
    """
    return status == "too_long" or (status == "backend_error" and (error or "").startswith(REFUSED))


def failure_status(error: str | None) -> Literal["too_long", "backend_error"]:
    """The status of a failed backend item: ``too_long`` or ``backend_error``.

    >>> failure_status("too_long: 9000 tokens > 8192"), failure_status("HTTP 500")
    ('too_long', 'backend_error')
    """
    return "too_long" if (error or "").startswith(TOO_LONG) else "backend_error"


@dataclass(frozen=True)
class Message:
    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


Conversation = Sequence[Message]


def as_messages(conversation: Sequence[Message | Mapping[str, str]]) -> tuple[Message, ...]:
    """Accept ``Message`` objects or ``{"role", "content"}`` dicts."""
    out = []
    for m in conversation:
        if isinstance(m, Message):
            out.append(m)
        else:
            out.append(Message(role=m["role"], content=m["content"]))  # type: ignore[arg-type]
    return tuple(out)


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters; part of the cache key of every judgment."""

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")


@dataclass(frozen=True)
class Completion:
    """One generated text with its token accounting."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class LogprobRequest:
    """Read the next-token distribution after ``messages`` + ``assistant_prefix``.

    The conversation is rendered with the chat template and a generation prompt;
    ``assistant_prefix`` is then appended verbatim (teacher forcing), and the
    distribution of the *next* token is read. With ``raw_prompt`` set, no chat
    template is applied and ``raw_prompt + assistant_prefix`` is scored as is.
    """

    messages: tuple[Message, ...] = ()
    assistant_prefix: str = ""
    raw_prompt: str | None = None


@dataclass(frozen=True)
class TokenDistribution:
    """Log-probabilities of candidate next tokens, keyed by decoded token text.

    ``logprobs`` holds at least the requested candidates the backend could see
    (a local model sees all of them; an API sees only its top-k), so a missing
    key means "not in what the backend returned", not probability zero.
    """

    logprobs: Mapping[str, float]
    prompt_tokens: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, as data (no override hooks)."""

    chat: bool = True
    raw_completion: bool = True
    logprobs: bool = False
    max_top_logprobs: int = 0
    supports_n: bool = False
    structured_output: str | None = None  # dialect name, e.g. "json_schema"
    structured_regex: bool = False  # the dialect also constrains output by a regex
    max_context: int | None = None
    #: Requests the backend serves at once when called from several threads (an API's
    #: ``concurrency``); 0: one call at a time, so the job runner batches rows instead.
    concurrent_requests: int = 0


@dataclass(frozen=True)
class Rating:
    """One completion's rating by one judge for one aspect."""

    value: float | None
    status: RatingStatus
    rationale: str | None = None
    raw: str | None = None
    probs: tuple[float, ...] | None = None  # logprob mode: distribution over the scale
    mass: float | None = None  # logprob mode: probability mass on scale tokens

    def __post_init__(self) -> None:
        if (self.value is None) == (self.status == "ok"):
            raise ValueError(
                f"a rating with status {self.status!r} cannot have value {self.value!r}"
            )

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


@dataclass(frozen=True)
class RowJudgment:
    """All ratings for one dataset row (one instruction, N completions, one aspect)."""

    ratings: tuple[Rating, ...]
    judge: str
    aspect: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    attempts: int = 1
    extra: Mapping[str, object] = field(default_factory=dict)
