"""Preference pairs from scored completions: which completion is chosen, which rejected.

A scored row holds N completions and their ratings (``ratings``, the jury's when
there is one). Three strategies turn it into pairs:

* ``best-vs-worst``: the highest-rated completion against the lowest-rated one;
* ``best-vs-random-lower``: the highest-rated against one drawn at random from
  those rated strictly lower (the UltraFeedback binarisation used for Zephyr);
* ``all-pairs``: every two completions with different ratings, the higher chosen.

Invariants, whatever the strategy: a completion whose rating failed (None, or a
status other than ``ok``), whose text is empty, or whose value is not a text at all
(``invalid_input``: null, a number, ...) never enters a pair; two
completions with the same rating (a tie) never become a pair; chosen and
rejected texts always differ (identical texts are skipped, and a row with no
other choice yields no pair). Ties between equally rated candidates are broken
by ``random.Random(f"{seed}:{row_key}")``, where ``row_key`` is the row's id
column when it has one and its index otherwise, so a rerun builds the same pairs.

Rows that give no pair are counted by reason in :class:`BuildStats` (and listed
by :func:`build_pairs` for the dropped-rows file), so the funnel adds up.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ultrajudge.analysis.export import Format, frame_records, to_trl, write_pairs
from ultrajudge.analysis.filters import FilterResult, PairFilter, apply_filters
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.io import Columns, DataError

__all__ = [
    "NO_PAIR_REASONS",
    "STRATEGIES",
    "BuildStats",
    "PairBuilder",
    "PairsOutcome",
    "build_pairs",
    "juror_names",
    "make_pairs",
    "write_outputs",
]

Strategy = Literal["best-vs-worst", "best-vs-random-lower", "all-pairs"]
STRATEGIES: tuple[str, ...] = ("best-vs-worst", "best-vs-random-lower", "all-pairs")
_JUROR_COLUMN = re.compile(r"^ratings__([a-z][a-z0-9_]*)$")

#: Why a row gave no pair (the ``drop_reason`` of its record in the dropped-rows file).
NO_PAIR_REASONS = ("too_few_completions", "too_few_rated", "all_tied", "identical_texts")


@dataclass
class BuildStats:
    """What pair building did: rows in and out, rows without a pair by reason,
    completions left out (failed rating, empty text)."""

    rows: int = 0
    rows_with_pairs: int = 0
    pairs: int = 0
    no_pair: Counter[str] = field(default_factory=Counter)
    completions: int = 0
    excluded_completions: Counter[str] = field(default_factory=Counter)


def juror_names(column_names: Sequence[str]) -> list[str]:
    """The jurors of a jury-scored dataset, from its ``ratings__<name>`` columns."""
    return [m.group(1) for c in column_names if (m := _JUROR_COLUMN.match(c))]


@dataclass(frozen=True)
class PairBuilder:
    """How to build pairs: the strategy, its seed, and where the inputs are."""

    strategy: Strategy = "best-vs-worst"
    seed: int = 0
    columns: Columns = field(default_factory=Columns)
    ratings_col: str = "ratings"
    status_col: str = "rating_status"
    id_col: str = "id"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown strategy {self.strategy!r}; strategies are {', '.join(STRATEGIES)}"
            )

    def pairs_of(self, row: Mapping[str, Any], index: int, jurors: Sequence[str]) -> _RowPairs:
        """The pairs of one row, or the reason it has none."""
        given = self.columns.texts_of(row, index)
        texts = [t if isinstance(t, str) else "" for t in given]
        ratings = list(row[self.ratings_col] or [])
        if len(ratings) != len(texts):
            raise DataError(
                f"row {index + 1}: {len(texts)} completions but {len(ratings)} ratings in "
                f"{self.ratings_col!r}; was the dataset scored with these completion columns?"
            )
        statuses = row.get(self.status_col) or ["ok"] * len(texts)
        excluded: Counter[str] = Counter()
        usable = []
        for i, (text, value, status) in enumerate(zip(given, ratings, statuses)):
            if not isinstance(text, str) or status == "invalid_input":
                excluded["invalid_input"] += 1  # never chosen, whatever its rating says
            elif value is None or status != "ok" or not _finite(value):
                excluded["failed_rating"] += 1
            elif not text.strip():
                excluded["empty_text"] += 1
            else:
                usable.append(i)
        if len(texts) < 2:
            return _RowPairs([], "too_few_completions", excluded)
        if len(usable) < 2:
            return _RowPairs([], "too_few_rated", excluded)
        scores = {i: float(ratings[i]) for i in usable}
        if len(set(scores.values())) == 1:
            return _RowPairs([], "all_tied", excluded)
        rng = random.Random(f"{self.seed}:{row.get(self.id_col, index)}")
        chosen = _STRATEGY_FUNCS[self.strategy](scores, [t.strip() for t in texts], rng)
        if not chosen:
            return _RowPairs([], "identical_texts", excluded)
        records = [self._record(row, index, texts, ratings, i, j, jurors) for i, j in chosen]
        return _RowPairs(records, None, excluded)

    def _record(
        self,
        row: Mapping[str, Any],
        index: int,
        texts: list[str],
        ratings: list[Any],
        i: int,
        j: int,
        jurors: Sequence[str],
    ) -> dict[str, Any]:
        prompt_value = row[self.columns.instruction]
        models = row.get("completion_models")
        spread = row.get("jury_spread")
        mass = row.get("rating_mass") or _lowest_juror_mass(row, jurors, len(texts))
        record: dict[str, Any] = {
            "prompt": self.columns.instruction_of(row, index),
            "prompt_messages": _prompt_messages(prompt_value),
            "chosen": texts[i],
            "rejected": texts[j],
            "score_chosen": float(ratings[i]),
            "score_rejected": float(ratings[j]),
            "margin": float(ratings[i]) - float(ratings[j]),
            "chosen_index": i,
            "rejected_index": j,
            "chosen_model": _at(models, i),
            "rejected_model": _at(models, j),
            "judge": row.get("judge"),
            "source_row": index,
            "source_id": None if row.get(self.id_col) is None else str(row[self.id_col]),
            "spread_chosen": _at(spread, i),
            "spread_rejected": _at(spread, j),
            "mass_chosen": _at(mass, i),
            "mass_rejected": _at(mass, j),
        }
        for name in jurors:
            values = row.get(f"ratings__{name}")
            record[f"score_chosen__{name}"] = _at(values, i)
            record[f"score_rejected__{name}"] = _at(values, j)
            record[f"judge__{name}"] = row.get(f"judge__{name}")
        return record


@dataclass
class _RowPairs:
    pairs: list[dict[str, Any]]
    reason: str | None
    excluded: Counter[str]


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _at(values: Any, i: int) -> Any:
    if isinstance(values, Sequence) and not isinstance(values, str) and i < len(values):
        return values[i]
    return None


def _lowest_juror_mass(
    row: Mapping[str, Any], jurors: Sequence[str], n: int
) -> list[float | None] | None:
    """Logprob mode with a jury: each completion's lowest probability mass over the jurors."""
    per_juror = [row.get(f"rating_mass__{name}") for name in jurors]
    if not any(isinstance(m, list) for m in per_juror):
        return None
    out = []
    for i in range(n):
        values = [v for m in per_juror if (v := _at(m, i)) is not None]
        out.append(min(values) if values else None)
    return out


