"""Pair building: strategies, ties, failed ratings, identical texts, seeding, provenance."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrajudge.analysis.pairs import PairBuilder, build_pairs, juror_names
from ultrajudge.judge.io import Columns


def _ds(rows: list[dict[str, Any]]) -> datasets.Dataset:
    return datasets.Dataset.from_list(rows)


def _row(ratings: list[Any], texts: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    texts = texts or [f"answer {i}" for i in range(len(ratings))]
    return {"instruction": "Q?", "completions": texts, "ratings": ratings, **extra}


def _pairs(rows: list[dict[str, Any]], strategy: str = "best-vs-worst", seed: int = 0):
    return build_pairs(_ds(rows), PairBuilder(strategy, seed))  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["best-vs-worst", "best-vs-random-lower", "all-pairs"])
def test_ties_never_become_pairs(strategy: str) -> None:
    pairs, no_pair, stats = _pairs([_row([3, 3, 3]), _row([4, 4])], strategy)
    assert pairs == []
    assert stats.no_pair == Counter({"all_tied": 2})
    assert [r["drop_reason"] for r in no_pair] == ["all_tied", "all_tied"]


def test_best_vs_worst() -> None:
    pairs, _, stats = _pairs([_row([2, 5, 1, 3])])
    (pair,) = pairs
    assert (pair["chosen"], pair["rejected"]) == ("answer 1", "answer 2")
    assert (pair["score_chosen"], pair["score_rejected"], pair["margin"]) == (5.0, 1.0, 4.0)
    assert (pair["chosen_index"], pair["rejected_index"]) == (1, 2)
    assert stats.rows_with_pairs == stats.pairs == 1


def test_all_pairs_orders_every_untied_pair() -> None:
    pairs, _, _ = _pairs([_row([2, 5, 2, 3])], "all-pairs")
    got = {(p["chosen_index"], p["rejected_index"]) for p in pairs}
    assert got == {(1, 0), (3, 0), (1, 2), (3, 2), (1, 3)}  # (0, 2) is a tie
    assert all(p["margin"] > 0 for p in pairs)


def test_best_vs_random_lower_is_seeded_per_row_and_strictly_lower() -> None:
    rows = [_row([5, 1, 2, 3, 5], id=f"row-{i}") for i in range(40)]
    first, _, _ = _pairs(rows, "best-vs-random-lower", seed=7)
    again, _, _ = _pairs(list(reversed(rows)), "best-vs-random-lower", seed=7)
    by_id = {p["source_id"]: p for p in again}
    assert all(by_id[p["source_id"]]["chosen_index"] == p["chosen_index"] for p in first)
    assert all(by_id[p["source_id"]]["rejected_index"] == p["rejected_index"] for p in first)
    assert {p["chosen_index"] for p in first} == {0, 4}  # the tie at the top is broken by the rng
    assert {p["rejected_index"] for p in first} == {1, 2, 3}  # every lower one gets drawn
    other, _, _ = _pairs(rows, "best-vs-random-lower", seed=8)
    assert [p["rejected_index"] for p in other] != [p["rejected_index"] for p in first]


def test_failed_ratings_never_enter_a_pair() -> None:
    ok3 = ["ok", "ok", "ok"]
    rows = [
        _row([None, 3, 1], rating_status=["parse_error", "ok", "ok"]),
        _row([5, 3, 1], rating_status=["parse_error", "ok", "ok"]),  # a value, but not ok
        _row([5, None], rating_status=["ok", "backend_error"]),
        _row([float("nan"), 2, 4], rating_status=ok3),
    ]
    pairs, _, stats = _pairs(rows, "all-pairs")
    assert {(p["source_row"], p["chosen_index"], p["rejected_index"]) for p in pairs} == {
        (0, 1, 2),
        (1, 1, 2),
        (3, 2, 1),
    }
    assert stats.no_pair == Counter({"too_few_rated": 1})
    assert stats.excluded_completions == Counter({"failed_rating": 4})


def test_chosen_never_equals_rejected() -> None:
    rows = [
        _row([5, 1], ["same", " same "]),  # identical up to whitespace: no pair
        _row([5, 1, 3], ["same", "same", "other"]),  # best and worst are the same text
        _row([5, 4], ["text", ""]),  # an empty text is left out
    ]
    pairs, no_pair, stats = _pairs(rows)
    assert pairs == []
    assert [r["drop_reason"] for r in no_pair] == [
        "identical_texts",
        "identical_texts",
        "too_few_rated",
    ]
    assert stats.excluded_completions == Counter({"empty_text": 1})
    all_pairs, _, _ = _pairs(rows, "all-pairs")
    assert {(p["source_row"], p["chosen_index"], p["rejected_index"]) for p in all_pairs} == {
        (1, 0, 2),
        (1, 2, 1),
    }
    lower, _, _ = _pairs(rows, "best-vs-random-lower")
    assert [(p["chosen_index"], p["rejected_index"]) for p in lower] == [(0, 2)]


def test_provenance_and_jury_columns() -> None:
    row = _row(
        [4.5, 2.0],
        id=17,
        judge="jury:mean(a, b)",
        completion_models=["m1", "m2"],
        jury_spread=[0.5, 0.0],
        ratings__a=[5.0, 2.0],
        ratings__b=[4.0, 2.0],
        judge__a="A | t",
        judge__b="B | t",
        rating_mass__a=[0.9, 0.8],
        rating_mass__b=[0.7, None],
    )
    pairs, _, _ = _pairs([row])
    (p,) = pairs
    assert p["source_id"] == "17" and p["source_row"] == 0
    assert (p["chosen_model"], p["rejected_model"]) == ("m1", "m2")
    assert (p["spread_chosen"], p["spread_rejected"]) == (0.5, 0.0)
    assert (p["score_chosen__a"], p["score_rejected__b"]) == (5.0, 2.0)
    assert (p["judge__a"], p["judge"]) == ("A | t", "jury:mean(a, b)")
    assert (p["mass_chosen"], p["mass_rejected"]) == (0.7, 0.8)  # lowest juror mass
    assert juror_names(["ratings", "ratings__a", "ratings_helpfulness__a", "ratings__b"]) == [
        "a",
        "b",
    ]


def test_chat_instruction_and_completion_columns() -> None:
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi?"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye?"},
    ]
    rows = [{"messages": chat, "a": "Goodbye!", "b": "no", "ratings": [4, 2]}]
    builder = PairBuilder(columns=Columns("messages", None, ("a", "b")))
    pairs, _, _ = build_pairs(_ds(rows), builder)
    assert pairs[0]["prompt"] == "Bye?"
    assert pairs[0]["prompt_messages"] == chat
    assert (pairs[0]["chosen"], pairs[0]["rejected"]) == ("Goodbye!", "no")


def test_errors_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="strategies are best-vs-worst"):
        PairBuilder("best")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="score the dataset first"):
        build_pairs(_ds([{"instruction": "q", "completions": ["a", "b"]}]), PairBuilder())
    with pytest.raises(ValueError, match="2 completions but 3 ratings"):
        _pairs([_row([1, 2, 3], ["a", "b"])])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=0, max_size=5),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["best-vs-worst", "best-vs-random-lower", "all-pairs"]),
)
def test_invariants_on_random_rows(ratings: list[list[int | None]], strategy: str) -> None:
    rows = [_row(r, [f"t{j % 3}" for j in range(len(r))]) for r in ratings]
    pairs, no_pair, stats = _pairs(rows, strategy)
    assert stats.rows == len(rows) == stats.rows_with_pairs + sum(stats.no_pair.values())
    assert len(no_pair) == sum(stats.no_pair.values())
    for p in pairs:
        source = ratings[p["source_row"]]
        assert p["chosen"] != p["rejected"]
        assert p["score_chosen"] > p["score_rejected"]
        assert source[p["chosen_index"]] is not None and source[p["rejected_index"]] is not None
        if strategy != "all-pairs":
            assert p["score_chosen"] == max(v for v in source if v is not None)
    if strategy == "all-pairs":
        for index, r in enumerate(ratings):
            texts = [f"t{j % 3}" for j in range(len(r))]
            expected = sum(
                1
                for a, b in itertools.combinations(range(len(r)), 2)
                if r[a] is not None and r[b] is not None and r[a] != r[b] and texts[a] != texts[b]
            )
            assert sum(p["source_row"] == index for p in pairs) == expected
