"""The run's shared backoff: what a server's pushback does to "not before"."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ultrajudge.judge.backoff import Backoff, Pushback, PushesBack
from ultrajudge.judge.runner import Job, Retry, run_in_memory, run_job
from ultrajudge.judge.store import ResultStore
from ultrajudge.judge.types import Capabilities


def test_a_named_wait_is_honoured_and_capped_by_the_limit() -> None:
    pushback = Pushback()
    backoff = Backoff(pushback, limit=5.0)
    pushback.note(retry_after=0.4)
    now = time.monotonic()
    backoff.observe()
    assert now + 0.35 <= backoff.not_before <= now + 0.45
    pushback.note(retry_after=3600)
    backoff.observe()
    assert backoff.not_before <= time.monotonic() + 5.0  # never an hour


def test_no_named_wait_backs_off_exponentially_with_jitter_but_not_while_waiting() -> None:
    pushback = Pushback(base=0.01, cap=0.05)
    backoff = Backoff(pushback, limit=60, rng=random.Random(0))
    for ceiling in (0.01, 0.02, 0.04, 0.05, 0.05):
        pushback.note()
        before = time.monotonic()
        backoff.observe()
        after = time.monotonic()
        # the wait set is ceiling x U(0.5, 1), from a moment between before and after
        assert before + 0.5 * ceiling <= backoff.not_before <= after + ceiling
        pushback.note()  # pushback of a request sent before the wait: no longer a wait
        backoff.observe()
        assert backoff.not_before <= time.monotonic() + ceiling
        assert backoff.wait()
    backoff.observe()  # an attempt with no new pushback, after the wait: the streak ends
    pushback.note()
    backoff.observe()
    assert backoff.not_before <= time.monotonic() + 0.01


def test_wait_refuses_a_wait_past_the_deadline() -> None:
    pushback = Pushback()
    backoff = Backoff(pushback, limit=60)
    pushback.note(retry_after=10)
    backoff.observe()
    start = time.monotonic()
    assert backoff.wait(deadline=start + 1) is False and time.monotonic() - start < 0.05
    assert Backoff(None, limit=1).wait() is True  # no pushback: never a wait


def test_pushback_before_the_run_does_not_count() -> None:
    pushback = Pushback()
    pushback.note(retry_after=30)
    backoff = Backoff(pushback, limit=60)
    backoff.observe()
    assert backoff.not_before == 0.0


@pytest.mark.parametrize(("base", "cap"), [(-1, 1), (2, 1)])
def test_pushback_bounds_are_checked(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="backoff_base"):
        Pushback(base=base, cap=cap)


class Refusing:
    """A concurrent backend stand-in whose server refuses the first request it sees with
    Retry-After ``wait`` once the whole first window (``concurrent`` requests) is in flight,
    and answers those others only after the refusal came back; records when each attempt
    starts and when the refusal was noted."""

    def __init__(self, wait: float, concurrent: int = 4) -> None:
        self.id = "refusing"
        self.capabilities = Capabilities(concurrent_requests=concurrent)
        self.pushback = Pushback()
        self.wait, self.starts = wait, []
        self.noted_at = 0.0
        self.noted = threading.Event()
        self.window = threading.Barrier(max(concurrent, 1), timeout=10)
        self.lock = threading.Lock()

    def job(self) -> Job[str, dict[str, Any]]:
        def attempt(items: Sequence[str], previous: Sequence[Any], n: int) -> list[dict[str, Any]]:
            with self.lock:
                self.starts.append(time.monotonic())
                index = len(self.starts) - 1
            if index < self.window.parties:  # the first window: all of it in flight
                self.window.wait()
            if index == 0:
                self.noted_at = time.monotonic()
                self.pushback.note(retry_after=self.wait)
                self.noted.set()
                return [{"ok": False} for _ in items]
            self.noted.wait(10)
            return [{"ok": True} for _ in items]

        return Job(
            kind="t",
            attempt=attempt,
            outcome=lambda v: "ok" if v["ok"] else "retry",
            encode=dict,
            decode=dict,
            error=lambda v: None if v["ok"] else "HTTP 429",
        )


def test_a_refusal_holds_every_worker_of_the_window(tmp_path: Path) -> None:
    backend = Refusing(wait=0.4)
    assert isinstance(backend, PushesBack)
    with ResultStore(tmp_path / "s.sqlite") as store:
        s = run_job(backend.job(), [(str(i), str(i)) for i in range(10)], store=store,
                    backend=backend, retry=Retry(attempts=2), progress=False)  # fmt: skip
    assert len(backend.starts) == 11 and s.retries == 1 and s.made_now == 10
    before = [t for t in backend.starts if t < backend.noted_at]
    after = sorted(t - backend.noted_at for t in backend.starts if t >= backend.noted_at)
    assert len(before) == 4, "the first window was in flight when the refusal came"
    assert after[0] >= 0.4 - 0.01, after  # no worker started anything within the wait


def test_a_wait_beyond_the_time_budget_ends_the_item_not_the_run(tmp_path: Path) -> None:
    backend = Refusing(wait=30, concurrent=0)
    start = time.monotonic()
    (result,) = run_in_memory(backend.job(), ["a"], [None], Retry(attempts=3, seconds=1), backend=backend)  # fmt: skip
    assert result == {"ok": False} and len(backend.starts) == 1
    assert time.monotonic() - start < 0.5
