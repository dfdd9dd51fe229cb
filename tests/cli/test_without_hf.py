"""``pip install ultrajudge`` without the ``[hf]`` extra: API judging, ``compare`` and ``pairs``
work, and asking for a local model is one line naming the extra (tests/without_hf.py hides
torch, transformers and tokenizers from a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
from openai_server import OpenAITestServer

from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows

_register()
TESTS = Path(__file__).resolve().parents[1]
EXAMPLES = TESTS.parent / "ultrajudge" / "examples"
OUTPUT_COLUMNS = ("ratings", "rationales", "rating_status", "judge")


@pytest.fixture
def server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer() as s:
        yield s


def _in_process(*args: object) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _without_hf(commands: list[list[object]]) -> dict:
    argv = json.dumps([[str(a) for a in c] for c in commands])
    proc = subprocess.run(
        [sys.executable, str(TESTS / "without_hf.py"), argv],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.slow
def test_api_judge_compare_and_pairs_run_without_torch(tmp_path: Path, server) -> None:
    scored, pairs = tmp_path / "scored.jsonl", tmp_path / "pairs.jsonl"
    report = tmp_path / "compare.json"
    judge = ["-j", "openai:test-model", "-O", f"base_url={server.url}", "-O", "server_kind=vllm"]
    run = _without_hf(
        [
            ["score", EXAMPLES / "feedback.jsonl", "-o", scored, *judge, "--no-progress"],
            ["compare", scored, "--human-col", "human_ratings", "--out", report],
            ["pairs", scored, "--strategy", "best-vs-worst", "-o", pairs],
            ["score", EXAMPLES / "feedback.jsonl", "-o", tmp_path / "x.jsonl", "-j", "./my-model"],
        ]
    )
    score, compare, pair, local = run["results"]
    assert run["loaded"] == []  # no torch, transformers or tokenizers module was imported
    assert [score["code"], compare["code"], pair["code"]] == [0, 0, 0], run
    assert len(server.requests) == 20  # one request per instruction
    # The same run with torch importable writes the same columns.
    _in_process(
        "score", EXAMPLES / "feedback.jsonl", "-o", tmp_path / "again.jsonl", *judge,
        "--store", tmp_path / "again.sqlite", "--no-progress",
    )  # fmt: skip
    blocked, normal = load_rows(str(scored)), load_rows(str(tmp_path / "again.jsonl"))
    for column in OUTPUT_COLUMNS:
        assert blocked[column] == normal[column]
    assert sum(s == "ok" for row in blocked["rating_status"] for s in row) == 55
    meta = json.loads(report.read_text())["meta"]
    assert (meta["judges"], meta["humans"], meta["items"]) == (["scored"], ["human_ratings"], 55)
    _in_process("pairs", scored, "--strategy", "best-vs-worst", "-o", tmp_path / "p2.jsonl")
    assert pairs.read_text() == (tmp_path / "p2.jsonl").read_text() != ""
    # A local model without the extra: one line naming it, exit code 2, nothing written.
    assert local["code"] == 2
    lines = local["stderr"].strip().splitlines()
    assert lines == [
        "error: judge './my-model' is a local model, which needs torch and transformers "
        "(torch is not installed): pip install 'ultrajudge[hf]'"
    ]
    assert not (tmp_path / "x.jsonl").exists()
