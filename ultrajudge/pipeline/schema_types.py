"""The building blocks of the file models: strict sections that name unknown keys, and types.

See :mod:`ultrajudge.pipeline.schema` for the files and why the models are strict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["Options", "Section", "one_or_many", "spec_or_mapping"]

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

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )
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


def one_or_many(value: Any) -> str | None:
    return "as:one" if isinstance(value, str) else "as:many" if isinstance(value, list) else None


def spec_or_mapping(value: Any) -> str | None:
    return (
        "as:spec"
        if isinstance(value, str)
        else "as:mapping"
        if isinstance(value, Mapping)
        else None
    )
