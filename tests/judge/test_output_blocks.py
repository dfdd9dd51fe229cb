"""The scored output is the same bytes whatever block size it is assembled in, and the same
bytes as the column assembly before keys were prepared once (one key per row, every
judgment re-placed), for every output format, on rows made to break a writer: unicode
(emoji, right-to-left, U+2028), empty and null completions, nested lists and mappings in
other columns, nulls. Small blocks (1, 2, 3 rows over 7) cross block boundaries inside
the input's own batches."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ultrajudge.judge.backends.scripted import ScriptedBackend
from ultrajudge.judge.io import Columns, load_rows, place_ratings, save_rows
from ultrajudge.judge.rating import RatingConfig
from ultrajudge.judge.runner import RunSummary
from ultrajudge.judge.scoring import (
    _columns_for,
    _combined,
    _stored,
    add_score_columns,
    judge_dataset,
    judgment_key,
)
from ultrajudge.judge.store import ResultStore, make_key

ROWS: list[dict[str, Any]] = [
    {
        "instruction": "Say hi 👋",
        "completions": ["hi", "héllo ✓", "مرحبا"],
        "meta": {"tags": [["a"], []], "n": 1},
        "note": None,
    },
    {
        "instruction": "Line\u2028separator",
        "completions": ["", "x\ny"],
        "meta": {"tags": [], "n": None},
        "note": "ñ",
    },
    {
        "instruction": "Nulls",
        "completions": [None, "a", None],
        "meta": {"tags": [["b", "c"]], "n": 3},
        "note": "",
    },
    {
        "instruction": "Empty list",
        "completions": [],
        "meta": {"tags": [[]], "n": 4},
        "note": 'q"uote',
    },
    {
        "instruction": "数学: 2+2?",
        "completions": ["4", "四", "\t"],
        "meta": {"tags": [["d"]], "n": 5},
        "note": "\\",
    },
    {
        "instruction": "Long",
        "completions": ["word " * 300, "🙂" * 50],
        "meta": {"tags": [], "n": 6},
        "note": None,
    },
    {"instruction": "Last", "completions": ["z"], "meta": {"tags": [["e"]], "n": 7}, "note": "end"},
]
FORMATS = ["out.jsonl", "out.json", "out.csv", "out.parquet", "out_folder"]
CONFIGS = {
    "one aspect": [RatingConfig()],
    "two aspects": [RatingConfig(aspect="honesty"), RatingConfig(aspect="helpfulness")],
}


def _reference_columns(
    backend: Any, ds: Any, columns: Columns, configs: Sequence[RatingConfig], store: ResultStore
) -> Any:
    """The output columns as they were assembled before this change: a key computed from
    the config for each row, every judgment's ratings re-placed."""

    def add(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        items = [(*columns.item_of(r), columns.reference_of(r)) for r in rows]
        all_texts = [columns.texts_of(r) for r in rows]
        new: dict[str, list[Any]] = {}
        per_aspect = []
        for config in configs:
            keys = [judgment_key(backend, config, *item) for item in items]
            stored = store.get_many(keys, include_failed=True)
            judgments = [_stored(stored, k, len(item[1]), config) for k, item in zip(keys, items)]
            judgments = [
                replace(j, ratings=place_ratings(j.ratings, texts))
                for j, texts in zip(judgments, all_texts)
            ]
            per_aspect.append(judgments)
            suffix = "" if len(configs) == 1 else f"_{config.aspect}"
            new.update(_columns_for(judgments, suffix, config))
        if len(configs) > 1:
            new.update(_combined(per_aspect, configs))
        return new

    fingerprint = make_key(
        "columns/v1", ds._fingerprint, backend.id, [c.key_fields() for c in configs]
    )[:32]
    return ds.map(
        add, batched=True, batch_size=256, load_from_cache_file=False, new_fingerprint=fingerprint
    )


def _files(out: Path) -> dict[str, bytes]:
    """The bytes of an output: the file and its sidecar, or every file of a folder."""
    if out.is_dir():
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    found = {out.name: out.read_bytes()}
    sidecar = Path(f"{out}.columns.json")
    if sidecar.exists():
        found[sidecar.name] = sidecar.read_bytes()
    return found


@pytest.mark.parametrize("configs", CONFIGS.values(), ids=list(CONFIGS))
def test_every_format_is_the_same_bytes_in_any_block_size(
    tmp_path: Path, configs: list[RatingConfig]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), "utf-8")
    ds = load_rows(str(source))
    backend, columns = ScriptedBackend(), Columns()
    with ResultStore(tmp_path / "store.sqlite") as store:
        summary = judge_dataset(
            backend, ds, columns=columns, configs=configs, store=store, progress=False
        )
        assert summary.made_now == len(ROWS) * len(configs)
        reference = _reference_columns(backend, ds, columns, configs, store)
        for name in FORMATS:
            expected = _files(save_rows(reference, tmp_path / "reference" / name))
            for block_rows in (1, 2, 3, 256):
                out = tmp_path / f"blocks{block_rows}" / name
                scored = add_score_columns(
                    backend,
                    ds,
                    columns=columns,
                    configs=configs,
                    store=store,
                    summary=RunSummary(),
                    block_rows=block_rows,
                )
                assert _files(save_rows(scored, out)) == expected, (name, block_rows)
    text = (tmp_path / "blocks2" / "out.jsonl").read_text("utf-8")
    rows = [json.loads(line) for line in text.split("\n") if line]  # not splitlines: U+2028
    assert [r["note"] for r in rows] == [r["note"] for r in ROWS]
    assert rows[0]["meta"] == ROWS[0]["meta"] and rows[3]["completions"] == []
    status = "rating_status" if len(configs) == 1 else "rating_status_honesty"
    assert rows[2][status] == ["invalid_input", "ok", "invalid_input"]
    assert rows[3][status] == [] and rows[1][status] == ["ok", "ok"]


