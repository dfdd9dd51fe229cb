"""A generator's input row it cannot read (a null completion, response, context or
instruction; a number where a text goes) is one line naming the file's line and the
column, exit 2, before any model loads, with nothing written (issue 15). Nothing is
coerced into a text: ``None`` never becomes the prompt "None"."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets
import pytest

from ultrajudge.cli import run
from ultrajudge.generators.rows import check_rows, optional_text_of, text_of
from ultrajudge.judge.datafiles import row_place
from ultrajudge.judge.errors import DataError

pytestmark = pytest.mark.usefixtures("no_library_progress_bars")


GOOD = {"instruction": "Say hi.", "completions": ["hi"], "response": "hi", "context": "c"}


def _jsonl(path: Path, rows: list[dict], blank_after_first: bool = False) -> Path:
    lines = [json.dumps(r) for r in rows]
    if blank_after_first:
        lines.insert(1, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _csv(path: Path, rows: list[dict]) -> Path:
    # A multi-line cell in the first row: the bad row's line is the file's, not the row's.
    first = {**rows[0], "instruction": "Say\nhi."}
    datasets.Dataset.from_list([first, *rows[1:]]).map(
        lambda r: {"completions": json.dumps(r["completions"])}
    ).to_csv(str(path), index=False)
    return path


# (command words after the input, the bad row, the column named, what it says)
CASES = [
    (
        ["generate", "pool", "-g", "model=scripted:auto"],
        {**GOOD, "completions": [None, "b"]},
        "column 'completions[0]' is not a text (null)",
    ),
    (
        ["generate", "evol-quality", "-m", "scripted:auto"],
        {**GOOD, "response": None},
        "column 'response' must hold text, got null",
    ),
    (
        ["generate", "evol-quality", "-m", "scripted:auto", "--completions-col", "completions"],
        {**GOOD, "completions": ["a", None]},
        "column 'completions[1]' is not a text (null)",
    ),
    (
        ["generate", "evol-instruct", "-m", "scripted:auto"],
        {**GOOD, "instruction": None},
        "column 'instruction' must hold text (or a chat), got null",
    ),
    (
        ["generate", "self-instruct", "-m", "scripted:auto", "--context-col", "context"],
        {**GOOD, "context": None},
        "column 'context' must hold text, got null",
    ),
]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
@pytest.mark.parametrize(
    ("words", "bad", "says"), CASES, ids=[f"{c[0][1]}-{c[2][:28]}" for c in CASES]
)
def test_a_bad_row_names_the_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, words: list, bad: dict, says: str
) -> None:
    rows = [GOOD, bad]
    if kind == "jsonl":
        src, line = _jsonl(tmp_path / "in.jsonl", rows, blank_after_first=True), 3
    else:
        src, line = _csv(tmp_path / "in.csv", rows), 4  # header, two lines of row 1
    out = tmp_path / "out.jsonl"
    code = run([*words[:2], str(src), *words[2:], "-o", str(out), "--no-progress"])
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert lines[0] == f"error: {str(src)!r} line {line}, {says}; fix or drop the row"
    assert not out.exists() and not list(tmp_path.glob("*.sqlite"))


def test_magpie_system_prompt_that_is_a_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _jsonl(tmp_path / "sys.jsonl", [{"system_prompt": "Be kind."}, {"system_prompt": 5}])
    argv = ["generate", "magpie", "-o", str(tmp_path / "o.jsonl"), str(src), "-m", "scripted:auto"]
    assert run([*argv, "--template-family", "chatml", "--no-progress"]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert line == (
        f"error: {str(src)!r} line 2, column 'system_prompt' must hold text, got 5 (int); "
        "fix or drop the row"
    )


def test_the_library_refuses_to_coerce() -> None:
    assert text_of({"r": "x"}, "r") == "x"
    with pytest.raises(DataError, match=r"^column 'r' must hold text, got null"):
        text_of({"r": None}, "r")
    with pytest.raises(DataError, match=r"got \['a'\] \(list\)"):
        text_of({"r": ["a"]}, "r")
    assert optional_text_of({"s": ""}, "s") is None and optional_text_of({}, "s") is None
    with pytest.raises(DataError, match=r"^row 2, column 'completions\[0\]'"):
        check_rows([GOOD, {**GOOD, "completions": [None]}], source=None, lists=["completions"])
    check_rows([{**GOOD, "completions": None}], source=None, lists=["completions"])  # no list


def test_row_place(tmp_path: Path) -> None:
    parquet = tmp_path / "d.parquet"
    datasets.Dataset.from_list([GOOD] * 3).to_parquet(str(parquet))
    assert row_place(str(parquet), 2) == f"row 3 of {str(parquet)!r}"
    array = tmp_path / "a.json"
    array.write_text(json.dumps([GOOD, GOOD], indent=1), encoding="utf-8")
    assert row_place(str(array), 1) == f"row 2 of {str(array)!r}"
    gz = tmp_path / "z.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"a": 1}\n\n\n{"a": 2}\n'))
    assert row_place(str(gz), 1) == f"{str(gz)!r} line 4"
    assert row_place("org/hub-dataset", 0) == "row 1 of 'org/hub-dataset'"
    assert row_place(str(tmp_path / "missing.jsonl"), 0) == (
        f"row 1 of {str(tmp_path / 'missing.jsonl')!r}"
    )
