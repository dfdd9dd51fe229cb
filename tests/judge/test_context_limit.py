"""The local model's context check: the byte bound it skips tokenizing with holds, and an
over-long request is refused at every position without running the model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ultrajudge.judge.backends.positions import PositionRequest
from ultrajudge.judge.types import LogprobRequest, Message


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_a_token_covers_at_least_one_byte(tiny_backend, text: str) -> None:
    # _over_context tokenizes only texts whose UTF-8 bytes (+1) could exceed the context
    assert len(tiny_backend.encode(text)) <= len(text.encode()) + 1


def test_over_long_requests_fail_too_long_and_the_rest_are_read(tiny_backend) -> None:
    limit = tiny_backend.capabilities.max_context
    short = (Message("user", "Rate: hello."),)
    long = (Message("user", "x y " * limit),)
    requests = [PositionRequest(short, ("Rating:", " then", " end")), PositionRequest(long, ("Rating:", " then"))]  # fmt: skip
    out = tiny_backend.score_positions(requests, candidates=["1", "2"], choose=lambda d: "1")
    assert [len(x) for x in out] == [3, 2]
    assert all(d.error is None and d.logprobs for d in out[0])
    assert all(d.error is not None and d.error.startswith("too_long:") for d in out[1])
    assert out[1][0] is out[1][1] and out[1][0].prompt_tokens > limit
    dists = tiny_backend.next_token_logprobs(
        [LogprobRequest(long), LogprobRequest(short)], candidates=["1"]
    )
    assert dists[0].error is not None and dists[0].error.startswith("too_long:")
    assert dists[1].error is None and "1" in dists[1].logprobs


def test_the_doctests_of_the_context_and_record_modules_run() -> None:
    import doctest

    from ultrajudge.judge import run_record
    from ultrajudge.judge.backends import context_limit

    for module in (context_limit, run_record):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted >= 2, module.__name__
