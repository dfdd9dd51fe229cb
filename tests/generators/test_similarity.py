"""The lexical near-duplicate measure (``ultrajudge.judge.similarity``): values and invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ultrajudge.judge.similarity import (
    NEAR_DUPLICATE_THRESHOLD,
    lexical_similarity,
    near_duplicates,
    normalise_words,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("The cat sat on the mat today", "the cat sat on the mat, yesterday", 5 / 7),
        ("Same text.", "SAME   text", 1.0),
        ("", "  !! ", 1.0),  # no words at all on either side
        ("", "something", 0.0),
        ("one", "one", 1.0),  # shorter than a shingle: one shingle
        ("a b c", "c b a", 0.0),  # same words, no bigram in common
        (
            "Synthetic data is artificially generated data that mimics real-world usage.",
            "Synthetic data refers to data that has been generated artificially.",
            2 / 17,  # shares "synthetic data" and "data that" of 10 + 9 bigrams
        ),
    ],
)
def test_lexical_similarity_values(a: str, b: str, expected: float) -> None:
    assert lexical_similarity(a, b) == pytest.approx(expected)


@given(st.text(max_size=60), st.text(max_size=60))
def test_similarity_is_symmetric_bounded_and_one_on_itself(a: str, b: str) -> None:
    s = lexical_similarity(a, b)
    assert s == lexical_similarity(b, a)
    assert 0.0 <= s <= 1.0
    assert lexical_similarity(a, a) == 1.0


def test_default_threshold_flags_a_one_word_change_but_not_a_rephrasing() -> None:
    base = "Keep a regular schedule and keep the bedroom dark, quiet and cool."
    one_word = "Keep a regular schedule and keep the bedroom dark, quiet and cold."
    rephrased = "Go to bed at the same time every night, in a dark and cool room."
    assert lexical_similarity(base, one_word) >= NEAR_DUPLICATE_THRESHOLD
    assert lexical_similarity(base, rephrased) < 0.3


def test_near_duplicates_flags_later_copies_only() -> None:
    flags, best = near_duplicates(["x y z", "a b c", "a b c!", "X Y Z", "new words here"])
    assert flags == [False, False, True, True, False]
    assert best == [0.0, 0.0, 1.0, 1.0, 0.0]
    assert near_duplicates([]) == ([], [])


def test_bad_arguments_are_errors() -> None:
    with pytest.raises(ValueError, match="threshold"):
        near_duplicates(["a"], threshold=1.5)
    with pytest.raises(ValueError, match="k must be"):
        lexical_similarity("a", "b", k=0)
    assert normalise_words("Don't  STOP!") == ["don", "t", "stop"]
