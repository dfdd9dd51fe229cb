"""Tokens, seconds and cost of each compared judge, read from its file's run record.

Every judging command writes ``<out>.run.json`` beside its output
(:mod:`ultrajudge.judge.run_record`); its ``summary`` holds the run's tokens, judging
seconds, cost (an API judge with known prices) and how many store entries were made now
and how many came from the store. A file without a record (written before records
existed) has unknown usage: the table says so, and nothing is guessed from the store.

A record's ``cumulative`` figures add up the runs that wrote the file (a rerun that
resumed adds what it spent to the runs before it), and so do a juror's pipeline step's
(``steps[].cumulative``, beside the step's ``summary`` of the last run); a record or step
without them (written before they existed) covers its own run. When the runs recorded did not make every store entry
(the first resumed an older store), the per-judgment figures divide by the share they
made (the judged items x made / entries).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ultrajudge.judge.types import INPUT_STATUSES

__all__ = ["Usage", "record_usage"]

Kind = Literal["pointwise", "pairwise"]
_NAN = float("nan")
_MAIN_COLUMNS = ("ratings", "verdict")


@dataclass(frozen=True)
class Usage:
    """One judge's usage from a run record: totals of the run (``prompt_tokens``,
    ``completion_tokens``, ``seconds``, ``cost_usd``: None when unknown), the
    ``judgments`` they cover, and ``source``: where the figures come from, or why
    they are unknown (shown in the leaderboard's ``usage`` column)."""

    source: str
    prompt_tokens: float = _NAN
    completion_tokens: float = _NAN
    seconds: float = _NAN
    cost_usd: float | None = None
    judgments: float = 0.0

    def per_judgment(self, total: float) -> float:
        """``total`` per judgment covered (nan when none is)."""
        return total / self.judgments if self.judgments else _NAN


def record_usage(path: Path | None, column: str, kind: Kind) -> Usage:
    """The usage of the judge in ``column`` of the file at ``path``, from ``<path>.run.json``:
    its ``summary`` for the file's own column, the pipeline step ``score with NAME`` for a
    juror's ``ratings__NAME``."""
    from ultrajudge.judge.run_record import record_path

    if path is None:
        return Usage("cost unknown: not read from a file")
    where = record_path(path)
    try:
        record = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Usage(f"cost unknown: no run record ({where.name})")
    except (OSError, ValueError) as exc:
        return Usage(f"cost unknown: unreadable run record {where.name} ({type(exc).__name__})")
    entry = _entry_of(record, column)
    summary = entry.get("summary") if entry is not None else None
    if entry is None or not isinstance(summary, Mapping):
        return Usage(f"cost unknown: {where.name} has no figures for column {column!r}")
    juror = entry is not record
    cumulative = entry.get("cumulative") if juror or column in _MAIN_COLUMNS else None
    spent = cumulative if isinstance(cumulative, Mapping) else summary
    return _usage(summary, spent, kind, where.name)


def _entry_of(record: Any, column: str) -> Mapping[str, Any] | None:
    """Where the figures of ``column`` are: the record itself (its ``summary`` and
    ``cumulative``), or for a juror's ``ratings__NAME`` the pipeline step ``score with
    NAME`` (its own ``summary`` and ``cumulative``)."""
    if not isinstance(record, Mapping):
        return None
    if column in _MAIN_COLUMNS or "__" not in column:
        return record
    step = f"score with {column.split('__', 1)[1]}"
    steps = [s for s in record.get("steps") or () if isinstance(s, Mapping) and s.get("step") == step]  # fmt: skip
    return steps[0] if steps else None


def _usage(summary: Mapping[str, Any], spent: Mapping[str, Any], kind: Kind, name: str) -> Usage:
    """``summary``: the last run's (its statuses, store entries); ``spent``: the tokens,
    seconds, cost and entries made of the runs recorded (``cumulative``, else the last)."""
    made = _number(spent, "made_now")
    entries = _number(summary, "made_now") + _number(summary, "from_store")
    if not made or not entries:
        return Usage(f"cost unknown: every judgment came from the store ({name} covers none)")
    if kind == "pointwise":
        statuses = summary.get("statuses") or {}
        judged = sum(n for s, n in statuses.items() if s not in INPUT_STATUSES)
    else:
        judged = _number(summary, "rows")  # pairs, each judged in both orders
    share = min(1.0, made / entries)  # re-asked failures make more than one entry each
    runs = int(_number(spent, "runs")) or 1
    source = "run record" + (f" ({runs} runs)" if runs > 1 else "")
    if share < 1:
        source += f" (resumed: {made:g} of {entries:g} made by the runs recorded)"
    cost = spent.get("cost_usd")
    return Usage(
        source=source,
        prompt_tokens=_number(spent, "prompt_tokens"),
        completion_tokens=_number(spent, "completion_tokens"),
        seconds=_number(spent, "seconds"),
        cost_usd=float(cost) if isinstance(cost, int | float) and math.isfinite(cost) else None,
        judgments=judged * share,
    )


def _number(summary: Mapping[str, Any], name: str) -> float:
    value = summary.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
