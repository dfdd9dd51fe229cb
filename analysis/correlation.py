"""Association of rating values: Spearman, Kendall tau-b, Pearson, and the intraclass correlation.

The correlations divide by the raters' spread, so they are nan when either rater is constant
(zero variance makes them 0/0); that is the mathematics, not a convention. The ``*_tables``
functions compute the correlations from stacks of contingency tables for
:data:`ultrajudge.analysis.table_stats.STATISTICS`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from ultrajudge.analysis.agreement_data import (
    NAN,
    FloatArray,
    constant_rater,
    marginals,
    matrix,
    pair,
    quiet,
    varies,
)

__all__ = [
    "icc",
    "kendall_tables",
    "kendall_tau_b",
    "pearson",
    "pearson_tables",
    "spearman",
    "spearman_tables",
]


def _correlation(a: npt.ArrayLike, b: npt.ArrayLike, fn: Callable[..., Any]) -> float:
    x, y = pair(a, b)
    if not (varies(x) and varies(y)):
        return NAN
    with quiet():
        return float(fn(x.astype(np.float64), y.astype(np.float64)).statistic)


def spearman(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Spearman's rank correlation (``scipy.stats.spearmanr``, ties get mid-ranks).

    ``ρ = corr(rank(a), rank(b))``. Undefined (nan, 0/0) when fewer than two items are rated by
    both or either rater is constant on them.

    Reference: Spearman (1904), Am. J. Psychol. 15:72–101.

    >>> round(spearman([1, 2, 3, 4], [1, 3, 2, 4]), 4)
    0.8
    """
    return _correlation(a, b, stats.spearmanr)


