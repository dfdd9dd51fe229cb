"""Noticing a backend that stops answering partway through a run.

The job runner (:mod:`ultrajudge.judge.runner`) stops a run whose *first* items all fail
in the backend. A server that answers for a while and then goes away (stopped, or failing
every request) is not caught there: every remaining item would be sent, retried after the
run's backoff and stored as failed, which for a large dataset is hours of requests to a
dead server. :func:`watch_outage` wraps a :class:`~ultrajudge.judge.runner.Job` so that
once ``after`` items in a row have failed in the backend on every one of their tries, after
at least one answer came back, it sets the run summary's ``stopped``. The runner then
sends nothing new, lets the requests in flight finish and commits what came back, as it
does for a backend unreachable from the start; a rerun asks only for what is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ultrajudge.judge.runner import Job, Retry, RunSummary

__all__ = ["watch_outage"]

I = TypeVar("I")  # noqa: E741  an item of work
T = TypeVar("T")  # its result

#: Items in a row that failed in the backend before a run that had answers stops (the
#: runner's own rule for the first items uses the same number).
OUTAGE_AFTER = 8


def watch_outage(
    job: Job[I, T],
    summary: RunSummary,
    *,
    name: str,
    retry: Retry,
    after: int = OUTAGE_AFTER,
) -> Job[I, T]:
    """``job``, noting each try's results: when ``after`` items in a row failed in the
    backend (``job.error``) on all of ``retry.attempts`` tries, and some item had been
    answered before, ``summary.stopped`` says so, naming the backend (``name``: its id,
    which for an API judge holds the scheme, host, port and path) and the last error.
    An item that ran out of ``retry.seconds`` before its last try is not counted; one whose
    failure no retry mends (``job.outcome`` not ``"retry"``: a prompt too long, a request
    the server refused) is no sign of an outage and ends the count."""
    watch = _Watch(summary, name, retry.attempts, after)

    def attempt(items: Sequence[I], previous: Sequence[T | None], n: int) -> list[T]:
        results = job.attempt(items, previous, n)
        watch.observe(items, [(job.error(r), job.outcome(r) == "retry") for r in results])
        return results

    return replace(job, attempt=attempt)


@dataclass
class _Watch:
    summary: RunSummary
    name: str
    attempts: int
    after: int
    answered: bool = False
    in_a_row: int = 0
    #: Failed tries of the items still trying, by the item's identity: the runner hands
    #: every try of an item the same object, and the items outlive the run.
    tries: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, items: Sequence[Any], tries: Sequence[tuple[str | None, bool]]) -> None:
        """Each item's try: its backend error (None: answered) and whether it is retryable."""
        with self.lock:  # the runner's window calls from several threads
            for item, (error, retryable) in zip(items, tries):
                if error is None or not retryable:  # an answer, or a failure no retry mends
                    self.answered = self.answered or error is None
                    self.in_a_row = 0
                    self.tries.pop(id(item), None)
                    continue
                failed = self.tries.pop(id(item), 0) + 1
                if failed < self.attempts:
                    self.tries[id(item)] = failed
                    continue
                self.in_a_row += 1
                self._maybe_stop(error)

    def _maybe_stop(self, error: str) -> None:
        if self.answered and self.in_a_row >= self.after and self.summary.stopped is None:
            self.summary.stopped = (
                f"{self.name} stopped answering: the last {self.in_a_row} requests failed "
                f"after their retries; last error: {error}"
            )
