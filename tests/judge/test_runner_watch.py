"""The job runner's watch: a backend dead from the start stops the run after its first
``unreachable_after`` items, and one that stops answering partway after that many failed
items in a row, for every job (score, pairwise, the generators)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ultrajudge.judge.runner import Job, Retry, RunSummary, run_job
from ultrajudge.judge.store import ResultStore
from ultrajudge.judge.types import Capabilities


class Fake:
    id = "fake@http://127.0.0.1:9/v1"
    capabilities = Capabilities(concurrent_requests=0)


def _run(
    tmp_path: Path, dead: Sequence[bool], after: int = 8
) -> tuple[RunSummary, list[str], list[str]]:
    """Items ``0..len(dead)-1`` one at a time (a local model's batches of 1: a fixed order);
    item ``i`` fails in the backend on every try when ``dead[i]``. Returns the summary,
    the tries in order, and the keys the store holds."""
    calls: list[str] = []

    def attempt(items: Sequence[str], previous: Sequence[Any], n: int) -> list[dict[str, Any]]:
        calls.extend(items)
        return [{"item": item, "dead": dead[int(item)]} for item in items]

    job: Job[str, dict[str, Any]] = Job(
        kind="test",
        attempt=attempt,
        outcome=lambda v: "retry" if v["dead"] else "ok",
        encode=dict,
        decode=dict,
        error=lambda v: "connection refused" if v["dead"] else None,
    )
    summary, retry, keys = RunSummary(), Retry(attempts=2), [str(i) for i in range(len(dead))]
    with ResultStore(tmp_path / "s.sqlite") as store:
        run_job(job, zip(keys, keys), store=store, backend=Fake(), batch_size=1, retry=retry,
                summary=summary, unreachable_after=after, progress=False)  # fmt: skip
        held = sorted(store.get_many(keys, include_failed=True), key=int)
    return summary, calls, held


def test_a_backend_that_stops_answering_partway_stops_the_run(tmp_path: Path) -> None:
    summary, calls, held = _run(tmp_path, [i >= 5 for i in range(40)])
    assert summary.stopped == (
        "fake@http://127.0.0.1:9/v1 stopped answering: the last 8 requests failed after their "
        "retries; last error: connection refused"
    )
    # 5 answered, then 8 items with both tries failed; items 13..39 never sent
    assert calls == [str(i) for i in range(5)] + [str(i) for i in range(5, 13) for _ in (0, 1)]
    assert held == [str(i) for i in range(13)]  # what came back is committed
    assert summary.made_now == 13 and summary.retries == 8


def test_failures_between_answers_never_stop_it(tmp_path: Path) -> None:
    summary, calls, held = _run(tmp_path, [i % 8 != 0 for i in range(40)])  # 7 in a row at most
    assert summary.stopped is None and len(held) == 40
    assert len(calls) == 5 + 2 * 35


def test_a_backend_dead_from_the_start_is_unreachable(tmp_path: Path) -> None:
    """No answer yet: not "stopped answering" but "is unreachable", after as many items."""
    summary, calls, held = _run(tmp_path, [True] * 20)
    assert summary.stopped == (
        "fake@http://127.0.0.1:9/v1 is unreachable: the first 8 requests failed after their "
        "retries; last error: connection refused"
    )
    assert len(calls) == 16 and held == [str(i) for i in range(8)]


def test_after_sets_the_number_in_a_row(tmp_path: Path) -> None:
    summary, calls, _ = _run(tmp_path, [i >= 1 for i in range(10)], after=3)
    assert summary.stopped is not None and "the last 3 requests" in summary.stopped
    assert len(calls) == 1 + 2 * 3


@settings(max_examples=40, deadline=None)
@given(dead=st.lists(st.booleans(), min_size=1, max_size=40), after=st.integers(1, 6))
def test_it_stops_exactly_at_the_first_run_of_failures_after_an_answer(
    dead: list[bool], after: int
) -> None:
    """One item at a time: the run stops right after the first ``after`` failed items in a
    row (before any answer: "is unreachable"; after one: "stopped answering"), and never
    otherwise."""
    stop_at, in_a_row = None, 0
    for i, d in enumerate(dead):
        in_a_row = in_a_row + 1 if d else 0
        if in_a_row == after:
            stop_at = i
            break
    with tempfile.TemporaryDirectory() as tmp:
        summary, calls, held = _run(Path(tmp), dead, after=after)
    if stop_at is None:
        assert summary.stopped is None and len(held) == len(dead)
    else:
        answered = False in dead[: stop_at + 1]
        what = f"stopped answering: the last {after}" if answered else f"unreachable: the first {after}"  # fmt: skip
        assert summary.stopped is not None and what in summary.stopped
        assert held == [str(i) for i in range(stop_at + 1)]
    assert len(calls) == sum(2 if d else 1 for d in dead[: len(held)])
