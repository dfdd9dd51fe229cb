"""Validated generate steps (:mod:`.schema`) → :class:`GenerateStep` with the generator's config.

Only the keys a file sets are passed on, so every default lives once, in the generator's
frozen config. Model specs naming a folder or file next to the YAML become absolute paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ultrajudge.judge.io import Columns
from ultrajudge.judge.types import GenerationParams
from ultrajudge.pipeline.step_schema import (
    EvolInstructStep,
    EvolQualityStep,
    GeneratorEntry,
    MagpieStep,
    ModelStep,
    PoolStep,
    SelfInstructStep,
)
from ultrajudge.pipeline.steps import GenerateStep, resolve_spec

__all__ = ["STEPS", "build_step", "generator", "load_generators_file", "options_text"]

PARAM_KEYS = ("max_new_tokens", "temperature", "top_p", "seed")


def build_step(kind: str, step: BaseModel, columns: Columns, base: Path) -> GenerateStep:
    """The :class:`GenerateStep` of one validated ``KIND: {arguments}`` item."""
    return STEPS[kind](step, columns, base)


def options_text(options: Mapping[str, Any]) -> dict[str, str]:
    """Backend options as the text ``-O KEY=VALUE`` would give."""
    return {str(k): str(v) for k, v in options.items()}


def generator(entry: str | GeneratorEntry, base: Path | None = None) -> Any:
    """A :class:`~ultrajudge.generators.pooling.PoolGenerator` from a spec or a mapping;
    with ``base``, a model folder next to the YAML becomes an absolute path."""
    from ultrajudge.generators.pooling import PoolGenerator

    given: dict[str, Any] = (
        {"model": entry} if isinstance(entry, str) else entry.model_dump(exclude_unset=True)
    )
    if "options" in given:
        given["options"] = options_text(given["options"])
    member = PoolGenerator(**given)
    return member if base is None else replace(member, model=resolve_spec(member.model, base))


def load_generators_file(path: str | Path) -> list[Any]:
    """The pool of a ``--generators`` YAML file (``generators:`` then a list), validated by
    :class:`~.schema.GeneratorsFile`; model specs are used as written."""
    from ultrajudge.pipeline.schema import GeneratorsFile
    from ultrajudge.pipeline.validate import located, validated
    from ultrajudge.pipeline.yaml_source import YamlSource

    source = YamlSource.read(path, "generators file")
    spec = validated(GeneratorsFile, source, "generators file")
    members = []
    for i, entry in enumerate(spec.generators):
        with located(source, ("generators", i)):
            members.append(generator(entry))
    return members


def _params(step: BaseModel, defaults: GenerationParams, prefix: str = "") -> GenerationParams:
    given = {k: getattr(step, prefix + k, None) for k in PARAM_KEYS}
    return replace(defaults, **{k: v for k, v in given.items() if v is not None})


def _set(step: BaseModel, *keys: str) -> dict[str, Any]:
    """The values of ``keys`` the file set (null included)."""
    return {k: getattr(step, k) for k in keys if k in step.model_fields_set}


def _pool_step(step: PoolStep, columns: Columns, base: Path) -> GenerateStep:
    from ultrajudge.generators.pooling import PoolConfig

    config = PoolConfig(
        tuple(generator(g, base) for g in step.generators),
        **_set(step, "n", "max_new_tokens", "seed", "similarity_threshold"),
        instruction_col=columns.instruction,
        completions_col=columns.completions,
    )
    return GenerateStep("pool", config)


def _model(step: ModelStep, base: Path) -> tuple[str, dict[str, str]]:
    return resolve_spec(step.model, base), options_text(step.options)


def _evol_quality_step(step: EvolQualityStep, columns: Columns, base: Path) -> GenerateStep:
    from ultrajudge.generators.evol import ASPECTS, EvolQualityConfig

    config = EvolQualityConfig(
        evolutions=step.evolutions,
        aspects=tuple(step.aspects or ASPECTS),
        params=_params(step, EvolQualityConfig().params),
        instruction_col=columns.instruction,
        response_col=step.response_col,
        completions_col=None if step.response_col else columns.completions,
    )
    return GenerateStep("evol_quality", config, *_model(step, base))


def _evol_instruct_step(step: EvolInstructStep, columns: Columns, base: Path) -> GenerateStep:
    from ultrajudge.generators.evol import MUTATIONS, EvolInstructConfig

    config = EvolInstructConfig(
        **_set(step, "evolutions", "keep_intermediate", "answers", "min_length_ratio"),
        mutations=tuple(step.mutations or MUTATIONS),
        params=_params(step, EvolInstructConfig().params),
        instruction_col=columns.instruction,
    )
    return GenerateStep("evol_instruct", config, *_model(step, base))


def _self_instruct_step(step: SelfInstructStep, columns: Columns, base: Path) -> GenerateStep:
    from ultrajudge.generators.self_instruct import SelfInstructConfig

    given = _set(step, "n", "context_col", "answers")
    if step.application is not None:
        given["application"] = step.application
    config = SelfInstructConfig(**given, params=_params(step, SelfInstructConfig().params))
    return GenerateStep("self_instruct", config, *_model(step, base))


def _magpie_step(step: MagpieStep, columns: Columns, base: Path) -> GenerateStep:
    from ultrajudge.generators.magpie import MagpieConfig

    defaults = MagpieConfig()
    reply = _params(step, defaults.reply_params, prefix="reply_")
    config = MagpieConfig(
        **_set(step, "n", "turns", "only_instruction", "system_col", "family"),
        query_params=_params(step, defaults.query_params),
        reply_params=replace(  # the seed and top_p are the conversation's
            reply,
            seed=reply.seed if step.seed is None else step.seed,
            top_p=reply.top_p if step.top_p is None else step.top_p,
        ),
    )
    return GenerateStep("magpie", config, *_model(step, base), system=step.system)


STEPS: dict[str, Callable[[Any, Columns, Path], GenerateStep]] = {
    "pool": _pool_step,
    "evol_quality": _evol_quality_step,
    "evol_instruct": _evol_instruct_step,
    "self_instruct": _self_instruct_step,
    "magpie": _magpie_step,
}
