"""Meta-evaluation building blocks: JudgeBench's vote sum (properties), RewardBench's
section weighting, and suites refusing rows that are not in their format."""

from __future__ import annotations

import math

import pytest
from datasets import Dataset
from hypothesis import given
from hypothesis import strategies as st

from ultrajudge.analysis.meta_eval import SUITES, get_suite, vote_correct, vote_sum_accuracy
from ultrajudge.analysis.meta_eval.rewardbench import EXAMPLE_COUNTS, SECTIONS, section_scores
from ultrajudge.judge.io import DataError

VERDICT = st.sampled_from(["A", "B", "tie", None])
SWAP = {"A": "B", "B": "A", "tie": "tie", None: None}


@given(VERDICT, VERDICT, st.sampled_from(["A", "B"]))
def test_vote_sum_is_label_symmetric_and_order_free(first: str, second: str, gold: str) -> None:
    correct = vote_correct(first, second, gold)
    assert correct == vote_correct(second, first, gold)
    assert correct == vote_correct(SWAP[first], SWAP[second], SWAP[gold])
    # correct exactly when more votes go to gold than against it
    votes = [first, second]
    assert correct == (votes.count(gold) > votes.count(SWAP[gold]))


def test_vote_sum_accuracy_counts_every_pair() -> None:
    assert vote_sum_accuracy([None, "A"], [None, "A"], ["A", "A"]) == 0.5
    with pytest.raises(ValueError, match="A or B"):
        vote_correct("A", "A", "tie")
    with pytest.raises(ValueError, match="align"):
        vote_sum_accuracy(["A"], [], ["A"])


def test_rewardbench_sections_cover_every_counted_subset_once() -> None:
    listed = [s for subsets in SECTIONS.values() for s in subsets]
    assert sorted(listed) == sorted(EXAMPLE_COUNTS) and len(set(listed)) == len(listed)
    # perfect everywhere is 1; math-prm alone weighs as much as the six code subsets
    assert section_scores(dict.fromkeys(EXAMPLE_COUNTS, 1.0))["score"] == 1.0
    code = {f"hep-{x}": 0.0 for x in ("cpp", "go", "java", "js", "python", "rust")}
    assert section_scores({"math-prm": 1.0, **code})["Reasoning"] == 0.5
    only_unknown = section_scores({"unknown": 1.0})
    assert list(only_unknown) == ["score"] and math.isnan(only_unknown["score"])


@pytest.mark.parametrize(
    ("suite", "row", "message"),
    [
        ("helpsteer2", {"prompt": "p", "response": "r", "helpfulness": 7, "correctness": 1,
                        "coherence": 1, "complexity": 1, "verbosity": 1}, "outside the scale"),
        ("helpsteer2", {"prompt": "p", "response": "r", "helpfulness": "lots", "correctness": 1,
                        "coherence": 1, "complexity": 1, "verbosity": 1}, "not a rating"),
        ("ultrafeedback", {"instruction": "i", "completions": ["plain text"]}, "'response'"),
        ("ultrafeedback", {"instruction": "i", "completions": []}, "non-empty"),
        ("mt_bench", {"winner": "model_c", "conversation_a": [], "conversation_b": [],
                      "turn": 1}, "winner 'model_c'"),
        ("mt_bench", {"winner": "tie", "conversation_a": [{"role": "user", "content": "q"}],
                      "conversation_b": [], "turn": 2}, "turn 2"),
        ("rewardbench2", {"id": "x", "prompt": "p", "chosen": [], "rejected": ["r"],
                          "subset": "Math"}, "non-empty lists"),
        ("rewardbench2", {"id": "7", "prompt": "p", "chosen": ["c"], "rejected": ["r"],
                          "subset": "Ties"}, "ref:N or tied:N"),
    ],
)  # fmt: skip
def test_rows_outside_the_format_name_row_and_field(suite: str, row: dict, message: str) -> None:
    with pytest.raises(DataError, match="row 1") as err:
        get_suite(suite).normalize(Dataset.from_list([row]))
    assert message in str(err.value)


def test_suite_names() -> None:
    assert get_suite("MT-Bench") is SUITES["mt_bench"]
    with pytest.raises(ValueError, match="unknown suite"):
        get_suite("arena")
