"""Generate steps of a pipeline file: each names a ``generators`` function and its config.

Each builder validates its step's keys (unknown keys are rejected with the valid ones
listed) and builds the generator's frozen config; :class:`GenerateStep` runs it through
a :class:`ultrajudge.generators.engine.Session` and estimates its model calls for ``--dry-run``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.io import Columns
from ultrajudge.judge.types import GenerationParams

Loader = Callable[..., Any]
PARAM_KEYS = ("max_new_tokens", "temperature", "top_p", "seed")


def check_keys(data: Any, valid: Sequence[str], where: str) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping of KEY: VALUE, got {data!r:.80}")
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; valid keys are {', '.join(valid)}")
    return data


def generation_params(
    data: Mapping[str, Any], base: GenerationParams, prefix: str = ""
) -> GenerationParams:
    given = {k: data[prefix + k] for k in PARAM_KEYS if prefix + k in data}
    return replace(base, **given)


def resolve_spec(spec: str, base: Path) -> str:
    """A model spec naming a folder or file next to the YAML becomes an absolute path."""
    if (base / spec).exists() and not Path(spec).is_absolute():
        return str(base / spec)
    name, sep, target = spec.partition(":")
    if sep and target and not Path(target).is_absolute() and (base / target).exists():
        return f"{name}:{base / target}"
    return spec


@dataclass(frozen=True)
class GenerateStep:
    """One generator over the rows: its kind, its ``generators`` config, and its model."""

    kind: str
    config: Any
    model: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    system: str | None = None  # magpie without an input: the one system prompt

    def run(self, rows: list[dict[str, Any]], session: Any, loader: Loader) -> list[dict[str, Any]]:
        if self.kind == "pool":
            from ultrajudge.generators.pooling import pool_completions

            return pool_completions(rows, self.config, session, loader=loader)
        module, func = _RUNNERS[self.kind]
        run = getattr(__import__(f"ultrajudge.generators.{module}", fromlist=[func]), func)
        backend = loader(self.model, **self.options)
        return list(run(rows, backend, self.config, session, model=self.model))

    def estimate(self, rows: int, completions: int) -> tuple[int, int, int]:
        """``(model calls, rows out, completions out)`` at most, before retries."""
        c = self.config
        if self.kind == "pool":
            k = len(c.generators) * c.n
            return rows * k, rows, completions + rows * k
        if self.kind == "evol_quality":
            sources = completions if c.completions_col else rows
            return sources * c.evolutions, rows, completions + sources
        if self.kind == "evol_instruct":
            answers = rows if c.answers else 0
            return rows * c.evolutions + answers, rows, answers
        if self.kind == "self_instruct":
            answers = rows * c.n if c.answers else 0
            return rows + answers, rows * c.n, answers
        per_conversation = 1 if c.only_instruction else 2 * c.turns  # magpie
        out = rows * c.n
        return out * per_conversation, out, 0 if c.only_instruction else out

    def describe(self) -> str:
        if self.kind == "pool":
            return f"pool: {len(self.config.generators)} generator(s) x n={self.config.n}"
        return f"{self.kind}: {self.model}"


_RUNNERS = {
    "evol_quality": ("evol", "evolve_responses"),
    "evol_instruct": ("evol", "evolve_instructions"),
    "self_instruct": ("self_instruct", "self_instruct"),
    "magpie": ("magpie", "magpie"),
}


def _pool_step(data: Mapping[str, Any], columns: Columns, base: Path) -> GenerateStep:
    from ultrajudge.generators.pooling import PoolConfig, generator_from_mapping

    keys = ("generators", "n", "max_new_tokens", "seed", "similarity_threshold")
    data = check_keys(data, keys, "generate: pool")
    items = data.get("generators")
    if not isinstance(items, list) or not items:
        raise ConfigError("generate: pool needs 'generators': a list of {model, temperature, ...}")
    members = []
    for item in items:
        member = generator_from_mapping(item if isinstance(item, Mapping) else {"model": item})
        members.append(replace(member, model=resolve_spec(member.model, base)))
    extra = {k: data[k] for k in keys[1:] if k in data}
    config = PoolConfig(
        tuple(members),
        **extra,
        instruction_col=columns.instruction,
        completions_col=columns.completions,
    )
    return GenerateStep("pool", config)


def _model_step(
    kind: str, data: Mapping[str, Any], columns: Columns, base: Path, valid: Sequence[str]
) -> tuple[Mapping[str, Any], str, dict[str, str]]:
    data = check_keys(data, ("model", "options", *valid), f"generate: {kind}")
    if not data.get("model"):
        raise ConfigError(f"generate: {kind} needs 'model' (a local folder, Hub id or API spec)")
    options = data.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"generate: {kind}: options must be a mapping of KEY: VALUE")
    return (
        data,
        resolve_spec(str(data["model"]), base),
        {str(k): str(v) for k, v in options.items()},
    )


def _evol_quality_step(data: Mapping[str, Any], columns: Columns, base: Path) -> GenerateStep:
    from ultrajudge.generators.evol import ASPECTS as EVOL_ASPECTS
    from ultrajudge.generators.evol import EvolQualityConfig

    valid = ("evolutions", "aspects", "response_col", *PARAM_KEYS)
    data, model, options = _model_step("evol_quality", data, columns, base, valid)
    response_col = data.get("response_col")
    config = EvolQualityConfig(
        evolutions=int(data.get("evolutions", 1)),
        aspects=tuple(data.get("aspects") or EVOL_ASPECTS),
        params=generation_params(data, EvolQualityConfig().params),
        instruction_col=columns.instruction,
        response_col=response_col,
        completions_col=None if response_col else columns.completions,
    )
    return GenerateStep("evol_quality", config, model, options)


def _evol_instruct_step(data: Mapping[str, Any], columns: Columns, base: Path) -> GenerateStep:
    from ultrajudge.generators.evol import MUTATIONS, EvolInstructConfig

    flags = ("evolutions", "mutations", "keep_intermediate", "answers", "min_length_ratio")
    data, model, options = _model_step("evol_instruct", data, columns, base, (*flags, *PARAM_KEYS))
    extra = {k: data[k] for k in flags if k in data}
    extra["mutations"] = tuple(extra.get("mutations") or MUTATIONS)
    config = EvolInstructConfig(
        **extra,
        params=generation_params(data, EvolInstructConfig().params),
        instruction_col=columns.instruction,
    )
    return GenerateStep("evol_instruct", config, model, options)


def _self_instruct_step(data: Mapping[str, Any], columns: Columns, base: Path) -> GenerateStep:
    from ultrajudge.generators.self_instruct import SelfInstructConfig

    flags = ("n", "application", "context_col", "answers")
    data, model, options = _model_step("self_instruct", data, columns, base, (*flags, *PARAM_KEYS))
    extra = {k: data[k] for k in flags if k in data}
    config = SelfInstructConfig(
        **extra, params=generation_params(data, SelfInstructConfig().params)
    )
    return GenerateStep("self_instruct", config, model, options)


def _magpie_step(data: Mapping[str, Any], columns: Columns, base: Path) -> GenerateStep:
    from ultrajudge.generators.magpie import MagpieConfig

    flags = ("n", "turns", "only_instruction", "system_col", "family")
    reply = ("reply_max_new_tokens", "reply_temperature")
    valid = (*flags, "system", *PARAM_KEYS, *reply)
    data, model, options = _model_step("magpie", data, columns, base, valid)
    defaults = MagpieConfig()
    config = MagpieConfig(
        **{k: data[k] for k in flags if k in data},
        query_params=generation_params(data, defaults.query_params),
        reply_params=replace(
            generation_params(data, defaults.reply_params, prefix="reply_"),
            seed=data.get("seed", defaults.reply_params.seed),
            top_p=data.get("top_p", defaults.reply_params.top_p),
        ),
    )
    system = data.get("system")
    return GenerateStep("magpie", config, model, options, None if system is None else str(system))


STEPS: dict[str, Callable[[Mapping[str, Any], Columns, Path], GenerateStep]] = {
    "pool": _pool_step,
    "evol_quality": _evol_quality_step,
    "evol_instruct": _evol_instruct_step,
    "self_instruct": _self_instruct_step,
    "magpie": _magpie_step,
}