def _late_failure(tmp_path: Path) -> tuple[Path, Path]:
    """300 rows; the judge answers every row well but row 291, which it answers with text
    that holds no rating block: every rating of the first block (256 rows) is ok."""
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"instruction": f"Q{i}", "completions": [f"a{i}", f"b{i}"]}) + "\n" for i in range(300)))  # fmt: skip
    good = "#### Output for Text 1\nRating: 4\nRationale: ok.\n\n#### Output for Text 2\nRating: 2\nRationale: meh."  # fmt: skip
    judge = tmp_path / "judge.jsonl"
    judge.write_text(json.dumps({"match": "Q290\n", "output": "no rating here"}) + "\n" + json.dumps({"output": good}) + "\n")  # fmt: skip
    return source, judge


@pytest.mark.parametrize("name", ["out.jsonl", "out.parquet"])
def test_a_failure_after_the_first_block_is_written_not_a_crash(tmp_path: Path, name: str) -> None:
    """Before: the output step raised ``TypeError: Couldn't cast array of type string to
    null`` after judging every row (rating_raw was all null in the first block)."""
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from ultrajudge.cli import _register, app

    _register()
    source, judge = _late_failure(tmp_path)
    out = tmp_path / name
    args = ["score", str(source), "-j", f"scripted:{judge}", "-o", str(out), "--max-retries", "0"]
    result = CliRunner().invoke(app, [*args, "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert re.search(r"ok\s+598\b", result.output) and re.search(r"missing\s+2\b", result.output)
    rows = load_rows(str(out))
    assert rows[290]["rating_status"] == ["missing", "missing"]
    assert rows[290]["rating_raw"] == ["no rating here", "no rating here"]
    assert rows[290]["ratings"] == [None, None] and rows[0]["ratings"] == [4.0, 2.0]
    assert rows[0]["rating_raw"] == [None, None] and len(rows) == 300
    if name.endswith(".parquet"):
        assert str(pq.read_schema(out).field("rating_raw").type) == "list<element: string>"


def test_an_output_whose_first_block_is_typed_keeps_the_inferred_types(tmp_path: Path) -> None:
    """Every rating ok: ``rating_raw`` is all null and keeps the null type ``datasets``
    infers for it (as outputs written before had it), no declared type."""
    import pyarrow.parquet as pq

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"instruction": f"Q{i}", "completions": ["a", "b"]}) + "\n" for i in range(5)))  # fmt: skip
    ds = load_rows(str(source))
    with ResultStore(tmp_path / "s.sqlite") as store:
        args = {"columns": Columns(), "configs": [RatingConfig()], "store": store}
        judge_dataset(ScriptedBackend(), ds, progress=False, **args)  # type: ignore[arg-type]
        scored = add_score_columns(ScriptedBackend(), ds, summary=RunSummary(), block_rows=2, **args)  # type: ignore[arg-type]  # fmt: skip
    out = save_rows(scored, tmp_path / "out.parquet")
    assert str(pq.read_schema(out).field("rating_raw").type) == "list<element: null>"


