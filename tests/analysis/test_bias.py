"""Bias probes on constructed data whose answer is known."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy import stats

from ultrajudge.analysis import bias
from ultrajudge.analysis.bias import (
    FailureRates,
    PositionBias,
    failure_rates,
    first_position_rate,
    length_preference,
    position_bias,
    rating_length_correlation,
)

pytestmark = pytest.mark.filterwarnings("error")

SWAP = {"A": "B", "B": "A", "tie": "tie", None: None}


def _random_verdicts(n: int, seed: int) -> list[str]:
    return list(np.random.default_rng(seed).choice(["A", "B", "tie"], size=n, p=[0.4, 0.4, 0.2]))


def test_consistent_judge():
    ab = _random_verdicts(200, 0)
    ba = [SWAP[v] for v in ab]
    result = position_bias(ab, ba)
    assert (result.consistency, result.flip_rate, result.n) == (1.0, 0.0, 200)
    assert result.first_position_rate == pytest.approx(0.5)  # each winner shown first once


def test_judge_that_always_picks_the_first_answer():
    result = position_bias(["A"] * 10, ["A"] * 10)
    assert result == PositionBias(consistency=0.0, flip_rate=1.0, first_position_rate=1.0, n=10)


def test_half_flipped_judge():
    ab = ["A", "B", "A", "B", "A", "B", "tie", "tie"]
    ba = ["B", "A", "A", "B", "tie", "B", "tie", "A"]
    # same verdict: 0, 1, 6; flips (both decisive, same position): 2, 3, 5; one-sided ties: 4, 7
    result = position_bias(ab, ba)
    assert result.consistency == pytest.approx(3 / 8)
    assert result.flip_rate == pytest.approx(3 / 8)
    assert result.first_position_rate == pytest.approx(6 / 12)


def test_position_bias_drops_pairs_missing_an_order():
    result = position_bias(["A", None, "B"], ["B", "A", None])
    assert (result.consistency, result.n) == (1.0, 1)
    assert np.isnan(position_bias([None], ["A"]).consistency)


def test_first_position_rate_ignores_ties_and_missing():
    assert first_position_rate(["A", "B", "tie", "tie", None]) == 0.5
    assert first_position_rate(["A", "A", "A", "B"]) == 0.75
    assert np.isnan(first_position_rate(["tie", None]))


def test_length_preference_of_a_judge_that_prefers_longer_answers():
    rng = np.random.default_rng(1)
    len_a, len_b = rng.integers(0, 2000, 300), rng.integers(0, 2000, 300)
    verdicts = np.where(len_a > len_b, "A", "B")
    assert length_preference(verdicts, len_a, len_b) == 1.0
    assert length_preference(np.where(len_a > len_b, "B", "A"), len_a, len_b) == 0.0


def test_length_preference_threshold_and_ties():
    verdicts = ["A", "A", "B", "tie", None]
    len_a = [130, 131, 500, 900, 900]
    len_b = [100, 100, 100, 100, 100]
    # 30 characters is not enough; 31 is; ties and missing verdicts are left out
    assert length_preference(verdicts, len_a, len_b) == 0.5
    assert length_preference(verdicts, len_a, len_b, min_char_diff=0) == pytest.approx(2 / 3)
    assert np.isnan(length_preference(verdicts, len_a, len_b, min_char_diff=1000))


def test_length_preference_rejects_misaligned_input():
    with pytest.raises(ValueError, match="align"):
        length_preference(["A", "B"], [1, 2], [1])


def test_rating_length_correlation():
    lengths = [100, 200, 300, 400, 500]
    assert rating_length_correlation([1, 2, 3, 4, 5], lengths) == pytest.approx(1.0)
    ratings = [3, 1, 4, None, 2]
    expected = stats.spearmanr([3, 1, 4, 2], [100, 200, 300, 500]).statistic
    assert rating_length_correlation(ratings, lengths) == pytest.approx(expected)
    assert np.isnan(rating_length_correlation([4, 4, 4, 4, 4], lengths))


def test_failure_rates():
    statuses = ["ok"] * 6 + ["na", "parse_error", "out_of_range", "backend_error", None, "missing"]
    result = failure_rates(statuses)
    assert result.n == 12
    assert result.rates == {
        "backend_error": 1 / 12,
        "missing": 2 / 12,
        "na": 1 / 12,
        "ok": 6 / 12,
        "out_of_range": 1 / 12,
        "parse_error": 1 / 12,
    }
    assert result.failure_rate == pytest.approx(5 / 12)
    assert sum(result.rates.values()) == pytest.approx(1.0)


def test_failure_rates_edge_cases():
    assert failure_rates(["ok", "na"]) == FailureRates({"na": 0.5, "ok": 0.5}, 0.0, 2)
    empty = failure_rates([])
    assert (empty.rates, empty.n) == ({}, 0)
    assert np.isnan(empty.failure_rate)


def test_verdict_labels_are_validated():
    with pytest.raises(ValueError, match="expected A, B or tie"):
        first_position_rate(["A", "first"])
    with pytest.raises(ValueError, match="same pairs"):
        position_bias(["A"], ["A", "B"])


def test_docstring_examples():
    result = doctest.testmod(bias)
    assert result.attempted >= 5
    assert result.failed == 0
