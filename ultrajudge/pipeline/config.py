"""The pipeline file: read, validate eagerly, resolve paths (see :mod:`ultrajudge.pipeline`).

:mod:`.schema` checks the file's keys and types (each error names ``file:line`` and the key
path, :mod:`.validate`); this module turns the validated file into the frozen configs the
run uses, whose own checks (values that are wrong only together) name the key path too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ultrajudge.analysis.filters import FilterConfig
from ultrajudge.analysis.pairs import PairBuilder
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.io import Columns
from ultrajudge.judge.jury import Juror, Jury, parse_juror, slugify
from ultrajudge.judge.rating import ASPECTS, RatingConfig
from ultrajudge.judge.types import GenerationParams
from ultrajudge.pipeline.build_steps import build_step, options_text
from ultrajudge.pipeline.schema import JurorEntry, JurySection, PipelineFile, ScoreSection
from ultrajudge.pipeline.steps import GenerateStep, resolve_spec
from ultrajudge.pipeline.validate import located, validated
from ultrajudge.pipeline.yaml_source import YamlSource


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
    max_failure_rate: float | None = None  # None: the CLI's default

    @property
    def jurors(self) -> tuple[Juror, ...]:
        return self.judges.jurors if isinstance(self.judges, Jury) else (self.judges,)


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a pipeline file; every error names ``file:line``, the key path and
    what is expected (the valid keys, for an unknown one)."""
    source = YamlSource.read(path, "pipeline file")
    return build_pipeline(validated(PipelineFile, source, "pipeline file"), source)


def build_pipeline(spec: PipelineFile, source: YamlSource) -> Pipeline:
    """The run's frozen configs from a validated file (paths relative to its folder)."""
    base = source.path.resolve().parent
    given = spec.columns
    columns = Columns(given.instruction, given.completions) if given else Columns()
    pairs = spec.pairs
    source_data = spec.input
    if source_data is not None and (base / source_data).exists():
        source_data = str(base / source_data)
    with located(source, ("jury",) if spec.jury else ("judge",)):
        judges = _judges(spec, base)
    with located(source, ("pairs",)):
        builder = (
            PairBuilder(**pairs.model_dump(exclude={"format"}, exclude_unset=True), columns=columns)
            if pairs
            else PairBuilder(columns=columns)
        )
    with located(source, ("filters",)):
        filters = FilterConfig.from_mapping(
            spec.filters.model_dump(exclude_unset=True) if spec.filters else {}
        )
    pipeline = Pipeline(
        name=source.path.stem,
        base=base,
        judges=judges,
        input=source_data,
        split=spec.split,
        limit=spec.limit,
        workdir=base / spec.workdir if spec.workdir else None,
        columns=columns,
        generate=_generate_steps(spec, columns, source),
        ratings=_rating_configs(spec.score or ScoreSection(), source),
        builder=builder,
        format=pairs.format if pairs else "standard",
        filters=filters,
        outputs=Outputs(**spec.outputs.model_dump(exclude_unset=True)) if spec.outputs else Outputs(),
        batch_size=spec.batch_size,
        max_retries=spec.max_retries,
        max_failure_rate=spec.max_failure_rate,
    )  # fmt: skip
    with located(source, ()):
        _check_start(pipeline)
    return pipeline


def juror(entry: str | JurorEntry) -> Juror:
    """A juror from a spec (``NAME=SPEC`` or ``SPEC``) or a validated mapping."""
    if isinstance(entry, str):
        return parse_juror(entry)
    return Juror(entry.name or slugify(entry.model), entry.model, options_text(entry.options))


def jury(section: JurySection) -> Jury:
    """A :class:`Jury` from a validated ``jury:`` mapping or ``--jury`` file."""
    jurors = tuple(juror(j) for j in section.judges)
    return Jury(jurors, **section.model_dump(exclude={"judges"}, exclude_unset=True))


def _judges(spec: PipelineFile, base: Path) -> Jury | Juror:
    if spec.jury is not None:
        panel = jury(spec.jury)
        resolved = tuple(replace(j, spec=resolve_spec(j.spec, base)) for j in panel.jurors)
        return replace(panel, jurors=resolved)
    assert spec.judge is not None  # the schema asks for exactly one of judge and jury
    one = juror(spec.judge)
    return replace(one, spec=resolve_spec(one.spec, base))


def _generate_steps(
    spec: PipelineFile, columns: Columns, source: YamlSource
) -> tuple[GenerateStep, ...]:
    steps = []
    for i, item in enumerate(spec.generate or ()):
        with located(source, ("generate", i, item.kind)):
            steps.append(build_step(item.kind, item.step, columns, source.path.resolve().parent))
    return tuple(steps)


def _rating_configs(score: ScoreSection, source: YamlSource) -> tuple[RatingConfig, ...]:
    aspects = list(ASPECTS) if "all" in score.aspects else list(score.aspects)
    params = GenerationParams(
        max_new_tokens=score.max_new_tokens, temperature=score.temperature, seed=score.seed
    )
    keys = {"mode", "template", "per_completion", "max_retries", "min_mass"}
    extra = score.model_dump(include=keys, exclude_unset=True)
    with located(source, ("score",)):
        return tuple(RatingConfig(aspect=a, params=params, **extra) for a in aspects)


def _check_start(pipeline: Pipeline) -> None:
    first = pipeline.generate[0] if pipeline.generate else None
    seeded = first is not None and first.kind == "magpie" and first.system is not None
    if pipeline.input is None and not seeded:
        raise ConfigError("name the 'input' data (or start with a magpie step that has a 'system')")
    if pipeline.input is not None and seeded:
        raise ConfigError(
            "magpie: give system prompts in the input (system_col) or 'system', not both"
        )
