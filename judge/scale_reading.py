"""Logprob mode over scales whose numbers span several tokens (``10`` read as ``1`` + ``0``).

The next-token distribution at a rating position gives the probability of a scale value
only when the value is one token and no other value starts with it. On 1-10, ``"1"`` is
also the start of ``"10"``, and many tokenizers split ``10`` into ``1`` and ``0`` (the tiny
test tokenizer does after ``[[``; Llama 2, Mistral and Qwen always do), so reading
p("1") as the probability of a 1 would count every 10 as a 1.

The labels are the scale values as written (``str(v)``). For every label that is a
proper prefix of another label (``1`` of ``10``), the prefix is teacher-forced and the
distribution of the token after it is read; then, with ``p(·)`` the first position's
probabilities (a leading space is a spelling, ``" 1"`` and ``"1"`` add up):

    reach(q)      = p(q)                                   q one token
    reach(q + t)  += reach(q) · p(t | q)                   t a token of digits
    P(v = label)  = reach(label) · (1 − Σ_{t starts with a digit} p(t | label))
                                                           label a prefix of another label
    P(v = label)  = reach(label)                           any other label

so ``P(10) = p(" 10") + p("1") · p("0" | "1")`` and ``P(1) = p("1") · p(no digit | "1")``,
whichever way the tokenizer spells 10. Each spelling (with and without a leading space)
that carries probability is forced and read on its own. A token that ends a number inside
itself (``"7]]"``) is not read, as in the one-token case. Over an API that returns only its
top-k tokens, a continuation token outside them counts as probability 0.

Functions here are pure except :func:`label_probabilities`, which asks the backend for the
continuation distributions (one batched ``next_token_logprobs`` call per extra digit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.types import LogprobRequest, TokenDistribution

__all__ = ["continuation_prefixes", "label_probabilities", "split_first"]

_DIGITS = tuple("0123456789")


def continuation_prefixes(scale: Sequence[int]) -> frozenset[str]:
    """Labels (and partial labels) after which another token may continue a scale value.

    >>> sorted(continuation_prefixes(range(1, 11)))
    ['1']
    >>> sorted(continuation_prefixes((1, 2, 3, 4, 5)))
    []
    >>> sorted(continuation_prefixes((0, 50, 100)))
    ['1', '10', '5']
    """
    labels = [str(v) for v in scale]
    return frozenset(label[:k] for label in labels for k in range(1, len(label)))


def split_first(
    logprobs: Mapping[str, float], scale: Sequence[int]
) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """The first position's mass: finished labels, and ``(space, prefix)`` still open.

    >>> done, open_ = split_first({" 10": math.log(0.5), "1": math.log(0.25),
    ...                            "7": math.log(0.25)}, range(1, 11))
    >>> {k: round(v, 6) for k, v in done.items()}, {k: round(v, 6) for k, v in open_.items()}
    ({'10': 0.5, '7': 0.25}, {('', '1'): 0.25})
    """
    labels, prefixes = {str(v) for v in scale}, continuation_prefixes(scale)
    done: dict[str, float] = {}
    pending: dict[tuple[str, str], float] = {}
    for token, logprob in logprobs.items():
        text = token.lstrip(" ")
        space = token[: len(token) - len(text)]
        if text in prefixes:
            key = (space, text)
            pending[key] = pending.get(key, 0.0) + math.exp(logprob)
        elif text in labels:
            done[text] = done.get(text, 0.0) + math.exp(logprob)
    return done, pending


def _extend(
    dist: TokenDistribution, prefix: str, reach: float, scale: Sequence[int]
) -> tuple[dict[str, float], dict[str, float]]:
    """What one continuation read adds: finished labels, and longer prefixes still open."""
    labels, prefixes = {str(v) for v in scale}, continuation_prefixes(scale)
    done: dict[str, float] = {}
    pending: dict[str, float] = {}
    digit_mass = 0.0
    for token, logprob in dist.logprobs.items():
        if not token.startswith(_DIGITS):
            continue
        p = math.exp(logprob)
        digit_mass += p
        longer = prefix + token
        if longer in prefixes:
            pending[longer] = pending.get(longer, 0.0) + reach * p
        elif longer in labels and token.isdigit():
            done[longer] = done.get(longer, 0.0) + reach * p
    if prefix in labels:  # the number may also end here
        done[prefix] = done.get(prefix, 0.0) + reach * max(0.0, 1.0 - digit_mass)
    return done, pending


def label_probabilities(
    backend: Backend,
    requests: Sequence[LogprobRequest],
    firsts: Sequence[TokenDistribution],
    scale: Sequence[int],
    *,
    top_k: int = 20,
) -> list[tuple[float, ...]]:
    """Probability of each scale value at each position (``requests[i]`` was read as
    ``firsts[i]``), numbers of several tokens read to their end. Positions whose first
    read failed get zeros (their error is reported from ``firsts``)."""
    out = []
    states: list[tuple[dict[str, float], dict[tuple[str, str], float]]] = [
        split_first(d.logprobs, scale) if d.error is None else ({}, {}) for d in firsts
    ]
    while any(pending for _, pending in states):
        asks = [(i, key) for i, (_, pending) in enumerate(states) for key in pending]
        reads = backend.next_token_logprobs(
            [_forced(requests[i], space + prefix) for i, (space, prefix) in asks],
            candidates=_DIGITS,
            top_k=top_k,
        )
        nxt: list[dict[tuple[str, str], float]] = [{} for _ in states]
        for (i, (space, prefix)), dist in zip(asks, reads):
            if dist.error is not None:  # the rest of this number is unknown: not counted
                continue
            done, longer = _extend(dist, prefix, states[i][1][(space, prefix)], scale)
            for label, p in done.items():
                states[i][0][label] = states[i][0].get(label, 0.0) + p
            for label, p in longer.items():
                nxt[i][(space, label)] = nxt[i].get((space, label), 0.0) + p
        states = [(done, pending) for (done, _), pending in zip(states, nxt)]
    for done, _ in states:
        out.append(tuple(done.get(str(v), 0.0) for v in scale))
    return out


def _forced(request: LogprobRequest, text: str) -> LogprobRequest:
    return LogprobRequest(request.messages, request.assistant_prefix + text, request.raw_prompt)
