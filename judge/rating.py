"""UltraFeedback-style rating of a batch of rows for one aspect.

A row is one instruction with N completions. In ``generate`` mode the judge
writes a rating and a rationale per completion; completions whose rating could
not be read are re-asked (alone, renumbered, with a new seed) a bounded number
of times (the job runner's one retry policy, :mod:`ultrajudge.judge.runner`). Other
modes (``logprob``) register themselves in ``RATERS``.

When the backend can constrain its output (:mod:`ultrajudge.judge.structured`) and the template is a
built-in one, generate mode asks for the answer held to its format (a regex of exactly
the expected blocks, or a JSON schema), so that parse failures all but vanish; the answer
is still parsed and validated. ``RatingConfig(structured=False)`` turns that off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, NamedTuple

from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.formats.pointwise import FORMATS, AnswerFormat
from ultrajudge.judge.formats.rubric import Rubric
from ultrajudge.judge.parsing import (
    parse_score_rationale,
    parse_ultrafeedback,
    parse_ultrafeedback_json,
)
from ultrajudge.judge.runner import Job, Outcome, Retry, run_in_memory
from ultrajudge.judge.scales import check_scale, scale_tag
from ultrajudge.judge.structured import (
    Form,
    SupportsStructured,
    score_rationale_regex,
    structured_form,
    ultrafeedback_regex,
    ultrafeedback_schema,
)
from ultrajudge.judge.templates import PromptTemplate, load_template
from ultrajudge.judge.types import (
    Completion,
    Conversation,
    GenerationParams,
    Message,
    Rating,
    RowJudgment,
    failure_status,
    final_failure,
)

ASPECTS = ("overall", "helpfulness", "honesty", "instruction_following", "truthfulness")
RETRYABLE = frozenset({"parse_error", "out_of_range", "missing", "backend_error", "low_mass"})
#: Aspects whose rubric allows the judge to answer N/A.
NA_ASPECTS = frozenset({"honesty"})

#: Answer formats: UltraFeedback blocks (or "score - rationale" per completion), and the
#: single-answer formats of :mod:`ultrajudge.judge.formats` (one response per prompt).
ANSWER_FORMATS = ("ultrafeedback", *FORMATS)


class Item(NamedTuple):
    """One row to rate; plain ``(instruction, completions)`` tuples are accepted too."""

    instruction: str
    completions: Sequence[str]
    reference: str | None = None  # a reference answer, for formats that show one


def reference_of(item: Sequence[object]) -> str | None:
    """The reference answer of an item (None for a plain 2-tuple or a blank reference)."""
    ref = item[2] if len(item) > 2 else None
    return ref if isinstance(ref, str) and ref.strip() else None


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
    structured: bool = True  # generate mode: constrain the answer where the backend can
    format: str = "ultrafeedback"  # or a single-answer format: prometheus, mt_bench, json
    rubric: Rubric | None = None  # prometheus (needed), json (optional)

    def __post_init__(self) -> None:
        if self.aspect not in ASPECTS:
            raise ConfigError(f"unknown aspect {self.aspect!r}; aspects are {', '.join(ASPECTS)}")
        if self.max_retries < 0:
            raise ConfigError("max_retries must be >= 0")
        check_scale(self.scale)
        if not 0.0 <= self.min_mass <= 1.0:
            raise ConfigError(f"min_mass must be between 0 and 1, got {self.min_mass}")
        self._check_format()

    def _check_format(self) -> None:
        if self.format not in ANSWER_FORMATS:
            raise ConfigError(
                f"unknown format {self.format!r}; formats are {', '.join(ANSWER_FORMATS)}"
            )
        fmt = self.answer_format
        if fmt is not None and fmt.needs_rubric and self.rubric is None:
            raise ConfigError(f"the {fmt.name} format grades by a rubric; pass --rubric")
        if self.rubric is not None and (fmt is None or not fmt.uses_rubric):
            users = ", ".join(name for name, f in FORMATS.items() if f.uses_rubric)
            raise ConfigError(f"a rubric is only used by the formats {users}; drop --rubric")
        if self.rubric is not None and tuple(self.rubric.scale) != tuple(self.scale):
            raise ConfigError(
                f"rubric {self.rubric.name!r} scores {list(self.rubric.scale)} but the scale is "
                f"{list(self.scale)}; drop --scale or make them agree"
            )

    @property
    def answer_format(self) -> AnswerFormat | None:
        """The single-answer format, or None for UltraFeedback blocks."""
        return FORMATS.get(self.format)

    @property
    def one_per_prompt(self) -> bool:
        """Each prompt grades one completion ("score - rationale" or a single-answer format)."""
        return self.per_completion or self.answer_format is not None

    def load_template(self) -> PromptTemplate:
        if self.template is not None:
            return load_template(self.template)
        if self.answer_format is not None:
            return load_template(self.answer_format.template)
        return load_template(
            "score_rationale" if self.per_completion else f"ultrafeedback/{self.aspect}"
        )

    def key_fields(self) -> dict[str, object]:
        """Everything besides backend and inputs that determines a result (for cache keys)."""
        extra: dict[str, object] = {}  # only when set: UltraFeedback keys stay as they were
        if self.answer_format is not None:
            extra["format"] = self.format
        if self.rubric is not None:
            extra["rubric"] = self.rubric.id
        return extra | {
            "aspect": self.aspect,
            "template": self.load_template().id,
            "mode": self.mode,
            "scale": list(self.scale),
            "params": vars(self.params),
            "per_completion": self.per_completion,
            "min_mass": self.min_mass if self.mode == "logprob" else None,
        }


def constraint_form(backend: Backend, config: RatingConfig) -> Form | None:
    """How generate mode constrains ``backend``'s answers under ``config``, or None.

    Only built-in templates are constrained: their answer format is known; a user's
    template may ask for more (or other) lines than the parser needs.
    """
    if config.mode != "generate" or not config.structured:
        return None
    fmt = config.answer_format
    if fmt is not None:
        if config.template is not None and config.load_template().name != fmt.template:
            return None
        form = fmt.form(getattr(backend, "capabilities", None))
        return form if isinstance(backend, SupportsStructured) else None
    if config.template is not None:  # the built-in templates of the aspects need no loading
        name = config.load_template().name
        if not (name.startswith("ultrafeedback/") or name == "score_rationale"):
            return None
    return structured_form(backend, per_completion=config.per_completion)


#: One try at a batch: ``(backend, items, config, previous, attempt) -> judgments``.
Rater = Callable[
    [Backend, Sequence[Item], RatingConfig, Sequence["RowJudgment | None"], int],
    list[RowJudgment],
]
RATERS: dict[str, Rater] = {}


def rate_rows(
    backend: Backend,
    items: Sequence[Item],
    config: RatingConfig,
    previous: Sequence[RowJudgment | None] | None = None,
) -> list[RowJudgment]:
    """Rate each (instruction, completions) item in memory, retried by the job runner's
    policy (``config.max_retries``). ``previous`` judgments (from the store) keep their
    good ratings; only their failed completions are asked again."""
    previous = list(previous) if previous is not None else [None] * len(items)
    return run_in_memory(
        rating_job(backend, config),
        items,
        previous,
        Retry.from_max_retries(config.max_retries),
        backend=backend,
    )


def rating_job(backend: Backend, config: RatingConfig) -> Job[Item, RowJudgment]:
    """Rating as a :class:`~ultrajudge.judge.runner.Job` (store kind ``rating``)."""
    if config.mode not in RATERS:
        raise ConfigError(f"unknown mode {config.mode!r}; modes are {sorted(RATERS)}")
    rater = RATERS[config.mode]

    def attempt(
        items: Sequence[Item], previous: Sequence[RowJudgment | None], n: int
    ) -> list[RowJudgment]:
        return rater(backend, items, config, previous, n)

    def outcome(j: RowJudgment) -> Outcome:
        if all(r.ok for r in j.ratings):
            return "ok"
        # A logprob read is deterministic: only a backend error may come out otherwise.
        again = RETRYABLE if config.mode == "generate" else {"backend_error"}
        retry = any(r.status in again and not final_failure(r.status, r.raw) for r in j.ratings)
        return "retry" if retry else "failed"

    return Job(
        kind="rating",
        attempt=attempt,
        outcome=outcome,
        encode=judgment_to_dict,
        decode=judgment_from_dict,
        tokens=lambda j: (j.prompt_tokens, j.completion_tokens),
        error=_backend_error,
    )


def _backend_error(j: RowJudgment) -> str | None:
    errors = [r.raw for r in j.ratings if r.status == "backend_error"]
    return (errors[0] or "backend error") if errors and len(errors) == len(j.ratings) else None


def judgment_to_dict(j: RowJudgment) -> dict[str, Any]:
    """The store's value of a judgment: ``dataclasses.asdict``'s fields and order, built
    shallowly (``asdict`` deep-copies every field, the larger part of the run's commit cost
    at an API judge's rate)."""
    d = {name: getattr(j, name) for name in _JUDGMENT_FIELDS}
    d["ratings"] = tuple({name: getattr(r, name) for name in _RATING_FIELDS} for r in j.ratings)
    d["extra"] = dict(j.extra)
    return d


_JUDGMENT_FIELDS = tuple(f.name for f in fields(RowJudgment))
_RATING_FIELDS = tuple(f.name for f in fields(Rating))


def judgment_from_dict(d: dict[str, Any]) -> RowJudgment:
    ratings = tuple(
        Rating(**{**r, "probs": tuple(r["probs"]) if r.get("probs") is not None else None})
        for r in d["ratings"]
    )
    return RowJudgment(**{**d, "ratings": ratings})


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
    attempt: int = 0,
) -> list[RowJudgment]:
    """One try: asks each row's completions that have no good rating yet (all of them
    in one prompt, or one prompt each), sampling with ``seed + attempt``."""
    template = config.load_template()
    form = constraint_form(backend, config)
    states = [_initial_state(item, prev) for item, prev in zip(items, previous)]
    asks = [(row, idx) for row, s in enumerate(states) for idx in _groups(s.todo(), config)]
    if asks:
        params = replace(config.params, seed=config.params.seed + attempt)
        conversations = [
            template.render(**_variables(items[row], [items[row][1][i] for i in idx], config))
            for row, idx in asks
        ]
        start = time.perf_counter()
        sizes = [len(idx) for _, idx in asks]
        completions = _ask(backend, conversations, sizes, params, config, form)
        share = (time.perf_counter() - start) / len(asks)
        for (row, idx), completion in zip(asks, completions):
            echoes = [items[row][1][i] for i in idx]
            _merge(states[row], idx, completion, config, share, form, echoes)
    return [_finish(s, backend.id, template, config, form) for s in states]


