"""When to send the next request: a server's pushback, and the run's shared backoff.

A remote backend makes one attempt per request. When a server pushes back (HTTP 429,
408, 5xx, a timeout, a dropped connection) the backend notes it on its :class:`Pushback`,
with the wait the server asked for (``Retry-After``) if it named one, and returns the
item as failed; the job runner's one retry policy asks the item again.

Before each attempt the runner waits on its :class:`Backoff`: one "not before" time for
the whole run, so a 429 slows every worker of the sliding window, not just the one whose
request was refused. After each attempt it shows the backoff the backend's pushback: new
pushback moves "not before" to what the server asked for or, when it named nothing, to
an exponential backoff with jitter. Pushback that arrives while the run is already
backing off (the requests that were in flight) does not make the next wait longer.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Backoff", "Pushback", "PushesBack"]


class Pushback:
    """What a server pushed back with so far: how many times, the latest time it asked
    to wait until (``time.monotonic()``), and how to back off from it when it names no
    time (``base * 2**(n-1)`` seconds, at most ``cap``, times U(0.5, 1)). Thread-safe."""

    def __init__(self, *, base: float = 1.0, cap: float = 60.0) -> None:
        if base < 0 or cap < base:
            raise ValueError(f"need 0 <= backoff_base <= backoff_max, got {base} and {cap}")
        self.base, self.cap = base, cap
        self._count, self._until = 0, 0.0
        self._lock = threading.Lock()

    def note(self, retry_after: float | None = None) -> None:
        """The server pushed back once; ``retry_after``: the seconds it asked to wait."""
        with self._lock:
            self._count += 1
            if retry_after is not None:
                self._until = max(self._until, time.monotonic() + retry_after)

    def read(self) -> tuple[int, float]:
        """``(times pushed back, the latest "wait until" asked for)``."""
        with self._lock:
            return self._count, self._until


@runtime_checkable
class PushesBack(Protocol):
    """Optional: a backend that reports its server's pushback (the ``openai`` backend)."""

    pushback: Pushback


class Backoff:
    """The shared "not before" time of one run (see the module docstring).

    ``limit`` caps any one wait (the retry policy's time budget per item): a server that
    asks for an hour is not waited on for an hour.
    """

    def __init__(
        self, pushback: Pushback | None, *, limit: float, rng: random.Random | None = None
    ) -> None:
        self.pushback, self.limit = pushback, limit
        self.rng = rng or random.Random()
        self._seen = pushback.read()[0] if pushback is not None else 0
        self._streak = 0
        self.not_before = 0.0
        self._lock = threading.Lock()

    def wait(self, deadline: float = float("inf")) -> bool:
        """Sleep until "not before"; False, without sleeping, when that is past ``deadline``
        (``time.monotonic()``)."""
        when = self.not_before
        if when > deadline:
            return False
        delay = when - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return True

    def observe(self) -> None:
        """Look at the backend's pushback after an attempt and move "not before"."""
        if self.pushback is None:
            return
        count, until = self.pushback.read()
        with self._lock:
            now = time.monotonic()
            new, self._seen = count - self._seen, max(count, self._seen)
            if new <= 0:
                self._streak = 0 if now >= self.not_before else self._streak
                return
            if until > now:
                delay = until - now
            else:
                self._streak += now >= self.not_before  # not while already backing off
                delay = self._jittered(max(1, self._streak))
            self.not_before = max(self.not_before, now + min(delay, self.limit))

    def _jittered(self, n: int) -> float:
        assert self.pushback is not None
        ceiling = min(self.pushback.cap, self.pushback.base * 2 ** (n - 1))
        return ceiling * self.rng.uniform(0.5, 1.0)
