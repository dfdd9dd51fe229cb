"""``ultrajudge compare`` end to end: score (or judge pairs of) the bundled examples with two or
more judges, then compare them with the human (gold) column: JSON, CSV and HTML out."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app

if not any(c.name == "compare" for c in app.registered_commands):
    _register()
runner = CliRunner()

EXAMPLES = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples"


def invoke(*args: object, code: int = 0) -> str:
    """The command's output, with any error box unwrapped into one line."""
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output if code == 0 else " ".join(result.output.replace("│", " ").split())


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def close_judge_script(path: Path) -> Path:
    """A scripted judge that gives the human rating, one point higher on every fourth item."""
    lines = []
    for i, row in enumerate(rows_of(EXAMPLES / "feedback.jsonl")):
        ratings = [
            min(5, h + 1) if (i + k) % 4 == 0 else h for k, h in enumerate(row["human_ratings"])
        ]
        blocks = [
            f"#### Output for Text {k + 1}\nRating: {r}\nRationale: ok."
            for k, r in enumerate(ratings)
        ]
        lines.append({"match": row["instruction"], "output": "\n\n".join(blocks)})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def score(tmp_path: Path, judge: str, name: str, *extra: object) -> tuple[Path, str]:
    out = tmp_path / f"{name}.jsonl"
    output = invoke(
        "score",
        EXAMPLES / "feedback.jsonl",
        "--judge",
        judge,
        "--out",
        out,
        "--no-progress",
        *extra,
    )
    return out, output


def tokens_per_completion(score_output: str, completions: int) -> tuple[float, float]:
    prompt, generated = re.search(r"tokens: (\d+) prompt, (\d+) generated", score_output).groups()  # type: ignore[union-attr]
    return int(prompt) / completions, int(generated) / completions


def check_images(html: str, n: int) -> None:
    from PIL import Image

    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == n
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            img.verify()


def test_two_scored_judges_and_a_human_column_write_json_csv_and_html(tmp_path: Path) -> None:
    auto, auto_out = score(tmp_path, "scripted:auto", "auto")
    close, _ = score(
        tmp_path, f"scripted:{close_judge_script(tmp_path / 'close.script.jsonl')}", "close"
    )
    report, out_json, out_csv = (
        tmp_path / "compare.html",
        tmp_path / "compare.json",
        tmp_path / "compare.csv",
    )
    output = invoke(
        "compare", auto, close, "--human-col", "human_ratings", "--report", report,
        "--out", out_json, "--out", out_csv, "--csv-dir", tmp_path / "tables", "--bootstrap", "200",
        "--price-in", "1", "--price-out", "2",
    )  # fmt: skip
    assert "kappa_quadratic" in output and f"wrote {report}" in output
    data = json.loads(out_json.read_text())
    assert data["kind"] == "pointwise" and data["meta"]["humans"] == ["human_ratings"]
    board = {row["judge"]: row for row in data["leaderboard"]}
    assert [row["judge"] for row in data["leaderboard"]] == ["close", "auto"]  # by headline
    assert board["close"]["n_human"] == board["auto"]["n_human"] == 55
    assert board["close"]["kappa_quadratic"] > 0.9 > board["auto"]["kappa_quadratic"]
    assert board["close"]["kappa_quadratic_low"] <= board["close"]["kappa_quadratic"]
    assert board["close"]["within_one"] == 1.0 and board["auto"]["failure_rate"] == 0.0
    prompt, generated = tokens_per_completion(auto_out, 55)  # read back from auto's store
    assert board["auto"]["prompt_tokens"] == pytest.approx(prompt)
    assert board["auto"]["cost_per_1k"] == pytest.approx(1000 * (prompt + 2 * generated) / 1e6)
    assert data["matrix"]["n"]["raters"] == ["auto", "close", "human_ratings"]
    with out_csv.open() as f:
        table = list(csv.DictReader(f))
    assert [r["judge"] for r in table] == ["close", "auto"] and "p_prefer_longer" in table[0]
    assert {p.name for p in (tmp_path / "tables").iterdir()} >= {
        "leaderboard.csv",
        "pairs.csv",
        "judges.csv",
        "matrix_kappa_quadratic.csv",
        "matrix_n.csv",
    }
    check_images(report.read_text(), 5)


