"""Each output suffix means what it says, every command reads back what another wrote, inputs
come in the shapes ``datasets`` accepts, and outputs are shareable files."""

from __future__ import annotations

import gzip
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrajudge.judge.io import OutputError, load_rows, save_rows, write_text

ROWS = [
    {"instruction": "a", "completions": ["x", "y, with a comma"], "ratings": [1.0, None]},
    {"instruction": 'b "quoted"', "completions": ["z"], "ratings": [5.0]},
]


@pytest.fixture()
def ds() -> datasets.Dataset:
    return datasets.Dataset.from_list(ROWS)


@pytest.mark.parametrize("name", ["o.jsonl", "o.json", "o.csv", "o.parquet", "o_folder"])
def test_every_format_reads_back_what_was_written(
    tmp_path: Path, ds: datasets.Dataset, name: str
) -> None:
    out = save_rows(ds, tmp_path / name)
    assert load_rows(str(out)).to_list() == ROWS


def test_json_is_one_json_array(tmp_path: Path) -> None:
    many = datasets.Dataset.from_list([{"i": i, "t": [str(i)]} for i in range(2500)])
    out = save_rows(many, tmp_path / "o.json")  # more rows than one writer batch
    data = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(data, list) and len(data) == 2500 and data[1234] == {"i": 1234, "t": ["1234"]}


def test_csv_list_cells_are_json_text(tmp_path: Path, ds: datasets.Dataset) -> None:
    out = save_rows(ds, tmp_path / "o.csv")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "instruction,completions,ratings"
    assert lines[1] == 'a,"[""x"", ""y, with a comma""]","[1.0, null]"'


@pytest.mark.parametrize("name", ["o.txt", "o.json.gz", "o.jsonl.bak"])
def test_an_unknown_suffix_is_refused_and_nothing_is_created(
    tmp_path: Path, ds: datasets.Dataset, name: str
) -> None:
    with pytest.raises(OutputError, match="is not one of .jsonl, .json, .csv, .parquet"):
        save_rows(ds, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture()
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("name", ["o.jsonl", "o.csv", "o.parquet", "o.json", "folder"])
def test_outputs_get_the_users_umask(tmp_path: Path, ds: datasets.Dataset, name: str) -> None:
    out = save_rows(ds, tmp_path / "new" / name)
    assert stat.S_IMODE(out.stat().st_mode) == (0o755 if out.is_dir() else 0o644)
    report = write_text(tmp_path / "report.html", "<p>hi</p>")
    assert stat.S_IMODE(report.stat().st_mode) == 0o644


def test_temporaries_left_by_a_killed_run_are_removed(tmp_path: Path, ds: datasets.Dataset) -> None:
    out = tmp_path / "o.jsonl"
    left = [tmp_path / ".o.jsonl.ab12cd34.tmp", tmp_path / ".o.jsonl.k2_x9qzt.tmp"]
    for path in left:
        path.write_text("half a file")
    (tmp_path / ".o.jsonl.0a1b2c3d.old.tmp").mkdir()
    mine = [tmp_path / ".other.jsonl.ab12cd34.tmp", tmp_path / ".o.jsonl.notes.txt"]
    for path in mine:
        path.write_text("not ours")
    save_rows(ds, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["o.jsonl", ".other.jsonl.ab12cd34.tmp", ".o.jsonl.notes.txt"]
    )


def test_a_failed_write_leaves_no_temporary(
    tmp_path: Path, ds: datasets.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object, path: str, **kwargs: object) -> None:
        Path(path).write_text("half")
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(datasets.Dataset, "to_parquet", broken)
    with pytest.raises(OSError):
        save_rows(ds, tmp_path / "o.parquet")
    assert list(tmp_path.iterdir()) == []


def test_inputs_as_datasets_accepts_them(tmp_path: Path, ds: datasets.Dataset) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, row in enumerate(ROWS):
        (shards / f"part-{i}.jsonl").write_text(json.dumps(row) + "\n")
    assert load_rows(str(shards)).to_list() == ROWS
    assert load_rows(str(shards / "part-*.jsonl")).to_list() == ROWS
    packed = tmp_path / "in.jsonl.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in ROWS)
    assert load_rows(str(packed)).to_list() == ROWS
    parquet = tmp_path / "pq"
    parquet.mkdir()
    for i in range(2):
        save_rows(ds.select([i]), parquet / f"{i}.parquet")
    assert load_rows(str(parquet)).to_list() == ROWS


def test_a_hub_source_passes_config_and_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, ...]] = []

    def fake(name: str, config: str | None, *, split: str, revision: str | None) -> object:
        seen.append((name, config, split, revision))
        return datasets.Dataset.from_list(ROWS)

    monkeypatch.setattr(datasets, "load_dataset", fake)
    load_rows("org/data:subset@v1.0", split="test")
    load_rows("org/data")
    assert seen == [("org/data", "subset", "test", "v1.0"), ("org/data", None, "train", None)]


texts = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)


@settings(max_examples=8, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "instruction": texts,
                "completions": st.lists(texts, min_size=1, max_size=3),
                "ratings": st.lists(
                    st.one_of(st.none(), st.integers(1, 5)), min_size=1, max_size=3
                ),
            }
        ),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["o.json", "o.jsonl", "o.parquet"]),  # CSV infers types: "0" is 0.0
)
def test_any_rows_round_trip(rows: list[dict[str, object]], name: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = save_rows(datasets.Dataset.from_list(rows), Path(tmp) / name)
        back = load_rows(str(out)).to_list()
    assert back == rows
