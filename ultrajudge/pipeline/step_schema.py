"""The ``generate`` list of a pipeline file, and the pool of a ``--generators`` file, as models.

Each step is one ``KIND: {arguments}`` mapping; null sampling values keep the generator's
own default (:mod:`ultrajudge.pipeline.build_steps` passes on only what a file sets).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from ultrajudge.pipeline.schema_types import (
    EvolAspect,
    Family,
    Fraction,
    Mutation,
    Name,
    NonNegFloat,
    Options,
    PosInt,
    Section,
    TopP,
    spec_or_mapping,
)

__all__ = [
    "EvolInstructStep",
    "EvolQualityStep",
    "GenerateItem",
    "GeneratorEntry",
    "GeneratorSpec",
    "MagpieStep",
    "ModelStep",
    "PoolStep",
    "SelfInstructStep",
]


class GeneratorEntry(Section):
    """One member of a generator pool."""

    model: Name
    temperature: NonNegFloat = 0.7
    top_p: TopP = 1.0
    system: str | None = None
    template: str = "pooling/answer"
    name: str = ""
    options: Options = Field(default={})


GeneratorSpec = Annotated[
    Annotated[Name, Tag("as:spec")] | Annotated[GeneratorEntry, Tag("as:mapping")],
    Discriminator(
        spec_or_mapping,
        custom_error_type="generator_spec",
        custom_error_message="expected a model spec (a string) or a mapping {model, temperature, ...}",
    ),
]


class PoolStep(Section):
    """Model pooling: every generator answers every instruction."""

    generators: Annotated[list[GeneratorSpec], Field(min_length=1)]
    n: PosInt = 1
    max_new_tokens: PosInt = 512
    seed: int = 0
    similarity_threshold: Fraction = 0.7


class ModelStep(Section):
    """A generate step run by one model; null sampling values keep the generator's default."""

    model: Name
    options: Options = Field(default={})
    max_new_tokens: PosInt | None = None
    temperature: NonNegFloat | None = None
    top_p: TopP | None = None
    seed: int | None = None


class EvolQualityStep(ModelStep):
    """EvolQuality: rewrite each completion (or ``response_col``) into a better one."""

    evolutions: PosInt = 1
    aspects: list[EvolAspect] | None = None
    """Null: all."""
    response_col: str | None = None
    """Null: evolve the ``completions`` list."""


class EvolInstructStep(ModelStep):
    """Evol-Instruct: mutate each instruction ``evolutions`` times."""

    evolutions: PosInt = 1
    mutations: list[Mutation] | None = None
    """Null: all."""
    keep_intermediate: bool = False
    answers: bool = False
    min_length_ratio: NonNegFloat = 0.5


class SelfInstructStep(ModelStep):
    """SelfInstruct: write ``n`` queries from each row's ``context_col``."""

    n: PosInt = 5
    application: Name | None = None
    """Null: a general-purpose assistant."""
    context_col: str = "context"
    answers: bool = False


class MagpieStep(ModelStep):
    """Magpie: instructions (and replies) from a chat model's pre-query template."""

    n: PosInt = 1
    turns: PosInt = 1
    only_instruction: bool = False
    system_col: str | None = "system_prompt"
    family: Family | None = None
    """Null: the model tokenizer's own chat template."""
    system: str | None = None
    """With no input: the one system prompt."""
    reply_max_new_tokens: PosInt | None = None
    reply_temperature: NonNegFloat | None = None


class GenerateItem(Section):
    """One step of ``generate``: exactly one ``KIND: {arguments}``."""

    key_noun: ClassVar[str] = "generate step"
    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    pool: PoolStep | None = None
    evol_quality: EvolQualityStep | None = None
    evol_instruct: EvolInstructStep | None = None
    self_instruct: SelfInstructStep | None = None
    magpie: MagpieStep | None = None

    @model_validator(mode="after")
    def _one_step(self) -> GenerateItem:
        given = sorted(self.model_fields_set)
        if len(given) != 1:
            raise PydanticCustomError(
                "one_step",
                "each generate step is one KIND: {arguments}, got {got}",
                {
                    "got": f"{len(given)} kinds ({', '.join(given)})"
                    if given
                    else "an empty mapping"
                },
            )
        if getattr(self, given[0]) is None:
            raise PydanticCustomError(
                "one_step", "{kind}: give its arguments as a mapping, got null", {"kind": given[0]}
            )
        return self

    @property
    def kind(self) -> str:
        return next(iter(self.model_fields_set))

    @property
    def step(self) -> BaseModel:
        step = getattr(self, self.kind)
        assert isinstance(step, BaseModel)
        return step
