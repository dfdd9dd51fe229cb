"""``ultrajudge run``: the YAML pipeline end to end through the CLI, resumable, validated."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.analysis.export import validate_pairs
from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows

_register()
runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples"


def invoke(*args: object, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_pipeline_runs_end_to_end_and_reruns_from_the_store(tmp_path: Path) -> None:
    bundled = EXAMPLES / "pipeline.yaml"
    output = invoke("run", bundled, "--workdir", tmp_path / "run", "--no-progress")
    assert "pool: 1 generator(s) x n=1: 20 generated now, 0 from the store" in output
    assert "score with judge_a: 20 judged now" in output
    for name in ("generated.jsonl", "scored.jsonl", "pairs.jsonl", "dropped.jsonl", "report.html"):
        assert (tmp_path / "run" / name).exists(), name
    pairs = load_rows(str(tmp_path / "run" / "pairs.jsonl"))
    validate_pairs(pairs, format="standard")
    assert len(pairs) > 5 and f"{len(pairs)} pairs kept" in output
    assert {"judge__judge_a", "score_chosen__judge_b", "chosen_model"} <= set(pairs.column_names)
    scored = load_rows(str(tmp_path / "run" / "scored.jsonl"))
    assert {"ratings__judge_a", "ratings__judge_b", "jury_spread"} <= set(scored.column_names)
    report = (tmp_path / "run" / "report.html").read_text()
    assert "<h2>Funnel</h2>" in report and "<h2>Jury agreement</h2>" in report

    first = (tmp_path / "run" / "pairs.jsonl").read_text()
    again = invoke("run", bundled, "--workdir", tmp_path / "run", "--no-progress")
    assert "0 generated now" in again and "20 generated now" not in again
    assert again.count("0 judged now, 20 from the store") == 2
    assert (tmp_path / "run" / "pairs.jsonl").read_text() == first


def test_dry_run_prints_the_plan_and_loads_no_model(tmp_path: Path) -> None:
    pipeline = _write(
        tmp_path / "p.yaml",
        f"""
input: {EXAMPLES / "feedback.jsonl"}
limit: 10
generate:
  - pool: {{generators: [{{model: ./no-such-model}}, {{model: "scripted:auto"}}], n: 2}}
  - evol_quality: {{model: ./no-such-model, evolutions: 2}}
jury: {{judges: [./no-such-judge, "openai:gpt-4o-mini"]}}
score: {{aspects: [overall, honesty]}}
filters: {{min_margin: 1}}
""",
    )
    output = invoke("run", pipeline, "--dry-run")
    assert "10 input rows" in output
    # 10 rows with 27 completions; the pool adds 2 x 2 per row; evol doubles the 67, twice
    assert "1. pool: 2 generator(s) x n=2 — at most 40 model calls" in output
    assert "2. evol_quality: ./no-such-model — at most 134 model calls" in output
    assert "3. score (overall, honesty) with no_such_judge: ./no-such-judge — at most 20" in output
    assert "4. score (overall, honesty) with openai_gpt_4o_mini" in output
    assert "5. pairs: best-vs-worst, margin, standard format" in output
    assert "at most 214 model calls in all" in output
    assert not (tmp_path / "p-run").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input: x.jsonl\njudge: scripted:auto\nfilter: {}\n", "p.yaml:3: unknown key 'filter' (did you mean 'filters'?); valid keys are input"),
        ("input: x.jsonl\njudge: scripted:auto\nfilters: {margin: 1}\n", "p.yaml:3: filters: unknown key 'margin' (did you mean 'min_margin'?); valid keys are min_margin, min_judge_margin"),
        ("input: x.jsonl\njudge: scripted:auto\ngenerate: [{pooling: {}}]\n", "p.yaml:3: generate[0]: unknown generate step 'pooling' (did you mean 'pool'?); steps are pool, evol_quality"),
        ("input: x.jsonl\njudge: scripted:auto\ngenerate: [{pool: {generators: [{model: m, temp: 1}]}}]\n", "generate[0].pool.generators[0]: unknown key 'temp'"),
        ("input: x.jsonl\njudge: scripted:auto\ngenerate: [{evol_quality: {model: m, rounds: 2}}]\n", "generate[0].evol_quality: unknown key 'rounds'; valid keys are model, options, max_new_tokens"),
        ("input: x.jsonl\njudge: a\njury: {judges: [b, c]}\n", "either 'judge: SPEC' (one) or 'jury:'"),
        ("input: x.jsonl\njury: {judges: [b, c], reduce: mean}\n", "p.yaml:2: jury: unknown key 'reduce' (did you mean 'reducer'?); valid keys are judges, reducer"),
        ("input: x.jsonl\njudge: a\npairs: {strategy: best}\n", "p.yaml:3: pairs.strategy: expected one of 'best-vs-worst', 'best-vs-random-lower', 'all-pairs', got 'best'"),
        ("input: x.jsonl\njudge: a\nscore: {aspect: overall}\n", "p.yaml:3: score: unknown key 'aspect' (did you mean 'aspects'?)"),
        ("input: x.jsonl\njudge: a\noutputs: {pair: p.jsonl}\n", "outputs: unknown key 'pair' (did you mean 'pairs'?); valid keys are generated, scored, pairs"),
        ("judge: a\n", "name the 'input' data"),
        ("- a\n- b\n", "p.yaml:1: the pipeline file must be a mapping of KEY: VALUE, got a list"),
    ],
)  # fmt: skip
def test_the_file_is_validated_eagerly(tmp_path: Path, text: str, message: str) -> None:
    output = invoke("run", _write(tmp_path / "p.yaml", text), "--dry-run", code=2)
    assert message in " ".join(output.split())


def test_pipeline_with_tiny_local_models(tmp_path: Path, tiny_model_dir: Path) -> None:
    shutil.copytree(tiny_model_dir, tmp_path / "tiny")
    shutil.copy(EXAMPLES / "feedback.jsonl", tmp_path / "data.jsonl")
    pipeline = _write(
        tmp_path / "p.yaml",
        """
