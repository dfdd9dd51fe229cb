"""Pairwise judging: which of two responses is better, asked in both orders.

Every pair is judged twice, once with each response shown first, so a judge's
position bias cannot decide a verdict. The order of the *first* judging is
seeded per row (``random.Random(f"{seed}:{row_key}")``, ``row_key`` a hash of
the row's instruction and responses), so a rerun shows the same order.

An ``OrderJudgment`` is one judging in *positional* labels (A = shown first);
``combine`` maps both back to the original labels and settles the pair:

* both orders agree: that verdict, ``consistent=True``;
* they disagree (A vs B, or A vs tie): a tie, ``consistent=False``;
* either order failed: no verdict (``None``), the failing status; the order
  that worked is still reported. One order alone is never a verdict.

Modes: ``generate`` (the judge writes a comparison ending in a verdict token,
read by ``judge.pairwise_parsing``; unreadable outputs are re-asked a bounded
number of times) and ``logprob`` (one forward pass per order: the prompt is
teacher-forced up to ``[[`` and the next-token probabilities of ``A``, ``B``,
``C`` are renormalised into P(A), P(B), P(tie); the pair's probabilities are
the mean of the two orders' position-corrected probabilities).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from judge.backends.base import Backend
from judge.pairwise_parsing import VERDICT_FORMATS, VERDICT_PARSERS, PairLabel
from judge.store import make_key
from judge.templates import PromptTemplate, TemplateError, load_template
from judge.types import GenerationParams, LogprobRequest, Message, TokenDistribution

__all__ = [
    "OrderJudgment",
    "Pair",
    "PairJudgment",
    "PairwiseConfig",
    "combine",
    "first_position",
    "judge_orders",
    "judge_pairs",
    "probs_to_original",
    "to_original",
]

Side = Literal["A", "B"]
PairStatus = Literal["ok", "parse_error", "backend_error", "low_mass"]
#: When both orders fail, the pair reports the first of these statuses.
_STATUS_PRIORITY: tuple[str, ...] = ("backend_error", "low_mass", "parse_error")
_CANDIDATES = ("A", "B", "C")
_FORMAT_LINE = re.compile(r"verdict format:\s*([a-z_]+)", re.I)


@dataclass(frozen=True)
class Pair:
    """One row to judge: an instruction and two responses, in the data's own a/b labels."""

    instruction: str
    response_a: str
    response_b: str

    @property
    def row_key(self) -> str:
        """Content hash: the row's seed does not depend on file order or ``--limit``."""
        return make_key("pair", self.instruction, self.response_a, self.response_b)[:16]

    def shown(self, first: Side) -> tuple[str, str]:
        """The two responses in the order shown when ``first`` is shown as "A"."""
        return (self.response_a, self.response_b) if first == "A" else (self.response_b, self.response_a)


@dataclass(frozen=True)
class PairwiseConfig:
    """How to judge pairs: template, mode, sampling, retries, the order seed."""

    template: str = "pairwise/mt_bench"
    mode: Literal["generate", "logprob"] = "generate"
    params: GenerationParams = field(default_factory=lambda: GenerationParams(max_new_tokens=1024))
    max_retries: int = 2
    seed: int = 0  # seeds the order of each row's first judging
    min_mass: float = 0.5  # logprob mode: below this, the judge was not answering A/B/C
    logprob_prefix: str = "[["  # logprob mode: the assistant turn is teacher-forced to this

    def __post_init__(self) -> None:
        if self.mode not in ("generate", "logprob"):
            raise ValueError(f"unknown mode {self.mode!r}; modes are generate, logprob")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if not 0.0 <= self.min_mass <= 1.0:
            raise ValueError(f"min_mass must be in [0, 1], got {self.min_mass}")

    def load_template(self) -> PromptTemplate:
        return load_template(self.template)

    def verdict_format(self) -> str:
        """The format the template asks for, from its ``verdict format:`` header line."""
        template = self.load_template()
        m = _FORMAT_LINE.search(template.source)
        if m is None or m.group(1).lower() not in VERDICT_FORMATS:
            raise TemplateError(
                f"template {template.name!r} does not declare its verdict format; add a line "
                f"'verdict format: <{'|'.join(VERDICT_FORMATS)}>' to its header comment"
            )
        fmt = m.group(1).lower()
        if self.mode == "logprob" and fmt != "abc":
            raise ValueError(
                f"logprob mode reads P(A), P(B), P(C) after '[[', but template {template.name!r} "
                f"asks for the {fmt!r} verdict format; use an 'abc' template such as "
                "pairwise/mt_bench, or --mode generate"
            )
        return fmt

    def key_fields(self) -> dict[str, object]:
        """Everything besides backend and prompt inputs that determines one judging."""
        params = vars(self.params)
        if self.params.temperature == 0:  # greedy: the sampling seed changes nothing
            params = {**params, "seed": 0}
        return {
            "template": self.load_template().id,
            "mode": self.mode,
            "params": params if self.mode == "generate" else None,
            "logprob": [self.logprob_prefix, self.min_mass] if self.mode == "logprob" else None,
        }

    def judge_id(self, backend_id: str) -> str:
        p = self.params
        if self.mode == "logprob":
            sampling = f"prefix={self.logprob_prefix!r}"
        elif p.temperature == 0:
            sampling = "greedy"
        else:
            sampling = f"t={p.temperature},top_p={p.top_p},seed={p.seed}"
        return f"{backend_id} | {self.load_template().id} | pairwise-{self.mode} | {sampling}"


