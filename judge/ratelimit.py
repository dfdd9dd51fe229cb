"""Rate limits for remote backends, and reading a server's ``Retry-After``.

Pacing only: :class:`TokenBucket` spaces requests (or tokens) per minute. Nothing here
sends a request again; the job runner (:mod:`ultrajudge.judge.runner`) holds the one
retry policy, and :mod:`ultrajudge.judge.backoff` the wait a server's pushback asks for.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Mapping

from ultrajudge.judge.errors import ConfigError


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


class TokenBucket:
    """``per_minute`` units per minute, smoothed: at most ``burst_seconds`` worth at once.

    Usable from several threads (state under a thread lock; a thread that must wait
    sleeps). An amount larger than the bucket is let
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

    def acquire(self, amount: float = 1.0) -> None:
        """Take ``amount``, sleeping (this thread only) until the bucket has it."""
        while (wait := self.try_take(amount)) > 0:
            time.sleep(wait)

    def adjust(self, extra: float) -> None:
        """Charge ``extra`` more units (negative: refund), e.g. once real token usage is known."""
        with self._lock:
            self._refill()
            self._tokens = min(self.capacity, self._tokens - extra)
