"""Two-rater statistics as functions of the K×K contingency table, evaluated on stacks of tables.

Every pointwise two-rater statistic of ratings on a scale is a function of the pair's contingency
table, so :data:`STATISTICS` evaluates them on ``(..., K, K)`` stacks at once:
:func:`pairwise_matrix` costs one pass over the items per judge pair, and a bootstrap resample
costs O(K²) (:mod:`ultrajudge.analysis.bootstrap`). Also here: exact and within-one agreement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from ultrajudge.analysis.agreement_data import (
    NAN,
    FloatArray,
    contingency_table,
    contingency_tables,
    pair,
    quiet,
    scale_values,
)
from ultrajudge.analysis.correlation import kendall_tables, pearson_tables, spearman_tables
from ultrajudge.analysis.kappa import kappa_tables

__all__ = [
    "STATISTICS",
    "TableStatistic",
    "exact_agreement",
    "pairwise_matrix",
    "within_one_agreement",
]


def exact_agreement(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Fraction of items given the same rating (or label) by both raters.

    ``Σ [a_i = b_i] / n`` over items rated by both; nan when there are none (0/0). Not
    chance-corrected, so it stays defined for a constant rater.

    >>> exact_agreement([1, 2, 3, None], [1, 2, 2, 4])
    0.6666666666666666
    """
    x, y = pair(a, b)
    return float(np.mean(x == y)) if len(x) else NAN


def within_one_agreement(a: npt.ArrayLike, b: npt.ArrayLike, *, tolerance: float = 1) -> float:
    """Fraction of items whose two ratings differ by at most ``tolerance`` rating points.

    ``Σ [|a_i − b_i| ≤ tolerance] / n`` over items rated by both; nan when there are none (0/0).

    >>> within_one_agreement([1, 2, 5], [2, 4, 5])
    0.6666666666666666
    """
    x, y = pair(a, b)
    return float(np.mean(np.abs(x - y) <= tolerance)) if len(x) else NAN


def _rate_tables(tables: FloatArray, values: FloatArray, *, tolerance: float) -> FloatArray:
    close = np.abs(values[:, None] - values[None, :]) <= tolerance
    n = tables.sum(axis=(-2, -1))
    with quiet():
        rate = (tables * close).sum(axis=(-2, -1)) / n
    return np.where(n == 0, np.nan, rate)


@dataclass(frozen=True)
class TableStatistic:
    """A two-rater statistic that depends on ratings only through their contingency table.

    ``table_fn(tables, values)`` evaluates it on a stack ``(..., K, K)`` of tables over the sorted
    scale ``values`` at once. Calling the object computes it for two rating vectors.
    """

    name: str
    table_fn: Callable[[FloatArray, FloatArray], FloatArray]

    def __call__(self, a: npt.ArrayLike, b: npt.ArrayLike, scale: npt.ArrayLike) -> float:
        return float(self.on_tables(contingency_table(a, b, scale=scale), scale=scale))

    def on_tables(self, tables: npt.ArrayLike, *, scale: npt.ArrayLike) -> FloatArray:
        """The statistic of every table in a ``(..., K, K)`` stack (e.g. from ``multinomial``)."""
        return self.table_fn(np.asarray(tables, dtype=np.float64), scale_values(scale))


def _registry(*stats_: TableStatistic) -> MappingProxyType[str, TableStatistic]:
    return MappingProxyType({s.name: s for s in stats_})


STATISTICS: MappingProxyType[str, TableStatistic] = _registry(
    TableStatistic("kappa", kappa_tables),
    TableStatistic("kappa_linear", partial(kappa_tables, weights="linear")),
    TableStatistic("kappa_quadratic", partial(kappa_tables, weights="quadratic")),
    TableStatistic("spearman", spearman_tables),
    TableStatistic("kendall_tau_b", kendall_tables),
    TableStatistic("pearson", pearson_tables),
    TableStatistic("exact", partial(_rate_tables, tolerance=0.0)),
    TableStatistic("within_one", partial(_rate_tables, tolerance=1.0)),
)
"""Pointwise two-rater statistics by name; each is callable as ``stat(a, b, scale)``.

Each equals its scalar function (``kappa_linear`` is ``cohen_kappa(..., weights="linear")``,
``spearman`` is :func:`~ultrajudge.analysis.correlation.spearman`, ...) on ratings that lie on
the scale, degenerate cases included.
"""


def pairwise_matrix(
    ratings: npt.ArrayLike, statistic: str | TableStatistic, *, scale: npt.ArrayLike
) -> FloatArray:
    """Judges × judges matrix of a two-rater statistic over the columns of ``ratings``.

    ``statistic`` is a name in :data:`STATISTICS` or one of its values. Each pair's items are
    counted once into a contingency table; the diagonal compares a judge with itself.

    >>> pairwise_matrix([[1, 1], [2, 2], [3, 2]], "exact", scale=(1, 2, 3)).round(4).tolist()
    [[1.0, 0.6667], [0.6667, 1.0]]
    """
    if isinstance(statistic, str):
        if statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {statistic!r}; known: {sorted(STATISTICS)}")
        statistic = STATISTICS[statistic]
    return statistic.on_tables(contingency_tables(ratings, scale=scale), scale=scale)