def _prompt_messages(value: Any) -> list[dict[str, str]] | None:
    """A chat instruction up to its last user turn (what a conversational prompt holds)."""
    if not isinstance(value, list):
        return None
    last_user = max(
        (k for k, m in enumerate(value) if isinstance(m, Mapping) and m.get("role") == "user"),
        default=None,
    )
    if last_user is None:
        return None
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in value[: last_user + 1]]


def _shuffled(items: Sequence[int], rng: random.Random) -> list[int]:
    out = list(items)
    rng.shuffle(out)
    return out


def _best_vs_worst(
    scores: dict[int, float], texts: list[str], rng: random.Random
) -> list[tuple[int, int]]:
    top, bottom = max(scores.values()), min(scores.values())
    best = _shuffled([i for i, s in scores.items() if s == top], rng)
    worst = _shuffled([i for i, s in scores.items() if s == bottom], rng)
    pair = next(((i, j) for i in best for j in worst if texts[i] != texts[j]), None)
    return [pair] if pair else []


def _best_vs_random_lower(
    scores: dict[int, float], texts: list[str], rng: random.Random
) -> list[tuple[int, int]]:
    top = max(scores.values())
    for i in _shuffled([i for i, s in scores.items() if s == top], rng):
        lower = [j for j, s in scores.items() if s < top and texts[j] != texts[i]]
        if lower:
            return [(i, rng.choice(lower))]
    return []


def _all_pairs(
    scores: dict[int, float], texts: list[str], rng: random.Random
) -> list[tuple[int, int]]:
    out = []
    for a, b in itertools.combinations(sorted(scores), 2):
        if scores[a] != scores[b] and texts[a] != texts[b]:
            out.append((a, b) if scores[a] > scores[b] else (b, a))
    return out


