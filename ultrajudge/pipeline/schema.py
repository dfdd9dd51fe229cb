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

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from ultrajudge.pipeline.schema_types import (
    Aspect,
    Fraction,
    Name,
    NonNegFloat,
    NonNegInt,
    Options,
    PosInt,
    Reducer,
    Section,
    Strategy,
    one_or_many,
    spec_or_mapping,
)
from ultrajudge.pipeline.step_schema import GenerateItem, GeneratorSpec

__all__ = [
    "SCHEMAS",
    "GeneratorsFile",
    "JuryFile",
    "PipelineFile",
    "json_schema",
]


class JurorEntry(Section):
    """A judge as a mapping: its column-safe name (default: derived from the model), its model
    spec, and backend options."""

    name: str | None = None
    model: Name
    options: Options = Field(default={})


JudgeSpec = Annotated[
    Annotated[Name, Tag("as:spec")] | Annotated[JurorEntry, Tag("as:mapping")],
    Discriminator(
        spec_or_mapping,
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
    quorum: PosInt | None = None
    """Jurors that must rate a completion for it to get a jury rating; null: all of them."""


class ColumnsSection(Section):
    """Where each row's instruction and completions (a list column) are."""

    instruction: str = "instruction"
    completions: str = "completions"


class ScoreSection(Section):
    """How the judges rate: UltraFeedback aspects (``all``: every one), generate or logprob mode."""

    aspects: Annotated[
        Annotated[Literal["all"], Tag("as:one")]
        | Annotated[list[Aspect | Literal["all"]], Tag("as:many")],
        Discriminator(one_or_many),
    ] = Field(default=["overall"])
    mode: Literal["generate", "logprob"] = "generate"
    template: str | None = None
    """Null: the aspect's built-in template."""
    per_completion: bool = False
    max_new_tokens: PosInt = 512
    temperature: NonNegFloat = 0.0
    seed: int = 0
    max_retries: NonNegInt = 2
    min_mass: Fraction = 0.5


class PairsSection(Section):
    """How rated rows become pairs, and their TRL format."""

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
    """The rows: a .jsonl/.json/.csv/.parquet file, a save_to_disk folder or a Hub id
    (relative paths are taken from this file's folder)."""
    split: str = "train"
    """The split of a Hub dataset or folder."""
    limit: PosInt | None = None
    """Read only the first rows (null: all)."""
    workdir: str | None = None
    """Where outputs and the results store go (--workdir wins; default ./NAME-run)."""
    columns: ColumnsSection | None = None
    """Where each row's instruction and completions are."""
    batch_size: PosInt = 8
    """Rows per model batch, committed to the store together."""
    max_retries: NonNegInt = 2
    """Retries of a failed generation."""
    max_failure_rate: Fraction | None = None
    """Above this share of failed judgments the run writes everything, then exits with
    code 3 (--max-failure-rate wins; default 0.5)."""
    generate: list[GenerateItem] | None = None
    """Generate steps, run in order: each is one KIND: {arguments}."""
    judge: JudgeSpec | None = None
    """One judge: a model spec (a folder, a Hub id, openai:MODEL, scripted:auto) or
    {name, model, options}. Give either judge or jury."""
    jury: JurySection | None = None
    """Several judges and a reducer. Give either judge or jury."""
    score: ScoreSection | None = None
    """How the judges rate: aspects, mode, sampling, retries."""
    pairs: PairsSection | None = None
    """How rated rows become chosen/rejected pairs."""
    filters: FiltersSection | None = None
    """Pair filters, each optional and counted in the funnel."""
    outputs: OutputsSection | None = None
    """File names under the work directory (null: not written)."""

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
