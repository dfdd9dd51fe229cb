"""The job runner on its own: retries within bounds, what is stored, dedup, commits,
the sliding window's order independence, the unreachable stop."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrajudge.judge.runner import Job, Outcome, Retry, RunSummary, run_in_memory, run_job
from ultrajudge.judge.store import ResultStore
from ultrajudge.judge.types import Capabilities


class Fake:
    """A backend stand-in: ``concurrent`` requests at once (0: batches)."""

    def __init__(self, concurrent: int = 0) -> None:
        self.id = "fake"
        self.capabilities = Capabilities(concurrent_requests=concurrent)


def job(answers: dict[str, list[str]], calls: list[tuple[str, int]]) -> Job[str, dict[str, Any]]:
    """Item ``x`` answers ``answers[x][try]`` (the last one repeats); "ok" is final,
    "bad" retryable, "dead" a backend error, "never" failed for good."""
    lock = threading.Lock()

    def attempt(items: Sequence[str], previous: Sequence[Any], n: int) -> list[dict[str, Any]]:
        out = []
        for item, prev in zip(items, previous):
            tries = (prev or {}).get("tries", 0)
            with lock:
                calls.append((item, n))
            script = answers.get(item, ["ok"])
            out.append(
                {"item": item, "answer": script[min(tries, len(script) - 1)], "tries": tries + 1}
            )
        return out

    def outcome(v: dict[str, Any]) -> Outcome:
        return {"ok": "ok", "bad": "retry", "dead": "retry"}.get(v["answer"], "failed")  # type: ignore[return-value]

    return Job(
        kind="test",
        attempt=attempt,
        outcome=outcome,
        encode=dict,
        decode=dict,
        tokens=lambda v: (10 * v["tries"], v["tries"]),
        error=lambda v: "connection refused" if v["answer"] == "dead" else None,
    )


def stored(store: ResultStore, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    return store.get_many(list(keys), include_failed=True)


def test_retries_only_retryable_outcomes_within_the_attempts(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    answers = {"a": ["bad", "ok"], "b": ["bad"], "c": ["never"], "d": ["ok"]}
    with ResultStore(tmp_path / "s.sqlite") as store:
        s = run_job(job(answers, calls), [(k, k) for k in "abcd"], store=store, backend=Fake(),
                    retry=Retry(attempts=3), progress=False)  # fmt: skip
        values = stored(store, "abcd")
        final = store.get_many(list("abcd"))
    assert sorted(calls) == [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 2), ("c", 0), ("d", 0)]
    assert {k: v["answer"] for k, v in values.items()} == {"a": "ok", "b": "bad", "c": "never", "d": "ok"}  # fmt: skip
    assert sorted(final) == ["a", "d"], "a failure is never stored as final"
    assert (s.made_now, s.from_store, s.retries) == (4, 0, 3)
    assert (s.prompt_tokens, s.completion_tokens) == (70, 7)


def test_a_rerun_asks_only_the_failures_and_counts_only_new_tokens(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    answers = {"b": ["bad", "bad", "ok"]}
    with ResultStore(tmp_path / "s.sqlite") as store:
        run_job(job(answers, calls), [(k, k) for k in "ab"], store=store, backend=Fake(),
                retry=Retry(attempts=1), progress=False)  # fmt: skip
        calls.clear()
        s = run_job(job(answers, calls), [(k, k) for k in "ab"], store=store, backend=Fake(),
                    retry=Retry(attempts=2), progress=False)  # fmt: skip
    assert calls == [("b", 0), ("b", 1)]
    assert (s.made_now, s.from_store, s.prompt_tokens) == (1, 1, 20)


def test_the_time_bound_stops_retrying(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    slow = job({"a": ["bad"]}, calls)
    sleepy = Job(slow.kind, lambda i, p, n: (time.sleep(0.05), slow.attempt(i, p, n))[1],
                 slow.outcome, slow.encode, slow.decode)  # fmt: skip
    with ResultStore(tmp_path / "s.sqlite") as store:
        run_job(sleepy, [("a", "a")], store=store, backend=Fake(),
                retry=Retry(attempts=100, seconds=0.12), progress=False)  # fmt: skip
    assert 2 <= len(calls) <= 4


def test_a_key_seen_twice_is_asked_once(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    with ResultStore(tmp_path / "s.sqlite") as store:
        s = run_job(job({}, calls), [("k", "x"), ("k", "x"), ("j", "y")] * 200, store=store,
                    backend=Fake(8), progress=False)  # fmt: skip
    assert sorted(calls) == [("x", 0), ("y", 0)] and s.made_now == 2


def test_commits_every_k_results(tmp_path: Path) -> None:
    seen: list[int] = []
    calls: list[tuple[str, int]] = []
    base = job({}, calls)
    path = tmp_path / "s.sqlite"

    def attempt(items: Sequence[str], previous: Sequence[Any], n: int) -> list[dict[str, Any]]:
        with ResultStore(path) as peek:  # what a kill at this moment would leave
            seen.append(sum(peek.counts().values()))
        return base.attempt(items, previous, n)

    counting = Job(base.kind, attempt, base.outcome, base.encode, base.decode)
    with ResultStore(path) as store:
        run_job(counting, [(str(i), str(i)) for i in range(10)], store=store, backend=Fake(),
                batch_size=1, commit_every=3, commit_seconds=60, progress=False)  # fmt: skip
        assert len(stored(store, [str(i) for i in range(10)])) == 10
    assert seen == [0, 0, 0, 3, 3, 3, 6, 6, 6, 9]


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 40), st.integers(1, 12), st.integers(0, 2**16))
def test_whatever_the_completion_order_the_store_is_the_same(n: int, width: int, seed: int) -> None:
    import tempfile

    rng = random.Random(seed)
    delays = {str(i): rng.random() * 0.004 for i in range(n)}
    answers = {str(i): [rng.choice(["ok", "bad", "never"]), "ok"] for i in range(n)}
    calls: list[tuple[str, int]] = []
    base = job(answers, calls)

    def attempt(items: Sequence[str], previous: Sequence[Any], k: int) -> list[dict[str, Any]]:
        time.sleep(sum(delays[i] for i in items))
        return base.attempt(items, previous, k)

    jittery = Job(base.kind, attempt, base.outcome, base.encode, base.decode)
    keyed = [(str(i), str(i)) for i in range(n)]
    keys = [k for k, _ in keyed]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = ResultStore(Path(tmp) / "a.sqlite"), ResultStore(Path(tmp) / "b.sqlite")
        with a, b:
            run_job(jittery, keyed, store=a, backend=Fake(width), progress=False)
            run_job(jittery, keyed, store=b, backend=Fake(), batch_size=3, progress=False)
            assert stored(a, keys) == stored(b, keys)


def test_an_unreachable_backend_stops_the_run_early(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    answers = {str(i): ["dead"] for i in range(100)}
    with ResultStore(tmp_path / "s.sqlite") as store:
        s = run_job(job(answers, calls), [(str(i), str(i)) for i in range(100)], store=store,
                    backend=Fake(4), retry=Retry(attempts=2), unreachable_after=8, progress=False)  # fmt: skip
        kept = len(stored(store, [str(i) for i in range(100)]))
    assert s.stopped is not None and "fake is unreachable" in s.stopped
    assert s.stopped.endswith("last error: connection refused")
    assert 8 <= kept <= 12 and len(calls) <= 2 * 12, "it stops after about the first 8 items"


def test_after_an_answer_it_is_a_backend_that_stopped_answering(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    answers = {str(i): ["dead"] for i in range(1, 30)}
    with ResultStore(tmp_path / "s.sqlite") as store:
        s = run_job(job(answers, calls), [(str(i), str(i)) for i in range(30)], store=store,
                    backend=Fake(), batch_size=1, retry=Retry(attempts=1), progress=False)  # fmt: skip
    assert s.stopped == (
        "fake stopped answering: the last 8 requests failed after their retries; "
        "last error: connection refused"
    )
    assert s.made_now == 9 and len(calls) == 9


def test_in_memory_uses_the_same_policy() -> None:
    calls: list[tuple[str, int]] = []
    out = run_in_memory(job({"a": ["bad", "bad", "ok"]}, calls), ["a", "b"], [None, None], Retry(2))
    assert [v["answer"] for v in out] == ["bad", "ok"] and len(calls) == 3
    with pytest.raises(ValueError, match="one entry per item"):
        run_in_memory(job({}, calls), ["a"], [], Retry())


@pytest.mark.parametrize("kwargs", [{"attempts": 0}, {"seconds": 0}])
def test_retry_bounds_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry"):
        Retry(**kwargs)  # type: ignore[arg-type]


def test_summary_failure_rate_and_add() -> None:
    a = RunSummary(made_now=2, prompt_tokens=5)
    a.statuses.update({"ok": 3, "na": 1, "parse_error": 4})
    assert a.failure_rate() == 0.5
    b = RunSummary(made_now=1, prompt_tokens=2, stopped="x")
    a.add(b)
    assert (a.made_now, a.prompt_tokens, a.stopped) == (3, 7, "x")
    assert RunSummary().failure_rate() != RunSummary().failure_rate()  # nan


def test_summary_merge_adds_parts_and_survives_a_json_round_trip() -> None:
    import json
    from collections import Counter

    from ultrajudge.judge.metering import ApiUsage

    a = RunSummary(rows=2, made_now=2, retries=1, statuses=Counter(ok=3, parse_error=1))
    b = RunSummary(rows=3, from_store=4, statuses=Counter(ok=2), counts=Counter(shards=1))
    b.api = ApiUsage(requests=5, retries=2, prompt_tokens=40, cost_usd=None)
    a.merge(RunSummary.from_dict(json.loads(json.dumps(b.as_dict()))))
    assert (a.rows, a.made_now, a.from_store, a.retries) == (5, 2, 4, 1)
    assert a.statuses == {"ok": 5, "parse_error": 1} and a.counts == {"shards": 1}
    assert a.api == ApiUsage(requests=5, retries=2, prompt_tokens=40, cost_usd=None)
    assert a.failure_rate() == 1 / 6


def test_prefetched_keeps_order_raises_the_producers_error_and_stops_when_closed() -> None:
    import threading

    from ultrajudge.judge.runner import _prefetched

    assert list(_prefetched(iter(range(1000)), 8)) == list(range(1000))

    def broken():
        yield 1
        raise KeyError("in the producer")

    got = []
    with pytest.raises(KeyError, match="in the producer"):
        for item in _prefetched(broken(), 4):
            got.append(item)
    assert got == [1]
    pulled: list[int] = []

    def endless():
        n = 0
        while True:
            pulled.append(n)
            yield n
            n += 1

    stream = _prefetched(endless(), 4)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # the consumer stops: the producer ends, having run at most `ahead` ahead
    assert len(pulled) <= 3 + 4 + 2
    assert not any(t.name == "ultrajudge-pending" for t in threading.enumerate())


@pytest.mark.parametrize("concurrent", [0, 8])
def test_the_progress_bar_ends_with_the_runs_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], concurrent: int
) -> None:
    """The bar's counts are gathered at most as often as it is drawn, and once at the end,
    so its last line is the run's: every item, the failures, the retries."""
    answers = {f"f{i}": ["never"] for i in range(3)} | {"r": ["bad", "ok"]}
    items = [f"f{i}" for i in range(3)] + ["r"] + [f"ok{i}" for i in range(300)]
    with ResultStore(tmp_path / "s.sqlite") as store:
        run_job(job(answers, []), [(k, k) for k in items], store=store, backend=Fake(concurrent),
                retry=Retry(attempts=2), total=len(items), progress=True)  # fmt: skip
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "304/304" in last and "failed=3" in last and "retries=1" in last, last