def _ask(
    backend: Backend,
    conversations: Sequence[Conversation],
    sizes: Sequence[int],
    params: GenerationParams,
    config: RatingConfig,
    form: Form | None,
) -> list[Completion]:
    """``backend.chat``, or constrained chat with one call per number of completions rated
    (the constraint spells out exactly that many blocks)."""
    if form is None:
        return backend.chat(conversations, params)
    assert isinstance(backend, SupportsStructured)
    out: list[Completion | None] = [None] * len(conversations)
    allow_na = config.aspect in NA_ASPECTS
    for n in sorted(set(sizes)):
        which = [k for k, size in enumerate(sizes) if size == n]
        constraint: dict
        if config.answer_format is not None:
            constraint = dict(config.answer_format.constraint(form, config.scale))
        elif config.per_completion:
            constraint = {"regex": score_rationale_regex(config.scale)}
        elif form == "regex":
            constraint = {"regex": ultrafeedback_regex(n, config.scale, allow_na=allow_na)}
        else:
            constraint = {"json_schema": ultrafeedback_schema(n, config.scale, allow_na=allow_na)}
        got = backend.chat_structured([conversations[k] for k in which], params, **constraint)
        for k, completion in zip(which, got):
            out[k] = completion
    return [c if c is not None else Completion("", error="no answer") for c in out]


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
    return [[i] for i in todo] if config.one_per_prompt else [todo]


