"""The YAML files' shapes as pydantic models: the pipeline file, ``--jury`` and ``--generators``.

The models check what a YAML file can get wrong by itself -- a key nobody reads, a value of
the wrong type, a number out of range, a name that is not one of the choices -- and nothing
is coerced: ``limit: "3"`` or ``temperature: hot`` is an error (``strict``), not a 3 or a
crash later. What needs several values together (a pool with ``n: 2`` and a greedy
generator, a rubric and a format) stays with the frozen configs the models are turned into
(:mod:`ultrajudge.pipeline.config`); the choices listed here are checked against the
library's registries by the tests. :func:`json_schema` gives the JSON Schema that editors use
(``docs/*.schema.json``; ``ultrajudge schema``).

>>> PipelineFile.model_validate({"input": "x.jsonl", "judge": "scripted:auto", "limit": 3}).limit
3
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "SCHEMAS",
    "GeneratorsFile",
    "JuryFile",
    "PipelineFile",
    "json_schema",
]

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
TopP = Annotated[float, Field(gt=0, le=1)]
Name = Annotated[str, Field(min_length=1)]
#: Backend options (``-O KEY=VALUE``); scalars, passed on as text.
Options = dict[str, str | int | float | bool]
Aspect = Literal["overall", "helpfulness", "honesty", "instruction_following", "truthfulness"]
EvolAspect = Literal["helpfulness", "relevance", "deepening", "creativity", "details"]
Mutation = Literal["add_constraints", "deepen", "concretize", "increase_reasoning", "breadth"]
Family = Literal["llama3", "chatml", "gemma", "phi3", "mistral"]
Reducer = Literal["mean", "median", "trimmed_mean", "majority"]
Strategy = Literal["best-vs-worst", "best-vs-random-lower", "all-pairs"]


class Section(BaseModel):
    """One mapping of a file: strict types, unknown keys refused with the valid ones named."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    #: What this mapping's keys are called in an unknown-key error.
    key_noun: ClassVar[str] = "key"

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        # pydantic's own "Extra inputs are not permitted" names neither the valid keys nor
        # a near miss; this error carries both (see ultrajudge.pipeline.validate).
        if isinstance(data, Mapping):
            unknown = [str(k) for k in data if k not in cls.model_fields]
            if unknown:
                raise PydanticCustomError(
                    "unknown_key",
                    "unknown {noun}(s) {keys}",
                    {"noun": cls.key_noun, "keys": unknown, "valid": list(cls.model_fields)},
                )
        return data


def _one_or_many(value: Any) -> str | None:
    return "as:one" if isinstance(value, str) else "as:many" if isinstance(value, list) else None


def _spec_or_mapping(value: Any) -> str | None:
    return (
        "as:spec"
        if isinstance(value, str)
        else "as:mapping"
        if isinstance(value, Mapping)
        else None
    )


class JurorEntry(Section):
    """A judge as a mapping: its column-safe name (default: derived from the model), its model
    spec, and backend options."""

    name: str | None = None
    model: Name
    options: Options = {}


JudgeSpec = Annotated[
    Annotated[Name, Tag("as:spec")] | Annotated[JurorEntry, Tag("as:mapping")],
    Discriminator(
        _spec_or_mapping,
        custom_error_type="judge_spec",
        custom_error_message="expected a model spec (a string) or a mapping {name, model, options}",
    ),
]


class JurySection(Section):
    """Several judges and how their ratings are combined."""

    judges: Annotated[list[JudgeSpec], Field(min_length=2)]
    reducer: Reducer = "mean"
    trim: Annotated[float, Field(ge=0, lt=0.5)] = 0.2
    spread: Literal["std", "range"] = "std"
    quorum: PosInt | None = None  # jurors that must rate a completion; null: all


class GeneratorEntry(Section):
    """One member of a generator pool."""

    model: Name
    temperature: NonNegFloat = 0.7
    top_p: TopP = 1.0
    system: str | None = None
    template: str = "pooling/answer"
    name: str = ""
    options: Options = {}


