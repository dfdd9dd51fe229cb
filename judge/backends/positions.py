"""Teacher-forced position scoring: read the next-token distribution at several points
of one answer, appending the chosen token text between them.

A ``PositionRequest`` is a prompt plus ``forced`` texts. Position ``k`` is read after

    prompt + forced[0] + choice_0 + forced[1] + choice_1 + ... + forced[k]

where ``choice_j = choose(distribution_j)`` (e.g. the most likely rating). Any backend
with log-probabilities serves this through ``next_token_logprobs``, one batched call
per position (``score_positions_portable``); a backend with a faster way (one prefill
per prompt, shared prefixes) implements ``PositionScorer`` and is used instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.types import LogprobRequest, Message, TokenDistribution

#: Text appended after a position is read, from that position's distribution.
Chooser = Callable[[TokenDistribution], str]


@dataclass(frozen=True)
class PositionRequest:
    """A prompt (chat ``messages``, or ``raw_prompt`` as is) and the texts to force."""

    messages: tuple[Message, ...] = ()
    forced: tuple[str, ...] = ("",)
    raw_prompt: str | None = None

    def __post_init__(self) -> None:
        if not self.forced:
            raise ValueError("a PositionRequest needs at least one position (forced=('',))")
        if any(not f for f in self.forced[1:]):
            raise ValueError("forced texts after the first must be non-empty")

    def prefix(self, choices: Sequence[str]) -> str:
        """The assistant text before position ``len(choices)``."""
        parts = [self.forced[0]]
        for choice, forced in zip(choices, self.forced[1:]):
            parts += [choice, forced]
        return "".join(parts)

    def at(self, choices: Sequence[str]) -> LogprobRequest:
        return LogprobRequest(self.messages, self.prefix(choices), self.raw_prompt)


@runtime_checkable
class PositionScorer(Protocol):
    """Optional fast path a backend may implement (same result as the portable path)."""

    def score_positions(
        self,
        requests: Sequence[PositionRequest],
        *,
        candidates: Sequence[str],
        choose: Chooser,
        top_k: int = 20,
    ) -> list[list[TokenDistribution]]: ...


def score_positions(
    backend: Backend,
    requests: Sequence[PositionRequest],
    *,
    candidates: Sequence[str],
    choose: Chooser,
    top_k: int = 20,
) -> list[list[TokenDistribution]]:
    """One distribution per forced position of each request, fastest way the backend has."""
    if not backend.capabilities.logprobs:
        raise ValueError(
            f"judge {backend.id!r} does not return log-probabilities; use --mode generate, "
            "or a judge that does (a local model, or a server that returns top_logprobs)"
        )
    if isinstance(backend, PositionScorer):
        return backend.score_positions(requests, candidates=candidates, choose=choose, top_k=top_k)
    return score_positions_portable(
        backend, requests, candidates=candidates, choose=choose, top_k=top_k
    )


def score_positions_portable(
    backend: Backend,
    requests: Sequence[PositionRequest],
    *,
    candidates: Sequence[str],
    choose: Chooser,
    top_k: int = 20,
) -> list[list[TokenDistribution]]:
    """The portable path: one ``next_token_logprobs`` call per position, all requests batched.

    A failed position (``error`` set) ends its request: the later positions come back
    with the same error, since what to force after it is unknown.
    """
    top_k = min(top_k, backend.capabilities.max_top_logprobs or top_k)
    out: list[list[TokenDistribution]] = [[] for _ in requests]
    choices: list[list[str]] = [[] for _ in requests]
    failed: dict[int, str] = {}
    for k in range(max(len(r.forced) for r in requests)):
        active = [i for i, r in enumerate(requests) if k < len(r.forced) and i not in failed]
        for i, r in enumerate(requests):
            if k < len(r.forced) and i in failed:
                out[i].append(TokenDistribution({}, error=failed[i]))
        if not active:
            continue
        dists = backend.next_token_logprobs(
            [requests[i].at(choices[i]) for i in active], candidates=candidates, top_k=top_k
        )
        for i, dist in zip(active, dists):
            out[i].append(dist)
            if dist.error is not None:
                failed[i] = dist.error
            elif k + 1 < len(requests[i].forced):
                choices[i].append(choose(dist))
    return out