def first_prompt(item: tuple[Any, ...], config: RatingConfig) -> tuple[Message, ...]:
    """The first prompt ``config`` sends for ``item`` (for dry runs)."""
    completions = list(item[1])[:1] if config.one_per_prompt else list(item[1])
    return config.load_template().render(**_variables(item, completions, config))


def _variables(
    item: tuple[Any, ...], completions: list[str], config: RatingConfig
) -> dict[str, object]:
    instruction = item[0]
    fmt = config.answer_format
    if fmt is not None:
        return fmt.variables(
            instruction,
            completions[0],
            scale=config.scale,
            reference=reference_of(item),
            rubric=config.rubric,
        )
    if config.per_completion:
        return {"instruction": instruction, "completion": completions[0]}
    return {"instruction": instruction, "completions": completions}


def _merge(
    state: _RowState,
    idx: list[int],
    completion: Completion,
    config: RatingConfig,
    seconds: float,
    form: Form | None = None,
    echoes: Sequence[str] = (),
) -> None:
    state.prompt_tokens += completion.prompt_tokens
    state.completion_tokens += completion.completion_tokens
    state.seconds += seconds
    state.attempts += 1
    if completion.failed:
        status = failure_status(completion.error)
        parsed: tuple[Rating, ...] = tuple(Rating(None, status, raw=completion.error) for _ in idx)
    elif config.answer_format is not None:
        parsed = (config.answer_format.parse(completion.text, scale=config.scale, echoes=echoes),)
    elif config.per_completion:
        parsed = (parse_score_rationale(completion.text, scale=config.scale),)
    else:
        parse = parse_ultrafeedback_json if form == "json" else parse_ultrafeedback
        parsed = parse(
            completion.text, len(idx), scale=config.scale, allow_na=config.aspect in NA_ASPECTS
        )
    for i, rating in zip(idx, parsed):
        state.ratings[i] = rating