def test_files_in_another_order_or_shorter_align_by_id(tmp_path: Path) -> None:
    auto, _ = score(tmp_path, "scripted:auto", "auto")
    part = tmp_path / "part.jsonl"
    kept = rows_of(auto)[::-1][:12]  # reversed, 8 rows fewer
    part.write_text("".join(json.dumps(r) + "\n" for r in kept))
    out = tmp_path / "c.json"
    output = invoke("compare", auto, part, "--name", "full", "--name", "part", "--human-col",
                    "human_ratings", "--bootstrap", "0", "--out", out)  # fmt: skip
    assert "note: partial overlap: full 20 rows, part 12 rows, 12 in common" in output
    data = json.loads(out.read_text())
    assert (data["meta"]["rows"], data["meta"]["rows_common"]) == ({"full": 20, "part": 12}, 12)
    n = sum(len(r["completions"]) for r in kept)
    pair = data["pairs"][0]
    assert (pair["rater_a"], pair["rater_b"], pair["n"], pair["exact"], pair["kappa"]) == (
        "full",
        "part",
        n,
        1.0,
        1.0,
    )
    assert {r["judge"]: r["n_human"] for r in data["leaderboard"]} == {"full": 55, "part": n}


def test_tiny_model_failures_and_logprob_floats(tmp_path: Path, tiny_model_dir: Path) -> None:
    tiny, _ = score(tmp_path, str(tiny_model_dir), "tiny", "--limit", "4", "--max-new-tokens", "12",
                    "--max-retries", "0", "-O", "dtype=float32", "--max-failure-rate", "1")  # fmt: skip
    logprob, _ = score(tmp_path, "scripted:auto", "lp", "--mode", "logprob")
    out = tmp_path / "c.json"
    invoke(
        "compare", tiny, logprob, "--human-col", "human_ratings", "--bootstrap", "50", "--out", out
    )
    data = json.loads(out.read_text())
    board = {row["judge"]: row for row in data["leaderboard"]}
    statuses = [s for row in rows_of(tiny) for s in row["rating_status"]]
    failed = sum(s not in ("ok", "na") for s in statuses) / len(statuses)
    assert board["tiny"]["failure_rate"] == pytest.approx(failed)
    assert board["tiny"]["n_items"] == len(statuses)
    assert board["tiny"]["prompt_tokens"] > 0 and board["tiny"]["seconds_per_1k"] > 0
    assert board["lp"]["rounded"] is True and data["meta"]["rounded"] == ["lp"]
    assert board["lp"]["n_human"] == 55


def gold_script(path: Path) -> Path:
    """A scripted pairwise judge that picks the gold answer in both orders."""
    lines = []
    for row in rows_of(EXAMPLES / "pairs.jsonl"):
        if row["label"] == "tie":
            lines.append({"match": row["instruction"], "output": "Both fine.\n[[C]]"})
            continue
        winner = row["response_a"] if row["label"] == "A" else row["response_b"]
        for position in ("A", "B"):
            shown = f"[Start of Assistant {position}'s answer]\n{winner}\n[End of"
            lines.append({"match": shown, "output": f"[[{position}]]"})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def test_pairwise_verdict_files_against_gold_labels(tmp_path: Path) -> None:
    pairs = EXAMPLES / "pairs.jsonl"
    gold, auto = tmp_path / "verdicts_gold.jsonl", tmp_path / "verdicts_auto.jsonl"
    invoke(
        "pairwise",
        pairs,
        "--judge",
        f"scripted:{gold_script(tmp_path / 's.jsonl')}",
        "--out",
        gold,
        "--no-progress",
    )
    summary = invoke("pairwise", pairs, "--judge", "scripted:auto", "--out", auto, "--no-progress")
    consistency = float(re.search(r"position consistency: ([\d.]+)%", summary).group(1)) / 100  # type: ignore[union-attr]
    out, report = tmp_path / "c.json", tmp_path / "pairwise.html"
    invoke("compare", gold, auto, "--gold-col", "label", "--ties", "exclude", "--report", report,
           "--out", out, "--bootstrap", "100")  # fmt: skip
    data = json.loads(out.read_text())
    assert data["kind"] == "pairwise" and data["meta"]["ties"] == "exclude"
    board = {row["judge"]: row for row in data["leaderboard"]}
    assert board["verdicts_gold"]["accuracy"] == 1.0 and board["verdicts_gold"]["ties"] == "exclude"
    assert board["verdicts_gold"]["position_consistency"] == 1.0
    assert board["verdicts_auto"]["position_consistency"] == pytest.approx(consistency, abs=1e-3)
    assert board["verdicts_auto"]["completion_tokens"] > 0  # from the store, per pair
    check_images(report.read_text(), 5)