input: data.jsonl
limit: 6
workdir: out
generate:
  - pool:
      generators: [{model: ./tiny, temperature: 0.9, name: tiny, options: {dtype: float32}}]
      max_new_tokens: 12
jury:
  quorum: 1
  judges:
    - {name: tiny, model: ./tiny, options: {dtype: float32}}
    - {name: scripted, model: "scripted:auto"}
score: {max_new_tokens: 16, max_retries: 0}
pairs: {format: conversational}
""",
    )
    output = invoke("run", pipeline, "--no-progress")
    assert "pool: 1 generator(s) x n=1: 6 generated now" in output
    scored = load_rows(str(tmp_path / "out" / "scored.jsonl"))
    for row in scored:
        assert row["completion_models"][-1] == str(tmp_path / "tiny")
        assert row["judge__tiny"].startswith("transformers:tiny@")
        # a random model's noise is a recorded failure, never a rating
        assert all(v is None for v in row["ratings__tiny"])
        assert row["ratings"] == row["ratings__scripted"]  # quorum 1: the judge that answered
    pairs = load_rows(str(tmp_path / "out" / "pairs.jsonl"))
    validate_pairs(pairs, format="conversational")
    assert len(pairs) > 0
    # a rerun generates nothing; a judge asks again only for the rows it failed on (the tiny
    # model's noise can hold "Text 3"-like headers that even the scripted judge misreads)
    failed = {
        name: sum(set(row[f"rating_status__{name}"]) != {"ok"} for row in scored)
        for name in ("tiny", "scripted")
    }
    assert failed["tiny"] == 6
    again = invoke("run", pipeline, "--no-progress")
    assert "0 generated now, 6 from the store" in again
    for name, n in failed.items():
        assert f"score with {name}: {n} judged now, {6 - n} from the store" in again


def _stored(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT COUNT(*) FROM results WHERE ok = 1").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _kill_pipeline(tmp_path: Path, name: str, delay: float) -> Path:
    log = tmp_path / f"{name}.log"
    ratings = tmp_path / "ratings.jsonl"
    ratings.write_text(
        json.dumps({"output": "\n\n".join(f"#### Output for Text {i}\nRating: {1 + i % 5}\nRationale: x" for i in range(1, 9))})
        + "\n"
    )  # fmt: skip
    options = f"{{delay: {delay}, log: '{log}'}}"
    return _write(
        tmp_path / f"{name}.yaml",
        f"""
input: {EXAMPLES / "feedback.jsonl"}
batch_size: 2
generate:
  - pool: {{generators: [{{model: "scripted:auto", options: {options}}}]}}
jury:
  judges:
    - {{name: a, model: "scripted:auto", options: {options}}}
    - {{name: b, model: "scripted:{ratings}", options: {options}}}
pairs: {{strategy: best-vs-random-lower}}
filters: {{min_margin: 1, outliers: iforest}}
""",
    )


@pytest.mark.slow
def test_kill_9_during_the_run_then_rerun_repeats_no_model_call(tmp_path: Path) -> None:
    def cmd(pipeline: Path, workdir: Path) -> list[str]:
        return [sys.executable, "-m", "ultrajudge.cli", "run", str(pipeline), "--workdir", str(workdir), "--no-progress"]  # fmt: skip

    reference = _kill_pipeline(tmp_path, "ref", 0)
    subprocess.run(cmd(reference, tmp_path / "ref"), check=True, capture_output=True)
    total = len((tmp_path / "ref.log").read_text().splitlines())
    assert total == 60  # 20 generations, 2 x 20 judgments

    pipeline = _kill_pipeline(tmp_path, "run", 0.04)
    store = tmp_path / "run" / "store.sqlite"
    proc = subprocess.Popen(cmd(pipeline, tmp_path / "run"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while _stored(store) < 30 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = _stored(store)
    assert 30 <= stored < 60, "the run must be killed while the jury is scoring"
    assert (tmp_path / "run" / "generated.jsonl").exists()
    assert not (tmp_path / "run" / "pairs.jsonl").exists()

    before = len((tmp_path / "run.log").read_text().splitlines())
    resumed = _kill_pipeline(tmp_path, "run", 0)  # same models, no delay
    subprocess.run(cmd(resumed, tmp_path / "run"), check=True, capture_output=True)
    after = len((tmp_path / "run.log").read_text().splitlines())
    assert after - before == 60 - stored, "a model call stored before the kill was made again"
    for name in ("generated.jsonl", "scored.jsonl", "pairs.jsonl", "dropped.jsonl"):
        assert (tmp_path / "run" / name).read_text() == (tmp_path / "ref" / name).read_text(), name
