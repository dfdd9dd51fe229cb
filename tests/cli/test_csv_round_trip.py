"""CSV outputs read back exactly, and only what ultrajudge wrote as JSON is decoded (issue
15, files people share): the writer records its JSON columns in ``<out>.columns.json``; a
user's CSV whose text cells happen to be valid JSON (``["a"]``, ``[1, 2]``) stays text."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import datasets
import pytest

from ultrajudge.cli import run
from ultrajudge.judge.errors import DataError
from ultrajudge.judge.io import load_rows, save_rows

EXAMPLES = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples"


pytestmark = pytest.mark.usefixtures("no_library_progress_bars")


def _ok(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = run(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _close_judge(path: Path) -> Path:
    """A scripted judge one point above the human rating on every third completion."""
    lines = []
    for i, row in enumerate(json.loads(x) for x in (EXAMPLES / "feedback.jsonl").open()):
        ratings = [min(5, h + 1) if (i + k) % 3 == 0 else h for k, h in enumerate(row["human_ratings"])]  # fmt: skip
        blocks = [f"#### Output for Text {k + 1}\nRating: {r}\nRationale: ok." for k, r in enumerate(ratings)]  # fmt: skip
        lines.append({"match": row["instruction"], "output": "\n\n".join(blocks)})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def test_score_to_csv_then_pairs_and_compare_read_it_as_the_jsonl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    judges = {"auto": "scripted:auto", "close": f"scripted:{_close_judge(tmp_path / 'c.jsonl')}"}
    for name, spec in judges.items():
        for suffix in ("jsonl", "csv"):
            out = tmp_path / f"{name}.{suffix}"
            _ok(["score", str(EXAMPLES / "feedback.jsonl"), "-j", spec, "-o", str(out), "--no-progress"], capsys)  # fmt: skip
    record = json.loads((tmp_path / "auto.csv.columns.json").read_text(encoding="utf-8"))
    assert record["columns"]["kind"] == "pointwise"
    assert set(record["json_columns"]) >= {"completions", "ratings", "human_ratings", "rating_status"}  # fmt: skip
    assert load_rows(str(tmp_path / "auto.csv")).to_list() == load_rows(str(tmp_path / "auto.jsonl")).to_list()  # fmt: skip

    for suffix in ("jsonl", "csv"):
        _ok(["pairs", str(tmp_path / f"close.{suffix}"), "-o", str(tmp_path / f"pairs_{suffix}.jsonl")], capsys)  # fmt: skip
        _ok(["compare", str(tmp_path / f"auto.{suffix}"), str(tmp_path / f"close.{suffix}"), "--human-col", "human_ratings", "--bootstrap", "0", "-o", str(tmp_path / f"cmp_{suffix}.json")], capsys)  # fmt: skip
    pairs = [(tmp_path / f"pairs_{s}.jsonl").read_text(encoding="utf-8") for s in ("jsonl", "csv")]
    assert pairs[0] == pairs[1] and len(pairs[0].splitlines()) > 10
    boards = [json.loads((tmp_path / f"cmp_{s}.json").read_text())["leaderboard"] for s in ("jsonl", "csv")]  # fmt: skip
    for board in boards:
        for row in board:
            row.pop("seconds_per_1k")  # the wall time of each scoring run
    differ = {k for a, b in zip(*boards) for k in a if a[k] != b.get(k)}
    assert differ == set(), [(k, boards[0][0][k], boards[1][0][k]) for k in differ]
    close = next(r for r in boards[1] if r["judge"] == "close")
    assert close["n_human"] == 55 and close["within_one"] == 1.0


def test_a_users_json_looking_text_column_stays_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "mine.csv"
    src.write_text(
        "instruction,completions,tags,note\n"
        'q,"[""a"", ""b""]","[""x""]","{""k"": 1}"\n'
        'r,"[""c"", ""d""]","[1, 2]",plain\n',
        encoding="utf-8",
    )
    assert load_rows(str(src)).to_list() == [
        {"instruction": "q", "completions": '["a", "b"]', "tags": '["x"]', "note": '{"k": 1}'},
        {"instruction": "r", "completions": '["c", "d"]', "tags": "[1, 2]", "note": "plain"},
    ]
    # score still reads the completions column as a list (it is the column it reads)
    for suffix in ("csv", "jsonl"):
        out = tmp_path / f"scored.{suffix}"
        _ok(["score", str(src), "-j", "scripted:auto", "-o", str(out), "--no-progress"], capsys)
        rows = load_rows(str(out)).to_list()
        assert [r["tags"] for r in rows] == ['["x"]', "[1, 2]"]  # text, as it came
        assert [r["note"] for r in rows] == ['{"k": 1}', "plain"]
        assert [len(r["ratings"]) for r in rows] == [2, 2]  # one per completion
        assert [r["rating_status"] for r in rows] == [["ok", "ok"], ["ok", "ok"]]
    with (tmp_path / "scored.csv").open(encoding="utf-8") as f:
        cells = list(csv.DictReader(f))
    assert [c["tags"] for c in cells] == ['["x"]', "[1, 2]"]  # the cell is unchanged
    pairs = tmp_path / "pairs.jsonl"
    _ok(["pairs", str(tmp_path / "scored.csv"), "-o", str(pairs)], capsys)
    assert len(pairs.read_text(encoding="utf-8").splitlines()) == 2


def test_the_record_names_only_json_columns_and_a_rewrite_replaces_it(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    save_rows(datasets.Dataset.from_list([{"t": "[1]", "l": [1, 2], "m": {"a": 1}}]), out)
    assert json.loads((tmp_path / "o.csv.columns.json").read_text()) == {"json_columns": ["l", "m"]}
    assert load_rows(str(out)).to_list() == [{"t": "[1]", "l": [1, 2], "m": {"a": 1}}]
    save_rows(datasets.Dataset.from_list([{"l": "[3]"}]), out)  # now a text column
    assert json.loads((tmp_path / "o.csv.columns.json").read_text()) == {"json_columns": []}
    assert load_rows(str(out)).to_list() == [{"l": "[3]"}]


def test_a_recorded_json_cell_edited_into_text_is_one_error(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    save_rows(datasets.Dataset.from_list([{"l": [1]}, {"l": [2]}]), out)
    out.write_text('l\n"[1]"\n[2\n', encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_rows(str(out))
    message = str(err.value)
    assert message.startswith(f"{str(out)!r} line 3, column 'l' is not the JSON")
    assert "o.csv.columns.json" in message and "\n" not in message
