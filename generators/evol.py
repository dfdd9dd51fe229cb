"""Evol-Instruct (harder instructions) and EvolQuality (better responses).

Evol-Instruct rewrites each instruction with a mutation chosen per row and
round (seeded by the row's text): ``add_constraints``, ``deepen``,
``concretize``, ``increase_reasoning`` or ``breadth`` (a new instruction in the
same domain). ``evolutions`` rounds each evolve the last accepted version. An
evolution is rejected, with its reason recorded, when it is empty, was cut off
(``truncated``), still holds the prompt's headers (``echoes_header``), copies
its input (``copies_input``: it has no word its input lacks, so it can only be
the input reordered or cut), or is much shorter than its input (``too_short``:
fewer than ``min_length_ratio`` times its words). A rejected round ends that row's chain; the rejection is
stored as a failure, so the next run tries it again.

EvolQuality rewrites each response along one aspect (helpfulness, relevance,
deepening, creativity, details), strips echoed headers, and keeps both the
original and the evolved response as completions, for later scoring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ultrajudge.generators.engine import Outcome, Request, Session, basic_check, row_rng, seeded
from ultrajudge.generators.engine import text_key as _key
from ultrajudge.generators.pooling import answer_each
from ultrajudge.generators.rows import (
    CompletionSet,
    instruction_of,
    merge_row,
    provenance,
    text_of,
)
from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.similarity import normalise_words
from ultrajudge.judge.templates import load_template
from ultrajudge.judge.types import Completion, GenerationParams

MUTATIONS = ("add_constraints", "deepen", "concretize", "increase_reasoning", "breadth")
ASPECTS = ("helpfulness", "relevance", "deepening", "creativity", "details")
_COMPLETION_COLUMNS = ("completions", "completion_models", "completion_params")

# Headers of the built-in templates; a model that repeats them echoed the prompt.
_INSTRUCT_HEADERS = ("original prompt", "rewritten prompt", "new prompt", "given prompt")
_INSTRUCT_OUTPUT = ("rewritten prompt", "new prompt")
_QUALITY_HEADERS = ("prompt", "response", "improved response")
_QUALITY_OUTPUT = ("improved response",)
_ECHO_PHRASES = re.compile(r"(given|original|rewritten) prompt", re.IGNORECASE)


def _header(names: Sequence[str], *, inline: bool = False) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in names)
    tail = r"[ \t*_#]*:[ \t*_]*" if inline else r"[ \t*_#]*:?[ \t*_]*$"
    return re.compile(rf"^[ \t]*[#*_]*[ \t]*(?:{alternatives}){tail}", re.IGNORECASE)


def strip_headers(text: str, *, output: Sequence[str], names: Sequence[str]) -> str:
    """Drop an echoed prompt: everything up to the last ``output`` header line, then any
    header lines (``# Improved response``, ``**New prompt:**``) at the start.

    >>> strip_headers("# Response\\nold\\n# Improved Response\\n**New:** better", output=["improved response"], names=["response", "improved response"])
    '**New:** better'
    >>> strip_headers("Rewritten prompt: Write a sonnet.", output=["rewritten prompt"], names=["rewritten prompt"])
    'Write a sonnet.'
    """
    lines = text.strip().splitlines()
    is_output = _header(output)
    last = max((i for i, line in enumerate(lines) if is_output.match(line)), default=-1)
    lines = lines[last + 1 :]
    is_header, inline = _header(names), _header(names, inline=True)
    while lines and (not lines[0].strip() or is_header.match(lines[0])):
        lines = lines[1:]
    if lines:
        lines[0] = inline.sub("", lines[0], count=1)
    return "\n".join(lines).strip()


def check_evolved_instruction(
    completion: Completion, *, source: str, min_length_ratio: float
) -> Outcome:
    """Accept an evolved instruction, or name why it is rejected (see the module docstring)."""
    text, status = basic_check(completion)
    if status != "ok":
        return text, status
    if completion.finish_reason == "length":
        return text, "truncated"
    text = strip_headers(text, output=_INSTRUCT_OUTPUT, names=_INSTRUCT_HEADERS)
    if not text:
        return text, "empty"
    header = _header(_INSTRUCT_HEADERS)
    if _ECHO_PHRASES.search(text) or any(header.match(line) for line in text.splitlines()):
        return text, "echoes_header"
    words, before = normalise_words(text), normalise_words(source)
    if not set(words) - set(before):
        return text, "copies_input"
    if len(words) < min_length_ratio * len(before):
        return text, "too_short"
    return text, "ok"


def check_evolved_response(completion: Completion, *, source: str) -> Outcome:
    """Accept an improved response with echoed headers stripped; reject an empty one, one
    that still holds the prompt's headers, or one identical to its source."""
    text, status = basic_check(completion)
    if status != "ok":
        return text, status
    text = strip_headers(text, output=_QUALITY_OUTPUT, names=_QUALITY_HEADERS)
    if not text:
        return text, "empty"
    if any(_header(_QUALITY_HEADERS).match(line) for line in text.splitlines()):
        return text, "echoes_header"
    if normalise_words(text) == normalise_words(source):
        return text, "copies_input"
    return text, "ok"


def _validate(rounds: int, choices: Sequence[str], allowed: Sequence[str], what: str) -> None:
    if rounds < 1:
        raise ConfigError(f"evolutions must be >= 1, got {rounds}")
    unknown = sorted(set(choices) - set(allowed))
    if not choices or unknown:
        raise ConfigError(f"unknown or no {what} {unknown}; choose from {', '.join(allowed)}")


@dataclass(frozen=True)
class EvolInstructConfig:
    """How to evolve instructions. ``params.seed`` seeds mutations and sampling."""

    evolutions: int = 1
    mutations: tuple[str, ...] = MUTATIONS
    params: GenerationParams = field(default_factory=lambda: GenerationParams(temperature=0.7))
    keep_intermediate: bool = False  # add instruction_versions (original first)
    answers: bool = False  # answer the final instruction into completions
    min_length_ratio: float = 0.5
    instruction_col: str = "instruction"

    def __post_init__(self) -> None:
        _validate(self.evolutions, self.mutations, MUTATIONS, "mutation(s)")

    def request(self, instruction: str, mutation: str, round_: int) -> Request:
        template = load_template(f"evol_instruct/{mutation}")
        return Request(
            "evol_instruct",
            template.render(instruction=instruction),
            seeded(self.params, "evol", round_),
            template.id,
            check=lambda c: check_evolved_instruction(
                c, source=instruction, min_length_ratio=self.min_length_ratio
            ),
            rules=(("min_length_ratio", self.min_length_ratio),),
        )


@dataclass
class _Chain:
    """One row's evolution so far."""

    key: str
    versions: list[str]
    mutations: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    finish_reason: str = "stop"  # of the last accepted version

    @property
    def alive(self) -> bool:
        return all(s == "ok" for s in self.statuses)


def evolve_instructions(
    rows: Sequence[Mapping[str, Any]],
    backend: Backend,
    config: EvolInstructConfig,
    session: Session,
    *,
    model: str = "",
) -> list[dict[str, Any]]:
    """Every row with ``instruction`` set to its last accepted evolution (the input's own
    ``instruction``, if any, is kept as ``original_instruction``), plus ``evol_mutations``
    and ``evol_status`` (one entry per round tried), ``evol_rounds`` (accepted rounds),
    ``evol_params``, ``instruction_versions`` if asked, and with ``answers`` an answer in
    ``completions``. An input ``completions`` column no longer answers the instruction and
    is kept as ``original_completions``. ``model`` names the model in provenance."""
    model = model or backend.id
    out: list[dict[str, Any]] = []
    originals = [instruction_of(row, config.instruction_col) for row in rows]
    chains = [_Chain(_key(text), [text]) for text in originals]
    for round_ in range(config.evolutions):
        live = [c for c in chains if c.alive]
        mutations = [
            row_rng(config.params.seed, "evol", c.key, round_).choice(config.mutations)
            for c in live
        ]
        requests = [config.request(c.versions[-1], m, round_) for c, m in zip(live, mutations)]
        made = session.run(backend, requests, f"evol-instruct round {round_ + 1}")
        for chain, mutation, gen in zip(live, mutations, made):
            chain.mutations.append(mutation)
            chain.statuses.append(gen.status)
            if gen.ok:
                chain.versions.append(gen.text)
    answers = (
        answer_each(
            session,
            backend,
            [c.versions[-1] for c in chains],
            params=config.params,
            model=model,
        )
        if config.answers
        else None
    )
    for k, (row, chain) in enumerate(zip(rows, chains)):
        new: dict[str, Any] = {
            "instruction": chain.versions[-1],
            "evol_mutations": chain.mutations,
            "evol_status": chain.statuses,
            "evol_rounds": len(chain.versions) - 1,
            "evol_params": provenance(
                "evol_instruct", model=model, backend=backend.id, params=config.params
            ),
        }
        if config.keep_intermediate:
            new["instruction_versions"] = chain.versions
        if answers is not None:
            new.update(answers[k].columns())
        out.append(merge_row(row, new, stale=_COMPLETION_COLUMNS))
    return out


@dataclass(frozen=True)
class EvolQualityConfig:
    """How to evolve responses. Sources: one text per row (``response_col``), or a list
    column (``completions_col``); exactly one of the two."""

    evolutions: int = 1
    aspects: tuple[str, ...] = ASPECTS
    params: GenerationParams = field(default_factory=lambda: GenerationParams(temperature=0.7))
    instruction_col: str = "instruction"
    response_col: str | None = "response"
    completions_col: str | None = None

    def __post_init__(self) -> None:
        _validate(self.evolutions, self.aspects, ASPECTS, "aspect(s)")
        if (self.response_col is None) == (self.completions_col is None):
            raise ConfigError("give exactly one of response_col and completions_col")

    def sources(self, row: Mapping[str, Any]) -> CompletionSet:
        if self.completions_col is not None:
            return CompletionSet.from_row(row, self.completions_col)
        text = text_of(row, self.response_col)  # type: ignore[arg-type]
        return CompletionSet([text], ["input"], [provenance("input")])

    def request(self, instruction: str, response: str, aspect: str, round_: int) -> Request:
        template = load_template(f"evol_quality/{aspect}")
        return Request(
            "evol_quality",
            template.render(instruction=instruction, response=response),
            seeded(self.params, "quality", round_),
            template.id,
            check=lambda c: check_evolved_response(c, source=response),
        )


def evolve_responses(
    rows: Sequence[Mapping[str, Any]],
    backend: Backend,
    config: EvolQualityConfig,
    session: Session,
    *,
    model: str = "",
) -> list[dict[str, Any]]:
    """Every row with ``completions`` = its source responses followed by their evolved
    versions (each with ``mutation`` = the aspects applied and ``source_index``), and
    ``evol_quality_status``: per source response, the status of each round tried."""
    model = model or backend.id
    out: list[dict[str, Any]] = []
    instructions = [instruction_of(row, config.instruction_col) for row in rows]
    sources = [config.sources(row) for row in rows]
    chains = [
        [_Chain(_key(f"{ins}\x00{text}"), [text]) for text in src.texts]
        for ins, src in zip(instructions, sources)
    ]
    flat = [(ins, c) for ins, row_chains in zip(instructions, chains) for c in row_chains]
    for round_ in range(config.evolutions):
        live = [(ins, c) for ins, c in flat if c.alive]
        aspects = [
            row_rng(config.params.seed, "quality", c.key, round_).choice(config.aspects)
            for _, c in live
        ]
        requests = [
            config.request(ins, c.versions[-1], a, round_) for (ins, c), a in zip(live, aspects)
        ]
        made = session.run(backend, requests, f"evol-quality round {round_ + 1}")
        for (_, chain), aspect, gen in zip(live, aspects, made):
            chain.statuses.append(gen.status)
            if gen.ok:
                chain.mutations.append(aspect)
                chain.versions.append(gen.text)
                chain.finish_reason = gen.finish_reason
    for row, completions, row_chains in zip(rows, sources, chains):
        record = provenance("evol_quality", model=model, backend=backend.id, params=config.params)
        for j, chain in enumerate(row_chains):
            if len(chain.versions) > 1:
                completions.add(
                    chain.versions[-1],
                    model,
                    {
                        **record,
                        "mutation": "+".join(chain.mutations),
                        "source_index": j,
                        "finish_reason": chain.finish_reason,
                    },
                )
        new = {**completions.columns(), "evol_quality_status": [c.statuses for c in row_chains]}
        out.append(merge_row(row, new, updates=_updates(config)))
    return out


def _updates(config: EvolQualityConfig) -> tuple[str, ...]:
    if config.completions_col == "completions":
        return _COMPLETION_COLUMNS
    return _COMPLETION_COLUMNS[1:]