def test_user_errors_exit_2_with_a_message(tmp_path: Path) -> None:
    auto, _ = score(tmp_path, "scripted:auto", "auto")
    assert "one --name per file" in invoke("compare", auto, "--name", "a", "--name", "b", code=2)
    assert "not a scale" in invoke("compare", auto, "--scale", "five", code=2)
    assert "must end in .json or .csv" in invoke(
        "compare", auto, "--out", tmp_path / "x.txt", code=2
    )
    assert "not found in any source" in invoke("compare", auto, "--human-col", "nope", code=2)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text(
        "".join(
            json.dumps({k: v for k, v in r.items() if k != "id"}) + "\n"
            for r in rows_of(auto)[::-1]
        )
    )
    plain = tmp_path / "plain.jsonl"
    plain.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "id"}) + "\n" for r in rows_of(auto))
    )
    assert "--id-col" in invoke("compare", plain, shuffled, code=2)
    assert "outside the scale" in invoke("compare", auto, "--scale", "1-3", code=2)


def test_two_judges_without_humans_print_their_agreement(tmp_path: Path) -> None:
    from ultrajudge.analysis.agreement import STATISTICS, bootstrap_ci, cohen_kappa

    auto, _ = score(tmp_path, "scripted:auto", "auto")
    script = close_judge_script(tmp_path / "close.script.jsonl")
    close, _ = score(tmp_path, f"scripted:{script}", "close")
    out = tmp_path / "c.json"
    output = invoke("compare", auto, close, "--bootstrap", "300", "--seed", "4", "--out", out)
    a = [v for r in rows_of(auto) for v in r["ratings"]]
    b = [v for r in rows_of(close) for v in r["ratings"]]
    rows = [i for i, r in enumerate(rows_of(auto)) for _ in r["ratings"]]
    scale = (1, 2, 3, 4, 5)
    headline = cohen_kappa(a, b, scale=scale, weights="quadratic")
    low, high = bootstrap_ci(
        STATISTICS["kappa_quadratic"], a, b, scale=scale, clusters=rows, n_resamples=300, seed=4
    )
    exact = sum(x == y for x, y in zip(a, b)) / len(a)
    assert "judge × judge agreement (95% bootstrap intervals resampling rows" in output
    line = next(x for x in output.splitlines() if x.startswith("auto vs close"))
    assert line.split()[:4] == ["auto", "vs", "close", "55"]
    assert f"{headline:.3f} [{low:.3f}, {high:.3f}]" in line
    assert f"{exact:.3f}" in line and f"{cohen_kappa(a, b, scale=scale):.3f}" in line
    assert json.loads(out.read_text())["meta"]["resample"] == "row"
    item = invoke("compare", auto, close, "--resample", "item", "--bootstrap", "50")
    assert "resampling items" in item
    assert "--resample" in invoke("compare", auto, close, "--resample", "cluster", code=2)


def test_files_sharing_no_ids_exit_2(tmp_path: Path) -> None:
    auto, _ = score(tmp_path, "scripted:auto", "auto")
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({**r, "id": f"x-{r['id']}"}) + "\n" for r in rows_of(auto)))
    message = invoke("compare", auto, other, code=2)
    assert "auto shares no id (id column 'id') with the other files" in message
