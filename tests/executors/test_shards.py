"""The shard plan: every row in exactly one shard, in order, whatever the cut; markers and
the output folder's guard; one shard judged and repaired without Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrajudge.executors import OutputFolder, ScoreJob, list_inputs, plan_shards, read_output
from ultrajudge.executors.ray import run_shard
from ultrajudge.executors.shards import read_shard
from ultrajudge.judge.backends.scripted import ScriptedBackend, auto_ultrafeedback
from ultrajudge.judge.io import DataError
from ultrajudge.judge.rating import RatingConfig
from ultrajudge.judge.store import ResultStore


def _write_jsonl(path: Path, rows: list[dict], blank_every: int = 0) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for k, row in enumerate(rows):
            f.write(json.dumps(row) + "\n")
            if blank_every and k % blank_every == 0:
                f.write("\n")


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 23), min_size=1, max_size=3),
    shard_rows=st.integers(1, 9),
    blank_every=st.integers(0, 4),
    parquet=st.booleans(),
    row_group=st.integers(1, 7),
)
def test_every_row_in_exactly_one_shard_in_order(
    tmp_path_factory, sizes, shard_rows, blank_every, parquet, row_group
):
    folder = tmp_path_factory.mktemp("in")
    expected = []
    for f, n in enumerate(sizes):
        rows = [{"file": f, "k": k, "text": f"line\n{k}"} for k in range(n)]
        expected += rows
        if parquet:
            pq.write_table(
                pa.Table.from_pylist(rows or [{"file": 0, "k": 0, "text": ""}])[:n],
                folder / f"s{f}.parquet",
                row_group_size=row_group,
            )
        else:
            _write_jsonl(folder / f"s{f}.jsonl", rows, blank_every)
    shards = plan_shards(list_inputs(str(folder)), shard_rows)
    got = [row for s in shards for row in read_shard(s)]
    assert [r["uj_row"] for r in got] == list(range(len(expected)))
    assert [{k: r[k] for k in ("file", "k", "text")} for r in got] == expected
    assert all(1 <= s.rows <= shard_rows for s in shards)
    assert plan_shards(list_inputs(str(folder)), shard_rows) == shards  # deterministic


def test_bad_inputs_name_the_file_and_what_to_do(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    with pytest.raises(DataError, match=r"\.parquet or \.jsonl.*a\.csv"):
        list_inputs(str(tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        list_inputs(str(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{not json\n')
    (shard,) = plan_shards([str(bad)], 10)
    with pytest.raises(DataError, match=r"bad\.jsonl: line 2 .*not JSON"):
        read_shard(shard)
    arr = tmp_path / "arr.jsonl"
    arr.write_text("[1, 2]\n")
    with pytest.raises(DataError, match="not a JSON object"):
        read_shard(plan_shards([str(arr)], 10)[0])


def test_input_changed_since_the_plan_is_refused(tmp_path):
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, [{"a": k} for k in range(4)])
    (shard,) = plan_shards([str(src)], 10)
    _write_jsonl(src, [{"a": k} for k in range(3)])
    with pytest.raises(DataError, match="changed since the job was planned"):
        read_shard(shard)


def test_output_folder_refuses_foreign_and_other_jobs(tmp_path):
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, [{"a": k} for k in range(4)])
    shards = plan_shards([str(src)], 2)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not an ultrajudge --executor ray output"):
        OutputFolder(str(foreign)).check_plan({"judge": "x"}, shards)
    out = OutputFolder(str(tmp_path / "out"))
    out.check_plan({"judge": "x"}, shards)
    out.check_plan({"judge": "x"}, shards)  # a rerun of the same job is welcome
    with pytest.raises(DataError, match="output of another job"):
        out.check_plan({"judge": "y"}, shards)
    assert (foreign / "notes.txt").read_text() == "mine"


def _rows(n: int) -> list[dict]:
    return [
        {"instruction": f"question {k}", "completions": [f"answer {k} a", f"answer {k} b"]}
        for k in range(n)
    ]


def test_repair_rejudges_only_the_failed_rows(tmp_path):
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, _rows(5))
    (shard,) = plan_shards([str(src)], 10)
    folder = OutputFolder(str(tmp_path / "out"))
    job = ScoreJob("scripted:auto", (RatingConfig(max_retries=0),))
    folder.check_plan(job.identity(), [shard])
    asked: list[str] = []

    def flaky(prompt: str) -> str:  # question 3 gets no readable answer the first time
        asked.append(prompt)
        return "no idea" if "question 3" in prompt else auto_ultrafeedback(prompt)

    with ResultStore(tmp_path / "s.sqlite") as store:
        marker = run_shard(
            job, ScriptedBackend(responder=flaky), store, folder, shard, repair=False
        )
        assert marker["rows"] == 5 and marker["failed"] == 1 and marker["made_now"] == 5
        first = folder.read_part(0)
        assert [r["rating_status"][0] for r in first] == ["ok", "ok", "ok", "missing", "ok"]
        asked.clear()
        good = ScriptedBackend(responder=lambda p: asked.append(p) or auto_ultrafeedback(p))
    with ResultStore(tmp_path / "other-node.sqlite") as store:  # even with an empty store
        marker = run_shard(job, good, store, folder, shard, repair=True)
    assert len(asked) == 1 and "question 3" in asked[0]
    assert marker["failed"] == 0 and marker["made_now"] == 1
    repaired = read_output(str(tmp_path / "out")).to_pylist()
    assert [r["uj_row"] for r in repaired] == list(range(5))
    assert repaired[:3] == first[:3] and repaired[4] == first[4]
    assert repaired[3]["rating_status"] == ["ok", "ok"]
    assert repaired[3]["ratings"] == [float(v) for v in repaired[3]["ratings"]]


@pytest.mark.parametrize("out", ["in", "in/out", "."])
def test_out_may_not_be_the_input_inside_it_or_above_it(tmp_path, out):
    from ultrajudge.executors.ray import run_on_ray

    (tmp_path / "in").mkdir()
    _write_jsonl(tmp_path / "in" / "a.jsonl", _rows(2))
    job = ScoreJob("scripted:auto", (RatingConfig(),))
    with pytest.raises(DataError, match="is the input, inside it or above it"):
        run_on_ray(job, str(tmp_path / "in"), str(tmp_path / out))
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["a.jsonl"]