GeneratorSpec = Annotated[
    Annotated[Name, Tag("as:spec")] | Annotated[GeneratorEntry, Tag("as:mapping")],
    Discriminator(
        _spec_or_mapping,
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
    options: Options = {}
    max_new_tokens: PosInt | None = None
    temperature: NonNegFloat | None = None
    top_p: TopP | None = None
    seed: int | None = None


class EvolQualityStep(ModelStep):
    evolutions: PosInt = 1
    aspects: list[EvolAspect] | None = None  # null: all
    response_col: str | None = None  # null: evolve the `completions` list


class EvolInstructStep(ModelStep):
    evolutions: PosInt = 1
    mutations: list[Mutation] | None = None  # null: all
    keep_intermediate: bool = False
    answers: bool = False
    min_length_ratio: NonNegFloat = 0.5


class SelfInstructStep(ModelStep):
    n: PosInt = 5
    application: Name | None = None  # null: a general-purpose assistant
    context_col: str = "context"
    answers: bool = False


class MagpieStep(ModelStep):
    n: PosInt = 1
    turns: PosInt = 1
    only_instruction: bool = False
    system_col: str | None = "system_prompt"
    family: Family | None = None  # null: the model tokenizer's own chat template
    system: str | None = None  # with no input: the one system prompt
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


class ColumnsSection(Section):
    instruction: str = "instruction"
    completions: str = "completions"


class ScoreSection(Section):
    aspects: Annotated[
        Annotated[Literal["all"], Tag("as:one")]
        | Annotated[list[Aspect | Literal["all"]], Tag("as:many")],
        Discriminator(_one_or_many),
    ] = ["overall"]
    mode: Literal["generate", "logprob"] = "generate"
    template: str | None = None  # null: the aspect's built-in template
    per_completion: bool = False
    max_new_tokens: PosInt = 512
    temperature: NonNegFloat = 0.0
    seed: int = 0
    max_retries: NonNegInt = 2
    min_mass: Fraction = 0.5


class PairsSection(Section):
    strategy: Strategy = "best-vs-worst"
    seed: int = 0
    format: Literal["standard", "conversational"] = "standard"
    id_col: str = "id"


class FiltersSection(Section):
    """Every pair filter (null or false: off); the values are checked by the filters."""

    min_margin: float | None = None
    min_judge_margin: float | None = None
    jury_order: Literal["any", "no-reversal", "unanimous"] = "any"
    max_spread: float | None = None
    max_length_ratio: float | None = None
    near_duplicates: float | None = None
    embedding_model: str | None = None
    duplicate_prompts: bool = False
    outliers: Literal["none", "iforest", "zscore"] = "none"
    contamination: float | Literal["auto"] = 0.05
    z_threshold: float = 3.5
    seed: int = 0


class OutputsSection(Section):
    """File names under the work directory; null: not written."""

    generated: str = "generated.jsonl"
    scored: str = "scored.jsonl"
    pairs: str = "pairs.jsonl"
    dropped: str | None = "dropped.jsonl"
    report: str | None = "report.html"
    push_to_hub: str | None = None


class PipelineFile(Section):
    """``ultrajudge run FILE``: generate → score (a judge or a jury) → pairs → report."""

    model_config = ConfigDict(
        title="ultrajudge pipeline",
        json_schema_extra={"oneOf": [{"required": ["judge"]}, {"required": ["jury"]}]},
    )

    input: str | None = None
    split: str = "train"
    limit: PosInt | None = None
    workdir: str | None = None
    columns: ColumnsSection | None = None
    batch_size: PosInt = 8
    max_retries: NonNegInt = 2
    generate: list[GenerateItem] | None = None
    judge: JudgeSpec | None = None
    jury: JurySection | None = None
    score: ScoreSection | None = None
    pairs: PairsSection | None = None
    filters: FiltersSection | None = None
    outputs: OutputsSection | None = None

    @model_validator(mode="after")
    def _one_judge(self) -> PipelineFile:
        if (self.judge is None) == (self.jury is None):
            raise PydanticCustomError(
                "judges", "name the judges with either 'judge: SPEC' (one) or 'jury:' (several)"
            )
        return self


class JuryFile(JurySection):
    """``ultrajudge score --jury FILE``."""

    model_config = ConfigDict(title="ultrajudge jury")


class GeneratorsFile(Section):
    """``ultrajudge generate pool --generators FILE``."""

    model_config = ConfigDict(title="ultrajudge generators")

    generators: Annotated[list[GeneratorSpec], Field(min_length=1)]


#: The files with a schema, by the name ``ultrajudge schema NAME`` takes.
SCHEMAS: dict[str, type[Section]] = {
    "pipeline": PipelineFile,
    "jury": JuryFile,
    "generators": GeneratorsFile,
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the file ``name`` (a key of :data:`SCHEMAS`)."""
    schema = SCHEMAS[name].model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
