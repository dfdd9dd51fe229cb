"""``Columns``: nothing that is not a text is ever judged (issue 15, silent wrong results 3)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app
from ultrajudge.judge.io import Columns, DataError, NotText, load_rows, place_ratings
from ultrajudge.judge.types import Rating

_register()
runner = CliRunner()

# (id, completion value, its text or the NotText reason)
VALUE_ROWS = [
    ("text", "an answer", "an answer"),
    ("empty-text", "", ""),
    ("message", {"role": "assistant", "content": "hi"}, "hi"),
    ("chat", [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "a"),
    ("null", None, NotText("null")),
    ("true", True, NotText("a boolean (true)")),
    ("float", 1.5, NotText("a number (1.5)")),
    ("nan", math.nan, NotText("a number (nan)")),
    ("int", 3, NotText("a number (3)")),
    ("nested-list", ["p", "q"], NotText("a list (['p', 'q'])")),
    ("empty-list", [], NotText("a list ([])")),
    (
        "message-content-null",
        {"role": "assistant", "content": None},
        NotText("a chat message whose content is null"),
    ),
    (
        "chat-content-null",
        [{"role": "assistant", "content": None}],
        NotText("a chat message whose content is null"),
    ),
    (
        "message-without-content",
        {"role": "assistant"},
        NotText("a chat message whose content is null"),
    ),
    (
        "message-content-number",
        {"content": 4},
        NotText("a chat message whose content is a number (4)"),
    ),
]


@pytest.mark.parametrize(
    ("value", "expected"), [r[1:] for r in VALUE_ROWS], ids=[r[0] for r in VALUE_ROWS]
)
def test_texts_of_never_coerces(value: object, expected: object) -> None:
    row = {"instruction": "q", "completions": [value], "a": value}
    assert Columns().texts_of(row) == [expected]
    assert Columns("instruction", None, ("a",)).texts_of(row) == [expected]


def test_item_of_keeps_only_texts() -> None:
    row = {"instruction": "q", "completions": [None, "b", True, "d"]}
    assert Columns().item_of(row, 4) == ("q", ["b", "d"])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"instruction": "q", "completions": [None, "b"]}, "row 8, column 'completions[0]' is not a text (null)"),
        ({"instruction": "q", "completions": "just one"}, "row 8, column 'completions' must hold a list"),
        ({"instruction": None, "completions": ["a"]}, "row 8, column 'instruction' must hold text (or a chat), got null"),
        ({"instruction": 12, "completions": ["a"]}, "row 8, column 'instruction' must hold text (or a chat), got a number (12)"),
        ({"instruction": [{"role": "user", "content": None}], "completions": ["a"]}, "row 8, column 'instruction': the last user turn has no text content"),
    ],
)  # fmt: skip
def test_errors_name_row_and_column(row: dict, message: str) -> None:
    columns = Columns()
    with pytest.raises(DataError) as err:
        columns.instruction_of(row, 7)
        columns.completions_of(row, 7)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_completion_column_named_in_error() -> None:
    row = {"instruction": "q", "chosen": "a", "rejected": None}
    with pytest.raises(DataError, match=r"^row 3, column 'rejected' is not a text \(null\)"):
        Columns("instruction", None, ("chosen", "rejected")).completions_of(row, 2)


def test_place_ratings() -> None:
    ok = [Rating(4.0, "ok"), Rating(None, "parse_error", raw="?")]
    placed = place_ratings(ok, ["a", NotText("null"), "c", NotText("a number (1.5)")])
    assert [(r.status, r.value, r.raw) for r in placed] == [
        ("ok", 4.0, None),
        ("invalid_input", None, "not a text: null"),
        ("parse_error", None, "?"),
        ("invalid_input", None, "not a text: a number (1.5)"),
    ]
    with pytest.raises(ValueError, match="3 ratings for 2 positions"):
        place_ratings([*ok, ok[0]], ["a", "b"])


@pytest.mark.parametrize(
    "columns",
    [Columns(), Columns("prompt", None, ("chosen", "rejected")), Columns("q", "c", (), "ref")],
)
def test_columns_dict_round_trip(columns: Columns) -> None:
    assert Columns.from_dict(json.loads(json.dumps(columns.as_dict()))) == columns


# -- end to end: score, pairs, compare ----------------------------------------------


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _script(path: Path, *ratings: int) -> Path:
    blocks = "\n\n".join(
        f"#### Output for Text {i}\nRating: {r}\nRationale: x." for i, r in enumerate(ratings, 1)
    )
    return _jsonl(path, [{"output": blocks}])


def invoke(*args: object, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_score_marks_invalid_completions_and_pairs_skip_them(tmp_path: Path) -> None:
    data = _jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "r0", "instruction": "q0", "completions": [None, "worst", "best"]},
            {"id": "r1", "instruction": "q1", "completions": [True, 1.5, None]},
            {"id": "r2", "instruction": "q2", "completions": [["x", "y"], "best", "worst"]},
        ],
    )
    log, out = tmp_path / "prompts.log", tmp_path / "scored.jsonl"
    script = _script(tmp_path / "judge.jsonl", 1, 5)  # whatever it is shown: Text 1 → 1, Text 2 → 5
    output = invoke(
        "score", data, "-j", f"scripted:{script}", "-O", f"log={log}", "--out", out, "--no-progress"
    )
    rows = load_rows(str(out))
    assert rows["rating_status"] == [
        ["invalid_input", "ok", "ok"],
        ["invalid_input"] * 3,
        ["invalid_input", "ok", "ok"],
    ]
    assert rows["ratings"] == [[None, 1.0, 5.0], [None, None, None], [None, 1.0, 5.0]]
    assert rows["rating_raw"][1] == [
        "not a text: a boolean (true)",
        "not a text: a number (1.5)",
        "not a text: null",
    ]
    assert re.search(r"invalid_input +5 ", output)
    prompts = log.read_text(encoding="utf-8")
    assert "None" not in prompts and "True" not in prompts and "1.5" not in prompts
    assert prompts.count("<text 3>") == 0  # never more texts than the judge should see

    pairs = tmp_path / "pairs.jsonl"
    output = invoke("pairs", out, "--out", pairs)
    got = load_rows(str(pairs))
    assert [(p["chosen"], p["rejected"]) for p in got] == [("best", "worst"), ("worst", "best")]
    assert "invalid_input 5" in output

    compare = invoke("compare", out, out, "--name", "a", "--name", "b", "--bootstrap", "0")
    # 9 items, 4 rated; the 5 invalid inputs are nobody's failure
    assert re.search(r"^n_items +9 +9$", compare, re.M), compare
    assert re.search(r"^n_rated +4 +4$", compare, re.M)
    assert re.search(r"^failure_rate +0\.000 +0\.000$", compare, re.M)


@pytest.mark.usefixtures("no_library_progress_bars")
def test_pairwise_refuses_a_null_response_naming_the_row(tmp_path: Path) -> None:
    data = _jsonl(
        tmp_path / "in.jsonl",
        [
            {"instruction": "q", "response_a": "a", "response_b": "b"},
            {"instruction": "q", "response_a": "a", "response_b": None},
        ],
    )
    result = runner.invoke(
        app, ["pairwise", str(data), "-j", "scripted:auto", "--out", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 2
    assert result.output == (  # the file's own line, as generate names it; rows count from 1
        f"error: {str(data)!r} line 2, column 'response_b' is not a text (null); fix or drop the row\n"
    )
    assert not (tmp_path / "o.jsonl").exists()
