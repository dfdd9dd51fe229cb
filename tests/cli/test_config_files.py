"""The YAML files the CLI reads (``run FILE``, ``--jury``, ``--generators``) are validated by
pydantic models: a wrong type, an unknown key or a value out of range is one line
``error: FILE:LINE: key.path: what is wrong`` and exit 2, before anything is written. The
models also give the files' JSON Schema (``ultrajudge schema``, ``docs/*.schema.json``)."""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, Field
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ultrajudge.cli import run
from ultrajudge.pipeline import load_pipeline
from ultrajudge.pipeline.schema import SCHEMAS, json_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "ultrajudge" / "examples"
OK = "input: in.jsonl\njudge: scripted:auto\n"

# (name, file text, the line the error names (None: none), what the line must say)
BAD_PIPELINES = [
    ("string for an integer", OK + 'limit: "3"\n', 3, "limit: expected an integer, got '3' (a string: write the number without quotes)"),
    ("word for a number", OK + "score:\n  temperature: hot\n", 4, "score.temperature: expected a number, got 'hot'"),
    ("boolean for an integer", OK + "batch_size: true\n", 3, "batch_size: expected an integer, got true (a boolean)"),
    ("float for an integer", OK + "generate:\n  - pool:\n      generators: [scripted:auto]\n      n: 2.5\n", 6, "generate[0].pool.n: expected an integer, got 2.5"),
    ("list for a mapping", OK + "columns: [instruction, completions]\n", 3, "columns: expected a mapping of KEY: VALUE, got a list"),
    ("mapping for a list", OK + "generate: {pool: {generators: [m]}}\n", 3, "generate: expected a list, got a mapping"),
    ("unknown step kind", OK + "generate:\n  - pooling: {generators: [m]}\n", 4, "generate[0]: unknown generate step 'pooling' (did you mean 'pool'?); steps are pool, evol_quality, evol_instruct, self_instruct, magpie"),
    ("two kinds in one step", OK + "generate:\n  - {pool: {generators: [m]}, magpie: {model: m}}\n", 4, "generate[0]: each generate step is one KIND: {arguments}, got 2 kinds (magpie, pool)"),
    ("unknown top-level key", OK + "filter: {min_margin: 1}\n", 3, "unknown key 'filter' (did you mean 'filters'?); valid keys are input, split, limit"),
    ("unknown nested key", OK + "generate:\n  - pool:\n      generators:\n        - {model: m, temprature: 0.9}\n", 6, "generate[0].pool.generators[0]: unknown key 'temprature' (did you mean 'temperature'?); valid keys are model, temperature, top_p"),
    ("missing required key", OK + "generate:\n  - evol_quality: {evolutions: 2}\n", 4, "generate[0].evol_quality: missing required key 'model'"),
    ("negative limit", OK + "limit: -5\n", 3, "limit: must be >= 1, got -5"),
    ("zero limit", OK + "limit: 0\n", 3, "limit: must be >= 1, got 0"),
    ("top_p above 1", OK + "generate:\n  - magpie: {model: m, top_p: 1.5}\n", 4, "generate[0].magpie.top_p: must be <= 1, got 1.5"),
    ("unknown choice", OK + "pairs: {strategy: best-vs-wrost}\n", 3, "pairs.strategy: expected one of 'best-vs-worst', 'best-vs-random-lower', 'all-pairs', got 'best-vs-wrost' (did you mean 'best-vs-worst'?)"),
    ("number or 'auto'", OK + "filters: {outliers: iforest, contamination: lots}\n", 3, "filters.contamination: expected a number or one of 'auto', got 'lots'"),
    ("empty file", "", None, "the pipeline file is empty"),
    ("a list, not a mapping", "- input: in.jsonl\n- judge: scripted:auto\n", 1, "the pipeline file must be a mapping of KEY: VALUE, got a list"),
    ("!!python tag", "input: !!python/object/apply:os.system ['echo pwned']\njudge: a\n", 1, "not valid YAML (could not determine a constructor for the tag"),
    ("a key given twice", OK + "limit: 3\nlimit: 30\n", 4, "key 'limit' is given twice in one mapping (first on line 3); keep one"),
    ("both judge and jury", OK + "jury: {judges: [a, b]}\n", 1, "name the judges with either 'judge: SPEC' (one) or 'jury:' (several)"),
    ("a jury of one", "input: in.jsonl\njury:\n  judges: [a]\n", 3, "jury.judges: needs at least 2 item(s), got 1"),
    ("two jurors with one name", "input: in.jsonl\njury:\n  judges: [a, {name: a, model: b}]\n", 2, "jury: juror name(s) ['a'] used more than once"),
    ("juror spec of the wrong type", "input: in.jsonl\njury: {judges: [a, 7]}\n", 2, "jury.judges[1]: expected a model spec (a string) or a mapping {name, model, options}"),
    ("values wrong only together", OK + "generate:\n  - pool:\n      generators: [{model: m, temperature: 0}]\n      n: 2\n", 4, "generate[0].pool: n=2 completions per generator need sampling"),
    ("no input", "judge: scripted:auto\n", None, "name the 'input' data"),
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("no_library_progress_bars")


def _one_line(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("text", "line", "says"), [c[1:] for c in BAD_PIPELINES], ids=[c[0] for c in BAD_PIPELINES]
)
def test_a_bad_pipeline_file_is_one_line_naming_file_line_and_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    line: int | None,
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"instruction": "hi", "completions": ["a", "b"]}\n')
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    before = sorted(tmp_path.rglob("*"))
    assert run(["run", str(path), "--no-progress"]) == 2
    lines = _one_line(capsys)
    assert len(lines) == 1, lines
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    if "YAML" in says:  # read_yaml's own shape for a syntax error or a refused tag
        where = f"pipeline file '{path}', line {line}: "
    assert lines[0] == f"error: {where}{says}" or lines[0].startswith(f"error: {where}{says}"), (
        lines
    )
    assert sorted(tmp_path.rglob("*")) == before  # nothing written: no work dir, no store