PAIRS = [
    {"instruction": "Say hi 👋", "response_a": "hi", "response_b": "مرحبا", "meta": [[1], []]},
    {"instruction": "Line\u2028separator", "response_a": "", "response_b": "x\ny", "meta": []},
    {"instruction": "数学", "response_a": "四", "response_b": "4", "meta": None},
    {"instruction": "Last", "response_a": "z", "response_b": "\t", "meta": [[2, 3]]},
]


@pytest.mark.parametrize("mode", ["generate", "logprob"])
def test_pairwise_outputs_are_the_same_bytes_in_any_block_size(tmp_path: Path, mode: str) -> None:
    from ultrajudge.judge.pairwise import (
        PairColumns,
        PairwiseConfig,
        add_pairwise_columns,
        judge_pairs_dataset,
    )

    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in PAIRS), "utf-8")
    ds, backend, config = load_rows(str(source)), ScriptedBackend(), PairwiseConfig(mode=mode)  # type: ignore[arg-type]
    with ResultStore(tmp_path / "store.sqlite") as store:
        args = {"columns": PairColumns(), "config": config, "store": store}
        judge_pairs_dataset(backend, ds, progress=False, **args)  # type: ignore[arg-type]
        for name in FORMATS:
            outputs = []
            for block_rows in (1, 3, 256):
                summary = RunSummary()
                judged = add_pairwise_columns(backend, ds, summary=summary, block_rows=block_rows, **args)  # type: ignore[arg-type]  # fmt: skip
                outputs.append(_files(save_rows(judged, tmp_path / f"b{block_rows}" / name)))
                assert sum(summary.statuses.values()) == len(PAIRS)
            assert outputs[0] == outputs[1] == outputs[2], name
    rows = load_rows(str(tmp_path / "b1" / "out.jsonl"))
    assert rows["meta"] == [r["meta"] for r in PAIRS]
    # the scripted judge's next tokens are digits, not A/B/C: logprob verdicts are low_mass
    assert set(rows["verdict_status"]) == {"ok" if mode == "generate" else "low_mass"}


def _arrow_caches(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("cache-*.arrow")}


@pytest.mark.parametrize("name", ["out.jsonl", "out.csv", "out_folder"])
def test_scoring_a_saved_dataset_leaves_its_folder_as_it_was(tmp_path: Path, name: str) -> None:
    """The map that adds the columns writes a copy of the output, as large as the dataset,
    beside the data it read (here the user's save_to_disk folder; a file's Arrow cache
    otherwise); once the output is written it is deleted, as is the CSV writer's."""
    import datasets
    from typer.testing import CliRunner

    from ultrajudge.cli import _register, app

    _register()
    saved = tmp_path / "saved"
    datasets.Dataset.from_list([{"instruction": f"Q{i}", "completions": ["a", "b"]} for i in range(5)]).save_to_disk(str(saved))  # fmt: skip
    before = sorted(p.name for p in saved.iterdir())
    out = tmp_path / name
    args = ["score", str(saved), "-j", "scripted:auto", "-o", str(out), "--no-progress"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in saved.iterdir()) == before
    assert load_rows(str(out))["rating_status"] == [["ok", "ok"]] * 5


def test_scoring_a_file_leaves_no_copy_of_the_output_in_its_cache(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ultrajudge.cli import _register, app

    _register()
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"instruction": f"Q{i}", "completions": ["a"]}) + "\n" for i in range(5)))  # fmt: skip
    cache = Path(load_rows(str(source)).cache_files[0]["filename"]).parent
    before = _arrow_caches(cache)
    args = ["score", str(source), "-j", "scripted:auto", "-o", str(tmp_path / "o.jsonl"), "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert _arrow_caches(cache) == before


def test_a_jury_leaves_no_copy_of_its_columns_beside_the_input(tmp_path: Path) -> None:
    import datasets
    from typer.testing import CliRunner

    from ultrajudge.cli import _register, app

    _register()
    saved = tmp_path / "saved"
    datasets.Dataset.from_list([{"instruction": f"Q{i}", "completions": ["a", "b"]} for i in range(4)]).save_to_disk(str(saved))  # fmt: skip
    before = sorted(p.name for p in saved.iterdir())
    late = tmp_path / "late.jsonl"
    late.write_text(json.dumps({"output": "#### Output for Text 1\nRating: 1\nRationale: x.\n\n#### Output for Text 2\nRating: 5\nRationale: y."}) + "\n")  # fmt: skip
    out = tmp_path / "jury.jsonl"
    args = [
        "score",
        str(saved),
        "-j",
        "scripted:auto",
        "-j",
        f"late=scripted:{late}",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(app, [*args, "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in saved.iterdir()) == before
    assert load_rows(str(out))["ratings__late"] == [[1.0, 5.0]] * 4
