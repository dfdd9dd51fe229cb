"""Whether the compiled softmax kernel ran, as the run record of a logprob ``score`` says.

The tiny local model scores the bundled examples through the CLI in bf16 on CPU, where
packed attention asks the kernel (:mod:`ultrajudge.judge.backends.kernels`) for every
block's softmax. Each case makes one path happen (the kernel compiled here and ran; the
compiler failed; no compiler; the kernel disabled; a float32 model) and checks that
``resolved.softmax_kernel`` of ``<out>.run.json`` counts exactly the blocks of the
reference run, each by the path that computed it, with the reason; and that the
ratings do not depend on the path (within ``RATING_TOLERANCE``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app
from ultrajudge.judge.backends import kernels
from ultrajudge.judge.dataset_card import card_facts, dataset_card
from ultrajudge.judge.io import load_rows

_register()
EXAMPLES = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples" / "feedback.jsonl"
#: The kernel's bf16 probabilities may differ from PyTorch's by one bf16 rounding step (its
#: exp and sums are not PyTorch's); the README states this bound. On the tiny model the
#: ratings come out identical.
RATING_TOLERANCE = 5e-3
FAKE_CC = "#!/bin/sh\necho 'kernel.c:1: note: in this file' >&2\necho 'fake-cc: error: no -march=native here' >&2\nexit 1\n"  # fmt: skip
IDLE = (
    "not called: no packed attention forward ran (every judgment came from the store, "
    "or none took the packed path)"
)


def _fresh_kernel(mp: pytest.MonkeyPatch, cache: Path) -> None:
    """An empty kernel cache, no kernel loaded in this process, no kernel settings."""
    mp.setenv("XDG_CACHE_HOME", str(cache))
    mp.delenv("ULTRAJUDGE_NO_KERNELS", raising=False)
    mp.delenv("CC", raising=False)
    kernels.load_causal_softmax.cache_clear()


def _compiled(cache: Path) -> list[Path]:
    return sorted((cache / "ultrajudge" / "kernels").glob("*.so"))


def _score(model: Path, out: Path, dtype: str = "bfloat16") -> tuple[list[dict], dict]:
    """Score 6 example rows in logprob mode; the rows and the run record's softmax_kernel."""
    args = ["score", EXAMPLES, "--judge", model, "--mode", "logprob", "--min-mass", "0",
            "-O", f"dtype={dtype}", "-O", "device=cpu", "--limit", "6", "--out", out,
            "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    record = json.loads(out.with_name(out.name + ".run.json").read_text())
    (judge,) = record["judges"]
    return rows, judge["resolved"]["softmax_kernel"]


@pytest.fixture(autouse=True)
def _restore_kernel() -> Iterator[None]:
    yield
    kernels.load_causal_softmax.cache_clear()  # later tests load the kernel as they find it


@pytest.fixture(scope="module")
def reference(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], dict]:  # fmt: skip
    """The run with the kernel disabled: PyTorch computed every block."""
    tmp = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as mp:
        _fresh_kernel(mp, tmp / "cache")
        mp.setenv("ULTRAJUDGE_NO_KERNELS", "1")
        rows, kernel = _score(tiny_model_dir, tmp / "scored.jsonl")
    kernels.load_causal_softmax.cache_clear()
    assert _compiled(tmp / "cache") == []
    return rows, kernel


def _not_run(blocks: int, why: str) -> dict:
    """The record of a run in which PyTorch computed every attention block, for ``why``."""
    return {
        "status": "not run",
        "kernel_blocks": 0,
        "fallback_blocks": blocks,
        "fallback_reasons": {why: blocks},
        "summary": f"not run: PyTorch computed all {blocks} attention blocks ({why}: {blocks})",
    }


def test_disabled_the_record_says_so_and_counts_every_block(reference) -> None:
    _, kernel = reference
    blocks = kernel["fallback_blocks"]
    assert blocks >= 6 * 2  # every forward's segments in both layers of the tiny model
    assert kernel == {
        "status": "not run",
        "kernel_blocks": 0,
        "fallback_blocks": blocks,
        "fallback_reasons": {"disabled by ULTRAJUDGE_NO_KERNELS": blocks},
        "summary": f"not run: PyTorch computed all {blocks} attention blocks "
        f"(disabled by ULTRAJUDGE_NO_KERNELS: {blocks})",
    }


def _no_compiler(mp: pytest.MonkeyPatch, tmp: Path) -> str:
    (tmp / "empty-bin").mkdir()
    mp.setenv("PATH", str(tmp / "empty-bin"))
    return "no C compiler ($CC, cc or gcc) on PATH"


