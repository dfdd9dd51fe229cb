"""The README's first command: the quickstart runs every job end to end, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app

_register()


@pytest.mark.slow
def test_quickstart_scores_compares_and_builds_pairs_then_resumes(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["quickstart", "--workdir", str(tmp_path), "--no-progress"]
    first = runner.invoke(app, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "RANDOM weights" in first.output

    logprob = [
        json.loads(line) for line in (tmp_path / "scored-logprob.jsonl").read_text().splitlines()
    ]
    assert len(logprob) == 20 and all(1 <= r <= 5 for row in logprob for r in row["ratings"])
    generate = [
        json.loads(line) for line in (tmp_path / "scored-generate.jsonl").read_text().splitlines()
    ]
    assert all(r is None for row in generate for r in row["ratings"])  # noise is never a score
    report = json.loads((tmp_path / "compare.json").read_text())
    assert report and (tmp_path / "compare.html").stat().st_size > 10_000
    pairs = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert pairs and all(p["chosen"] != p["rejected"] and p["margin"] >= 1 for p in pairs)

    second = runner.invoke(app, args, catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert second.output.count("0 made now, 20 from the store") == 2  # logprob and scripted runs
