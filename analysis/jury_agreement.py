"""Agreement between the jurors of a jury-scored dataset, by the statistics ``compare`` uses.

The per-completion ratings of each juror (``ratings__<juror>`` columns) are one rater each;
:func:`ultrajudge.analysis.compare_stats.agreement` computes every statistic of
:data:`~ultrajudge.analysis.table_stats.STATISTICS` for every pair, with the same conventions
as ``ultrajudge compare``: only completions both jurors rated count (``n``), float (logprob)
ratings keep their values in the correlations and are rounded to the scale for the
table statistics (``rounded``), and the headline's interval resamples whole rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ultrajudge.analysis.agreement import STATISTICS
from ultrajudge.analysis.compare_stats import Resampling, agreement, snap_to_scale
from ultrajudge.judge.scales import DEFAULT_SCALE, scale_from_judge_ids

__all__ = ["JURY_COLUMNS", "format_jury_table", "jury_agreement", "jury_table"]

JURY_COLUMNS = ("spearman", "pearson", "exact", "within_one")
"""Shown after the headline (``kappa_quadratic``) and its interval."""

_HEADLINE = "kappa_quadratic"


def jury_agreement(
    ratings: Mapping[str, Sequence[float | None]],
    *,
    scale: Sequence[float] = (1, 2, 3, 4, 5),
    rows: Sequence[Any] | None = None,
    resampling: Resampling = Resampling(),
) -> pd.DataFrame:
    """One row per pair of jurors over aligned per-completion ratings (None: not rated).

    ``n`` counts completions rated by both; ``kappa_quadratic`` with its interval
    (``_low``/``_high``; resampling the ``rows`` labels, one per completion, as clusters when
    given), then Spearman, Pearson, exact and within-one agreement; ``rounded`` says a juror's
    float ratings were rounded to the scale for the kappa and the agreement shares.
    """
    raters = list(ratings)
    raw = np.array(
        [[np.nan if v is None else float(v) for v in ratings[r]] for r in raters], dtype=float
    ).T.reshape(-1, len(raters))
    values = tuple(float(v) for v in scale)
    coded, rounded = snap_to_scale(raw, raters, values)
    floats = frozenset(rounded)
    plain = agreement(
        coded,
        raters,
        STATISTICS,
        scale=values,
        resampling=Resampling(0),
        raw=raw,
        float_raters=floats,
    ).pairs()
    clusters = np.asarray(rows) if rows is not None else None
    headline = agreement(
        coded, raters, {_HEADLINE: STATISTICS[_HEADLINE]}, scale=values,
        resampling=replace(resampling, clusters=clusters), raw=raw, float_raters=floats,
    ).pairs()  # fmt: skip
    table = plain[["rater_a", "rater_b", "n"]].rename(
        columns={"rater_a": "judge_a", "rater_b": "judge_b"}
    )
    for column in (_HEADLINE, f"{_HEADLINE}_low", f"{_HEADLINE}_high"):
        table[column] = headline[column]
    for column in JURY_COLUMNS:
        table[column] = plain[column]
    table["rounded"] = [bool({a, b} & floats) for a, b in itertools.combinations(raters, 2)]
    return table


def jury_table(
    ds: Any, *, scale: Sequence[float] | None = None, resampling: Resampling = Resampling()
) -> pd.DataFrame | None:
    """:func:`jury_agreement` over a jury-scored dataset's ``ratings__<juror>`` columns, rows
    as clusters (None when it was scored by one judge). ``scale`` defaults to the one the
    jurors' judge ids name (``| scale=1-10``), else 1-5."""
    from ultrajudge.analysis.pairs import juror_names

    names = juror_names(ds.column_names)
    if len(names) < 2:
        return None
    if scale is None:
        ids = [i for n in names if f"judge__{n}" in ds.column_names for i in ds[f"judge__{n}"]]
        scale = scale_from_judge_ids(ids) or DEFAULT_SCALE
    columns = {n: ds[f"ratings__{n}"] for n in names}
    width = [max(len(c[i] or ()) for c in columns.values()) for i in range(len(ds))]
    flat = {
        n: [row[k] if row and k < len(row) else None for row, w in zip(c, width) for k in range(w)]
        for n, c in columns.items()
    }
    rows = [i for i, w in enumerate(width) for _ in range(w)]
    return jury_agreement(flat, scale=scale, rows=rows, resampling=resampling)


def format_jury_table(table: pd.DataFrame) -> str:
    """The table as text: the headline as ``value [low, high]``, the rest to 3 decimals."""

    def cell(value: float, low: float = math.nan, high: float = math.nan) -> str:
        if math.isnan(value):
            return "–"
        return f"{value:.3f}" if math.isnan(low) else f"{value:.3f} [{low:.3f}, {high:.3f}]"

    shown = pd.DataFrame({"pair": table.judge_a + " vs " + table.judge_b, "n": table.n})
    shown[_HEADLINE] = [
        cell(r[_HEADLINE], r[f"{_HEADLINE}_low"], r[f"{_HEADLINE}_high"])
        for _, r in table.iterrows()
    ]
    for column in JURY_COLUMNS:
        shown[column] = [cell(v) for v in table[column]]
    if table.rounded.any():
        shown["rounded"] = table.rounded
    return shown.to_string(index=False)
