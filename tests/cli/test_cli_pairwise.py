"""``ultrajudge pairwise`` end to end through the CLI, on the bundled pairs example."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows

if not any(c.name == "pairwise" for c in app.registered_commands):
    _register()
runner = CliRunner()

PAIRS = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples" / "pairs.jsonl"
NEW_COLUMNS = {
    "verdict",
    "verdict_status",
    "verdict_first",
    "verdict_second",
    "raw_first",
    "raw_second",
    "first_position",
    "consistent",
    "judge",
}
LOGPROB_COLUMNS = {
    "p_a",
    "p_b",
    "p_tie",
    "probs_first",
    "probs_second",
    "mass_first",
    "mass_second",
}


def invoke(*args: object, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def source_rows() -> list[dict]:
    return [json.loads(line) for line in PAIRS.read_text().splitlines()]


def gold_script(path: Path, *, skip: int = 0) -> Path:
    """Scripted judge outputs that agree with the gold labels in both orders, then echo the
    losing answer (the bundled hijack row's loser writes "Final verdict: [[A]]"). The first
    ``skip`` rows get no entry: the fallback answer has no verdict."""
    lines = []
    for row in source_rows()[skip:]:
        a, b = row["response_a"], row["response_b"]
        if row["label"] == "tie":
            lines.append({"match": row["instruction"], "output": "Both fine.\n[[C]]"})
            continue
        winner, loser = (a, b) if row["label"] == "A" else (b, a)
        for position in ("A", "B"):
            shown = f"[Start of Assistant {position}'s answer]\n{winner}\n[End of"
            output = f"[[{position}]]\nFor the record, the other answer was:\n{loser}"
            lines.append({"match": shown, "output": output})
    lines.append({"output": "I cannot decide between them."})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def logged_calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.mark.parametrize("out_name", ["verdicts.jsonl", "verdicts.parquet"])
def test_scripted_judge_matches_gold_labels(tmp_path: Path, out_name: str) -> None:
    script, log, out = (
        gold_script(tmp_path / "script.jsonl"),
        tmp_path / "calls.log",
        tmp_path / out_name,
    )
    judge = f"scripted:{script}"
    output = invoke(
        "pairwise", PAIRS, "--judge", judge, "--out", out, "-O", f"log={log}", "--no-progress"
    )
    assert "wrote" in output and "15 pairs" in output and "position consistency: 100.0%" in output
    assert logged_calls(log) == 30  # 15 pairs x 2 orders, nothing retried
    rows, source = load_rows(str(out)).to_list(), source_rows()
    assert set(rows[0]) == set(source[0]) | NEW_COLUMNS
    for before, after in zip(source, rows):
        assert {k: after[k] for k in before} == before  # every input column survives
        assert (
            after["verdict"] == after["label"] == after["verdict_first"] == after["verdict_second"]
        )
        assert (after["verdict_status"], after["consistent"]) == ("ok", True)
        assert after["first_position"] in ("A", "B")
        assert after["judge"].startswith(f"{judge.split(':')[0]}:script.jsonl:")
    assert {r["first_position"] for r in rows} == {"A", "B"}

    again = invoke(
        "pairwise", PAIRS, "--judge", judge, "--out", out, "-O", f"log={log}", "--no-progress"
    )
    assert logged_calls(log) == 30  # resumed: no judge calls at all
    assert "0 made now, 30 from the store" in again
    assert load_rows(str(out)).to_list() == rows


def test_failures_are_stored_and_only_they_are_asked_again(tmp_path: Path) -> None:
    script, log, out = (
        gold_script(tmp_path / "s.jsonl", skip=2),
        tmp_path / "calls.log",
        tmp_path / "v.jsonl",
    )
    args = ["pairwise", PAIRS, "--judge", f"scripted:{script}", "--out", out, "-O", f"log={log}"]
    output = invoke(*args, "--max-retries", "1", "--no-progress")
    assert logged_calls(log) == 26 + 4 * 2  # 2 unreadable pairs: both orders asked twice
    assert "parse_error" in output and "failure rate: 13.3%" in output
    rows = load_rows(str(out)).to_list()
    for row in rows[:2]:
        assert (row["verdict"], row["verdict_status"], row["consistent"]) == (
            None,
            "parse_error",
            None,
        )
        assert row["raw_first"] == row["raw_second"] == "I cannot decide between them."
    assert all(r["verdict"] == r["label"] for r in rows[2:])
    invoke(*args, "--max-retries", "0", "--no-progress")
    assert logged_calls(log) == 34 + 4  # only the 4 failed orders, once each


def test_seed_is_reproducible_and_changes_the_order(tmp_path: Path) -> None:
    script = gold_script(tmp_path / "s.jsonl")
    positions = {}
    for seed in ("0", "0", "1"):
        out = tmp_path / f"v{len(positions)}.jsonl"
        invoke(
            "pairwise",
            PAIRS,
            "--judge",
            f"scripted:{script}",
            "--out",
            out,
            "--seed",
            seed,
            "--no-progress",
        )
        positions[len(positions)] = [r["first_position"] for r in load_rows(str(out))]
    assert positions[0] == positions[1] != positions[2]


@pytest.mark.parametrize("out_name", ["tiny.jsonl", "tiny.parquet"])
def test_tiny_model_generate_records_failures(
    tmp_path: Path, tiny_model_dir: Path, out_name: str
) -> None:
    out = tmp_path / out_name
    args = ["pairwise", PAIRS, "--judge", tiny_model_dir, "--out", out, "--limit", "3"]
    invoke(*args, "--max-new-tokens", "6", "--max-retries", "0", "--no-progress", "--max-failure-rate", "1")  # fmt: skip
    rows = load_rows(str(out)).to_list()
    assert len(rows) == 3 and set(rows[0]) == set(source_rows()[0]) | NEW_COLUMNS
    for row in rows:
        assert row["verdict_status"] in ("ok", "parse_error")
        assert (row["verdict"] is None) == (row["verdict_status"] != "ok")
        assert isinstance(row["raw_first"], str) and row["judge"].startswith(
            "transformers:tiny-judge@"
        )


@pytest.mark.parametrize("out_name", ["tiny_lp.jsonl", "tiny_lp.parquet"])
def test_tiny_model_logprob(tmp_path: Path, tiny_model_dir: Path, out_name: str) -> None:
    out = tmp_path / out_name
    args = ["pairwise", PAIRS, "--judge", tiny_model_dir, "--out", out, "--limit", "4"]
    output = invoke(*args, "--mode", "logprob", "--min-mass", "0", "--no-progress")
    assert "8 made now" in output
    rows = load_rows(str(out)).to_list()
    assert set(rows[0]) == set(source_rows()[0]) | NEW_COLUMNS | LOGPROB_COLUMNS
    for row in rows:
        assert row["verdict_status"] == "ok" and row["verdict"] in ("A", "B", "tie")
        p = (row["p_a"], row["p_b"], row["p_tie"])
        assert math.fsum(p) == pytest.approx(1.0, abs=1e-9)
        # the mean of the two orders (JSONL through pandas keeps 10 decimals)
        mean = [(x + y) / 2 for x, y in zip(row["probs_first"], row["probs_second"])]
        assert list(p) == pytest.approx(mean, abs=1e-9)
        assert 0 < row["mass_first"] < 1 and 0 < row["mass_second"] < 1
    assert "8 from the store" in invoke(
        *args, "--mode", "logprob", "--min-mass", "0", "--no-progress"
    )


def test_logprob_low_mass_is_a_failure_not_a_verdict(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "lp.jsonl"
    invoke(
        "pairwise",
        "--max-failure-rate",
        "1",
        PAIRS,
        "--judge",
        tiny_model_dir,
        "--out",
        out,
        "--limit",
        "2",
        "--mode",
        "logprob",
        "--no-progress",
    )
    for row in load_rows(str(out)):
        assert (row["verdict"], row["verdict_status"], row["p_a"]) == (None, "low_mass", None)
        assert row["mass_first"] < 0.5


def test_chosen_rejected_columns_and_prompt(tmp_path: Path) -> None:
    data = tmp_path / "prefs.jsonl"
    rows = [
        {"prompt": r["instruction"], "chosen": r["response_a"], "rejected": r["response_b"]}
        for r in source_rows()
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows[:3]))
    script = gold_script(tmp_path / "s.jsonl")
    out = tmp_path / "v.jsonl"
    invoke(
        "pairwise",
        data,
        "--judge",
        f"scripted:{script}",
        "--out",
        out,
        "--a-col",
        "chosen",
        "--b-col",
        "rejected",
        "--no-progress",
    )
    assert [r["verdict"] for r in load_rows(str(out))] == [r["label"] for r in source_rows()[:3]]


def test_errors_name_the_columns_that_exist(tmp_path: Path) -> None:
    output = invoke(
        "pairwise",
        PAIRS,
        "--judge",
        "scripted:auto",
        "--out",
        tmp_path / "v.jsonl",
        "--a-col",
        "chosen",
        code=2,
    )
    assert "['chosen'] not found" in output and "'response_a'" in output and "--a-col" in output
    output = invoke(
        "pairwise",
        PAIRS,
        "--out",
        tmp_path / "v.jsonl",
        "--template",
        "pairwise/arena_hard",
        "--mode",
        "logprob",
        code=2,
    )
    assert "logprob mode reads" in output
    assert "pass --judge" in invoke("pairwise", PAIRS, "--out", tmp_path / "v.jsonl", code=2)


def test_dry_run_prints_the_first_prompt(tmp_path: Path) -> None:
    output = invoke(
        "pairwise",
        PAIRS,
        "--out",
        tmp_path / "v.jsonl",
        "--dry-run",
        "--template",
        "pairwise/arena_hard",
    )
    assert "15 rows; 30 judge calls" in output and "[[A>>B]]" in output
    assert source_rows()[0]["instruction"] in output
    assert not (tmp_path / "v.jsonl").exists()


@pytest.mark.usefixtures("no_library_progress_bars")
@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_a_bad_row_is_named_from_1_as_everywhere_in_the_cli(tmp_path: Path, suffix: str) -> None:
    """The third row has a null response: a JSON Lines file names its line 3, a Parquet file
    its row 3 (never "row 2", counted from 0), and nothing is judged or written."""
    import datasets

    rows = [{"instruction": "q", "response_a": "a", "response_b": "b"}] * 2
    rows.append({"instruction": "q", "response_a": None, "response_b": "b"})
    data = tmp_path / f"in.{suffix}"
    ds = datasets.Dataset.from_list(rows)
    ds.to_json(data) if suffix == "jsonl" else ds.to_parquet(data)
    out = tmp_path / "o.jsonl"
    result = runner.invoke(app, ["pairwise", str(data), "-j", "scripted:auto", "--out", str(out)])
    assert result.exit_code == 2
    where = f"{str(data)!r} line 3" if suffix == "jsonl" else f"row 3 of {str(data)!r}"
    assert result.output == (
        f"error: {where}, column 'response_a' is not a text (null); fix or drop the row\n"
    )
    assert not out.exists()


@pytest.mark.usefixtures("no_library_progress_bars")
def test_score_run_and_pairs_name_a_bad_row_from_1(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    rows = [{"instruction": "q", "completions": ["a", "b"], "ratings": [1, 2]},
            {"instruction": "q", "completions": "b", "ratings": [1]}]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "o.jsonl"
    for dry_run in (["--dry-run"], []):  # named by the file's line, before any judge loads
        result = runner.invoke(app, ["score", str(data), "-j", "scripted:auto", "--out", str(out), *dry_run])  # fmt: skip
        assert result.exit_code == 2
        assert result.output == (
            f"error: {str(data)!r} line 2, column 'completions' must hold a list of texts, got a "
            "str ('b'); for one text per column pass --completion-col for each column\n"
        )
        assert not out.exists()
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"input: {data}\njudge: scripted:auto\nworkdir: w\n")
    result = runner.invoke(app, ["run", str(pipeline), "--no-progress"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {str(data)!r} line 2, column 'completions' must hold")
    rows[1] = {"instruction": "q", "completions": ["a", "b"], "ratings": [1, 2, 3]}
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = runner.invoke(app, ["pairs", str(data), "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.startswith("error: row 2: 2 completions but 3 ratings in 'ratings'")
