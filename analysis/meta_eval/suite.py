"""What a meta-evaluation suite is: how to read its rows, how to judge them, how it scores.

A :class:`Suite` turns rows in the suite's own format (from its Hub id, or a local file in
that format) into one of two canonical layouts, and computes the suite's published metrics
next to ultrajudge's own from the judged rows:

* ``pairwise``: columns ``instruction``, ``response_a``, ``response_b``, ``gold`` ("A", "B"
  or "tie"), ``group`` (a source, subset or turn); judged in both orders by
  :mod:`ultrajudge.judge.pairwise`, which adds ``verdict``, ``verdict_first``,
  ``verdict_second`` and ``verdict_status``;
* ``pointwise``: columns ``instruction``, ``completions`` (a list), ``group`` and one list
  column ``human_<attribute>`` per human rating (aligned with ``completions``, None where
  missing); rated by :mod:`ultrajudge.judge.scoring` with the suite's rating configs.

The result is a :class:`MetaResult`: one row per group plus ``overall``, the suite's columns
(``suite: ...``) before ours (``ours: ...``), and the conventions behind both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from ultrajudge.judge.io import DataError

__all__ = ["Layout", "MetaResult", "Suite", "require_columns"]

Layout = Literal["pairwise", "pointwise"]


@dataclass(frozen=True)
class MetaResult:
    """A suite's figures: ``table`` has ``group``, ``n``, then ``suite: <metric>`` columns
    (the suite's own convention) and ``ours: <metric>`` columns; ``overall`` the headline
    numbers by name; ``conventions`` one line per rule the numbers depend on."""

    suite: str
    table: pd.DataFrame
    overall: Mapping[str, float]
    conventions: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (nan becomes None)."""
        rows = [
            {k: _plain(v) for k, v in zip(self.table.columns, r)}
            for r in self.table.itertuples(index=False)
        ]
        return {
            "suite": self.suite,
            "table": rows,
            "overall": {k: _plain(v) for k, v in self.overall.items()},
            "conventions": list(self.conventions),
            "notes": list(self.notes),
        }


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


@dataclass(frozen=True)
class Suite:
    """One suite: where its data lives, how to read it, how to judge and score it.

    ``normalize`` maps a ``datasets.Dataset`` in the suite's format to the canonical layout
    (and raises :class:`~ultrajudge.judge.io.DataError` naming the row and column when a row
    does not fit); ``score`` maps the judged rows (a DataFrame) to a :class:`MetaResult`;
    ``rating`` (pointwise suites) gives the rating configs' keyword arguments.
    """

    name: str
    hub_id: str
    split: str
    layout: Layout
    description: str
    normalize: Callable[[Any], Any]
    score: Callable[[pd.DataFrame], MetaResult]
    rating: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


def require_columns(column_names: Sequence[str], wanted: Sequence[str], suite: str) -> None:
    """A clear error when a file is not in the suite's own format."""
    missing = [c for c in wanted if c not in column_names]
    if missing:
        raise DataError(
            f"{suite}: column(s) {missing} not found; columns are {list(column_names)}. "
            f"--data must be a file in {suite}'s own format (columns {list(wanted)})"
        )
