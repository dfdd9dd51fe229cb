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
read by ``ultrajudge.judge.pairwise_parsing``; unreadable outputs are re-asked a bounded
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.formats.rubric import Rubric
from ultrajudge.judge.io import Columns, DataError, iter_rows
from ultrajudge.judge.output_columns import add_columns
from ultrajudge.judge.pairwise_parsing import VERDICT_FORMATS, VERDICT_PARSERS, PairLabel
from ultrajudge.judge.runner import Job, Outcome, Retry, RunSummary, run_in_memory, run_job
from ultrajudge.judge.store import ResultStore, key_maker, make_key
from ultrajudge.judge.templates import PromptTemplate, TemplateError, load_template
from ultrajudge.judge.types import (
    GenerationParams,
    LogprobRequest,
    Message,
    TokenDistribution,
    failure_status,
    final_failure,
)

__all__ = [
    "OrderJudgment",
    "Pair",
    "PairColumns",
    "PairJudgment",
    "PairwiseConfig",
    "Shown",
    "add_pairwise_columns",
    "combine",
    "consistency",
    "count_pair",
    "first_position",
    "judge_orders",
    "judge_pairs",
    "judge_pairs_dataset",
    "order_job",
    "output_columns",
    "probs_to_original",
    "read_abc_distribution",
    "shown_first_rate",
    "shown_orders",
    "to_original",
]

Side = Literal["A", "B"]
PairStatus = Literal["ok", "parse_error", "backend_error", "low_mass", "too_long"]
#: When both orders fail, the pair reports the first of these statuses.
_STATUS_PRIORITY: tuple[str, ...] = ("too_long", "backend_error", "low_mass", "parse_error")
_CANDIDATES = ("A", "B", "C")
_AB_FLAGS = frozenset({"--a-col", "--b-col"})
#: Verdict formats logprob mode can read: the text forced before the verdict letter, and the
#: letters read after it (no tie letter: P(tie) is 0).
LOGPROB_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "abc": ("[[", _CANDIDATES),
    "result": ("Feedback: [RESULT]", ("A", "B")),
}
_FORMAT_LINE = re.compile(r"verdict format:\s*([a-z_]+)", re.I)


@dataclass(frozen=True)
class Pair:
    """One row to judge: an instruction and two responses, in the data's own a/b labels."""

    instruction: str
    response_a: str
    response_b: str
    reference: str | None = None  # a reference answer, for templates that show one

    @property
    def row_key(self) -> str:
        """Content hash: the row's seed does not depend on file order or ``--limit``."""
        return make_key("pair", self.instruction, self.response_a, self.response_b)[:16]

    def shown(self, first: Side) -> tuple[str, str]:
        """The two responses in the order shown when ``first`` is shown as "A"."""
        return (
            (self.response_a, self.response_b)
            if first == "A"
            else (self.response_b, self.response_a)
        )


