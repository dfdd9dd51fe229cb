"""A results store written by the release before the job runner still resumes.

``tests/fixtures/store_v0/`` holds a store (and the outputs) written by the code
before ``ultrajudge.judge.runner`` existed: ``score`` (generate and logprob mode),
``pairwise`` and ``generate pool`` on the bundled examples with ``scripted:auto``.
Rerunning the same commands against a copy of that store must send no request at
all (store keys byte-identical) and write byte-identical outputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app

_register()
FIXTURE = Path(__file__).parent.parent / "fixtures" / "store_v0"
EXAMPLES = Path(__file__).parent.parent.parent / "ultrajudge" / "examples"

COMMANDS = {
    "score.jsonl": ["score", EXAMPLES / "feedback.jsonl"],
    "score_logprob.jsonl": [
        "score",
        EXAMPLES / "feedback.jsonl",
        "--mode",
        "logprob",
        "--aspect",
        "helpfulness",
    ],
    "pairwise.jsonl": ["pairwise", EXAMPLES / "pairs.jsonl"],
    "pool.jsonl": [
        "generate",
        "pool",
        EXAMPLES / "seed_instructions.jsonl",
        "-g",
        "model=scripted:auto,temperature=0.7",
        "--n",
        "2",
    ],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_store_from_the_previous_release_resumes_with_zero_requests(
    tmp_path: Path, name: str
) -> None:
    store = tmp_path / "store.sqlite"
    shutil.copy(FIXTURE / "store.sqlite", store)
    calls = tmp_path / "calls.log"
    option = "--model-option" if name == "pool.jsonl" else "--judge-option"
    judge = [] if name == "pool.jsonl" else ["--judge", "scripted:auto"]
    out = tmp_path / name
    args = [*COMMANDS[name], *judge, "-o", out, "--store", store, "--no-progress"]
    args += [option, f"log={calls}"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert calls.exists() is False, "a stored judgment was requested again"
    assert out.read_bytes() == (FIXTURE / name).read_bytes()