def kendall_tau_b(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Kendall's tau-b (``scipy.stats.kendalltau``), corrected for ties.

    ``τ_b = (P − Q) / √((n₀ − n₁)(n₀ − n₂))`` with P/Q the concordant/discordant pairs,
    ``n₀ = n(n−1)/2`` and n₁, n₂ the pairs tied in a and in b. Undefined (nan, 0/0) when fewer
    than two items are rated by both or either rater is constant on them (n₀ = n₁ or n₂).

    Reference: Kendall (1945), Biometrika 33:239–251.

    >>> round(kendall_tau_b([1, 2, 2, 3], [1, 2, 3, 3]), 4)
    0.8
    """
    return _correlation(a, b, partial(stats.kendalltau, variant="b"))


def pearson(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Pearson's correlation of the rating values (``scipy.stats.pearsonr``).

    ``r = cov(a, b) / (σ_a σ_b)``. Undefined (nan, 0/0) when fewer than two items are rated by
    both or either rater is constant on them.

    Reference: Pearson (1895), Proc. R. Soc. Lond. 58:240–242.

    >>> round(pearson([1, 2, 3], [1, 2, 4]), 4)
    0.982
    """
    return _correlation(a, b, stats.pearsonr)


def icc(ratings: npt.ArrayLike, *, kind: Literal["2,1", "3,1"] = "2,1") -> float:
    """Intraclass correlation of single ratings (Shrout & Fleiss 1979), from a two-way ANOVA.

    With n items (rows) and k raters (columns), mean squares MSR (items), MSC (raters) and MSE
    (residual)::

        ICC(2,1) = (MSR − MSE) / (MSR + (k − 1) MSE + k (MSC − MSE) / n)   # absolute agreement
        ICC(3,1) = (MSR − MSE) / (MSR + (k − 1) MSE)                       # consistency

    ANOVA needs a complete matrix, so items with any missing cell are dropped. Undefined (nan)
    exactly when a denominator is zero: fewer than two complete items or raters; for ICC(3,1)
    when MSR = MSE = 0, i.e. every rater is constant; for ICC(2,1) when every rating is equal,
    or (two items, two raters) when item means and rater means are all equal. Two raters each
    constant on a different value give MSR = MSE = 0 < MSC, so ICC(2,1) = 0 (pingouin gives
    0.0) while ICC(3,1) is 0/0.

    Reference: Shrout & Fleiss (1979), Psychol. Bull. 86:420–428 (Table 2 is the example below).

    >>> table2 = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> round(icc(table2, kind="2,1"), 2), round(icc(table2, kind="3,1"), 2)
    (0.29, 0.71)
    >>> icc([[1, 3], [1, 3], [1, 3]], kind="2,1")
    0.0
    """
    if kind not in ("2,1", "3,1"):
        raise ValueError(f"kind must be '2,1' or '3,1'; got {kind!r}")
    values = matrix(ratings)
    if values.dtype.kind != "f":
        raise ValueError("icc needs numeric ratings")
    complete = values[~np.isnan(values).any(axis=1)]
    n, k = complete.shape
    if n < 2 or k < 2:
        return NAN
    ms_r, ms_c, ms_e = _anova_mean_squares(complete)
    rater_term = k * (ms_c - ms_e) / n if kind == "2,1" else 0.0
    denominator = ms_r + (k - 1) * ms_e + rater_term
    if denominator <= 1e-12 * (ms_r + ms_c + ms_e):  # zero up to rounding (it is never < 0)
        return NAN
    return float(ms_r - ms_e) / denominator + 0.0  # + 0.0 turns -0.0 into 0.0


def _anova_mean_squares(x: FloatArray) -> tuple[float, float, float]:
    n, k = x.shape
    shifted = x - x[0, 0]  # equal ratings become exact zeros (the ANOVA is shift-invariant)
    centred = shifted - shifted.mean()
    ss_rows = k * float((centred.mean(axis=1) ** 2).sum())
    ss_cols = n * float((centred.mean(axis=0) ** 2).sum())
    ss_error = max(float((centred**2).sum()) - ss_rows - ss_cols, 0.0)
    return ss_rows / (n - 1), ss_cols / (k - 1), ss_error / ((n - 1) * (k - 1))


# --------------------------------------------------------------------------- from tables


def _correlation_tables(tables: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """Pearson correlation of row scores x and column scores y, weighted by the table counts."""
    rows, cols, n = marginals(tables)
    with quiet():
        dx = x - ((rows * x).sum(axis=-1) / n)[..., None]
        dy = y - ((cols * y).sum(axis=-1) / n)[..., None]
        cov = np.einsum("...i,...ij,...j->...", dx, tables, dy)
        r = cov / np.sqrt((rows * dx**2).sum(axis=-1) * (cols * dy**2).sum(axis=-1))
    return np.where(constant_rater(tables), np.nan, np.clip(r, -1.0, 1.0))


def _midranks(counts: FloatArray) -> FloatArray:
    return np.cumsum(counts, axis=-1) - (counts - 1) / 2


def pearson_tables(tables: FloatArray, values: FloatArray) -> FloatArray:
    """:func:`pearson` of every table in a ``(..., K, K)`` stack over the scale ``values``."""
    return _correlation_tables(tables, values, values)


def spearman_tables(tables: FloatArray, values: FloatArray) -> FloatArray:
    """:func:`spearman` of every table in a ``(..., K, K)`` stack."""
    rows, cols, _ = marginals(tables)
    return _correlation_tables(tables, _midranks(rows), _midranks(cols))


def kendall_tables(tables: FloatArray, values: FloatArray) -> FloatArray:
    """:func:`kendall_tau_b` of every table in a ``(..., K, K)`` stack."""
    below = np.flip(np.cumsum(np.flip(tables, axis=-2), axis=-2), axis=-2) - tables  # k > i
    right = np.flip(np.cumsum(np.flip(below, axis=-1), axis=-1), axis=-1) - below  # k>i, l>j
    left = np.cumsum(below, axis=-1) - below  # k > i, l < j
    rows, cols, n = marginals(tables)
    concordant_minus_discordant = (tables * (right - left)).sum(axis=(-2, -1))
    n0 = n * (n - 1) / 2
    ties_a, ties_b = [(m * (m - 1) / 2).sum(axis=-1) for m in (rows, cols)]
    with quiet():
        tau = concordant_minus_discordant / np.sqrt((n0 - ties_a) * (n0 - ties_b))
    return np.where(constant_rater(tables), np.nan, np.clip(tau, -1.0, 1.0))