@dataclass(frozen=True)
class PairwiseConfig:
    """How to judge pairs: template, mode, sampling, retries, the order seed."""

    template: str = "pairwise/mt_bench"
    mode: Literal["generate", "logprob"] = "generate"
    params: GenerationParams = field(default_factory=lambda: GenerationParams(max_new_tokens=1024))
    max_retries: int = 2
    seed: int = 0  # seeds the order of each row's first judging
    min_mass: float = 0.5  # logprob mode: below this, the judge was not answering A/B/C
    logprob_prefix: str | None = None  # logprob mode: forced text; None: the format's own
    rubric: Rubric | None = None  # shown by templates that grade by a rubric (prometheus)

    def __post_init__(self) -> None:
        if self.mode not in ("generate", "logprob"):
            raise ConfigError(f"unknown mode {self.mode!r}; modes are generate, logprob")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        if not 0.0 <= self.min_mass <= 1.0:
            raise ConfigError(f"min_mass must be in [0, 1], got {self.min_mass}")

    def load_template(self) -> PromptTemplate:
        return load_template(self.template)

    def verdict_format(self) -> str:
        """The format the template asks for, from its ``verdict format:`` header line."""
        template = self.load_template()
        source = template.source.lstrip()
        header = source.split("#}", 1)[0] if source.startswith("{#") else ""
        m = _FORMAT_LINE.search(header)
        if m is None or m.group(1).lower() not in VERDICT_FORMATS:
            raise TemplateError(
                f"template {template.name!r} does not declare its verdict format; add a line "
                f"'verdict format: <{'|'.join(VERDICT_FORMATS)}>' to the comment that opens it"
            )
        fmt = m.group(1).lower()
        if self.mode == "logprob" and fmt not in LOGPROB_FORMATS:
            raise ConfigError(
                f"logprob mode reads the verdict letter after '[[' or '[RESULT]', but template "
                f"{template.name!r} asks for the {fmt!r} verdict format; use pairwise/mt_bench "
                "or prometheus/relative, or --mode generate"
            )
        return fmt

    def forced(self) -> tuple[str, tuple[str, ...]]:
        """Logprob mode: the text forced before the verdict, and the letters read after it."""
        prefix, letters = LOGPROB_FORMATS.get(self.verdict_format(), LOGPROB_FORMATS["abc"])
        return (self.logprob_prefix if self.logprob_prefix is not None else prefix), letters

    def key_fields(self) -> dict[str, object]:
        """Everything besides backend and prompt inputs that determines one judging."""
        params = vars(self.params)
        if self.params.temperature == 0:  # greedy: the sampling seed changes nothing
            params = {**params, "seed": 0}
        rubric = {"rubric": self.rubric.id} if self.rubric is not None else {}
        return rubric | {
            "template": self.load_template().id,
            "mode": self.mode,
            "params": params if self.mode == "generate" else None,
            "logprob": [self.forced()[0], self.min_mass] if self.mode == "logprob" else None,
        }

    def judge_id(self, backend_id: str) -> str:
        p = self.params
        if self.mode == "logprob":
            sampling = f"prefix={self.forced()[0]!r}"
        elif p.temperature == 0:
            sampling = "greedy"
        else:
            sampling = f"t={p.temperature},top_p={p.top_p},seed={p.seed}"
        rubric = f" | rubric={self.rubric.id}" if self.rubric is not None else ""
        return (
            f"{backend_id} | {self.load_template().id} | pairwise-{self.mode} | {sampling}{rubric}"
        )


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
    """Settle a pair from its two judgings; ``position`` is shown first in ``first``.

    >>> a_wins, b_wins = OrderJudgment("A", "ok"), OrderJudgment("B", "ok")
    >>> j = combine(a_wins, b_wins, "B", "judge")  # b shown first and preferred, then a shown second
    >>> (j.verdict, j.consistent, j.verdict_first, j.verdict_second)
    ('B', True, 'B', 'B')
    >>> j = combine(a_wins, a_wins, "A", "judge")  # whatever comes first wins: position bias
    >>> (j.verdict, j.consistent, j.verdict_first, j.verdict_second)
    ('tie', False, 'A', 'B')
    """
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
    reference: str | None = None

    def key(self, backend: Backend, config: PairwiseConfig) -> str:
        return order_keyer(backend, config)(self)

    def render(self, template: PromptTemplate, rubric: Rubric | None = None) -> tuple[Message, ...]:
        return template.render(
            instruction=self.instruction,
            response_a=self.response_a,
            response_b=self.response_b,
            reference=self.reference,
            rubric=rubric,
        )


def order_keyer(backend: Backend, config: PairwiseConfig) -> Callable[[Shown], str]:
    """:meth:`Shown.key` of ``backend`` and ``config`` as a function of the shown order,
    with the config's fields (its template's id) serialised once for all rows."""
    key = key_maker("pairwise/v1", backend.id, config.key_fields())

    def keyer(shown: Shown) -> str:
        inputs = [shown.instruction, shown.response_a, shown.response_b]
        if shown.reference is not None:  # only then: keys of rows without one stay as they were
            inputs.append(shown.reference)
        return key(*inputs)

    return keyer


def judge_orders(
    backend: Backend,
    asks: Sequence[Shown],
    config: PairwiseConfig,
    previous: Sequence[OrderJudgment | None] | None = None,
) -> list[OrderJudgment]:
    """Judge each shown order in memory. ``previous`` judgings that are ok are kept; failed
    ones are asked again (the job runner's retry policy, ``config.max_retries``)."""
    states = list(previous or [None] * len(asks))
    if len(states) != len(asks):
        raise ValueError("previous must have one entry per ask")
    retry = Retry.from_max_retries(config.max_retries)
    return run_in_memory(order_job(backend, config), asks, states, retry, backend=backend)


