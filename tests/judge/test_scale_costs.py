"""What the toolkit itself keeps per row must not grow with the dataset: the scripted
judge keeps a bounded sample of its prompts, and the run record never builds a backend's
repr when it has an id."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrajudge.judge.backends.scripted import ScriptedBackend
from ultrajudge.judge.pairwise import PairwiseConfig, Shown, order_keyer
from ultrajudge.judge.rating import RatingConfig, constraint_form
from ultrajudge.judge.run_record import run_record
from ultrajudge.judge.runner import RunSummary
from ultrajudge.judge.scoring import judgment_keyer
from ultrajudge.judge.store import key_maker, make_key
from ultrajudge.judge.types import GenerationParams


def test_the_scripted_judge_keeps_its_first_prompts_and_counts_them_all() -> None:
    backend = ScriptedBackend(keep_calls=3)
    backend.complete([f"prompt {i}" for i in range(5)], GenerationParams())
    assert backend.calls == ["prompt 0", "prompt 1", "prompt 2"]
    assert backend.n_calls == 5
    assert "prompt" not in repr(backend)  # a repr never carries the prompts


class _Exploding:
    """A backend whose repr must not be built (it would be as large as every prompt sent)."""

    id = "exploding:1"

    def __repr__(self) -> str:
        raise AssertionError("the run record built the backend's repr")


class _Anonymous:
    def __str__(self) -> str:
        return "anonymous backend"


def test_the_run_record_names_a_judge_by_its_id_and_builds_no_repr() -> None:
    record = run_record(
        RunSummary(),
        version="0",
        command=["ultrajudge"],
        judges=[_Exploding(), _Anonymous()],
        settings={},
        store="s.sqlite",
        started=time.time(),
    )
    assert [j["id"] for j in record["judges"]] == ["exploding:1", "anonymous backend"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=3), st.lists(json_values, max_size=3))
def test_a_key_maker_hashes_exactly_what_make_key_hashes(fixed: list, rest: list) -> None:
    assert key_maker(*fixed)(*rest) == make_key(*fixed, *rest)


def _old_judgment_key(backend, config, instruction, completions, reference=None):  # type: ignore[no-untyped-def]
    """The key as every store so far holds it (the formula before keys were prepared)."""
    fields = config.key_fields()
    form = constraint_form(backend, config)
    if form is not None:
        fields = {**fields, "structured": form}
    if reference is not None:
        fields = {**fields, "reference": reference}
    return make_key("rating/v1", backend.id, fields, instruction, list(completions))


@pytest.mark.parametrize(
    "config",
    [RatingConfig(), RatingConfig(per_completion=True), RatingConfig(format="json")],
    ids=["ultrafeedback", "per_completion", "json"],
)
@pytest.mark.parametrize("reference", [None, "Paris", ""])
def test_prepared_keys_are_the_keys_stores_already_hold(
    config: RatingConfig, reference: str | None
) -> None:
    backend = ScriptedBackend()
    args = ('Qué es 2+2? \\u2028 "x"', ["4", "", "cuatro 🙂"])
    assert judgment_keyer(backend, config)(*args, reference) == _old_judgment_key(
        backend, config, *args, reference
    )


def test_prepared_pairwise_keys_are_the_keys_stores_already_hold() -> None:
    backend, config = ScriptedBackend(), PairwiseConfig()
    for shown in (Shown("q", "a", "b"), Shown("q ✓", "", "b\n", reference="r")):
        inputs = [shown.instruction, shown.response_a, shown.response_b]
        inputs += [shown.reference] if shown.reference is not None else []
        old = make_key("pairwise/v1", backend.id, config.key_fields(), *inputs)
        assert order_keyer(backend, config)(shown) == shown.key(backend, config) == old
