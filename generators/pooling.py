"""Model pooling: several generators each write completions for every instruction.

A generator is a model spec with its sampling temperature, system prompt and
prompt template, so a pool can mix models, or vary one model's settings. Each
writes ``n`` completions per instruction; they are grouped into ``completions``
(after any the row already has) with ``completion_models`` and
``completion_params`` alongside, and completions nearly identical to an earlier
one of the same row are flagged (``near_duplicate``, see :mod:`ultrajudge.judge.similarity`).

Generators run one after the other over the whole dataset, so only one model
is in memory at a time.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ultrajudge.generators.engine import Generated, Request, Session, seeded
from ultrajudge.generators.rows import CompletionSet, instruction_of, merge_row, provenance
from ultrajudge.judge.backends.base import Backend, build_backend
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.runner import concurrent_requests, result_of
from ultrajudge.judge.similarity import NEAR_DUPLICATE_THRESHOLD, near_duplicates
from ultrajudge.judge.templates import PromptTemplate, load_template
from ultrajudge.judge.types import GenerationParams, Message

DEFAULT_TEMPLATE = "pooling/answer"
Loader = Callable[..., Backend]


@dataclass(frozen=True)
class PoolGenerator:
    """One member of the pool: which model, and how it is asked."""

    model: str
    temperature: float = 0.7
    top_p: float = 1.0
    system: str | None = None
    template: str = DEFAULT_TEMPLATE
    name: str = ""
    options: Mapping[str, str] = field(default_factory=dict)  # backend options

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("a generator needs a model (model=./dir, scripted:auto, openai:NAME)")
        if self.temperature < 0:
            raise ConfigError(f"generator {self.model!r}: temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"generator {self.model!r}: top_p must be in (0, 1]")


GENERATOR_KEYS = tuple(f.name for f in fields(PoolGenerator))
# A comma starts a new field only when a known key and "=" follow, so a system
# prompt may contain commas ("system=Be brief, and kind").
_FIELD_START = re.compile(r",\s*(?=[A-Za-z_][\w-]*\s*=)")


def generator_from_mapping(spec: Mapping[str, Any]) -> PoolGenerator:
    """Build a generator from ``{"model": ..., "temperature": ...}``; unknown keys are an error."""
    unknown = sorted(set(spec) - set(GENERATOR_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown generator key(s) {unknown}; valid keys are {', '.join(GENERATOR_KEYS)}"
        )
    if not spec.get("model"):
        raise ConfigError(
            f"generator {dict(spec)!r} needs a model (model=./dir, scripted:auto, openai:NAME)"
        )
    values: dict[str, Any] = {
        k: v if v is None or k in ("options", "temperature", "top_p") else str(v)
        for k, v in spec.items()
    }
    try:
        for key in ("temperature", "top_p"):
            if key in values:
                values[key] = float(values[key])
    except (TypeError, ValueError):
        raise ConfigError(f"generator {spec!r}: temperature and top_p must be numbers") from None
    if not isinstance(values.get("options", {}), Mapping):
        raise ConfigError(f"generator {spec!r}: options must be a mapping of KEY: VALUE")
    values["options"] = {str(k): str(v) for k, v in values.get("options", {}).items()}
    return PoolGenerator(**values)


def parse_generator(text: str) -> PoolGenerator:
    """``"model=./m,temperature=0.9,system=Be brief"`` → :class:`PoolGenerator`.

    >>> parse_generator("model=scripted:auto, temperature=0.2, system=Be brief, and kind")
    PoolGenerator(model='scripted:auto', temperature=0.2, top_p=1.0, system='Be brief, and kind', template='pooling/answer', name='', options={})
    """
    spec: dict[str, str] = {}
    for part in _FIELD_START.split(text.strip()):
        key, sep, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"generator {text!r}: {part!r} is not KEY=VALUE")
        if key in spec:
            raise ConfigError(f"generator {text!r}: {key!r} is given twice")
        spec[key] = value.strip()
    return generator_from_mapping(spec)


@dataclass(frozen=True)
class PoolConfig:
    """A pool and how much each member writes."""

    generators: tuple[PoolGenerator, ...]
    n: int = 1  # completions per generator and instruction
    max_new_tokens: int = 512
    seed: int = 0
    similarity_threshold: float = NEAR_DUPLICATE_THRESHOLD
    instruction_col: str = "instruction"
    completions_col: str | None = "completions"  # the row's own completions, kept first

    def __post_init__(self) -> None:
        if not self.generators:
            raise ConfigError("a pool needs at least one generator")
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")
        members = [replace(g, name="") for g in self.generators]
        for k, member in enumerate(members):
            if member in members[:k]:
                raise _same_generator(self.names()[members.index(member)], self.names()[k])
        greedy = [g.model for g in self.generators if g.temperature == 0]
        if self.n > 1 and greedy:
            raise ConfigError(
                f"n={self.n} completions per generator need sampling, but {greedy} have "
                "temperature=0 (greedy decoding writes the same text n times); raise the temperature"
            )

    def names(self) -> list[str]:
        """Each generator's name: its own, else its model (numbered when a model repeats)."""
        models = [g.model for g in self.generators]
        return [
            g.name or (g.model if models.count(g.model) == 1 else f"{g.model}#{i}")
            for i, g in enumerate(self.generators)
        ]


def answer_prompt(
    template: PromptTemplate, instruction: str, system: str | None
) -> tuple[Message, ...]:
    """The template's messages for ``instruction``; ``system`` replaces its system block."""
    messages = template.render(instruction=instruction)
    if system is None:
        return messages
    return (Message("system", system), *(m for m in messages if m.role != "system"))


