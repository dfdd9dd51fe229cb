"""TRL export (both formats, self-validation, every output kind), dropped rows and the report."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import datasets
import pytest

from ultrajudge.analysis.export import ExportError, to_trl, validate_pairs
from ultrajudge.analysis.filters import FilterConfig
from ultrajudge.analysis.jury_agreement import format_jury_table, jury_agreement, jury_table
from ultrajudge.analysis.pairs import PairBuilder, make_pairs, write_outputs
from ultrajudge.judge.io import load_rows

_CHAT = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Capital of France?"},
]


def _scored() -> datasets.Dataset:
    rows: list[dict[str, Any]] = [
        {
            "id": "a",
            "instruction": "Capital of France?",
            "completions": ["Paris.", "Lyon.", "Paris"],
            "ratings": [5.0, 1.0, 4.0],
            "rating_status": ["ok", "ok", "ok"],
            "judge": "jury:mean(x, y)",
            "completion_models": ["m1", "m2", "m3"],
            "jury_spread": [0.0, 0.0, 1.0],
            "ratings__x": [5.0, 1.0, 5.0],
            "ratings__y": [5.0, 1.0, 3.0],
            "judge__x": "X",
            "judge__y": "Y",
        },
        {
            "id": "b",
            "instruction": "Say hi.",
            "completions": ["hi", "hi"],
            "ratings": [3.0, 3.0],
            "rating_status": ["ok", "ok"],
            "judge": "jury:mean(x, y)",
            "completion_models": ["m1", "m2"],
            "jury_spread": [0.0, 0.0],
            "ratings__x": [3.0, 3.0],
            "ratings__y": [3.0, 3.0],
            "judge__x": "X",
            "judge__y": "Y",
        },
        {
            "id": "c",
            "instruction": "Two plus two?",
            "completions": ["4", "5 is the answer to two plus two, without any doubt at all."],
            "ratings": [4.5, 4.0],
            "rating_status": ["ok", "ok"],
            "judge": "jury:mean(x, y)",
            "completion_models": ["m1", "m2"],
            "jury_spread": [0.5, 1.0],
            "ratings__x": [4.0, 5.0],
            "ratings__y": [5.0, 3.0],
            "judge__x": "X",
            "judge__y": "Y",
        },
    ]
    return datasets.Dataset.from_list(rows)


def _outcome(fmt: str = "standard", **filters: Any):
    return make_pairs(
        _scored(),
        PairBuilder(),
        FilterConfig(**filters).filters(),
        format=fmt,  # type: ignore[arg-type]
    )


def test_standard_export_has_trl_columns_scores_and_provenance() -> None:
    (first, second) = _outcome().records
    assert first["prompt"] == "Capital of France?"
    assert (first["chosen"], first["rejected"]) == ("Paris.", "Lyon.")
    assert (first["score_chosen"], first["score_rejected"], first["margin"]) == (5.0, 1.0, 4.0)
    assert (first["chosen_model"], first["rejected_model"]) == ("m1", "m2")
    assert (first["judge"], first["judge__x"], first["judge__y"]) == ("jury:mean(x, y)", "X", "Y")
    assert (first["score_chosen__y"], first["score_rejected__y"]) == (5.0, 1.0)
    assert (first["source_id"], first["source_row"]) == ("a", 0)
    assert second["margin"] == pytest.approx(0.5)


def test_conversational_export() -> None:
    (first, _) = _outcome("conversational").records
    assert first["prompt"] == [{"role": "user", "content": "Capital of France?"}]
    assert first["chosen"] == [{"role": "assistant", "content": "Paris."}]
    assert first["rejected"] == [{"role": "assistant", "content": "Lyon."}]


def test_conversational_export_keeps_a_chat_prompt() -> None:
    scored = datasets.Dataset.from_list(
        [{"instruction": _CHAT, "completions": ["Paris.", "Rome."], "ratings": [5, 1]}]
    )
    outcome = make_pairs(scored, PairBuilder(), format="conversational")
    assert outcome.records[0]["prompt"] == _CHAT
    standard = make_pairs(scored, PairBuilder())
    assert standard.records[0]["prompt"] == "Capital of France?"


def _record(**kw: Any) -> dict[str, Any]:
    return {
        "prompt": "q",
        "chosen": "a",
        "rejected": "b",
        "score_chosen": 2.0,
        "score_rejected": 1.0,
    } | kw


_GOOD_CHAT = _record(
    prompt=_CHAT,
    chosen=[{"role": "assistant", "content": "a"}],
    rejected=[{"role": "assistant", "content": "b"}],
)


@pytest.mark.parametrize(
    ("record", "fmt", "message"),
    [
        (_record(chosen=""), "standard", "chosen is empty"),
        (_record(rejected=None), "standard", "rejected is not a string"),
        (_record(rejected="a"), "standard", "chosen is identical to rejected"),
        (_record(score_chosen=1.0), "standard", "is not above score_rejected"),
        (
            _record(prompt=[{"role": "system", "content": "Be brief."}], chosen=[{"role": "assistant", "content": "a"}], rejected=[{"role": "assistant", "content": "b"}]),
            "conversational",
            "prompt ends in a system turn",
        ),
        (
            _record(prompt=[{"role": "user", "content": "q"}], chosen=[{"role": "user", "content": "a"}], rejected=[{"role": "assistant", "content": "b"}]),
            "conversational",
            "chosen holds a turn that is not the assistant's",
        ),
        (
            _record(prompt=[{"role": "user", "content": " "}], chosen=[{"role": "assistant", "content": "a"}], rejected=[{"role": "assistant", "content": "b"}]),
            "conversational",
            "prompt has a user message with empty content",
        ),
    ],
)  # fmt: skip
def test_validation_rejects_bad_pairs(record: dict[str, Any], fmt: str, message: str) -> None:
    good = _record() if fmt == "standard" else _GOOD_CHAT
    validate_pairs([good], format=fmt)  # type: ignore[arg-type]
    with pytest.raises(ExportError, match=re.escape(message)):
        validate_pairs([good, record], format=fmt)  # type: ignore[arg-type]
    with pytest.raises(ExportError, match=r"^1 pair\(s\).*pair 1:"):
        validate_pairs([good, record], format=fmt)  # type: ignore[arg-type]


def test_to_trl_rejects_unknown_format() -> None:
    import pandas as pd

    with pytest.raises(ValueError, match="formats are standard, conversational"):
        to_trl(pd.DataFrame(), format="chatml")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["pairs.jsonl", "pairs.parquet", "pairs_dir"])
@pytest.mark.parametrize("fmt", ["standard", "conversational"])
def test_every_output_kind_round_trips(tmp_path: Path, name: str, fmt: str) -> None:
    outcome = _outcome(fmt)
    write_outputs(outcome, out=tmp_path / name)
    back = load_rows(str(tmp_path / name))
    assert back.to_list() == outcome.records
    validate_pairs(back, format=fmt)  # type: ignore[arg-type]


def test_dropped_rows_file_records_every_removal(tmp_path: Path) -> None:
    outcome = _outcome(min_margin=1.0)
    write_outputs(outcome, out=tmp_path / "p.jsonl", dropped=tmp_path / "d.jsonl")
    dropped = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [(d["source_id"], d["dropped_by"], d["drop_reason"]) for d in dropped] == [
        ("c", "margin", "margin 0.5 < 1"),
        ("b", "build", "all_tied"),
    ]
    assert dropped[0]["chosen"] == "4" and dropped[1]["chosen"] is None
    assert len(outcome.records) == 1


def test_jury_agreement_table() -> None:
    from ultrajudge.analysis.agreement import cohen_kappa, pearson

    table = jury_agreement({"x": [1, 2, 3, None], "y": [1, 2, 4, 5]}, scale=(1, 2, 3, 4, 5))
    row = table.iloc[0]
    assert (row["judge_a"], row["judge_b"], row["n"]) == ("x", "y", 3)
    assert row["spearman"] == 1.0 and row["exact"] == pytest.approx(2 / 3)
    kappa = cohen_kappa([1, 2, 3], [1, 2, 4], scale=(1, 2, 3, 4, 5), weights="quadratic")
    assert row["within_one"] == 1.0 and row["kappa_quadratic"] == pytest.approx(kappa)
    assert not row["rounded"]
    floats = jury_agreement({"x": [1.5, 2.0, 3.0], "y": [1.0, 2.0, 3.0]}, scale=(1, 2, 3))
    assert floats.loc[0, "rounded"]  # kappa on the rounded ratings, as compare does
    assert floats.loc[0, "pearson"] == pytest.approx(pearson([1.5, 2.0, 3.0], [1.0, 2.0, 3.0]))
    table = jury_table(_scored())
    assert list(table.columns) == [
        "judge_a", "judge_b", "n", "kappa_quadratic", "kappa_quadratic_low",
        "kappa_quadratic_high", "spearman", "pearson", "exact", "within_one", "rounded",
    ]  # fmt: skip
    assert jury_table(datasets.Dataset.from_list([{"ratings": [1]}])) is None
    text = format_jury_table(table)
    assert text.splitlines()[1].split()[:4] == ["x", "vs", "y", str(table.loc[0, "n"])]


def test_jury_agreement_is_compare_on_the_juror_columns() -> None:
    """The same statistics module: jury_table equals compare on the ratings__<juror> columns,
    interval included (rows resampled with the same seed)."""
    from ultrajudge.analysis.compare import CompareOptions, Source, compare
    from ultrajudge.analysis.compare_stats import Resampling

    ds = _scored()
    frame = ds.to_pandas().drop(columns=["id"])
    sources = [Source(frame, column=f"ratings__{n}", name=n) for n in ("x", "y")]
    c = compare(sources, options=CompareOptions(bootstrap=300, seed=2))
    table = jury_table(ds, resampling=Resampling(300, seed=2))
    pair = c.pairs.iloc[0]
    for column in ("n", "kappa_quadratic", "kappa_quadratic_low", "kappa_quadratic_high",
                   "spearman", "pearson", "exact", "within_one"):  # fmt: skip
        assert table.loc[0, column] == pytest.approx(pair[column], nan_ok=True), column


def test_report_has_funnel_margins_lengths_and_jury_agreement(tmp_path: Path) -> None:
    from PIL import Image

    outcome = _outcome(min_margin=1.0, outliers="zscore")
    write_outputs(outcome, out=None, report=tmp_path / "r.html", scored=_scored())
    text = (tmp_path / "r.html").read_text()
    for title in ("Rows → pairs", "Funnel", "Margins", "Lengths of kept pairs", "Jury agreement"):
        assert f"<h2>{title}</h2>" in text
    assert "no pair: all_tied" in text and "pairs dropped, by filter" in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 3
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            img.verify()