def test_several_problems_are_one_line_listing_each_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(OK + "limit: '3'\nscore:\n  temperature: hot\n  aspects: [overal]\n")
    assert run(["run", str(path), "--dry-run"]) == 2
    (line,) = _one_line(capsys)
    assert line == (
        f"error: {path}: 3 problems: "
        "line 3: limit: expected an integer, got '3' (a string: write the number without quotes); "
        "line 5: score.temperature: expected a number, got 'hot'; "
        "line 6: score.aspects[0]: expected one of 'overall', 'helpfulness', 'honesty', "
        "'instruction_following', 'truthfulness', 'all', got 'overal' (did you mean 'overall'?)"
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("judges: [a]\n", "jury.yaml:1: judges: needs at least 2 item(s), got 1"),
        ("judges: [a, b]\nreducer: max\n", "jury.yaml:2: reducer: expected one of 'mean', 'median', 'trimmed_mean', 'majority', got 'max'"),
        ("judges: [a, b]\ntrim: '0.2'\n", "jury.yaml:2: trim: expected a number, got '0.2' (a string: write the number without quotes)"),
        ("judges: [a, {model: b, temp: 1}]\n", "jury.yaml:1: judges[1]: unknown key 'temp'; valid keys are name, model, options"),
        ("- a\n- b\n", "jury.yaml:1: the jury file must be a mapping of KEY: VALUE, got a list"),
        ("judges: [a, b]\nquorum: 3\n", "jury.yaml: quorum must be between 1 and 2, got 3"),
    ],
)  # fmt: skip
def test_a_bad_jury_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "hi", "completions": ["a", "b"]}\n')
    (tmp_path / "jury.yaml").write_text(text)
    out = tmp_path / "out.jsonl"
    argv = ["score", str(src), "-o", str(out), "--jury", str(tmp_path / "jury.yaml")]
    assert run([*argv, "--no-progress"]) == 2
    (line,) = _one_line(capsys)
    assert line == f"error: {tmp_path}/{says}"
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("generators:\n  - model: ./a\n    temprature: 0.9\n", "gens.yaml:3: generators[0]: unknown key 'temprature' (did you mean 'temperature'?)"),
        ("generators:\n  - {model: ./a, temperature: warm}\n", "gens.yaml:2: generators[0].temperature: expected a number, got 'warm'"),
        ("- model: ./a\n", "gens.yaml:1: the generators file must be a mapping of KEY: VALUE, got a list"),
        ("generators: []\n", "gens.yaml:1: generators: needs at least 1 item(s), got 0"),
        ("pool: [./a]\n", "gens.yaml:1: unknown key 'pool'; valid keys are generators"),
    ],
)  # fmt: skip
def test_a_bad_generators_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "hi"}\n')
    (tmp_path / "gens.yaml").write_text(text)
    out = tmp_path / "g.jsonl"
    argv = [
        "generate",
        "pool",
        str(src),
        "-o",
        str(out),
        "--generators",
        str(tmp_path / "gens.yaml"),
    ]
    assert run(argv) == 2
    lines = _one_line(capsys)
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path}/{says}"), lines
    assert not out.exists()