def order_job(backend: Backend, config: PairwiseConfig) -> Job[Shown, OrderJudgment]:
    """Judging one order as a :class:`~ultrajudge.judge.runner.Job` (store kind ``pairwise``)."""
    if config.mode == "logprob" and not backend.capabilities.logprobs:
        raise ValueError(
            f"backend {backend.id!r} cannot return log-probabilities; use --mode generate"
        )
    ask = _ask_generate if config.mode == "generate" else _ask_logprob

    def attempt(
        asks: Sequence[Shown], previous: Sequence[OrderJudgment | None], n: int
    ) -> list[OrderJudgment]:
        done = [p if p is not None and p.ok else None for p in previous]
        todo = [i for i, p in enumerate(done) if p is None]
        out: list[OrderJudgment] = [p for p in previous]  # type: ignore[misc]
        for i, new in zip(todo, ask(backend, [asks[i] for i in todo], config, n)):
            out[i] = _accumulate(new, previous[i])
        return out

    def outcome(j: OrderJudgment) -> Outcome:
        if j.ok:
            return "ok"
        # a logprob read is deterministic: only a backend error may come out otherwise
        if final_failure(j.status, j.raw):
            return "failed"
        return "retry" if config.mode == "generate" or j.status == "backend_error" else "failed"

    return Job(
        kind="pairwise",
        attempt=attempt,
        outcome=outcome,
        encode=OrderJudgment.as_dict,
        decode=OrderJudgment.from_dict,
        tokens=lambda j: (j.prompt_tokens, j.completion_tokens),
        error=lambda j: (j.raw or "backend error") if j.status == "backend_error" else None,
    )


def _ask_generate(
    backend: Backend, asks: Sequence[Shown], config: PairwiseConfig, attempt: int
) -> list[OrderJudgment]:
    template, parse = config.load_template(), VERDICT_PARSERS[config.verdict_format()]
    params = replace(config.params, seed=config.params.seed + attempt)
    out = []
    conversations = [s.render(template, config.rubric) for s in asks]
    for shown, c in zip(asks, backend.chat(conversations, params)):
        if c.failed:
            new = OrderJudgment(None, failure_status(c.error), raw=c.error)
        else:
            v = parse(c.text, echoes=(shown.response_a, shown.response_b))
            new = OrderJudgment(v.winner, v.status, raw=c.text, token=v.token)
        out.append(
            replace(new, prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens)
        )
    return out


def _ask_logprob(
    backend: Backend, asks: Sequence[Shown], config: PairwiseConfig, attempt: int
) -> list[OrderJudgment]:
    template = config.load_template()
    prefix, letters = config.forced()
    requests = [LogprobRequest(s.render(template, config.rubric), prefix) for s in asks]
    dists = backend.next_token_logprobs(requests, candidates=letters, top_k=20)
    return [
        replace(
            read_abc_distribution(d, min_mass=config.min_mass, letters=letters),
            prompt_tokens=d.prompt_tokens,
        )
        for d in dists
    ]


def _accumulate(new: OrderJudgment, prev: OrderJudgment | None) -> OrderJudgment:
    if prev is None:
        return replace(new, attempts=1)
    return replace(
        new,
        prompt_tokens=new.prompt_tokens + prev.prompt_tokens,
        completion_tokens=new.completion_tokens + prev.completion_tokens,
        attempts=1 + prev.attempts,
    )


def read_abc_distribution(
    dist: TokenDistribution, *, min_mass: float, letters: Sequence[str] = _CANDIDATES
) -> OrderJudgment:
    """P(A), P(B), P(tie) from the next-token distribution after ``[[`` (or ``[RESULT]``).

    ``letters`` are read as A, B and (when there is a third) the tie; a format without a
    tie letter (``("A", "B")``) has P(tie) = 0.
    Spellings that differ only by surrounding whitespace (``"A"``, ``" A"``) add up.
    The three are renormalised to sum to 1; ``mass`` is their total before that.
    A winner is the most probable of the three; A and B exactly equal is a tie.
    """
    top = sorted(dist.logprobs.items(), key=lambda kv: -kv[1])[:5]
    raw = json.dumps({t: round(lp, 4) for t, lp in top}, ensure_ascii=False)
    if dist.error is not None:
        return OrderJudgment(None, failure_status(dist.error), raw=dist.error)
    p = [
        sum(math.exp(lp) for tok, lp in dist.logprobs.items() if tok.strip() == c) for c in letters
    ]
    p += [0.0] * (3 - len(p))
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
    ref = pair.reference
    return position, Shown(pair.instruction, a1, b1, ref), Shown(pair.instruction, b1, a1, ref)


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


# -- a whole dataset, through the store ---------------------------------------------

GENERATE_COLUMNS = (
    "verdict",
    "verdict_status",
    "verdict_first",
    "verdict_second",
    "raw_first",
    "raw_second",
    "first_position",
    "consistent",
    "judge",
)
LOGPROB_COLUMNS = (
    "p_a",
    "p_b",
    "p_tie",
    "probs_first",
    "probs_second",
    "mass_first",
    "mass_second",
)


