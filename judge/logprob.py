"""Logprob mode: a probability-weighted rating read from the judge's next-token
distribution, with no text generated.

At each rating position the judge's log-probabilities of the scale's tokens are read
(each value spelled with and without a leading space, as the backend returns them):

    mass = Σ_s p(s)                       (how much the judge answered on the scale)
    p̂(s) = p(s) / mass                    (``Rating.probs``, sums to 1)
    value = Σ_s p̂(s) · s                  (the expected score, ``Rating.value``)

A rating whose ``mass`` is below ``RatingConfig.min_mass`` (default 0.5: the judge
put most of its probability elsewhere, so it was not answering) gets status
``low_mass`` and no value, but keeps ``probs`` and ``mass`` for inspection.

Prompts: with the UltraFeedback templates (all completions in one prompt) the canonical
output blocks are teacher-forced, ``#### Output for Text 1\\nRating:`` → read →
`` 4\\n\\n#### Output for Text 2\\nRating:`` → read …, appending the most likely rating
(no rationale) before the next header. With ``per_completion`` (the ``score_rationale``
template, whose answer starts with the score) the first answer token is read.
Scoring is deterministic, so a ``low_mass`` rating is not retried within a run; like
every failure it is not stored as final, so a rerun asks again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.backends.positions import (
    Chooser,
    PositionRequest,
    PositionScorer,
    score_positions,
)
from ultrajudge.judge.rating import RATERS, Item, RatingConfig, judge_id, reference_of
from ultrajudge.judge.scale_reading import continuation_prefixes, label_probabilities
from ultrajudge.judge.types import Rating, RowJudgment, TokenDistribution, failure_status

__all__ = [
    "rating_from_distribution",
    "rating_from_probabilities",
    "scale_probabilities",
    "uf_forced",
]


def scale_probabilities(
    logprobs: Mapping[str, float], scale: Sequence[int]
) -> tuple[tuple[float, ...], float]:
    """Raw probability of each scale value (all spellings summed) and their total mass.

    >>> probs, mass = scale_probabilities({"1": math.log(0.1), " 1": math.log(0.1),
    ...                                    "2": math.log(0.3), "x": math.log(0.5)}, (1, 2))
    >>> [round(p, 6) for p in probs], round(mass, 6)
    ([0.2, 0.3], 0.5)
    """
    labels = {str(s): k for k, s in enumerate(scale)}
    raw = [0.0] * len(scale)
    for text, logprob in logprobs.items():
        k = labels.get(text.strip())
        if k is not None and text.strip() == text.lstrip(" "):  # "3" or " 3", not "3\n"
            raw[k] += math.exp(logprob)
    return tuple(raw), sum(raw)


def rating_from_distribution(
    dist: TokenDistribution, scale: Sequence[int], *, min_mass: float
) -> Rating:
    """A ``Rating`` whose value is the expected score over ``scale``.

    >>> d = TokenDistribution({" 4": math.log(0.6), " 5": math.log(0.2), "Hi": math.log(0.2)})
    >>> r = rating_from_distribution(d, (1, 2, 3, 4, 5), min_mass=0.5)
    >>> r.status, round(r.value, 6), tuple(round(p, 6) for p in r.probs), round(r.mass, 6)
    ('ok', 4.25, (0.0, 0.0, 0.0, 0.75, 0.25), 0.8)
    """
    if dist.error is not None:  # too_long (never sent) or backend_error
        return Rating(None, failure_status(dist.error), raw=dist.error)
    raw, _ = scale_probabilities(dist.logprobs, scale)
    return rating_from_probabilities(raw, dist, scale, min_mass=min_mass)


def rating_from_probabilities(
    raw: Sequence[float], dist: TokenDistribution, scale: Sequence[int], *, min_mass: float
) -> Rating:
    """A ``Rating`` from the raw probability of each scale value (``dist``, the first
    position's distribution, fills ``raw`` of a ``low_mass`` rating)."""
    if dist.error is not None:  # too_long (never sent) or backend_error
        return Rating(None, failure_status(dist.error), raw=dist.error)
    raw, mass = tuple(raw), sum(raw)
    if mass <= 0.0:
        return Rating(None, "low_mass", raw=_top(dist), probs=None, mass=0.0)
    probs = tuple(p / mass for p in raw)
    if mass < min_mass:
        return Rating(None, "low_mass", raw=_top(dist), probs=probs, mass=mass)
    value = sum(p * s for p, s in zip(probs, scale))
    return Rating(value, "ok", probs=probs, mass=mass)


def _top(dist: TokenDistribution, k: int = 5) -> str:
    """What the judge wanted to say instead: its most likely tokens, for ``rating_raw``."""
    best = sorted(dist.logprobs.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{t!r}: {math.exp(v):.3f}" for t, v in best)


def argmax_choice(scale: Sequence[int]) -> Chooser:
    """The most likely scale value, spelled the way the judge most likely spells it."""

    def choose(dist: TokenDistribution) -> str:
        raw, _ = scale_probabilities(dist.logprobs, scale)
        best = str(scale[max(range(len(scale)), key=lambda k: raw[k])])
        spellings = [t for t in dist.logprobs if t.strip() == best and t.lstrip(" ") == best]
        return max(spellings, key=lambda t: dist.logprobs[t]) if spellings else " " + best

    return choose


def uf_forced(n: int) -> tuple[str, ...]:
    """The UltraFeedback output blocks to teacher-force before each of ``n`` ratings
    (the format ``ultrajudge.judge.parsing.format_ultrafeedback`` writes, without rationales)."""
    return tuple(
        ("" if i == 1 else "\n\n") + f"#### Output for Text {i}\nRating:" for i in range(1, n + 1)
    )


def _requests(
    items: Sequence[Item], config: RatingConfig
) -> list[tuple[int, int, PositionRequest]]:
    """(row, first completion, request) for every prompt to score."""
    template = config.load_template()
    fmt = config.answer_format
    out = []
    for row, item in enumerate(items):
        instruction, completions = item[0], item[1]
        if not completions:
            continue
        if fmt is not None:
            for i, completion in enumerate(completions):
                variables = fmt.variables(
                    instruction,
                    completion,
                    scale=config.scale,
                    reference=reference_of(item),
                    rubric=config.rubric,
                )
                out.append((row, i, PositionRequest(template.render(**variables), (fmt.forced,))))
        elif config.per_completion:
            for i, completion in enumerate(completions):
                messages = template.render(instruction=instruction, completion=completion)
                out.append((row, i, PositionRequest(messages, ("",))))
        else:
            messages = template.render(instruction=instruction, completions=list(completions))
            out.append((row, 0, PositionRequest(messages, uf_forced(len(completions)))))
    return out


def rate_logprob(
    backend: Backend,
    items: Sequence[Item],
    config: RatingConfig,
    previous: Sequence[RowJudgment | None],
    attempt: int = 0,
) -> list[RowJudgment]:
    """Logprob-mode rater (registered as ``RATERS["logprob"]``); ``previous`` and ``attempt``
    are ignored: scoring is deterministic and a row is one prompt, so the row is scored
    again whole."""
    asks = _requests(items, config)
    scale = tuple(config.scale)
    top_k = min(20, backend.capabilities.max_top_logprobs or 20)
    start = time.perf_counter()
    dists = score_positions(
        backend,
        [request for _, _, request in asks],
        candidates=[str(s) for s in scale],
        choose=argmax_choice(scale),
        top_k=top_k,
    )
    share = (time.perf_counter() - start) / max(1, len(items))
    ratings: list[list[Rating | None]] = [[None] * len(item[1]) for item in items]
    prompt_tokens = [0] * len(items)
    # A fast path prefills each prompt once; the portable path sends (and an API bills)
    # one whole prompt per position.
    tally = max if isinstance(backend, PositionScorer) else sum
    raws = _scale_mass(backend, asks, dists, scale, top_k)
    for (row, first, _), positions, position_raws in zip(asks, dists, raws):
        for k, (dist, raw) in enumerate(zip(positions, position_raws)):
            ratings[row][first + k] = rating_from_probabilities(
                raw, dist, scale, min_mass=config.min_mass
            )
        prompt_tokens[row] += tally([d.prompt_tokens for d in positions] or [0])
    judge = judge_id(backend.id, config.load_template(), config)
    return [
        RowJudgment(
            ratings=tuple(r if r is not None else Rating(None, "missing") for r in row_ratings),
            judge=judge,
            aspect=config.aspect,
            prompt_tokens=prompt_tokens[row],
            seconds=round(share, 6),
        )
        for row, row_ratings in enumerate(ratings)
    ]


def _scale_mass(
    backend: Backend,
    asks: Sequence[tuple[int, int, PositionRequest]],
    dists: Sequence[Sequence[TokenDistribution]],
    scale: tuple[int, ...],
    top_k: int,
) -> list[list[tuple[float, ...]]]:
    """Raw probability of each scale value at every position; a scale whose numbers may
    span several tokens (1-10) reads them to their end (:mod:`ultrajudge.judge.scale_reading`)."""
    if not continuation_prefixes(scale):
        return [[scale_probabilities(d.logprobs, scale)[0] for d in ds] for ds in dists]
    choose = argmax_choice(scale)
    requests, firsts = [], []
    for (_, _, request), positions in zip(asks, dists):
        choices = [choose(d) for d in positions[:-1]]
        for k, dist in enumerate(positions):
            requests.append(request.at(choices[:k]))
            firsts.append(dist)
    flat = iter(label_probabilities(backend, requests, firsts, scale, top_k=top_k))
    return [[next(flat) for _ in positions] for positions in dists]


RATERS["logprob"] = rate_logprob
