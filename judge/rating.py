"""UltraFeedback-style rating of a batch of rows for one aspect.

A row is one instruction with N completions. In ``generate`` mode the judge
writes a rating and a rationale per completion; completions whose rating could
not be read are re-asked (alone, renumbered, with a new seed) a bounded number
of times. Other modes (``logprob``) register themselves in ``RATERS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from judge.backends.base import Backend
from judge.parsing import parse_score_rationale, parse_ultrafeedback
from judge.templates import PromptTemplate, load_template
from judge.types import Completion, GenerationParams, Rating, RowJudgment

ASPECTS = ("overall", "helpfulness", "honesty", "instruction_following", "truthfulness")
RETRYABLE = frozenset({"parse_error", "out_of_range", "missing", "backend_error", "low_mass"})
#: Aspects whose rubric allows the judge to answer N/A.
NA_ASPECTS = frozenset({"honesty"})

Item = tuple[str, Sequence[str]]  # (instruction, completions)


@dataclass(frozen=True)
class RatingConfig:
    """How to rate: aspect, template, mode, scale, sampling, retries."""

    aspect: str = "overall"
    template: str | None = None  # None: the built-in template of the aspect
    mode: Literal["generate", "logprob"] = "generate"
    scale: tuple[int, ...] = (1, 2, 3, 4, 5)
    params: GenerationParams = field(default_factory=lambda: GenerationParams(max_new_tokens=512))
    max_retries: int = 2
    per_completion: bool = False  # one prompt per completion ("score - rationale" format)
    min_mass: float = 0.5  # logprob mode: below this, the judge was not answering

    def __post_init__(self) -> None:
        if self.aspect not in ASPECTS:
            raise ValueError(f"unknown aspect {self.aspect!r}; aspects are {', '.join(ASPECTS)}")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if len(self.scale) < 2 or list(self.scale) != sorted(set(self.scale)):
            raise ValueError(f"scale must be at least two increasing integers, got {self.scale}")
        if not 0.0 <= self.min_mass <= 1.0:
            raise ValueError(f"min_mass must be between 0 and 1, got {self.min_mass}")

    def load_template(self) -> PromptTemplate:
        if self.template is not None:
            return load_template(self.template)
        return load_template(
            "score_rationale" if self.per_completion else f"ultrafeedback/{self.aspect}"
        )

    def key_fields(self) -> dict[str, object]:
        """Everything besides backend and inputs that determines a result (for cache keys)."""
        return {
            "aspect": self.aspect,
            "template": self.load_template().id,
            "mode": self.mode,
            "scale": list(self.scale),
            "params": vars(self.params),
            "per_completion": self.per_completion,
            "min_mass": self.min_mass if self.mode == "logprob" else None,
        }


Rater = Callable[
    [Backend, Sequence[Item], RatingConfig, Sequence["RowJudgment | None"]], list[RowJudgment]
]
RATERS: dict[str, Rater] = {}


def rate_rows(
    backend: Backend,
    items: Sequence[Item],
    config: RatingConfig,
    previous: Sequence[RowJudgment | None] | None = None,
) -> list[RowJudgment]:
    """Rate each (instruction, completions) item. ``previous`` judgments (from the store)
    keep their good ratings; only their failed completions are asked again."""
    previous = list(previous) if previous is not None else [None] * len(items)
    if len(previous) != len(items):
        raise ValueError("previous must have one entry per item")
    if config.mode not in RATERS:
        raise ValueError(f"unknown mode {config.mode!r}; modes are {sorted(RATERS)}")
    return RATERS[config.mode](backend, items, config, previous)


# -- generate mode -----------------------------------------------------------------


@dataclass
class _RowState:
    ratings: list[Rating | None]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    attempts: int = 0

    def todo(self) -> list[int]:
        return [i for i, r in enumerate(self.ratings) if r is None or r.status in RETRYABLE]


def _rate_generate(
    backend: Backend,
    items: Sequence[Item],
    config: RatingConfig,
    previous: Sequence[RowJudgment | None],
) -> list[RowJudgment]:
    template = config.load_template()
    states = [_initial_state(item, prev) for item, prev in zip(items, previous)]
    for attempt in range(config.max_retries + 1):
        asks = [(row, idx) for row, s in enumerate(states) for idx in _groups(s.todo(), config)]
        if not asks:
            break
        params = replace(config.params, seed=config.params.seed + attempt)
        conversations = [
            template.render(**_variables(items[row][0], [items[row][1][i] for i in idx], config))
            for row, idx in asks
        ]
        start = time.perf_counter()
        completions = backend.chat(conversations, params)
        share = (time.perf_counter() - start) / len(asks)
        for (row, idx), completion in zip(asks, completions):
            _merge(states[row], idx, completion, config, share)
    return [_finish(s, backend.id, template, config) for s in states]


def _initial_state(item: Item, previous: RowJudgment | None) -> _RowState:
    n = len(item[1])
    if previous is None or len(previous.ratings) != n:
        return _RowState([None] * n)
    return _RowState(
        list(previous.ratings),
        previous.prompt_tokens,
        previous.completion_tokens,
        previous.seconds,
        previous.attempts,
    )


def _groups(todo: list[int], config: RatingConfig) -> list[list[int]]:
    if not todo:
        return []
    return [[i] for i in todo] if config.per_completion else [todo]


def _variables(instruction: str, completions: list[str], config: RatingConfig) -> dict[str, object]:
    if config.per_completion:
        return {"instruction": instruction, "completion": completions[0]}
    return {"instruction": instruction, "completions": completions}


def _merge(
    state: _RowState, idx: list[int], completion: Completion, config: RatingConfig, seconds: float
) -> None:
    state.prompt_tokens += completion.prompt_tokens
    state.completion_tokens += completion.completion_tokens
    state.seconds += seconds
    state.attempts += 1
    if completion.failed:
        parsed: tuple[Rating, ...] = tuple(
            Rating(None, "backend_error", raw=completion.error) for _ in idx
        )
    elif config.per_completion:
        parsed = (parse_score_rationale(completion.text, scale=config.scale),)
    else:
        parsed = parse_ultrafeedback(
            completion.text, len(idx), scale=config.scale, allow_na=config.aspect in NA_ASPECTS
        )
    for i, rating in zip(idx, parsed):
        state.ratings[i] = rating


def _finish(
    state: _RowState, backend_id: str, template: PromptTemplate, config: RatingConfig
) -> RowJudgment:
    ratings = tuple(r if r is not None else Rating(None, "missing") for r in state.ratings)
    return RowJudgment(
        ratings=ratings,
        judge=judge_id(backend_id, template, config),
        aspect=config.aspect,
        prompt_tokens=state.prompt_tokens,
        completion_tokens=state.completion_tokens,
        seconds=round(state.seconds, 6),
        attempts=state.attempts,
    )


def judge_id(backend_id: str, template: PromptTemplate, config: RatingConfig) -> str:
    """Readable id of a judge: model, template and the parameters that change its answers."""
    p = config.params
    sampling = (
        "greedy" if p.temperature == 0 else f"t={p.temperature},top_p={p.top_p},seed={p.seed}"
    )
    return f"{backend_id} | {template.id} | {config.mode} | {sampling}"


RATERS["generate"] = _rate_generate

# The logprob rater lives in its own module and registers itself on import.
import judge.logprob  # noqa: E402, F401
