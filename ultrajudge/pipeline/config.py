"""The pipeline file: read, validate eagerly, resolve paths (see :mod:`ultrajudge.pipeline`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ultrajudge.analysis.filters import FilterConfig
from ultrajudge.analysis.pairs import STRATEGIES, PairBuilder
from ultrajudge.judge.errors import ConfigError, read_yaml
from ultrajudge.judge.io import Columns
from ultrajudge.judge.jury import Juror, Jury, juror_from_item, jury_from_mapping
from ultrajudge.judge.rating import ASPECTS, RatingConfig
from ultrajudge.judge.types import GenerationParams
from ultrajudge.pipeline.steps import (
    STEPS,
    GenerateStep,
    check_keys,
    generation_params,
    resolve_spec,
)


@dataclass(frozen=True)
class Outputs:
    """File names under the work directory (None: not written)."""

    generated: str = "generated.jsonl"
    scored: str = "scored.jsonl"
    pairs: str = "pairs.jsonl"
    dropped: str | None = "dropped.jsonl"
    report: str | None = "report.html"
    push_to_hub: str | None = None


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline file (see the module docstring)."""

    name: str
    base: Path
    judges: Jury | Juror
    input: str | None = None
    split: str = "train"
    limit: int | None = None
    workdir: Path | None = None
    columns: Columns = field(default_factory=Columns)
    generate: tuple[GenerateStep, ...] = ()
    ratings: tuple[RatingConfig, ...] = (RatingConfig(),)
    builder: PairBuilder = field(default_factory=PairBuilder)
    format: str = "standard"
    filters: FilterConfig = field(default_factory=FilterConfig)
    outputs: Outputs = field(default_factory=Outputs)
    batch_size: int = 8
    max_retries: int = 2

    @property
    def jurors(self) -> tuple[Juror, ...]:
        return self.judges.jurors if isinstance(self.judges, Jury) else (self.judges,)


TOP_KEYS = (
    "input", "split", "limit", "workdir", "columns", "batch_size", "max_retries",
    "generate", "judge", "jury", "score", "pairs", "filters", "outputs",
)  # fmt: skip
SCORE_KEYS = (
    "aspects", "mode", "template", "per_completion", "max_new_tokens", "temperature",
    "seed", "max_retries", "min_mass",
)  # fmt: skip
PAIRS_KEYS = ("strategy", "seed", "format", "id_col")


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a pipeline file; every error names the key and the valid ones."""
    path = Path(path)
    data = read_yaml(path, "pipeline file")
    data = check_keys(data, TOP_KEYS, path.name)
    base = path.resolve().parent
    columns_data = check_keys(data.get("columns"), ("instruction", "completions"), "columns")
    columns = Columns(
        columns_data.get("instruction", "instruction"),
        columns_data.get("completions", "completions"),
    )
    pairs = check_keys(data.get("pairs"), PAIRS_KEYS, "pairs")
    fmt = str(pairs.get("format", "standard"))
    if fmt not in ("standard", "conversational"):
        raise ConfigError(f"pairs: format must be standard or conversational, got {fmt!r}")
    strategy = pairs.get("strategy", "best-vs-worst")
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"pairs: unknown strategy {strategy!r}; strategies are {', '.join(STRATEGIES)}"
        )
    source = data.get("input")
    if source is not None and (base / str(source)).exists():
        source = str(base / str(source))
    pipeline = Pipeline(
        name=path.stem,
        base=base,
        judges=_judges(data, base),
        input=None if source is None else str(source),
        split=str(data.get("split", "train")),
        limit=data.get("limit"),
        workdir=base / data["workdir"] if data.get("workdir") else None,
        columns=columns,
        generate=tuple(_generate_steps(data.get("generate"), columns, base)),
        ratings=_rating_configs(check_keys(data.get("score"), SCORE_KEYS, "score")),
        builder=PairBuilder(strategy, int(pairs.get("seed", 0)), columns, id_col=pairs.get("id_col", "id")),
        format=fmt,
        filters=FilterConfig.from_mapping(check_keys(data.get("filters"), [f.name for f in fields(FilterConfig)], "filters")),
        outputs=Outputs(**check_keys(data.get("outputs"), [f.name for f in fields(Outputs)], "outputs")),
        batch_size=int(data.get("batch_size", 8)),
        max_retries=int(data.get("max_retries", 2)),
    )  # fmt: skip
    _check_start(pipeline)
    return pipeline


def _judges(data: Mapping[str, Any], base: Path) -> Jury | Juror:
    if ("judge" in data) == ("jury" in data):
        raise ConfigError("name the judges with either 'judge: SPEC' (one) or 'jury:' (several)")
    if "jury" in data:
        jury = jury_from_mapping(
            check_keys(data["jury"], ("judges", "reducer", "trim", "spread", "quorum"), "jury")
        )
        return replace(
            jury, jurors=tuple(replace(j, spec=resolve_spec(j.spec, base)) for j in jury.jurors)
        )
    juror = juror_from_item(data["judge"])
    return replace(juror, spec=resolve_spec(juror.spec, base))


def _generate_steps(items: Any, columns: Columns, base: Path) -> list[GenerateStep]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError("generate must be a list of steps, e.g. [{pool: {generators: [...]}}]")
    steps = []
    for item in items:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ConfigError(f"each generate step is one KIND: {{arguments}}, got {item!r:.80}")
        ((kind, args),) = item.items()
        if kind not in STEPS:
            raise ConfigError(f"unknown generate step {kind!r}; steps are {', '.join(STEPS)}")
        steps.append(STEPS[kind](args or {}, columns, base))
    return steps


def _rating_configs(data: Mapping[str, Any]) -> tuple[RatingConfig, ...]:
    aspects = data.get("aspects", ["overall"])
    aspects = list(ASPECTS) if aspects == "all" or aspects == ["all"] else list(aspects)
    params = generation_params(data, GenerationParams(max_new_tokens=512))
    extra = {
        k: data[k]
        for k in ("mode", "template", "per_completion", "max_retries", "min_mass")
        if k in data
    }
    return tuple(RatingConfig(aspect=a, params=params, **extra) for a in aspects)  # fmt: skip


def _check_start(pipeline: Pipeline) -> None:
    first = pipeline.generate[0] if pipeline.generate else None
    seeded = first is not None and first.kind == "magpie" and first.system is not None
    if pipeline.input is None and not seeded:
        raise ConfigError("name the 'input' data (or start with a magpie step that has a 'system')")
    if pipeline.input is not None and seeded:
        raise ConfigError(
            "magpie: give system prompts in the input (system_col) or 'system', not both"
        )