_STRATEGY_FUNCS = {
    "best-vs-worst": _best_vs_worst,
    "best-vs-random-lower": _best_vs_random_lower,
    "all-pairs": _all_pairs,
}


def build_pairs(
    ds: Any, builder: PairBuilder
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], BuildStats]:
    """``(pairs, rows_without_pair, stats)`` for a scored dataset (an iterable of rows
    with ``column_names``). Each row without a pair is recorded with its
    ``drop_reason`` (one of :data:`NO_PAIR_REASONS`)."""
    names = list(ds.column_names)
    builder.columns.validate(names)
    if builder.ratings_col not in names:
        raise DataError(
            f"column {builder.ratings_col!r} not found; columns are {names}; "
            "score the dataset first (ultrajudge score) or pass --ratings-col"
        )
    jurors = juror_names(names)
    stats = BuildStats()
    pairs: list[dict[str, Any]] = []
    no_pair: list[dict[str, Any]] = []
    for index, row in enumerate(ds):
        result = builder.pairs_of(row, index, jurors)
        stats.rows += 1
        stats.completions += len(builder.columns.texts_of(row, index))
        stats.excluded_completions.update(result.excluded)
        if result.reason is not None:
            stats.no_pair[result.reason] += 1
            no_pair.append(
                {
                    "prompt": builder.columns.instruction_of(row, index),
                    "source_row": index,
                    "source_id": None
                    if row.get(builder.id_col) is None
                    else str(row[builder.id_col]),
                    "dropped_by": "build",
                    "drop_reason": result.reason,
                }
            )
        else:
            stats.rows_with_pairs += 1
            pairs.extend(result.pairs)
    stats.pairs = len(pairs)
    return pairs, no_pair, stats


@dataclass
class PairsOutcome:
    """Everything a pairs run produced: the TRL records to export, the build statistics,
    the filters' result (kept, dropped, funnel) and the rows that gave no pair."""

    records: list[dict[str, Any]]
    stats: BuildStats
    result: FilterResult
    no_pair: list[dict[str, Any]]

    def dropped_records(self) -> list[dict[str, Any]]:
        """Every removed pair (with ``dropped_by``, ``drop_reason`` and what the filter
        computed) and every row without a pair (``dropped_by = "build"``), one schema."""
        rows = frame_records(self.result.dropped) + self.no_pair
        keys = list(dict.fromkeys(k for r in rows for k in r))
        return [{k: r.get(k) for k in keys} for r in rows]


def make_pairs(
    ds: Any,
    builder: PairBuilder,
    filters: Sequence[PairFilter] = (),
    *,
    format: Format = "standard",
) -> PairsOutcome:
    """Build pairs from a scored dataset, filter them, and turn the kept ones into
    validated TRL records (see :mod:`ultrajudge.analysis.filters` and :mod:`ultrajudge.analysis.export`)."""
    import pandas as pd

    pairs, no_pair, stats = build_pairs(ds, builder)
    frame = pd.DataFrame(pairs, columns=list(pairs[0]) if pairs else _EMPTY_COLUMNS)
    result = apply_filters(frame, filters)
    return PairsOutcome(to_trl(result.kept, format=format), stats, result, no_pair)


_EMPTY_COLUMNS = [
    "prompt", "prompt_messages", "chosen", "rejected", "score_chosen", "score_rejected",
    "margin", "chosen_index", "rejected_index", "chosen_model", "rejected_model", "judge",
    "source_row", "source_id", "spread_chosen", "spread_rejected", "mass_chosen", "mass_rejected",
]  # fmt: skip


def write_outputs(
    outcome: PairsOutcome,
    *,
    out: str | Path | None,
    dropped: str | Path | None = None,
    report: str | Path | None = None,
    scored: Any = None,
    subtitle: str = "",
    protect: Sequence[str | Path | None] = (),
) -> None:
    """Write the pairs, the dropped-rows file and the HTML report;
    each file atomically. ``scored`` (the scored dataset) adds jury agreement to the report.
    ``protect`` (the input, the store) may not be replaced by an output (see ``save_rows``)."""
    write_pairs(outcome.records, out, protect=protect)
    if dropped is not None:
        write_pairs(outcome.dropped_records(), dropped, protect=protect)
    if report is not None:
        from ultrajudge.analysis.jury_agreement import jury_table
        from ultrajudge.analysis.pairs_report import pairs_report

        jury = jury_table(scored) if scored is not None else None
        report_page = pairs_report(outcome.stats, outcome.result, jury=jury, subtitle=subtitle)
        report_page.write(report, protect=protect)
