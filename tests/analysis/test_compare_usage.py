"""``compare`` reads tokens, seconds and cost from each file's run record, never from the store."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_compare import HUMAN, scored

from ultrajudge.cli import _register, app

_register()

FRESH = {"made_now": 6, "from_store": 0, "statuses": {"ok": 12}, "prompt_tokens": 3000,
         "completion_tokens": 600, "seconds": 3.0, "cost_usd": 0.0234375}  # fmt: skip
RESUMED = {"made_now": 3, "from_store": 3, "statuses": {"ok": 10, "parse_error": 2},
           "prompt_tokens": 1200, "completion_tokens": 240, "seconds": 1.5, "cost_usd": None}  # fmt: skip


def _file(tmp_path: Path, name: str, summary: dict | None) -> Path:
    path = tmp_path / f"{name}.jsonl"
    scored(HUMAN, judge=f"{name} | ultrafeedback/overall@1 | generate | greedy").to_json(
        path, orient="records", lines=True
    )
    if summary is not None:
        record = {"ultrajudge": "0", "summary": summary, "judges": [], "settings": {}}
        (tmp_path / f"{name}.jsonl.run.json").write_text(json.dumps(record))
    return path


def _board(tmp_path: Path, *extra: str) -> dict[str, dict]:
    files = [_file(tmp_path, "fresh", FRESH), _file(tmp_path, "resumed", RESUMED),
             _file(tmp_path, "old", None)]  # fmt: skip
    out = tmp_path / "c.json"
    args = ["compare", *map(str, files), "--human-col", "human_ratings", "--bootstrap", "0"]
    result = CliRunner().invoke(app, [*args, *extra, "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "cost unknown" in result.output  # the terminal table says so
    return {row["judge"]: row for row in json.loads(out.read_text())["leaderboard"]}


def test_the_usage_columns_equal_the_run_records(tmp_path: Path) -> None:
    board = _board(tmp_path)
    fresh, resumed, old = board["fresh"], board["resumed"], board["old"]
    # fresh: 12 rated completions made now
    assert (fresh["prompt_tokens"], fresh["completion_tokens"]) == (250.0, 50.0)
    assert fresh["seconds_per_1k"] == 250.0 and fresh["cost_per_1k"] == 1.953125
    assert fresh["usage"] == "run record"
    # resumed: half the store entries were made now, so the record covers 6 of 12 judgments
    assert (resumed["prompt_tokens"], resumed["completion_tokens"]) == (200.0, 40.0)
    assert resumed["seconds_per_1k"] == 250.0 and resumed["cost_per_1k"] is None
    assert resumed["usage"] == (
        "run record (resumed: 3 of 6 made by the runs recorded); cost unknown (pass --price-in and --price-out)"
    )
    # an output written before run records: unknown, even with a store beside it
    for column in ("prompt_tokens", "completion_tokens", "seconds_per_1k", "cost_per_1k"):
        assert old[column] is None, column
    assert old["usage"] == "cost unknown: no run record (old.jsonl.run.json)"


def test_prices_on_the_command_line_price_the_recorded_tokens(tmp_path: Path) -> None:
    board = _board(tmp_path, "--price-in", "2", "--price-out", "10")
    assert board["fresh"]["cost_per_1k"] == 1000 * (250 * 2 + 50 * 10) / 1e6
    assert board["resumed"]["cost_per_1k"] == 1000 * (200 * 2 + 40 * 10) / 1e6
    assert board["resumed"]["usage"] == "run record (resumed: 3 of 6 made by the runs recorded)"
    assert board["old"]["cost_per_1k"] is None


@pytest.mark.parametrize(
    ("text", "usage"),
    [("{not json", "cost unknown: unreadable run record x.jsonl.run.json (JSONDecodeError)"),
     ("[1, 2]", "cost unknown: x.jsonl.run.json has no figures for column 'ratings'"),
     ('{"summary": {"made_now": 0, "from_store": 6}}',
      "cost unknown: every judgment came from the store (x.jsonl.run.json covers none)")],
)  # fmt: skip
def test_a_record_that_says_nothing_is_unknown_never_a_number(
    tmp_path: Path, text: str, usage: str
) -> None:
    from ultrajudge.analysis.compare_usage import record_usage

    path = tmp_path / "x.jsonl"
    (tmp_path / "x.jsonl.run.json").write_text(text)
    got = record_usage(path, "ratings", "pointwise")
    assert got.source == usage and got.judgments == 0
    assert math.isnan(got.per_judgment(got.prompt_tokens)) and got.cost_usd is None


def test_a_jurors_column_reads_its_pipeline_step(tmp_path: Path) -> None:
    from ultrajudge.analysis.compare_usage import record_usage

    path = tmp_path / "scored.jsonl"
    steps = [{"step": "score with a", "summary": FRESH}, {"step": "score with b", "summary": RESUMED}]  # fmt: skip
    (tmp_path / "scored.jsonl.run.json").write_text(json.dumps({"summary": {}, "steps": steps}))
    a, b = (record_usage(path, f"ratings__{n}", "pointwise") for n in "ab")
    assert (a.prompt_tokens, a.judgments, a.cost_usd) == (3000, 12, 0.0234375)
    assert (b.prompt_tokens, b.judgments, b.cost_usd) == (1200, 6, None)
    assert record_usage(path, "ratings__c", "pointwise").source.startswith("cost unknown: ")


def test_a_jurors_column_reads_its_steps_cumulative_figures(tmp_path: Path) -> None:
    """A rerun's step: its ``summary`` is the last run's (3 made now), its ``cumulative``
    both runs' (6 made): the usage covers every judgment, with both runs' tokens."""
    from ultrajudge.analysis.compare_usage import record_usage

    path = tmp_path / "scored.jsonl"
    both = {"prompt_tokens": 4200, "completion_tokens": 840, "seconds": 4.5, "made_now": 6,
            "cost_usd": None, "requests": 6, "runs": 2}  # fmt: skip
    steps = [{"step": "score with a", "summary": RESUMED, "cumulative": both}]
    (tmp_path / "scored.jsonl.run.json").write_text(json.dumps({"summary": {}, "steps": steps}))
    got = record_usage(path, "ratings__a", "pointwise")
    assert (got.prompt_tokens, got.completion_tokens, got.seconds) == (4200, 840, 4.5)
    assert got.judgments == 12 and got.source == "run record (2 runs)"
    assert got.per_judgment(got.prompt_tokens) == 350