def output_columns(mode: str) -> tuple[str, ...]:
    return GENERATE_COLUMNS + (LOGPROB_COLUMNS if mode == "logprob" else ())


@dataclass(frozen=True)
class PairColumns:
    """Where a row's instruction and two responses are (text, or chat messages)."""

    instruction: str = "instruction"
    response_a: str = "response_a"
    response_b: str = "response_b"
    reference: str | None = None  # a reference answer column (rubric grading)

    @classmethod
    def resolve(
        cls,
        column_names: Sequence[str],
        *,
        instruction: str | None = None,
        response_a: str = "response_a",
        response_b: str = "response_b",
        reference: str | None = None,
    ) -> PairColumns:
        """Check the columns exist; ``instruction=None`` takes ``instruction``, else ``prompt``."""
        names = list(column_names)
        if instruction is None:
            instruction = next((c for c in ("instruction", "prompt") if c in names), "instruction")
        wanted = {"--instruction-col": instruction, "--a-col": response_a, "--b-col": response_b}
        if reference is not None:
            wanted["--reference-col"] = reference
        missing = {flag: col for flag, col in wanted.items() if col not in names}
        if missing:
            raise DataError(
                f"column(s) {sorted(set(missing.values()))} not found; columns are {names}; "
                f"pass {' and '.join(missing)}"
                + (" (e.g. --a-col chosen --b-col rejected)" if set(missing) & _AB_FLAGS else "")
            )
        return cls(instruction, response_a, response_b, reference)

    def pair_of(self, row: dict[str, Any], index: int | None = None) -> Pair:
        """The row's pair; a ``DataError`` naming the row and column when a response (or the
        instruction) is not a text: a pair is never judged with a coerced ``None``."""
        cols = Columns(
            self.instruction, None, (self.response_a, self.response_b), reference=self.reference
        )
        a, b = cols.completions_of(row, index)
        return Pair(cols.instruction_of(row, index), a, b, cols.reference_of(row))

    def check_rows(self, ds: Any, source: str | None = None) -> None:
        """Refuse, before any judge loads, a dataset with a row :meth:`pair_of` cannot read.
        The error names the row as :func:`~ultrajudge.judge.datafiles.row_place` does: the
        file's own line for one local JSON Lines or CSV ``source``, else ``row N`` (1-based)."""
        from ultrajudge.judge.datafiles import row_place

        wanted = list(dict.fromkeys([self.instruction, self.response_a, self.response_b]))
        for index, row in enumerate(iter_rows(ds.select_columns(wanted))):
            try:
                self.pair_of(row)
            except DataError as exc:
                raise DataError(f"{row_place(source, index)}, {exc}") from None


def consistency(summary: RunSummary) -> float:
    """Share of judged pairs whose two orders agree (``count_pair`` tallies)."""
    ok = summary.statuses["ok"]
    return summary.counts["consistent"] / ok if ok else float("nan")


def shown_first_rate(summary: RunSummary) -> float:
    """Share of decided judgings won by the response shown first (0.5 = no position bias)."""
    decided = summary.counts["decided_orders"]
    return summary.counts["shown_first_wins"] / decided if decided else float("nan")


def count_pair(summary: RunSummary, j: PairJudgment) -> None:
    """Tally one settled pair: ``statuses`` per pair, verdicts and position counts."""
    summary.counts[f"verdict:{j.verdict or 'none'}"] += 1
    summary.statuses[j.status] += 1
    summary.counts["consistent"] += bool(j.consistent)
    for order in (j.first, j.second):
        if order.ok and order.winner in ("A", "B"):
            summary.counts["decided_orders"] += 1
            summary.counts["shown_first_wins"] += order.winner == "A"


def judge_pairs_dataset(
    backend: Backend,
    ds: Any,
    *,
    columns: PairColumns,
    config: PairwiseConfig,
    store: ResultStore,
    chunk_rows: int = 8,
    progress: bool = True,
) -> RunSummary:
    """Make sure the store holds both judgings of every row; return the summary so far.

    Each order is stored under the hash of backend, config and its exact prompt inputs;
    the job runner sends what the store lacks (``chunk_rows`` rows per call to a local
    model, a sliding window of requests to an API) and commits as it goes; failures are
    stored not-ok, so a rerun asks only for them.
    """
    config.verdict_format()  # fail on a bad template before any work
    job = order_job(backend, config)

    key = order_keyer(backend, config)

    def keyed() -> Iterator[tuple[str, Shown]]:
        for row in iter_rows(ds):
            _, first, second = shown_orders(columns.pair_of(row), config.seed)
            yield key(first), first
            yield key(second), second

    return run_job(
        job,
        keyed(),
        store=store,
        backend=backend,
        retry=Retry.from_max_retries(config.max_retries),
        batch_size=2 * chunk_rows,
        total=2 * len(ds),
        progress=progress,
        desc="pairwise",
        summary=RunSummary(rows=len(ds)),
    )