@dataclass(frozen=True)
class OrderJudgment:
    """One judging of one order, in positional labels (A = the response shown first)."""

    winner: PairLabel | None
    status: PairStatus
    raw: str | None = None  # the judge's text (logprob mode: its top next tokens)
    token: str | None = None  # the verdict as written, e.g. "A>>B"
    probs: tuple[float, float, float] | None = None  # logprob: P(A), P(B), P(tie), renormalised
    mass: float | None = None  # logprob: probability of A, B and C before renormalising
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OrderJudgment:
        probs = d.get("probs")
        return cls(**{**d, "probs": tuple(probs) if probs is not None else None})


@dataclass(frozen=True)
class PairJudgment:
    """Both judgings of a pair and the settled verdict, in the data's a/b labels."""

    verdict: PairLabel | None
    status: PairStatus
    consistent: bool | None  # None when an order failed
    first_position: Side  # the response shown as "A" in the first judging
    verdict_first: PairLabel | None
    verdict_second: PairLabel | None
    first: OrderJudgment
    second: OrderJudgment
    judge: str
    probs: tuple[float, float, float] | None = None  # logprob: P(a), P(b), P(tie)


def first_position(pair: Pair, seed: int) -> Side:
    """Which response is shown first in the pair's first judging (seeded per row)."""
    return "A" if random.Random(f"{seed}:{pair.row_key}").random() < 0.5 else "B"


def _other(side: Side) -> Side:
    return "B" if side == "A" else "A"


def to_original(winner: PairLabel | None, shown_first: Side) -> PairLabel | None:
    """A positional verdict in the data's labels, given which response was shown first."""
    if winner in ("A", "B"):
        return shown_first if winner == "A" else _other(shown_first)
    return winner


def probs_to_original(
    probs: tuple[float, float, float], shown_first: Side
) -> tuple[float, float, float]:
    """Positional (P(A), P(B), P(tie)) as (P(a), P(b), P(tie)) of the data's responses."""
    return probs if shown_first == "A" else (probs[1], probs[0], probs[2])


def combine(
    first: OrderJudgment, second: OrderJudgment, position: Side, judge: str
) -> PairJudgment:
    """Settle a pair from its two judgings; ``position`` is shown first in ``first``."""
    v1, v2 = to_original(first.winner, position), to_original(second.winner, _other(position))
    if not (first.ok and second.ok):
        status = next(s for s in _STATUS_PRIORITY if s in (first.status, second.status))
        return PairJudgment(None, status, None, position, v1, v2, first, second, judge)  # type: ignore[arg-type]
    probs = None
    if first.probs is not None and second.probs is not None:
        p1 = probs_to_original(first.probs, position)
        p2 = probs_to_original(second.probs, _other(position))
        probs = ((p1[0] + p2[0]) / 2, (p1[1] + p2[1]) / 2, (p1[2] + p2[2]) / 2)
    verdict: PairLabel = v1 if v1 == v2 else "tie"  # type: ignore[assignment]
    return PairJudgment(verdict, "ok", v1 == v2, position, v1, v2, first, second, judge, probs)


# -- judging one order -------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One prompt's inputs: the instruction and the two responses in the order shown."""

    instruction: str
    response_a: str
    response_b: str

    def key(self, backend: Backend, config: PairwiseConfig) -> str:
        return make_key(
            "pairwise/v1",
            backend.id,
            config.key_fields(),
            self.instruction,
            self.response_a,
            self.response_b,
        )

    def render(self, template: PromptTemplate) -> tuple[Message, ...]:
        return template.render(
            instruction=self.instruction, response_a=self.response_a, response_b=self.response_b
        )


