"""Model pooling: generator specs, grouping with provenance, near duplicates, resuming."""

from __future__ import annotations

from typing import Any

import pytest

from ultrajudge.generators.engine import Session
from ultrajudge.generators.pooling import (
    PoolConfig,
    PoolGenerator,
    parse_generator,
    pool_completions,
)
from ultrajudge.generators.rows import PROVENANCE_FIELDS
from ultrajudge.judge.store import ResultStore

ROWS = [
    {"id": "r0", "instruction": "What is synthetic data?", "extra": 1},
    {"id": "r1", "instruction": "Name a prime number.", "extra": 2},
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("model=./m", PoolGenerator("./m")),
        (
            "model=scripted:auto, temperature=0.2, system=Be brief, and kind",
            PoolGenerator("scripted:auto", 0.2, system="Be brief, and kind"),
        ),
        (
            "name=hot,model=./m,temperature=1.3,top-p=0.9,template=my.jinja2",
            PoolGenerator("./m", 1.3, 0.9, template="my.jinja2", name="hot"),
        ),
        ("model=openai:gpt-4o-mini,system=Talk like a pirate, arr=1", None),
    ],
)
def test_parse_generator(spec: str, expected: PoolGenerator | None) -> None:
    if expected is None:  # "arr=1" looks like a key: rejected, listing the valid ones
        with pytest.raises(ValueError, match="unknown generator key.*'arr'.*valid keys are model"):
            parse_generator(spec)
    else:
        assert parse_generator(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("temperature=0.5", "needs a model"),
        ("model=./m,temperature=hot", "must be numbers"),
        ("model=./m,temperature=-1", "temperature must be >= 0"),
        ("model=./m,model=./n", "given twice"),
        ("model", "not KEY=VALUE"),
        ("model=./m,top_p=0", "top_p"),
    ],
)
def test_parse_generator_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_generator(spec)


def test_config_validation_and_names() -> None:
    with pytest.raises(ValueError, match="at least one generator"):
        PoolConfig(())
    with pytest.raises(ValueError, match="need sampling.*'./m'"):
        PoolConfig((PoolGenerator("./m", 0.0),), n=2)
    config = PoolConfig((PoolGenerator("./m"), PoolGenerator("./m", 1.0), PoolGenerator("./x")))
    assert config.names() == ["./m#0", "./m#1", "./x"]
    with pytest.raises(ValueError, match="generators './m#0' and './m#2' are the same .* use --n"):
        PoolConfig((PoolGenerator("./m"), PoolGenerator("./x"), PoolGenerator("./m", name="")))
    with pytest.raises(ValueError, match="generators 'a' and 'b' are the same"):
        PoolConfig((PoolGenerator("./m", name="a"), PoolGenerator("./m", name="b")))


def test_members_that_load_to_one_backend_and_ask_alike_are_refused(
    session: Session, recording
) -> None:
    """Options that do not change the backend's id (``concurrency``) leave two members
    asking the same requests: refused when the second loads, before it writes anything."""
    backend = recording(lambda p, seed: "text", id="openai:m@http://h:1/v1 (generic)")
    config = PoolConfig(
        (
            PoolGenerator("openai:m", options={"concurrency": "4"}, name="a"),
            PoolGenerator("openai:m", options={"concurrency": "8"}, name="b"),
        )
    )
    with pytest.raises(ValueError, match="generators 'a' and 'b' are the same"):
        pool_completions(ROWS, config, session, loader=lambda m, **o: backend)
    assert len(backend.prompts) == 2  # a's two rows; b asked nothing


def _loader(backends: dict[str, Any]) -> Any:
    loaded: list[str] = []

    def load(model: str, **options: str) -> Any:
        loaded.append(model)
        return backends[model]

    load.loaded = loaded  # type: ignore[attr-defined]
    return load


def test_pool_groups_completions_with_provenance(session: Session, recording) -> None:
    a = recording(lambda p, seed: f"A says {p.splitlines()[-1]}", id="backend-a")
    b = recording(lambda p, seed: f"B{seed % 3} on {p.splitlines()[-1]}", id="backend-b")
    config = PoolConfig(
        (
            PoolGenerator("model-a", temperature=0.0),
            PoolGenerator("model-b", temperature=1.0, system="Be brief."),
            PoolGenerator("model-b", temperature=0.5, name="cool"),
        ),
        n=1,
        max_new_tokens=16,
        seed=3,
    )
    load = _loader({"model-a": a, "model-b": b})
    out = pool_completions(ROWS, config, session, loader=load)
    assert load.loaded == ["model-a", "model-b"]  # consecutive generators share a backend
    row = out[0]
    assert {k: row[k] for k in ("id", "instruction", "extra")} == ROWS[0]
    assert row["completion_models"] == ["model-a", "model-b", "model-b"]
    assert row["completions"][0] == "A says <user> What is synthetic data?"
    assert b.prompts[0] == "<system> Be brief.\n<user> What is synthetic data?"
    params = row["completion_params"]
    assert all(set(p) == set(PROVENANCE_FIELDS) for p in params)
    assert [p["name"] for p in params] == ["model-a", "model-b#1", "cool"]
    assert [p["temperature"] for p in params] == [0.0, 1.0, 0.5]
    assert [p["system"] for p in params] == [None, "Be brief.", None]
    assert params[0]["seed"] == 3  # greedy keeps the run seed; sampling derives one
    assert params[1]["backend"] == "backend-b" and params[1]["template"].startswith(
        "pooling/answer@"
    )
    assert row["generation_failures"] == []
    assert len(row["near_duplicate"]) == len(row["max_similarity"]) == 3


def test_n_samples_per_generator_get_distinct_seeds_and_copies_are_flagged(
    session: Session, recording
) -> None:
    backend = recording(lambda p, seed: "always the same answer")
    config = PoolConfig((PoolGenerator("m", temperature=0.8),), n=3)
    (row,) = pool_completions(ROWS[:1], config, session, loader=lambda m, **o: backend)
    seeds = [p["seed"] for p in row["completion_params"]]
    assert len(set(seeds)) == 3 and [p["sample"] for p in row["completion_params"]] == [0, 1, 2]
    assert row["near_duplicate"] == [False, True, True]
    assert row["max_similarity"] == [0.0, 1.0, 1.0]


def test_existing_completions_come_first_and_failures_are_listed(
    session: Session, recording
) -> None:
    rows = [{"instruction": "Q?", "completions": ["old answer"]}]
    backend = recording(lambda p, seed: "")  # every generation comes back empty
    config = PoolConfig((PoolGenerator("m", temperature=0.0, name="g"),))
    (row,) = pool_completions(rows, config, session, loader=lambda m, **o: backend)
    assert row["completions"] == ["old answer"]
    assert row["completion_models"] == ["input"]
    assert row["completion_params"][0]["generator"] == "input"
    assert row["generation_failures"] == ["g#0: empty"]
    assert "original_completions" not in row
    assert session.summary.dropped == {"empty": 1}


def test_rerun_generates_nothing(store: ResultStore, recording) -> None:
    backend = recording(lambda p, seed: f"answer {seed}")
    config = PoolConfig((PoolGenerator("m", temperature=0.9),), n=2)
    first = pool_completions(
        ROWS, config, Session(store, progress=False), loader=lambda m, **o: backend
    )
    calls = len(backend.calls)
    again = Session(store, progress=False)
    assert pool_completions(ROWS, config, again, loader=lambda m, **o: backend) == first
    assert len(backend.calls) == calls
    assert (again.summary.made_now, again.summary.from_store) == (0, 4)