def add_pairwise_columns(
    backend: Backend,
    ds: Any,
    *,
    columns: PairColumns,
    config: PairwiseConfig,
    store: ResultStore,
    summary: RunSummary,
    block_rows: int = 256,
) -> Any:
    """Append the verdict columns, read back from the store ``block_rows`` rows at a time
    (:func:`~ultrajudge.judge.output_columns.add_columns`: memory stays that of one block).
    Every input column survives; an input column with an output column's name is an error."""
    clash = sorted(set(output_columns(config.mode)) & set(ds.column_names))
    if clash:
        raise DataError(
            f"the input already has column(s) {clash}, which pairwise writes; rename them first"
        )
    judge = config.judge_id(backend.id)
    key = order_keyer(backend, config)
    tally = RunSummary()

    def add(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        orders = [shown_orders(columns.pair_of(r), config.seed) for r in rows]
        keys = [key(s) for _, first, second in orders for s in (first, second)]
        stored = store.get_many(keys, include_failed=True)
        judged = [
            combine(_stored(stored, keys[2 * k]), _stored(stored, keys[2 * k + 1]), position, judge)
            for k, (position, _, _) in enumerate(orders)
        ]
        for j in judged:
            count_pair(tally, j)
        return _columns_for(judged, config.mode)

    def restart() -> None:
        tally.statuses.clear()
        tally.counts.clear()

    fingerprint = make_key(
        "pairwise-columns/v1", ds._fingerprint, backend.id, config.key_fields(), config.seed
    )[:32]
    out = add_columns(
        ds,
        add,
        types=_types(config.mode),
        block_rows=block_rows,
        fingerprint=fingerprint,
        restart=restart,
    )
    summary.statuses.update(tally.statuses)
    summary.counts.update(tally.counts)
    return out


def _stored(stored: dict[str, dict[str, Any]], key: str) -> OrderJudgment:
    if key not in stored:  # judge_pairs_dataset was not run (or on other rows)
        return OrderJudgment(None, "backend_error", raw="not judged: no result in the store")
    return OrderJudgment.from_dict(stored[key])


def _columns_for(judged: list[PairJudgment], mode: str) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {
        "verdict": [j.verdict for j in judged],
        "verdict_status": [j.status for j in judged],
        "verdict_first": [j.verdict_first for j in judged],
        "verdict_second": [j.verdict_second for j in judged],
        "raw_first": [j.first.raw for j in judged],
        "raw_second": [j.second.raw for j in judged],
        "first_position": [j.first_position for j in judged],
        "consistent": [j.consistent for j in judged],
        "judge": [j.judge for j in judged],
    }
    if mode == "logprob":
        for name, k in (("p_a", 0), ("p_b", 1), ("p_tie", 2)):
            cols[name] = [j.probs[k] if j.probs else None for j in judged]
        cols["probs_first"] = [_original_probs(j.first, j.first_position) for j in judged]
        cols["probs_second"] = [_original_probs(j.second, _other(j.first_position)) for j in judged]
        cols["mass_first"] = [j.first.mass for j in judged]
        cols["mass_second"] = [j.second.mass for j in judged]
    return cols


def _types(mode: str) -> dict[str, Any]:
    """The pyarrow types of the columns :func:`_columns_for` writes."""
    import pyarrow as pa

    text = pa.string()
    types: dict[str, Any] = {name: text for name in ("verdict", "verdict_status", "verdict_first", "verdict_second", "raw_first", "raw_second", "first_position")}  # fmt: skip
    types |= {"consistent": pa.bool_(), "judge": text}
    if mode == "logprob":
        types |= {name: pa.float64() for name in ("p_a", "p_b", "p_tie")}
        types |= {"probs_first": pa.list_(pa.float64()), "probs_second": pa.list_(pa.float64())}
        types |= {"mass_first": pa.float64(), "mass_second": pa.float64()}
    return types


def _original_probs(order: OrderJudgment, shown_first: Side) -> list[float] | None:
    return list(probs_to_original(order.probs, shown_first)) if order.probs else None
