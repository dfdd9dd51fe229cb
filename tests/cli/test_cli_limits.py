"""``--limit`` below 1 and ``--out`` onto the input are refused before anything runs
(issue 15, silent wrong results 4): exit 2, one error naming the option, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app

_register()
runner = CliRunner()

ROWS = [{"instruction": "q", "completions": ["a", "b"], "response_a": "a", "response_b": "b"}]

# (command words before the input, extra options)
COMMANDS = [
    (["score"], ["-j", "scripted:auto"]),
    (["pairwise"], ["-j", "scripted:auto"]),
    (["pairs"], []),
    (["generate", "pool"], ["-g", "model=scripted:auto"]),
]


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


@pytest.mark.parametrize("limit", ["0", "-1", "-100"])
@pytest.mark.parametrize(("words", "options"), COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS])
def test_limit_below_one_is_refused(
    tmp_path: Path, data: Path, words: list, options: list, limit: str
) -> None:
    out = tmp_path / "out.jsonl"
    args = [*words, str(data), *options, "--out", str(out), "--limit", limit]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--limit'" in result.output
    assert ">= 1" in result.output or "greater than or equal to 1" in result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_limit_one_keeps_one_row(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app, ["score", str(data), "-j", "scripted:auto", "--out", str(out), "--limit", "1"]
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1


def test_out_onto_the_input_is_refused(data: Path) -> None:
    before = data.read_bytes()
    result = runner.invoke(app, ["score", str(data), "-j", "scripted:auto", "--out", str(data)])
    assert result.exit_code == 2
    assert "refusing to write the output to" in result.output and "same path as" in result.output
    assert data.read_bytes() == before
