"""Bounded retries and rate limits for remote backends.

One retry loop (:func:`retrying`) serves every remote provider: it retries only
what a provider's ``classify`` marks retryable (429, 5xx, timeouts, broken
responses), waits with exponential backoff and jitter or as long as the server's
``Retry-After`` asks, and stops at ``max_attempts`` *and* at ``max_seconds`` of
total time per request, whichever comes first.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ultrajudge.judge.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop; delays in seconds."""

    max_attempts: int = 5
    max_seconds: float = 300.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.max_seconds <= 0:
            raise ConfigError(f"max_request_seconds must be > 0, got {self.max_seconds}")

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay after failed ``attempt`` (1-based): ``base * 2**(attempt-1)``, capped, x U(0.5, 1)."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling * (rng or random).uniform(0.5, 1.0)


@dataclass(frozen=True)
class Failure:
    """How one failed attempt is to be treated."""

    message: str
    retryable: bool
    retry_after: float | None = None  # seconds the server asked us to wait


class GaveUp(Exception):
    """The request failed for good; ``str(exc)`` says why and after how many attempts."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``retry-after`` (seconds or an HTTP date).

    >>> parse_retry_after({"retry-after": "1.5"})
    1.5
    >>> parse_retry_after({"retry-after-ms": "250"})
    0.25
    >>> parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0)
    10.0
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return max(0.0, float(lowered[name]) / scale)
        except (KeyError, ValueError):
            continue
    try:
        when = email.utils.parsedate_to_datetime(lowered["retry-after"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def retrying(
    attempt: Callable[[float], Awaitable[T]],
    policy: RetryPolicy,
    classify: Callable[[Exception], Failure],
    *,
    on_retry: Callable[[Failure], None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """Run ``attempt(seconds_left)`` until it succeeds, or raise :class:`GaveUp`.

    ``seconds_left`` is what remains of ``policy.max_seconds``; each attempt is
    also cut off there, so a hanging server cannot outlast the request's budget.
    """
    start = time.monotonic()
    for n in range(1, policy.max_attempts + 1):
        left = policy.max_seconds - (time.monotonic() - start)
        try:
            return await asyncio.wait_for(attempt(left), timeout=left)
        except Exception as exc:
            failure = (
                _timeout_failure(left) if isinstance(exc, asyncio.TimeoutError) else classify(exc)
            )
        if not failure.retryable:
            raise GaveUp(failure.message, n)
        if n == policy.max_attempts:
            raise GaveUp(f"{failure.message} (gave up after {n} attempts)", n)
        wait = failure.retry_after if failure.retry_after is not None else policy.backoff(n, rng)
        elapsed = time.monotonic() - start
        if elapsed + wait >= policy.max_seconds:
            raise GaveUp(
                f"{failure.message} (gave up after {n} attempts and {elapsed:.1f}s: waiting "
                f"{wait:.1f}s more would pass max_request_seconds={policy.max_seconds:g})",
                n,
            )
        if on_retry is not None:
            on_retry(failure)
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _timeout_failure(seconds: float) -> Failure:
    return Failure(f"timed out: no answer within the {seconds:.1f}s left for this request", True)


class TokenBucket:
    """``per_minute`` units per minute, smoothed: at most ``burst_seconds`` worth at once.

    Usable from several event loops and threads (state under a thread lock,
    waiting with ``asyncio.sleep``). An amount larger than the bucket is let
    through when the bucket is full and leaves it in debt, so big requests are
    slowed down, never blocked forever.
    """

    def __init__(self, per_minute: float, *, burst_seconds: float = 1.0) -> None:
        if per_minute <= 0:
            raise ConfigError(f"a rate limit must be > 0 per minute, got {per_minute}")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self, amount: float) -> float:
        """Take ``amount`` and return 0.0, or take nothing and return the seconds to wait."""
        with self._lock:
            self._refill()
            needed = min(amount, self.capacity)
            if self._tokens >= needed:
                self._tokens -= amount
                return 0.0
            return (needed - self._tokens) / self.rate

    async def acquire(self, amount: float = 1.0) -> None:
        while (wait := self.try_take(amount)) > 0:
            await asyncio.sleep(wait)

    def adjust(self, extra: float) -> None:
        """Charge ``extra`` more units (negative: refund), e.g. once real token usage is known."""
        with self._lock:
            self._refill()
            self._tokens = min(self.capacity, self._tokens - extra)
