"""Integer scales: parsing, the judge-id tag, and logprob mode over numbers of several tokens."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrajudge.judge.backends.scripted import ScriptedBackend
from ultrajudge.judge.logprob import scale_probabilities
from ultrajudge.judge.rating import RatingConfig, rate_rows
from ultrajudge.judge.scale_reading import (
    continuation_prefixes,
    label_probabilities,
    split_first,
)
from ultrajudge.judge.scales import parse_scale, scale_from_judge_ids, scale_label, scale_tag
from ultrajudge.judge.types import LogprobRequest, Message, TokenDistribution

ONE_TO_TEN = tuple(range(1, 11))


@pytest.mark.parametrize(
    ("text", "scale"),
    [
        ("1-5", (1, 2, 3, 4, 5)),
        ("0-4", (0, 1, 2, 3, 4)),
        (" 1 - 10 ", ONE_TO_TEN),
        ("0..1", (0, 1)),
        ("1 to 7", (1, 2, 3, 4, 5, 6, 7)),
        ("0,1", (0, 1)),
        ("-2-2", (-2, -1, 0, 1, 2)),
    ],
)
def test_parse_scale(text: str, scale: tuple[int, ...]) -> None:
    assert parse_scale(text) == scale
    assert parse_scale(scale_label(scale)) == scale


@pytest.mark.parametrize("text", ["", "5", "5-1", "1,1", "2,1", "a-b", "1.5-3", "1-5-7"])
def test_parse_scale_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a scale"):
        parse_scale(text)


def test_the_judge_id_names_a_non_default_scale_and_compare_reads_it() -> None:
    backend = ScriptedBackend()
    (five,) = rate_rows(backend, [("q", ["a"])], RatingConfig(per_completion=True))
    ten = RatingConfig(per_completion=True, scale=ONE_TO_TEN)
    (j,) = rate_rows(ScriptedBackend(responder=lambda p: "7 - fine."), [("q", ["a"])], ten)
    assert "scale=" not in five.judge and j.judge.endswith(" | scale=1-10")
    assert j.ratings[0].value == 7.0
    assert scale_from_judge_ids([j.judge, None, j.judge]) == ONE_TO_TEN
    assert scale_from_judge_ids([five.judge]) == (1, 2, 3, 4, 5)
    assert scale_from_judge_ids([None]) is None
    with pytest.raises(ValueError, match=r"different scales \(1-10, 1-5\); pass --scale"):
        scale_from_judge_ids([five.judge, j.judge])
    assert scale_tag((0, 1)) == " | scale=0-1"


# -- numbers of several tokens --------------------------------------------------------------


def test_prefixes_of_other_labels() -> None:
    assert continuation_prefixes((0, 1)) == frozenset()
    assert continuation_prefixes(range(0, 11)) == {"1"}
    assert continuation_prefixes(range(1, 101)) == {str(d) for d in range(1, 11)}


def _lp(**probs: float) -> dict[str, float]:
    return {k.replace("_", " "): math.log(v) for k, v in probs.items()}


class _Digits(ScriptedBackend):
    """After ``[[`` the judge writes "1" (then "0" or "]") or "7"; the tokenizer splits 10."""

    def __init__(self) -> None:
        super().__init__(logprob_responder=self._dist)

    @staticmethod
    def _dist(prompt: str) -> dict[str, float]:
        if prompt.endswith("[[1"):
            return {"0": math.log(0.75), "]]": math.log(0.2), "5": math.log(0.05)}
        if prompt.endswith("[["):
            return {"1": math.log(0.8), "7": math.log(0.1), "x": math.log(0.1)}
        raise AssertionError(f"unexpected read after {prompt[-10:]!r}")


def test_ten_is_read_to_its_end_not_truncated_to_one() -> None:
    backend = _Digits()
    request = LogprobRequest((Message("user", "rate"),), "Rating: [[")
    first = backend.next_token_logprobs([request])[0]
    naive, _ = scale_probabilities(first.logprobs, ONE_TO_TEN)
    assert naive[0] == pytest.approx(0.8) and naive[9] == 0.0  # the bug this module fixes
    (probs,) = label_probabilities(backend, [request], [first], ONE_TO_TEN)
    # p(1) = p("1") * p(no digit | "1"); p(10) = p("1") * p("0" | "1"); "15" is off the scale
    assert probs[0] == pytest.approx(0.8 * 0.2)
    assert probs[9] == pytest.approx(0.8 * 0.75)
    assert probs[6] == pytest.approx(0.1)
    assert sum(probs) == pytest.approx(0.8 * 0.95 + 0.1)
    assert backend.calls[-1].endswith("Rating: [[1")  # the continuation was teacher-forced


def test_a_one_token_ten_and_both_spellings_add_up() -> None:
    done, pending = split_first(_lp(_10=0.3, _1=0.2, **{"1": 0.1, "7": 0.1}), ONE_TO_TEN)
    assert done == pytest.approx({"10": 0.3, "7": 0.1})
    assert pending == pytest.approx({(" ", "1"): 0.2, ("", "1"): 0.1})


def test_a_failed_continuation_drops_only_that_number() -> None:
    class Failing(ScriptedBackend):
        def next_token_logprobs(self, requests, *, candidates=(), top_k=20):
            return [TokenDistribution({}, error="boom") for _ in requests]

    first = TokenDistribution(_lp(**{"1": 0.5, "7": 0.5}))
    request = LogprobRequest((Message("user", "rate"),), "[[")
    (probs,) = label_probabilities(Failing(), [request], [first], ONE_TO_TEN)
    assert probs[0] == 0.0 and probs[9] == 0.0 and probs[6] == pytest.approx(0.5)


def test_a_five_point_scale_makes_no_extra_reads() -> None:
    backend = ScriptedBackend()
    first = TokenDistribution(_lp(**{"3": 0.5, "_4": 0.25}))
    request = LogprobRequest((Message("user", "rate"),), "")
    (probs,) = label_probabilities(backend, [request], [first], (1, 2, 3, 4, 5))
    assert probs == pytest.approx((0, 0, 0.5, 0.25, 0)) and backend.calls == []


@settings(max_examples=200, deadline=None)
@given(
    first=st.dictionaries(
        st.sampled_from(["1", " 1", "10", " 10", "2", " 9", "0", "x", "1]", "11"]),
        st.floats(min_value=-20, max_value=0),
        max_size=8,
    ),
    cont=st.dictionaries(
        st.sampled_from(["0", "1", "00", "]]", " ", "5x"]),
        st.floats(min_value=-20, max_value=0),
        max_size=5,
    ),
)
def test_label_probabilities_are_probabilities(first, cont) -> None:
    """Whatever the judge's distributions, every value's probability is in [0, 1] and the
    scale's total never exceeds the first position's mass (when both reads are proper)."""
    total_first = sum(math.exp(v) for v in first.values())
    total_cont = sum(math.exp(v) for v in cont.values())
    backend = ScriptedBackend(logprob_responder=lambda prompt: cont)
    request = LogprobRequest((Message("user", "rate"),), "[[")
    (probs,) = label_probabilities(backend, [request], [TokenDistribution(first)], range(0, 11))
    assert len(probs) == 11 and all(p >= 0 for p in probs)
    if total_first <= 1 and total_cont <= 1:
        assert sum(probs) <= total_first + 1e-9
