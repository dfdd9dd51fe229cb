"""An output path never destroys what ultrajudge did not write (the data-loss issue).

Each refusal is one line with a non-zero exit, and every file that was there before is
still there, byte for byte, afterwards."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app
from ultrajudge.judge.io import OutputError, check_output, load_rows, save_rows

_register()
runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples"


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (SQLite's -wal/-shm side files come and go with readers)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def _refused(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    # `datasets` draws its own "Generating train split" bar when it reads the input (the
    # CLI's entry point turns it off; the test runner does not go through it).
    lines = [
        line
        for line in result.output.splitlines()
        if line.strip() and not line.startswith("Generating ")
    ]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: refusing to "), lines[0]
    return lines[0]


@pytest.fixture()
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's working directory: the input, an earlier store, notes, a thesis."""
    shutil.copy(EXAMPLES / "feedback.jsonl", tmp_path / "data.jsonl")
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "thesis.tex").write_text("\\documentclass{article}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_score_out_dot_refuses_and_keeps_every_file(workspace: Path) -> None:
    before = _snapshot(workspace)
    line = _refused("score", "data.jsonl", "--judge", "scripted:auto", "--out", ".")
    assert "working directory" in line and "--out" in line
    assert _snapshot(workspace) == before


def test_score_out_parent_of_the_working_directory_is_refused(workspace: Path) -> None:
    before = _snapshot(workspace)
    _refused("score", "data.jsonl", "--judge", "scripted:auto", "--out", "..")
    assert _snapshot(workspace) == before


def test_score_into_a_folder_with_a_users_file_refuses(workspace: Path) -> None:
    before = _snapshot(workspace)
    line = _refused("score", "data.jsonl", "--judge", "scripted:auto", "--out", "results")
    assert "'results'" in line and "not a dataset ultrajudge wrote" in line
    assert _snapshot(workspace) == before
    assert not list(workspace.glob(".results*")), "no temporary folder left behind"


def test_score_out_equal_to_the_input_is_refused(workspace: Path) -> None:
    before = _snapshot(workspace)
    line = _refused("score", "data.jsonl", "--judge", "scripted:auto", "--out", "data.jsonl")
    assert "same path as" in line
    assert _snapshot(workspace) == before


def test_pairwise_and_generate_share_the_guard(workspace: Path) -> None:
    (workspace / "pairs.jsonl").write_text(
        '{"instruction": "q", "response_a": "a", "response_b": "b"}\n', encoding="utf-8"
    )
    before = _snapshot(workspace)
    _refused("pairwise", "pairs.jsonl", "--judge", "scripted:auto", "--out", "results")
    _refused("generate", "pool", "data.jsonl", "-g", "model=scripted:auto", "--out", "results")
    assert _snapshot(workspace) == before


def test_pairs_out_equal_to_its_input_is_refused(workspace: Path) -> None:
    runner.invoke(
        app, ["score", "data.jsonl", "--judge", "scripted:auto", "--out", "scored.jsonl",
              "--no-progress"], catch_exceptions=False,
    )  # fmt: skip
    before = _snapshot(workspace)
    _refused("pairs", "scored.jsonl", "--out", "scored.jsonl")
    assert _snapshot(workspace) == before


def test_compare_report_over_its_input_is_refused(workspace: Path) -> None:
    runner.invoke(
        app, ["score", "data.jsonl", "--judge", "scripted:auto", "--out", "scored.jsonl",
              "--no-progress"], catch_exceptions=False,
    )  # fmt: skip
    before = _snapshot(workspace)
    result = runner.invoke(
        app, ["compare", "scored.jsonl", "--human-col", "human_ratings", "--report", "scored.jsonl"]
    )
    assert result.exit_code == 2, result.output
    assert "refusing to write the output to 'scored.jsonl'" in result.output
    assert _snapshot(workspace) == before


@pytest.mark.parametrize("target", ["..", "."])
def test_pipeline_output_of_dot_or_dotdot_is_refused_before_any_step(
    workspace: Path, target: str
) -> None:
    pipeline = workspace / "pipeline.yaml"
    pipeline.write_text(
        f"input: data.jsonl\njudge: scripted:auto\noutputs: {{scored: '{target}'}}\nworkdir: .\n",
        encoding="utf-8",
    )
    before = _snapshot(workspace)
    line = _refused("run", pipeline, "--no-progress")
    assert "refusing to write the output" in line
    assert _snapshot(workspace) == before


def test_pipeline_output_of_dotdot_from_its_default_workdir_is_refused(workspace: Path) -> None:
    pipeline = workspace / "p.yaml"
    pipeline.write_text("input: data.jsonl\njudge: scripted:auto\noutputs: {scored: '..'}\n")
    before = _snapshot(workspace)
    _refused("run", pipeline, "--no-progress")
    after = _snapshot(workspace)
    assert after == before


def test_a_dataset_folder_ultrajudge_wrote_is_still_replaced(workspace: Path) -> None:
    args = ["score", "data.jsonl", "--judge", "scripted:auto", "--no-progress"]
    first = runner.invoke(app, [*args, "--out", "scored_dir", "--limit", "3"])
    assert first.exit_code == 0, first.output
    assert len(load_rows("scored_dir")) == 3
    second = runner.invoke(app, [*args, "--out", "scored_dir"])
    assert second.exit_code == 0, second.output
    assert len(load_rows("scored_dir")) == 20
    assert not [p for p in workspace.iterdir() if p.name.startswith(".scored_dir")]


def test_check_output_rules(tmp_path: Path) -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"a": [1, 2]})
    save_rows(ds, tmp_path / "ours")
    check_output(tmp_path / "ours")  # our own dataset folder: allowed
    (tmp_path / "empty").mkdir()
    check_output(tmp_path / "empty")  # nothing in it to lose
    store = tmp_path / "run" / "store.sqlite"
    with pytest.raises(OutputError, match="folder above"):
        check_output(tmp_path / "run", protect=[store])
    with pytest.raises(OutputError, match="same path as"):
        check_output(store, protect=[store], folder=False)
    (tmp_path / "notes").write_text("x")
    with pytest.raises(OutputError, match="with a dataset folder"):
        check_output(tmp_path / "notes")
    (tmp_path / "out.jsonl").mkdir()
    with pytest.raises(OutputError, match="existing folder, not a file"):
        check_output(tmp_path / "out.jsonl")
    (tmp_path / "ours" / "extra.txt").write_text("user file")
    with pytest.raises(OutputError, match="not a dataset ultrajudge wrote"):
        save_rows(ds, tmp_path / "ours")
    assert (tmp_path / "ours" / "extra.txt").read_text() == "user file"


def test_a_dataset_dict_folder_with_a_stray_file_in_a_split_is_not_ours(tmp_path: Path) -> None:
    import datasets

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"a": [1]})})
    dd.save_to_disk(str(tmp_path / "dd"))
    check_output(tmp_path / "dd")
    (tmp_path / "dd" / "train" / "README.md").write_text("mine")
    with pytest.raises(OutputError):
        check_output(tmp_path / "dd")


def test_remove_output_deletes_only_what_save_rows_wrote(tmp_path: Path) -> None:
    import datasets

    from ultrajudge.judge.io import remove_output

    ds = datasets.Dataset.from_list([{"a": [1]}])
    csv, folder = save_rows(ds, tmp_path / "rows.csv"), save_rows(ds, tmp_path / "rows")
    remove_output(csv)
    remove_output(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # file, sidecar, folder: gone
    mine = save_rows(ds, tmp_path / "mine")
    (mine / "notes.txt").write_text("the user's")
    remove_output(mine)
    assert (mine / "notes.txt").read_text() == "the user's"  # not a folder we wrote: kept