def _window_job(on_attempt: Any) -> Job[str, dict[str, Any]]:
    """``job({}, ...)`` whose attempt first calls ``on_attempt(item)``."""
    base = job({}, [])

    def attempt(items: Sequence[str], previous: Sequence[Any], n: int) -> list[dict[str, Any]]:
        for item in items:
            on_attempt(item)
        return base.attempt(items, previous, n)

    return Job(base.kind, attempt, base.outcome, base.encode, base.decode)


def test_the_window_keeps_exactly_its_width_in_flight(tmp_path: Path) -> None:
    lock, now, most = threading.Lock(), [0], [0]

    def on_attempt(item: str) -> None:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.01)
        with lock:
            now[0] -= 1

    with ResultStore(tmp_path / "s.sqlite") as store:
        s = run_job(_window_job(on_attempt), [(str(i), str(i)) for i in range(120)],
                    store=store, backend=Fake(6), progress=False)  # fmt: skip
        assert len(stored(store, [str(i) for i in range(120)])) == 120
    assert most[0] == 6 and s.made_now == 120


def test_a_bug_in_an_attempt_is_raised_and_what_finished_is_committed(tmp_path: Path) -> None:
    lock = threading.Lock()
    started: list[int] = []
    finished: list[str] = []
    at_bug: list[str] = []

    def on_attempt(item: str) -> None:
        with lock:
            started.append(int(item))
            if item == "30":
                at_bug.extend(finished)
                raise ZeroDivisionError("a bug")
        time.sleep(0.005)
        with lock:
            finished.append(item)

    keys = [str(i) for i in range(200)]
    with ResultStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(ZeroDivisionError, match="a bug"):
            run_job(_window_job(on_attempt), [(k, k) for k in keys], store=store,
                    backend=Fake(4), commit_seconds=60, progress=False)  # fmt: skip
        kept = stored(store, keys)
    assert set(at_bug) <= set(kept) and len(at_bug) >= 26 and "30" not in kept
    assert max(started) <= 30 + 4, "nothing new starts after the bug"


