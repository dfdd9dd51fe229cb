"""The generation engine: store lookups, bounded retries, seeds, counting."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ultrajudge.generators.engine import Request, Session, basic_check, row_rng, sample_seed, seeded
from ultrajudge.judge.store import ResultStore
from ultrajudge.judge.types import Completion, GenerationParams, Message

SAMPLING = GenerationParams(max_new_tokens=8, temperature=0.7, seed=5)


def _request(text: str, params: GenerationParams = SAMPLING, **kw: object) -> Request:
    return Request("test", (Message("user", text),), params, "tmpl@1", **kw)  # type: ignore[arg-type]


def test_generates_once_then_serves_from_the_store(session: Session, recording) -> None:
    backend = recording(lambda prompt, seed: f"answer to {prompt}")
    first = session.run(backend, [_request("a"), _request("b")])
    assert [g.text for g in first] == ["answer to <user> a", "answer to <user> b"]
    assert all(g.ok and g.attempts == 1 for g in first)
    again = session.run(backend, [_request("b"), _request("a")])
    assert [g.text for g in again] == ["answer to <user> b", "answer to <user> a"]
    assert len(backend.calls) == 1  # nothing regenerated
    assert (session.summary.made_now, session.summary.from_store) == (2, 2)


def test_same_request_twice_in_a_batch_is_generated_once(session: Session, recording) -> None:
    backend = recording(lambda prompt, seed: "x")
    out = session.run(backend, [_request("a"), _request("a")])
    assert [g.text for g in out] == ["x", "x"]
    assert backend.prompts == ["<user> a"]


def test_rejected_output_is_retried_with_the_next_seed_a_bounded_number_of_times(
    store: ResultStore, recording
) -> None:
    session = Session(store, max_retries=2, progress=False)
    backend = recording(lambda prompt, seed: "")  # always empty
    (gen,) = session.run(backend, [_request("a")])
    assert (gen.ok, gen.status, gen.attempts) == (False, "empty", 3)
    assert [p.seed for _, p in backend.calls] == [5, 6, 7]
    assert session.summary.statuses == {"empty": 1}


def test_failures_are_stored_as_not_ok_and_the_next_run_continues_the_seeds(
    store: ResultStore, recording
) -> None:
    Session(store, max_retries=1, progress=False).run(recording(lambda p, s: ""), [_request("a")])
    assert store.counts() == {"generate/test:failed": 1}
    backend = recording(lambda prompt, seed: "now fine" if seed >= 7 else "")
    (gen,) = Session(store, max_retries=1, progress=False).run(backend, [_request("a")])
    assert (gen.text, gen.attempts) == ("now fine", 3)
    assert [p.seed for _, p in backend.calls] == [7]  # attempts 0 and 1 were spent last run
    assert store.counts() == {"generate/test:ok": 1}


def test_backend_errors_are_failures_with_the_error_kept(session: Session) -> None:
    class Failing:
        id = "failing"

        def chat(self, conversations, params):
            return [Completion("", error="HTTP 500") for _ in conversations]

    (gen,) = session.run(Failing(), [_request("a")])  # type: ignore[arg-type]
    assert (gen.status, gen.raw, gen.text) == ("backend_error", "HTTP 500", "")


def test_the_check_cleans_text_and_its_rules_are_part_of_the_key(
    session: Session, recording
) -> None:
    backend = recording(lambda prompt, seed: "  Header: body ")
    check = lambda c: (c.text.strip().removeprefix("Header: "), "ok")  # noqa: E731
    (a,) = session.run(backend, [_request("a", check=check, rules=(("v", 1),))])
    (b,) = session.run(backend, [_request("a", check=check, rules=(("v", 2),))])
    assert a.text == b.text == "body"
    assert len(backend.calls) == 2


def test_requests_that_share_params_go_in_one_call_raw_and_chat_apart(
    session: Session, recording
) -> None:
    backend = recording(lambda prompt, seed: "ok")
    raw = Request("test", "raw prompt", SAMPLING)
    other_seed = _request("c", replace(SAMPLING, seed=9))
    session.run(backend, [_request("a"), raw, _request("b"), other_seed])
    batches = sorted((len(prompts), params.seed) for prompts, params in backend.calls)
    assert batches == [(1, 5), (1, 9), (2, 5)]


def test_seeds_are_stable_and_greedy_params_keep_theirs() -> None:
    assert sample_seed(0, "sample", 1) == sample_seed(0, "sample", 1)
    assert sample_seed(0, "sample", 1) != sample_seed(0, "sample", 2)
    assert 0 <= sample_seed(3, "x") < 2**31
    greedy = GenerationParams(temperature=0.0, seed=4)
    assert seeded(greedy, "sample", 3) is greedy
    assert seeded(SAMPLING, "sample", 3).seed == sample_seed(5, "sample", 3)
    assert row_rng(1, "row").random() == row_rng(1, "row").random()


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (Completion("  hi  "), ("hi", "ok")),
        (Completion(" \n "), ("", "empty")),
        (Completion("", error="boom"), ("", "backend_error")),
    ],
)
def test_basic_check(completion: Completion, expected: tuple[str, str]) -> None:
    assert basic_check(completion) == expected


def test_session_validates_its_settings(store: ResultStore) -> None:
    with pytest.raises(ValueError, match="max_retries"):
        Session(store, max_retries=-1)
    with pytest.raises(ValueError, match="batch_size"):
        Session(store, batch_size=0)
