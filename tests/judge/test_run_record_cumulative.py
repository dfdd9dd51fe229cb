"""``write_run_record``'s cumulative figures: the record's own and each pipeline step's add
up every run that wrote the file, whatever the runs spent."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ultrajudge.judge.run_record import record_path, write_run_record

_RUN = st.fixed_dictionaries(
    {
        "prompt_tokens": st.integers(0, 10_000),
        "completion_tokens": st.integers(0, 1_000),
        "made_now": st.integers(0, 50),
        "requests": st.integers(0, 60),
        "cost_usd": st.one_of(st.none(), st.integers(0, 100).map(lambda c: c / 64)),
    }
)


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "prompt_tokens": run["prompt_tokens"],
        "completion_tokens": run["completion_tokens"],
        "seconds": 0.5,
        "made_now": run["made_now"],
        "cost_usd": run["cost_usd"],
        "api": {"requests": run["requests"]},
    }


def _record(a: dict[str, Any], b: dict[str, Any], juror_b: str = "openai:b@http://h:2/v1") -> dict:
    steps = [
        {"step": "score with a", "backends": ["openai:a@http://h:1/v1"], "summary": _summary(a)},
        {"step": "score with b", "backends": [juror_b], "summary": _summary(b)},
    ]
    return {"judges": [{"id": "a"}, {"id": "b"}], "store": "s.sqlite", "summary": _summary(a),
            "steps": steps}  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(runs=st.lists(st.tuples(_RUN, _RUN), min_size=1, max_size=5))
def test_each_steps_cumulative_is_the_sum_of_its_runs(runs: list[tuple[dict, dict]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scored.jsonl"
        for a, b in runs:
            write_run_record(out, _record(a, b))
        record = json.loads(record_path(out).read_text())
    for k, step in enumerate(record["steps"]):
        mine = [run[k] for run in runs]
        cumulative = step["cumulative"]
        for name in ("prompt_tokens", "completion_tokens", "made_now", "requests"):
            assert cumulative[name] == sum(r[name] for r in mine), name
        costs = [r["cost_usd"] for r in mine]
        assert cumulative["cost_usd"] == (None if None in costs else sum(costs))
        assert cumulative["seconds"] == 0.5 * len(runs) and cumulative["runs"] == len(runs)
        assert step["summary"] == _summary(mine[-1])  # the last run's own figures


def test_a_step_whose_backend_changed_starts_its_count_again(tmp_path: Path) -> None:
    run = {"prompt_tokens": 10, "completion_tokens": 1, "made_now": 2, "requests": 2, "cost_usd": None}  # fmt: skip
    out = tmp_path / "scored.jsonl"
    write_run_record(out, _record(run, run))
    write_run_record(out, _record(run, run, juror_b="openai:b@http://h:3/v1"))  # another port
    steps = json.loads(record_path(out).read_text())["steps"]
    assert [s["cumulative"]["runs"] for s in steps] == [2, 1]
    assert [s["cumulative"]["prompt_tokens"] for s in steps] == [20, 10]