def judge_orders(
    backend: Backend,
    asks: Sequence[Shown],
    config: PairwiseConfig,
    previous: Sequence[OrderJudgment | None] | None = None,
) -> list[OrderJudgment]:
    """Judge each shown order. ``previous`` judgings that are ok are kept; failed ones are
    asked again (up to ``max_retries`` more times in this call)."""
    states = list(previous) if previous is not None else [None] * len(asks)
    if len(states) != len(asks):
        raise ValueError("previous must have one entry per ask")
    template, fmt = config.load_template(), config.verdict_format()
    if config.mode == "logprob" and not backend.capabilities.logprobs:
        raise ValueError(f"backend {backend.id!r} cannot return log-probabilities; use --mode generate")
    for attempt in range(config.max_retries + 1):
        todo = [i for i, s in enumerate(states) if _needs_ask(s, attempt, config.mode)]
        if not todo:
            break
        conversations = [asks[i].render(template) for i in todo]
        if config.mode == "generate":
            params = replace(config.params, seed=config.params.seed + attempt)
            parse = VERDICT_PARSERS[fmt]
            for i, c in zip(todo, backend.chat(conversations, params)):
                prev = states[i]
                if c.failed:
                    new = OrderJudgment(None, "backend_error", raw=c.error)
                else:
                    v = parse(c.text, echoes=(asks[i].response_a, asks[i].response_b))
                    new = OrderJudgment(v.winner, v.status, raw=c.text, token=v.token)
                states[i] = _accumulate(new, prev, c.prompt_tokens, c.completion_tokens)
        else:
            requests = [LogprobRequest(conv, config.logprob_prefix) for conv in conversations]
            dists = backend.next_token_logprobs(requests, candidates=_CANDIDATES, top_k=20)
            for i, dist in zip(todo, dists):
                new = read_abc_distribution(dist, min_mass=config.min_mass)
                states[i] = _accumulate(new, states[i], dist.prompt_tokens, 0)
    return [s if s is not None else OrderJudgment(None, "backend_error") for s in states]


def _needs_ask(state: OrderJudgment | None, attempt: int, mode: str) -> bool:
    if state is None:
        return True
    if state.ok:
        return False
    # Anything failed is asked again once per run; within a run, a logprob read is
    # deterministic, so only a backend error is worth repeating.
    return attempt == 0 or mode == "generate" or state.status == "backend_error"


def _accumulate(
    new: OrderJudgment, prev: OrderJudgment | None, prompt_tokens: int, completion_tokens: int
) -> OrderJudgment:
    return replace(
        new,
        prompt_tokens=prompt_tokens + (prev.prompt_tokens if prev else 0),
        completion_tokens=completion_tokens + (prev.completion_tokens if prev else 0),
        attempts=1 + (prev.attempts if prev else 0),
    )


def read_abc_distribution(dist: TokenDistribution, *, min_mass: float) -> OrderJudgment:
    """P(A), P(B), P(tie) from the next-token distribution after ``[[``.

    Spellings that differ only by surrounding whitespace (``"A"``, ``" A"``) add up.
    The three are renormalised to sum to 1; ``mass`` is their total before that.
    A winner is the most probable of the three; A and B exactly equal is a tie.
    """
    top = sorted(dist.logprobs.items(), key=lambda kv: -kv[1])[:5]
    raw = json.dumps({t: round(lp, 4) for t, lp in top}, ensure_ascii=False)
    if dist.error is not None:
        return OrderJudgment(None, "backend_error", raw=dist.error)
    p = [
        sum(math.exp(lp) for tok, lp in dist.logprobs.items() if tok.strip() == c)
        for c in _CANDIDATES
    ]
    mass = sum(p)
    if mass <= 0 or mass < min_mass:
        return OrderJudgment(None, "low_mass", raw=raw, mass=mass)
    probs = (p[0] / mass, p[1] / mass, p[2] / mass)
    return OrderJudgment(_argmax(probs), "ok", raw=raw, probs=probs, mass=mass)


def _argmax(probs: tuple[float, float, float]) -> PairLabel:
    best = max(probs)
    if probs[2] == best or probs[0] == probs[1]:
        return "tie"
    return "A" if probs[0] == best else "B"


# -- judging pairs ------------------------------------------------------------------


def shown_orders(pair: Pair, seed: int) -> tuple[Side, Shown, Shown]:
    """The seeded first position and the two prompts' inputs (first judging, second)."""
    position = first_position(pair, seed)
    a1, b1 = pair.shown(position)
    return position, Shown(pair.instruction, a1, b1), Shown(pair.instruction, b1, a1)


def judge_pairs(
    backend: Backend, pairs: Sequence[Pair], config: PairwiseConfig
) -> list[PairJudgment]:
    """Judge every pair in both orders, in memory (``judge_pairs_dataset`` adds the store)."""
    orders = [shown_orders(p, config.seed) for p in pairs]
    asks = [s for _, first, second in orders for s in (first, second)]
    judged = judge_orders(backend, asks, config)
    judge = config.judge_id(backend.id)
    return [
        combine(judged[2 * k], judged[2 * k + 1], position, judge)
        for k, (position, _, _) in enumerate(orders)
    ]