def sample_params(base: GenerationParams, n: int) -> list[GenerationParams]:
    """Sampling parameters of samples ``0..n-1``: same settings, seeds from the run seed."""
    return [seeded(base, "sample", k) for k in range(n)]


def answer(
    session: Session,
    backend: Backend,
    instructions: Sequence[str],
    *,
    params: Sequence[GenerationParams],
    template: PromptTemplate,
    system: str | None = None,
    kind: str = "answer",
    desc: str = "answer",
) -> list[list[Generated]]:
    """One completion per instruction and entry of ``params`` (see :func:`sample_params`)."""
    return session.run_items(
        backend,
        [
            [Request(kind, answer_prompt(template, ins, system), p, template.id) for p in params]
            for ins in instructions
        ],
        desc,
    )


def answer_each(
    session: Session,
    backend: Backend,
    instructions: Sequence[str],
    *,
    params: GenerationParams,
    model: str,
) -> list[CompletionSet]:
    """One answer per instruction with the built-in answer template, each as a
    :class:`CompletionSet` (empty where it failed; counted in ``summary.dropped``)."""
    template = load_template(DEFAULT_TEMPLATE)
    params = seeded(params, "answer")
    record = provenance(
        "answer", model=model, backend=backend.id, params=params, template=template.id
    )
    sets = []
    for (gen,) in answer(session, backend, instructions, params=[params], template=template):
        answers = CompletionSet()
        if gen.ok:
            answers.add(gen.text, model, {**record, "finish_reason": gen.finish_reason})
        else:
            session.summary.dropped[gen.status] += 1
        sets.append(answers)
    return sets


def pool_completions(
    rows: Sequence[Mapping[str, Any]],
    config: PoolConfig,
    session: Session,
    *,
    loader: Loader = build_backend,
) -> list[dict[str, Any]]:
    """Every row with the pool's completions added (see the module docstring).

    ``loader(model, **options)`` builds a backend; generators that share a model
    and options reuse it. Adds ``completions``, ``completion_models``,
    ``completion_params``, ``near_duplicate``, ``max_similarity`` and
    ``generation_failures`` (``"name#sample: status"`` for each completion that
    could not be written; rerun to retry them).
    """
    instructions = [instruction_of(r, config.instruction_col) for r in rows]
    names = config.names()
    written: list[Any] = []  # [generator][row][sample], or a Future of it
    records: list[list[dict[str, Any]]] = []  # [generator][sample]
    backend: Backend | None = None
    loaded: tuple[str, tuple[tuple[str, str], ...]] | None = None
    seen: dict[tuple[Any, ...], str] = {}  # what a member asks -> its name
    with ThreadPoolExecutor(len(names), thread_name_prefix="ultrajudge-pool") as pool:
        try:
            for name, member in zip(names, config.generators):
                if loaded != (member.model, tuple(sorted(member.options.items()))):
                    backend = None  # let the previous model go before loading the next
                    backend = loader(member.model, **member.options)
                    loaded = (member.model, tuple(sorted(member.options.items())))
                assert backend is not None
                template = load_template(member.template)
                asked = (backend.id, member.temperature, member.top_p, member.system, template.id)
                if asked in seen:  # options that do not change the backend's id differ
                    raise _same_generator(seen[asked], name)
                seen[asked] = name
                base = GenerationParams(
                    max_new_tokens=config.max_new_tokens,
                    temperature=member.temperature,
                    top_p=member.top_p,
                    seed=config.seed,
                )
                params = sample_params(base, config.n)
                ask = functools.partial(
                    answer, session, backend, instructions, params=params, template=template,
                    system=member.system, kind="pool", desc=f"pool {name}",
                )  # fmt: skip
                # an API member generates on a thread of its own while the next ones
                # load and run; a local model here, one at a time
                written.append(pool.submit(ask) if concurrent_requests(backend) else ask())
                records.append(
                    [
                        provenance(
                            "pool",
                            name=name,
                            model=member.model,
                            backend=backend.id,
                            params=p,
                            system=member.system,
                            template=template.id,
                            sample=k,
                        )
                        for k, p in enumerate(params)
                    ]
                )
            written = [result_of(w) if isinstance(w, Future) else w for w in written]
        except BaseException:  # an interrupt, or a generator that stopped: the others stop
            session.cancel.set()
            raise
    return [
        _pool_row(row, [w[i] for w in written], records, names, config, session)
        for i, row in enumerate(rows)
    ]


def _same_generator(first: str, second: str) -> ConfigError:
    return ConfigError(
        f"generators {first!r} and {second!r} are the same (model, options and sampling): "
        "the second would read back the first's completions from the store; for more "
        "samples of one model, use --n"
    )


def _pool_row(
    row: Mapping[str, Any],
    written: list[list[Generated]],
    records: list[list[dict[str, Any]]],
    names: list[str],
    config: PoolConfig,
    session: Session,
) -> dict[str, Any]:
    completions = CompletionSet.from_row(row, config.completions_col)
    failures = []
    for member, name, samples, sample_records in zip(config.generators, names, written, records):
        for k, (gen, record) in enumerate(zip(samples, sample_records)):
            if gen.ok:
                completions.add(
                    gen.text, member.model, {**record, "finish_reason": gen.finish_reason}
                )
            else:
                failures.append(f"{name}#{k}: {gen.status}")
                session.summary.dropped[gen.status] += 1
    flags, similarity = near_duplicates(completions.texts, threshold=config.similarity_threshold)
    new = {
        **completions.columns(),
        "near_duplicate": flags,
        "max_similarity": similarity,
        "generation_failures": failures,
    }
    return merge_row(row, new, updates=_updates(config.completions_col))


def _updates(completions_col: str | None) -> tuple[str, ...]:
    kept = ("completion_models", "completion_params")
    return (*kept, "completions") if completions_col == "completions" else kept