def test_a_generators_file_builds_the_pool(tmp_path: Path) -> None:
    from ultrajudge.generators.pooling import PoolGenerator
    from ultrajudge.pipeline.build_steps import load_generators_file

    path = tmp_path / "pool.yaml"
    path.write_text(
        "generators:\n"
        "  - model: ./a\n    temperature: 0.9\n    system: 'Be brief, please'\n"
        "  - model: ./b\n    options: {dtype: float32, delay: 0}\n"
        "  - scripted:auto\n"
    )
    assert load_generators_file(path) == [
        PoolGenerator("./a", 0.9, system="Be brief, please"),
        PoolGenerator("./b", options={"dtype": "float32", "delay": "0"}),
        PoolGenerator("scripted:auto"),
    ]


def _pipelines() -> list[Path]:
    return sorted({*EXAMPLES.glob("*.yaml"), *(ROOT / "tests").rglob("*.yaml")})


def _docstring_pipeline(tmp_path: Path) -> Path:
    """The example in ``ultrajudge.pipeline``'s docstring, as a file."""
    import ultrajudge.pipeline as package

    doc = package.__doc__ or ""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    path = tmp_path / "doc.yaml"
    path.write_text("\n".join(line[4:] for line in block.splitlines()) + "\n")
    (tmp_path / "feedback.jsonl").write_text("")
    return path


def test_every_shipped_pipeline_validates_against_the_models_and_the_schema(
    tmp_path: Path,
) -> None:
    paths = [*_pipelines(), _docstring_pipeline(tmp_path)]
    assert EXAMPLES / "pipeline.yaml" in paths
    schema = json.loads((ROOT / "docs" / "pipeline.schema.json").read_text())
    for path in paths:
        pipeline = load_pipeline(path)
        assert pipeline.jurors, path
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_the_bundled_pipeline_keeps_its_values() -> None:
    pipeline = load_pipeline(EXAMPLES / "pipeline.yaml")
    pool, evol = pipeline.generate
    assert (pool.kind, pool.config.n, pool.config.max_new_tokens) == ("pool", 1, 256)
    assert [(g.model, g.temperature, g.name) for g in pool.config.generators] == [
        ("scripted:auto", 0.8, "pooled")
    ]
    assert evol.config.aspects == ("helpfulness", "details")
    assert evol.config.params.max_new_tokens == 256 and evol.config.params.temperature == 0.7
    assert [(j.name, dict(j.options)) for j in pipeline.jurors] == [
        ("judge_a", {}),
        ("judge_b", {"seed": "1"}),
    ]
    assert pipeline.builder.strategy == "best-vs-random-lower" and pipeline.format == "standard"
    assert pipeline.filters.outliers == "zscore" and pipeline.filters.min_margin == 1.0
    assert [r.aspect for r in pipeline.ratings] == ["overall"]
    assert pipeline.batch_size == 8 and pipeline.limit is None


