"""What a metered backend (a remote API) spent during a run: requests, retries, tokens, cost.

A backend that counts its requests implements :class:`MetersUsage` (the ``openai``
backend does; local models do not). Run loops take a :func:`snapshot` before and after
their work and keep the difference, so a summary reports what *this* run sent and paid
for, whatever the backend did before; its ``retries`` are the job runner's (the tries
beyond each item's first: a backend makes one attempt per request). Backends that draw their own per-call progress
bar implement :class:`DrawsProgress`, so that a caller with a bar of its own can quiet it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ApiUsage",
    "DrawsProgress",
    "MetersUsage",
    "bar_fields",
    "quiet_progress",
    "snapshot",
    "spent",
    "sum_usage",
]


class UsageCounts(Protocol):
    """Running totals a metered backend keeps (``ultrajudge.judge.backends.openai.Usage``)."""

    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    fallbacks: Mapping[str, int]


@runtime_checkable
class MetersUsage(Protocol):
    """Optional: a backend that counts what it sends and knows (or not) its price."""

    usage: UsageCounts

    def cost_usd(self) -> float | None: ...


@runtime_checkable
class DrawsProgress(Protocol):
    """Optional: a backend with a per-call progress bar of its own, switched by ``progress``."""

    progress: bool


@dataclass(frozen=True)
class ApiUsage:
    """Requests, retries, failed items, billed tokens, fallbacks and cost (None: unknown price).

    >>> a = ApiUsage(requests=3, prompt_tokens=30, cost_usd=0.5)
    >>> b = ApiUsage(requests=5, retries=1, prompt_tokens=70, cost_usd=0.75)
    >>> d = b - a
    >>> d.requests, d.retries, d.prompt_tokens, d.cost_usd
    (2, 1, 40, 0.25)
    >>> (d + ApiUsage(requests=1, cost_usd=None)).cost_usd is None  # a part of unknown price
    True
    """

    requests: int = 0
    retries: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fallbacks: Mapping[str, int] = field(default_factory=dict)
    cost_usd: float | None = 0.0

    def __add__(self, other: ApiUsage) -> ApiUsage:
        return self._combine(other, 1)

    def __sub__(self, other: ApiUsage) -> ApiUsage:
        return self._combine(other, -1)

    def _combine(self, other: ApiUsage, sign: int) -> ApiUsage:
        fallbacks: Counter[str] = Counter(self.fallbacks)
        for kind, n in other.fallbacks.items():
            fallbacks[kind] += sign * n
        cost = (
            None
            if self.cost_usd is None or other.cost_usd is None
            else self.cost_usd + sign * other.cost_usd
        )
        return ApiUsage(
            requests=self.requests + sign * other.requests,
            retries=self.retries + sign * other.retries,
            errors=self.errors + sign * other.errors,
            prompt_tokens=self.prompt_tokens + sign * other.prompt_tokens,
            completion_tokens=self.completion_tokens + sign * other.completion_tokens,
            fallbacks={k: n for k, n in fallbacks.items() if n},
            cost_usd=cost,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "errors": self.errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "fallbacks": dict(self.fallbacks),
            "cost_usd": self.cost_usd,
        }

    def describe(self) -> str:
        """One line for an end-of-run summary.

        >>> ApiUsage(requests=12, retries=2, prompt_tokens=900, completion_tokens=80).describe()
        'API: 12 requests (2 retries, 0 failed), 900 prompt + 80 completion tokens; cost $0.0000'
        """
        cost = (
            "unknown (pass price_in and price_out)"
            if self.cost_usd is None
            else f"${self.cost_usd:.4f}"
        )
        line = (
            f"API: {self.requests} requests ({self.retries} retries, {self.errors} failed), "
            f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens; cost {cost}"
        )
        if self.fallbacks:
            line += "; fallbacks: " + ", ".join(
                f"{k} {n}" for k, n in sorted(self.fallbacks.items())
            )
        return line


def snapshot(backend: object) -> ApiUsage | None:
    """The backend's totals so far, or None for a backend that is not metered."""
    if not isinstance(backend, MetersUsage):
        return None
    u = backend.usage
    return ApiUsage(
        requests=u.requests,
        errors=u.errors,
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        fallbacks=dict(u.fallbacks),
        cost_usd=backend.cost_usd(),
    )


def spent(before: ApiUsage | None, backend: object) -> ApiUsage | None:
    """What ``backend`` spent since ``before`` was taken (None when it is not metered)."""
    after = snapshot(backend)
    if after is None or before is None:
        return after
    return after - before


def sum_usage(total: ApiUsage | None, more: ApiUsage | None) -> ApiUsage | None:
    """``total + more``, where None (not metered) adds nothing."""
    if more is None:
        return total
    return more if total is None else total + more


def bar_fields(before: ApiUsage | None, backend: object) -> dict[str, int]:
    """Requests and failed requests since ``before``, for a run's progress bar (nothing
    for a backend that is not metered)."""
    used = spent(before, backend)
    if used is None:
        return {}
    return {"requests": used.requests, "errors": used.errors}


def quiet_progress(backend: object) -> None:
    """Switch off the backend's own progress bar (the caller draws one)."""
    if isinstance(backend, DrawsProgress):
        backend.progress = False
