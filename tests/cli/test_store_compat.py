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


#: ``tests/fixtures/store_v1/``: the generators' outputs and store written by the chunked
#: engine (before the generators ran on the job runner's one stream), with
#: ``--batch-size 3`` and every generation accepted (a rejected one is asked again on a
#: rerun, by design); rerun here with the default batch size, so neither the chunking nor
#: the batch size may change a key.
FIXTURE_V1 = FIXTURE.parent / "store_v1"
GENERATORS = {
    "evol_instruct.jsonl": [
        "evol-instruct", EXAMPLES / "seed_instructions.jsonl", "--evolutions", "1",
        "--answers", "--keep-intermediate", "--temperature", "0.7", "--min-length-ratio", "0",
    ],
    "evol_quality.jsonl": ["evol-quality", EXAMPLES / "seed_responses.jsonl", "--evolutions", "1"],
    "self_instruct.jsonl": ["self-instruct", EXAMPLES / "seed_contexts.jsonl", "--answers"],
    "magpie.jsonl": [
        "magpie", EXAMPLES / "seed_system_prompts.jsonl", "--template-family", "chatml",
        "--turns", "2", "--n", "2",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_a_generator_store_from_the_chunked_engine_resumes_with_zero_requests(
    tmp_path: Path, name: str
) -> None:
    store = tmp_path / "store.sqlite"
    shutil.copy(FIXTURE_V1 / "store.sqlite", store)
    calls, out = tmp_path / "calls.log", tmp_path / name
    args = ["generate", *GENERATORS[name], "--model", "scripted:auto", "-O", f"log={calls}"]
    args += ["-o", out, "--store", store, "--no-progress"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert calls.exists() is False, "a stored generation was requested again"
    assert out.read_bytes() == (FIXTURE_V1 / name).read_bytes()