def test_every_step_kind_passes_its_values_on(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        """
judge: {name: j, model: m, options: {concurrency: 4, strict: true}}
score: {aspects: all, temperature: 0.5, mode: logprob}
generate:
  - magpie: {model: m, system: Be kind., n: 3, turns: 2, seed: 7, top_p: 0.9, reply_max_new_tokens: 99}
  - evol_instruct: {model: m, mutations: [deepen], answers: true, temperature: 0.3}
  - self_instruct: {model: m, n: 2, application: maths}
  - evol_quality: {model: m, response_col: answer}
"""
    )
    pipeline = load_pipeline(path)
    magpie, evol, self_instruct, quality = (s.config for s in pipeline.generate)
    assert pipeline.generate[0].system == "Be kind." and (magpie.n, magpie.turns) == (3, 2)
    assert (magpie.query_params.seed, magpie.reply_params.seed, magpie.reply_params.top_p) == (
        7,
        7,
        0.9,
    )
    assert magpie.reply_params.max_new_tokens == 99 and magpie.query_params.max_new_tokens == 256
    assert evol.mutations == ("deepen",) and evol.answers and evol.params.temperature == 0.3
    assert (self_instruct.n, self_instruct.application) == (2, "maths")
    assert (quality.response_col, quality.completions_col) == ("answer", None)
    assert len(pipeline.ratings) == 5 and {r.mode for r in pipeline.ratings} == {"logprob"}
    assert pipeline.ratings[0].params.temperature == 0.5
    assert dict(pipeline.jurors[0].options) == {"concurrency": "4", "strict": "True"}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_committed_schema_is_what_the_models_give(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    committed = json.loads((ROOT / "docs" / f"{name}.schema.json").read_text())
    assert committed == json_schema(name), (
        f"regenerate: ultrajudge schema {name} > docs/{name}.schema.json"
    )
    assert run(["schema", name]) == 0
    assert json.loads(capsys.readouterr().out) == committed
    jsonschema.Draft202012Validator.check_schema(committed)


def test_the_schema_rejects_what_the_models_reject() -> None:
    """The schema an editor uses agrees with the run-time models on the bad files above
    (those whose problem one file shows: not the cross-value checks)."""
    validator = jsonschema.Draft202012Validator(json_schema("pipeline"))
    for name, text, _, says in BAD_PIPELINES:
        data = yaml.safe_load(text) if "python" not in text else None
        if data is None or re.search(
            r"sampling|used more than once|given twice|'input' data", says
        ):
            continue
        assert not validator.is_valid(data), name


def _default(f: Field[object]) -> object:
    if f.default is MISSING and f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


def test_the_choices_are_the_librarys_registries() -> None:
    from dataclasses import fields
    from typing import get_args

    from ultrajudge.analysis.filters import FilterConfig
    from ultrajudge.analysis.pairs import STRATEGIES
    from ultrajudge.generators import evol, magpie
    from ultrajudge.generators.pooling import PoolGenerator
    from ultrajudge.judge.jury import REDUCERS
    from ultrajudge.judge.rating import ASPECTS
    from ultrajudge.pipeline import Outputs
    from ultrajudge.pipeline import schema_types as t
    from ultrajudge.pipeline.schema import FiltersSection, OutputsSection
    from ultrajudge.pipeline.step_schema import GeneratorEntry

    assert get_args(t.Aspect) == ASPECTS and get_args(t.Strategy) == STRATEGIES
    assert get_args(t.Reducer) == tuple(REDUCERS) and get_args(t.Family) == tuple(magpie.FAMILIES)
    assert get_args(t.EvolAspect) == evol.ASPECTS and get_args(t.Mutation) == evol.MUTATIONS
    for model, dataclass in ((FiltersSection, FilterConfig), (GeneratorEntry, PoolGenerator), (OutputsSection, Outputs)):  # fmt: skip
        defaults = {f.name: _default(f) for f in fields(dataclass)}
        assert list(model.model_fields) == list(defaults), model
        for key, info in model.model_fields.items():
            if info.is_required():
                continue
            default = info.get_default(call_default_factory=True)
            assert defaults[key] == default, (model, key)


def test_doctests() -> None:
    import doctest

    from ultrajudge.pipeline import schema, yaml_source

    for module in (schema, yaml_source):
        assert doctest.testmod(module).failed == 0, module.__name__


def _leaves(data: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _leaves(v, (*path, k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _leaves(v, (*path, i))]
    return [path]


def _replaced(data: object, path: tuple[str | int, ...], value: object) -> object:
    if not path:
        return value
    head, *rest = path
    copy = dict(data) if isinstance(data, dict) else list(data)  # type: ignore[call-overload]
    copy[head] = _replaced(copy[head], tuple(rest), value)
    return copy


BUNDLED = yaml.safe_load((EXAMPLES / "pipeline.yaml").read_text())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(_leaves(BUNDLED)),
    wrong=st.sampled_from([[1, 2], {"a": 1}, "3", "hot"]),
)
def test_any_wrong_typed_value_is_named_by_its_key_path_and_line(
    tmp_path: Path, path: tuple[str | int, ...], wrong: object
) -> None:
    """Whatever scalar of the bundled pipeline gets a value of a type it cannot take, the
    error names that key path and the line that holds it."""
    from ultrajudge.judge.errors import ConfigError
    from ultrajudge.pipeline.yaml_source import format_path

    original = _leaf(BUNDLED, path)
    if isinstance(wrong, str) and (isinstance(original, str) or "options" in path):
        return  # a string where a string goes is no error (backend options are text)
    file = tmp_path / "p.yaml"
    file.write_text(yaml.safe_dump(_replaced(BUNDLED, path, wrong), sort_keys=False))
    (tmp_path / "feedback.jsonl").write_text("")
    with pytest.raises(ConfigError) as info:
        load_pipeline(file)
    message = str(info.value)
    where, named, _ = message.split(": ", 2)
    assert named == format_path(path), message
    number = int(where.rsplit(":", 1)[1])
    text = file.read_text().splitlines()[number - 1]
    assert isinstance(path[-1], int) or f"{path[-1]}:" in text, (message, text)


def _leaf(data: object, path: tuple[str | int, ...]) -> object:
    for key in path:
        data = data[key]  # type: ignore[index]
    return data
