"""``ultrajudge score`` with a jury and ``ultrajudge pairs`` end to end through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.analysis.export import validate_pairs
from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows

_register()
runner = CliRunner()


def invoke(*args: object, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def _blocks(*ratings: int) -> str:
    return "\n\n".join(
        f"#### Output for Text {i}\nRating: {r}\nRationale: fixed."
        for i, r in enumerate(ratings, 1)
    )


def _funnel(output: str) -> dict[str, tuple[int, ...]]:
    """The printed funnel: step -> (in, dropped, out)."""
    found = re.findall(r"^  (\w+) +(\d+) in +(\d+) dropped +(\d+) out$", output, re.MULTILINE)
    return {step: tuple(map(int, counts)) for step, *counts in found}


@pytest.fixture()
def scored(tmp_path: Path, examples_file: Path) -> Path:
    out = tmp_path / "scored.jsonl"
    invoke("score", examples_file, "--judge", "scripted:auto", "--out", out, "--no-progress")
    return out


def test_pairs_readme_command(tmp_path: Path, scored: Path) -> None:
    out, report = tmp_path / "pairs.jsonl", tmp_path / "pairs.html"
    output = invoke(
        "pairs", scored, "--strategy", "best-vs-worst", "--min-margin", "1.0",
        "--outliers", "iforest", "--out", out, "--report", report,
    )  # fmt: skip
    assert "20 rows → 18 pairs from 18 rows (rows without a pair: all_tied 2)" in output
    funnel = _funnel(output)
    assert list(funnel) == ["margin", "outlier"] and funnel["margin"][0] == 18
    assert funnel["outlier"][0] == funnel["margin"][2]
    pairs = load_rows(str(out))
    validate_pairs(pairs, format="standard")
    assert f"{len(pairs)} pairs kept" in output and len(pairs) == funnel["outlier"][2] > 0
    assert all(p["margin"] >= 1.0 for p in pairs)
    assert "<h2>Funnel</h2>" in report.read_text()


def test_pairs_conversational_parquet_and_dropped_file(tmp_path: Path, scored: Path) -> None:
    out, dropped = tmp_path / "pairs.parquet", tmp_path / "dropped.jsonl"
    output = invoke(
        "pairs", scored, "--format", "conversational", "--strategy", "all-pairs",
        "--max-length-ratio", "2", "--near-duplicates", "0.5", "--out", out, "--dropped", dropped,
    )  # fmt: skip
    pairs = load_rows(str(out))
    validate_pairs(pairs, format="conversational")
    assert pairs[0]["prompt"][0]["role"] == "user"
    records = [json.loads(line) for line in dropped.read_text().splitlines()]
    by = {r["dropped_by"] for r in records}
    assert by <= {"build", "length_ratio", "near_duplicate"} and "length_ratio" in by
    built = int(output.split(" pairs from ")[0].rsplit("→ ", 1)[1])
    assert len(pairs) + sum(r["dropped_by"] != "build" for r in records) == built


def test_jury_scoring_then_pairs_with_jury_filters(tmp_path: Path, examples_file: Path) -> None:
    first_best = tmp_path / "first_best.jsonl"
    first_best.write_text(json.dumps({"output": _blocks(5, 2, 1)}) + "\n")
    last_best = tmp_path / "last_best.jsonl"
    last_best.write_text(json.dumps({"output": _blocks(1, 2, 5)}) + "\n")
    scored = tmp_path / "jury.jsonl"
    output = invoke(
        "score", examples_file, "-j", f"first=scripted:{first_best}", "-j", f"last=scripted:{last_best}",
        "-j", "scripted:auto", "--reducer", "median", "--out", scored, "--no-progress",
    )  # fmt: skip
    assert "jury jury:median(first, last, scripted_auto)" in output
    assert "agreement between judges" in output and "spearman" in output
    rows = load_rows(str(scored))
    for name in ("first", "last", "scripted_auto"):
        assert f"ratings__{name}" in rows.column_names and f"judge__{name}" in rows.column_names
    assert rows[0]["ratings__first"] == [5, 2, 1] and rows[0]["ratings__last"] == [1, 2, 5]
    assert "jury_spread" in rows.column_names

    out, report = tmp_path / "pairs.jsonl", tmp_path / "pairs.html"
    output = invoke(
        "pairs", scored, "--jury-order", "no-reversal", "--out", out, "--report", report
    )
    # judges 'first' and 'last' always disagree about the order, so nothing survives
    (n_in, n_dropped, n_out) = _funnel(output)["jury"]
    assert n_in == n_dropped > 10 and n_out == 0
    assert "0 pairs kept" in output and out.read_text() == ""
    assert "<h2>Jury agreement</h2>" in report.read_text()

    # rerunning the jury scoring pays for nothing
    output = invoke("score", examples_file, "-j", f"first=scripted:{first_best}", "-j",
                    f"last=scripted:{last_best}", "-j", "scripted:auto", "--out", scored, "--no-progress")  # fmt: skip
    assert output.count("0 judged now,     20 from the store") == 3


def test_jury_from_yaml_with_per_judge_options(tmp_path: Path, examples_file: Path) -> None:
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    jury = tmp_path / "jury.yaml"
    jury.write_text(
        "reducer: trimmed_mean\ntrim: 0.0\nspread: range\njudges:\n"
        f"  - {{name: a, model: 'scripted:auto', options: {{log: '{log_a}'}}}}\n"
        f"  - {{name: b, model: 'scripted:auto', options: {{log: '{log_b}', seed: 1}}}}\n"
    )
    scored = tmp_path / "scored.jsonl"
    invoke("score", examples_file, "--jury", jury, "--out", scored, "--limit", "3", "--no-progress")
    rows = load_rows(str(scored))
    assert rows[0]["judge"] == "jury:trimmed_mean(a, b)"
    assert any(s > 0 for row in rows["jury_spread"] for s in row)  # two judges
    assert len(log_a.read_text().splitlines()) == len(log_b.read_text().splitlines()) == 3


def test_errors_tell_the_user_what_to_do(tmp_path: Path, scored: Path) -> None:
    output = invoke("pairs", scored, "--strategy", "best", "--out", tmp_path / "p.jsonl", code=2)
    assert "'best' is not one of 'best-vs-worst', 'best-vs-random-lower', 'all-pairs'" in " ".join(
        output.replace("│", " ").split()
    )
    output = invoke(
        "pairs", scored, "--jury-order", "unanimous", "--out", tmp_path / "p.jsonl", code=2
    )
    assert "score with a jury" in output
    assert "pass --out" in invoke("pairs", scored, code=2)
    output = invoke("pairs", scored, "--ratings-col", "nope", "--out", tmp_path / "p.jsonl", code=2)
    assert "column 'nope' not found" in output
    output = invoke("score", scored, "-j", "a=scripted:auto", "-j", "a=scripted:auto",
                    "--out", tmp_path / "s.jsonl", code=2)  # fmt: skip
    assert "used more than once" in output