def _failing_compiler(mp: pytest.MonkeyPatch, tmp: Path) -> str:
    fake = tmp / "fake-cc"
    fake.write_text(FAKE_CC)
    fake.chmod(0o755)
    mp.setenv("CC", str(fake))
    return "compile failed: fake-cc exited 1: fake-cc: error: no -march=native here"


@pytest.mark.parametrize("make", [_failing_compiler, _no_compiler], ids=["compile-fails", "no-compiler"])  # fmt: skip
def test_without_the_kernel_the_record_says_why_and_the_ratings_are_the_same(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference, make
) -> None:
    _fresh_kernel(monkeypatch, tmp_path / "cache")
    why = make(monkeypatch, tmp_path)
    out = tmp_path / "scored.jsonl"
    rows, kernel = _score(tiny_model_dir, out)
    blocks = reference[1]["fallback_blocks"]
    assert kernel == _not_run(blocks, why)
    assert _compiled(tmp_path / "cache") == []
    assert [r["ratings"] for r in rows] == [r["ratings"] for r in reference[0]]  # same path
    facts = card_facts(out, load_rows(str(out)), version="0", command=["ultrajudge"])
    assert f"- softmax kernel: {kernel['summary']}\n" in dataset_card(facts)


def test_compiled_here_the_kernel_ran_in_every_block_with_the_same_ratings(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference
) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine: only the fallback paths are tested")
    _fresh_kernel(monkeypatch, tmp_path / "cache")
    rows, kernel = _score(tiny_model_dir, tmp_path / "scored.jsonl")
    blocks = reference[1]["fallback_blocks"]
    assert kernel == {
        "status": "ran",
        "kernel_blocks": blocks,
        "fallback_blocks": 0,
        "fallback_reasons": {},
        "summary": f"ran: all {blocks} attention blocks",
    }
    assert len(_compiled(tmp_path / "cache")) == 1  # compiled by this run
    for ours, theirs in zip(rows, reference[0], strict=True):
        assert ours["rating_status"] == theirs["rating_status"] == ["ok"] * len(ours["ratings"])
        assert ours["ratings"] == pytest.approx(theirs["ratings"], abs=RATING_TOLERANCE, rel=0)


def test_a_float32_model_never_compiles_the_kernel_and_a_resumed_run_calls_nothing(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference
) -> None:
    _fresh_kernel(monkeypatch, tmp_path / "cache")
    out = tmp_path / "scored.jsonl"
    _, kernel = _score(tiny_model_dir, out, dtype="float32")
    blocks = reference[1]["fallback_blocks"]
    why = "dtype float32 (the kernel takes bfloat16)"
    assert (kernel["status"], kernel["fallback_reasons"]) == ("not run", {why: blocks})
    assert _compiled(tmp_path / "cache") == []
    _, again = _score(tiny_model_dir, out, dtype="float32")  # every judgment from the store
    assert again == {
        "status": "not called",
        "kernel_blocks": 0,
        "fallback_blocks": 0,
        "fallback_reasons": {},
        "summary": IDLE,
    }


def test_a_pipeline_records_the_kernel_of_its_scoring_judge(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference
) -> None:
    """``ultrajudge run`` logs its backends when they load; the record, written at the
    end, holds what their forwards did (the same mapping, updated in place)."""
    _fresh_kernel(monkeypatch, tmp_path / "cache")
    monkeypatch.setenv("ULTRAJUDGE_NO_KERNELS", "1")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f"input: {EXAMPLES}\nlimit: 6\nworkdir: out\n"
        f"judge: {{model: {tiny_model_dir}, options: {{dtype: bfloat16, device: cpu}}}}\n"
        "score: {mode: logprob, min_mass: 0}\n"
    )
    result = CliRunner().invoke(app, ["run", str(pipeline), "--no-progress"], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "scored.jsonl.run.json").read_text())
    (judge,) = record["judges"]
    assert judge["resolved"]["softmax_kernel"] == reference[1]  # the same blocks, disabled


def test_generate_mode_counts_the_packed_prefill(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In generate mode the prompts are prefilled packed (decoding steps use no softmax
    kernel): those blocks are what the record counts."""
    _fresh_kernel(monkeypatch, tmp_path / "cache")
    out = tmp_path / "scored.jsonl"
    args = ["score", EXAMPLES, "--judge", tiny_model_dir, "-O", "dtype=float32", "-O",
            "device=cpu", "--limit", "2", "--max-new-tokens", "4", "--max-retries", "0",
            "--max-failure-rate", "1", "--out", out, "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = json.loads(out.with_name(out.name + ".run.json").read_text())
    kernel = record["judges"][0]["resolved"]["softmax_kernel"]
    blocks = kernel["fallback_blocks"]
    assert blocks >= 2  # both layers of at least one packed prefill
    why = "dtype float32 (the kernel takes bfloat16)"
    assert kernel == _not_run(blocks, why)