def test_ctrl_c_starts_nothing_more_and_commits_what_finished(tmp_path: Path) -> None:
    import _thread

    lock = threading.Lock()
    started: list[str] = []
    finished: list[str] = []
    at_interrupt: list[str] = []

    def on_attempt(item: str) -> None:
        with lock:
            started.append(item)
            if item == "20":
                at_interrupt.extend(finished)
                _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
        time.sleep(0.02)
        with lock:
            finished.append(item)

    keys = [str(i) for i in range(500)]
    with ResultStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(KeyboardInterrupt):
            run_job(_window_job(on_attempt), [(k, k) for k in keys], store=store,
                    backend=Fake(4), commit_seconds=60, progress=False)  # fmt: skip
        kept = stored(store, keys)
    assert set(at_interrupt) <= set(kept) and len(at_interrupt) >= 16
    assert len(started) < 21 + 4 * 10, "new items stop within a few tenths of a second"


@pytest.mark.parametrize("concurrent", [0, 4])
def test_a_cancel_starts_nothing_more_waits_for_nothing_and_counts_what_is_stored(
    tmp_path: Path, concurrent: int
) -> None:
    """``cancel`` (a jury's other juror stopped) ends the run from outside: no new item
    starts, the window does not wait for the slow item in flight, and an answer that
    comes after the run returned is neither stored nor counted."""
    cancel, release = threading.Event(), threading.Event()

    def on_attempt(item: str) -> None:
        if item == "10":
            cancel.set()
        if item == "9" and concurrent:  # in flight when the run is called off
            release.wait(5)

    keys = [str(i) for i in range(200)]
    with ResultStore(tmp_path / "s.sqlite") as store:
        start = time.monotonic()
        summary = run_job(_window_job(on_attempt), [(k, k) for k in keys], store=store,
                          backend=Fake(concurrent), batch_size=1, cancel=cancel,
                          progress=False)  # fmt: skip
        took = time.monotonic() - start
        release.set()
        time.sleep(0.05)  # item 9 answers now, after the run returned
        kept = stored(store, keys)
    assert took < 2, "the run does not wait for the item in flight"
    # items 0-10 (the one that called it off finishes), and those in flight beside it
    assert len(kept) == summary.made_now and max(map(int, kept)) <= 10 + concurrent
    assert ("9" in kept) is (not concurrent)
