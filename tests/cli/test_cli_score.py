"""``ultrajudge score`` end to end through the CLI, on the bundled examples."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows

_register()
runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("out_name", ["scored.jsonl", "scored.parquet", "scored_dir"])
def test_score_writes_every_input_column_plus_ratings(
    tmp_path: Path, examples_file: Path, out_name: str
) -> None:
    out = tmp_path / out_name
    output = invoke(
        "score", examples_file, "--judge", "scripted:auto", "--out", out, "--no-progress"
    )
    assert "20 rows, 55 completions" in output and "ok" in output
    scored = load_rows(str(out))
    source = load_rows(str(examples_file))
    assert len(scored) == 20
    assert set(source.column_names) | {
        "ratings",
        "rationales",
        "rating_status",
        "judge",
        "rating_raw",
    } == set(scored.column_names)
    for before, after in zip(source, scored):
        assert {k: after[k] for k in before} == before
        assert len(after["ratings"]) == len(before["completions"])
        assert all(1 <= r <= 5 for r in after["ratings"])
        assert set(after["rating_status"]) == {"ok"}
        assert after["judge"].startswith("scripted:auto | ultrafeedback/overall@")


def test_score_with_tiny_local_model_records_failures(
    tmp_path: Path, examples_file: Path, tiny_model_dir: Path
) -> None:
    out = tmp_path / "scored.jsonl"
    output = invoke(
        "score",
        examples_file,
        "--judge",
        tiny_model_dir,
        "--out",
        out,
        "--limit",
        "4",
        "--max-new-tokens",
        "12",
        "--max-retries",
        "0",
        "--no-progress",
        "-O",
        "dtype=float32",
        "--max-failure-rate",
        "1",
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    for row in rows:
        assert all(v is None for v in row["ratings"])  # noise never becomes a score
        assert all(s in {"missing", "parse_error", "out_of_range"} for s in row["rating_status"])
        assert row["judge"].startswith("transformers:tiny-judge@")
    assert "judgments: 4 made now" in output


def test_all_aspects_and_several_completion_columns(tmp_path: Path) -> None:
    data = tmp_path / "pairs.csv"
    data.write_text("prompt,chosen,rejected\nWhat is 2+2?,4,5\nCapital of France?,Paris,Lyon\n")
    out = tmp_path / "scored.jsonl"
    invoke(
        "score",
        data,
        "--judge",
        "scripted:auto",
        "--aspect",
        "all",
        "--instruction-col",
        "prompt",
        "--completion-col",
        "chosen",
        "--completion-col",
        "rejected",
        "--out",
        out,
        "--no-progress",
    )
    row = json.loads(out.read_text().splitlines()[0])
    for aspect in ("overall", "helpfulness", "honesty", "instruction_following", "truthfulness"):
        assert len(row[f"ratings_{aspect}"]) == 2
    assert row["ratings"] == row["ratings_overall"]


def test_chat_instruction_column_uses_the_last_user_turn(tmp_path: Path) -> None:
    data = tmp_path / "chat.jsonl"
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a prime."},
    ]
    data.write_text(json.dumps({"messages": chat, "completions": ["7", "8"]}) + "\n")
    output = invoke(
        "score", data, "--instruction-col", "messages", "--dry-run", "--out", tmp_path / "x.jsonl"
    )
    assert "## Instruction\n\nName a prime." in output and "1 judge calls" in output
    assert not (tmp_path / "x.jsonl").exists()


def test_missing_column_names_the_columns_that_exist(tmp_path: Path, examples_file: Path) -> None:
    result = runner.invoke(
        app,
        [
            "score",
            str(examples_file),
            "--judge",
            "scripted:auto",
            "--completions-col",
            "answers",
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert result.exit_code == 2
    assert (
        "column(s) ['answers'] not found; columns are ['id', 'instruction', 'completions', 'human_ratings']"
        in result.output
    )
    assert "--completions-col" in result.output


def test_unreachable_model_says_to_pass_a_local_path(tmp_path: Path, examples_file: Path) -> None:
    result = runner.invoke(
        app,
        [
            "score",
            str(examples_file),
            "--judge",
            "no-such-org/no-such-model",
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert result.exit_code == 2
    assert "pass a local model directory" in result.output


def test_unknown_aspect_is_rejected(tmp_path: Path, examples_file: Path) -> None:
    result = runner.invoke(
        app,
        [
            "score",
            str(examples_file),
            "--judge",
            "scripted:auto",
            "--aspect",
            "style",
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert result.exit_code == 2 and "unknown aspect" in result.output


def test_rerun_serves_everything_from_the_store(tmp_path: Path, examples_file: Path) -> None:
    out = tmp_path / "scored.jsonl"
    log = tmp_path / "calls.log"
    args = [
        "score",
        examples_file,
        "--judge",
        "scripted:auto",
        "-O",
        f"log={log}",
        "--out",
        out,
        "--no-progress",
    ]
    invoke(*args)
    first = out.read_text()
    assert len(log.read_text().splitlines()) == 20
    assert "0 made now, 20 from the store" in invoke(*args)
    assert len(log.read_text().splitlines()) == 20
    assert out.read_text() == first


def _stored_rows(store: Path) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(store) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM results WHERE ok = 1").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.mark.slow
def test_kill_9_halfway_then_rerun_equals_an_uninterrupted_run(
    tmp_path: Path, examples_file: Path
) -> None:
    def cmd(out: Path, log: Path, delay: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "ultrajudge.cli",
            "score",
            str(examples_file),
            "--judge",
            "scripted:auto",
            "-O",
            f"delay={delay}",
            "-O",
            f"log={log}",
            "--batch-size",
            "2",
            "--out",
            str(out),
            "--no-progress",
        ]

    reference = tmp_path / "ref" / "scored.jsonl"
    subprocess.run(cmd(reference, tmp_path / "ref.log", "0"), check=True, capture_output=True)

    out = tmp_path / "run" / "scored.jsonl"
    store = out.parent / "scored.jsonl.ultrajudge.sqlite"
    proc = subprocess.Popen(
        cmd(out, tmp_path / "run1.log", "0.15"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while _stored_rows(store) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = _stored_rows(store)
    assert 6 <= stored < 20, "the run must be killed halfway"
    assert not out.exists(), "no output is written before the run completes"

    subprocess.run(cmd(out, tmp_path / "run2.log", "0"), check=True, capture_output=True)
    assert out.read_text() == reference.read_text()
    second_calls = (tmp_path / "run2.log").read_text().splitlines()
    assert len(second_calls) == 20 - stored, "a judgment stored before the kill was requested again"
    first_calls = set((tmp_path / "run1.log").read_text().splitlines())
    reference_calls = (tmp_path / "ref.log").read_text().splitlines()
    assert set(second_calls) | first_calls == set(reference_calls)