def _finish(
    state: _RowState,
    backend_id: str,
    template: PromptTemplate,
    config: RatingConfig,
    form: Form | None,
) -> RowJudgment:
    ratings = tuple(r if r is not None else Rating(None, "missing") for r in state.ratings)
    return RowJudgment(
        ratings=ratings,
        judge=judge_id(backend_id, template, config, structured=form),
        aspect=config.aspect,
        prompt_tokens=state.prompt_tokens,
        completion_tokens=state.completion_tokens,
        seconds=round(state.seconds, 6),
        attempts=state.attempts,
    )


def judge_id(
    backend_id: str,
    template: PromptTemplate,
    config: RatingConfig,
    *,
    structured: Form | None = None,
) -> str:
    """Readable id of a judge: model, template and the parameters that change its answers
    (the mode reads ``generate+regex`` / ``generate+json`` when the answer was constrained;
    a scale other than 1-5 ends it, ``| scale=1-10``, which ``compare`` reads)."""
    p = config.params
    sampling = (
        "greedy" if p.temperature == 0 else f"t={p.temperature},top_p={p.top_p},seed={p.seed}"
    )
    mode = config.mode if structured is None else f"{config.mode}+{structured}"
    rubric = f" | rubric={config.rubric.id}" if config.rubric is not None else ""
    return f"{backend_id} | {template.id} | {mode} | {sampling}{scale_tag(config.scale)}{rubric}"


RATERS["generate"] = _rate_generate

# The logprob rater lives in its own module and registers itself on import.
import ultrajudge.judge.logprob  # noqa: E402, F401
