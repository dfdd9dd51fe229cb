"""The column mapping a file was judged by is recorded next to it (``<out>.columns.json``) and
``pairs`` and ``compare`` read it when their column flags are absent (issue 15, item 7)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows, recorded_columns

_register()
runner = CliRunner()

ROWS = [
    {
        "id": f"r{k}",
        "prompt": f"question {k}",
        "chosen": "a long good answer " * (k + 1),
        "rejected": "bad",
    }
    for k in range(3)
]


def invoke(*args: object, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _scored(tmp_path: Path) -> Path:
    data = _jsonl(tmp_path / "in.jsonl", ROWS)
    script = _jsonl(
        tmp_path / "judge.jsonl",
        [
            {
                "output": "#### Output for Text 1\nRating: 5\nRationale: x.\n\n#### Output for Text 2\nRating: 2\nRationale: y."
            }
        ],
    )
    out = tmp_path / "scored.jsonl"
    invoke(
        "score", data, "-j", f"scripted:{script}", "--instruction-col", "prompt",
        "--completion-col", "chosen", "--completion-col", "rejected", "--out", out, "--no-progress",
    )  # fmt: skip
    return out


def test_score_records_its_columns_and_pairs_reads_them(tmp_path: Path) -> None:
    out = _scored(tmp_path)
    assert json.loads((tmp_path / "scored.jsonl.columns.json").read_text()) == {
        "columns": {
            "kind": "pointwise",
            "instruction": "prompt",
            "completions": None,
            "completion_columns": ["chosen", "rejected"],
            "reference": None,
        }
    }
    pairs = tmp_path / "pairs.jsonl"
    invoke("pairs", out, "--out", pairs)  # no column flags
    got = load_rows(str(pairs))
    assert [(p["prompt"], p["chosen"], p["rejected"]) for p in got] == [
        (r["prompt"], r["chosen"], r["rejected"]) for r in ROWS
    ]


def test_explicit_flags_win_over_the_record(tmp_path: Path) -> None:
    out = _scored(tmp_path)
    result = runner.invoke(
        app, ["pairs", str(out), "--out", str(tmp_path / "p.jsonl"), "--instruction-col", "prompt"]
    )
    assert result.exit_code == 2  # the flags say 'completions', which this file does not have
    assert "column(s) ['completions'] not found" in result.output


def test_compare_takes_the_recorded_texts_for_lengths(tmp_path: Path) -> None:
    out = _scored(tmp_path)
    output = invoke("compare", out, out, "-n", "a", "-n", "b", "--bootstrap", "0")
    assert "length statistics left blank" not in output
    assert re.search(r"^rating_length_spearman +0\.933 +0\.933$", output, re.M), output
    assert re.search(r"^p_prefer_longer +1\.000 +1\.000$", output, re.M)
    (tmp_path / "scored.jsonl.columns.json").unlink()
    output = invoke("compare", out, out, "-n", "a", "-n", "b", "--bootstrap", "0")
    assert "no text column(s) ['completions']: length statistics left blank" in output


def test_pairwise_records_its_columns(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "verdicts.jsonl"
    invoke("pairwise", data, "-j", "scripted:auto", "--a-col", "chosen", "--b-col", "rejected", "--out", out, "--no-progress")  # fmt: skip
    assert recorded_columns(out) == {
        "kind": "pairwise",
        "instruction": "prompt",
        "response_a": "chosen",
        "response_b": "rejected",
        "reference": None,
    }


def test_run_record_columns_come_first(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    (tmp_path / "x.jsonl.columns.json").write_text(json.dumps({"columns": {"kind": "pointwise"}}))
    assert recorded_columns(out) == {"kind": "pointwise"}
    (tmp_path / "x.jsonl.run.json").write_text(json.dumps({"judge": "j"}))  # no columns: skipped
    assert recorded_columns(out) == {"kind": "pointwise"}
    (tmp_path / "x.jsonl.run.json").write_text(json.dumps({"columns": {"kind": "pairwise"}}))
    assert recorded_columns(out) == {"kind": "pairwise"}
    assert recorded_columns(tmp_path / "other.jsonl") is None


def test_damaged_record_is_one_line(tmp_path: Path) -> None:
    out = _scored(tmp_path)
    (tmp_path / "scored.jsonl.columns.json").write_text("{not json")
    result = runner.invoke(app, ["pairs", str(out), "--out", str(tmp_path / "p.jsonl")])
    assert result.exit_code == 2
    assert "cannot read the column mapping recorded in" in result.output
    assert "scored.jsonl.columns.json" in result.output
