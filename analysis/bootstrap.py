"""Percentile bootstrap intervals, resampling items or whole clusters (rows), vectorised.

A comparison item is (row, completion); the completions of one row share the instruction, its
difficulty and the judge's state in one prompt, so their ratings are correlated and resampling
items alone gives intervals that are too narrow. ``clusters`` (one label per item, e.g. the row
id) makes every resample draw whole clusters with replacement (the cluster bootstrap, Davison &
Hinkley 1997, §3.8); without it items are drawn independently. With one item per cluster the two
are the same distribution.

A resample is a vector of multiplicities (how often each item, or each cluster's items, was
drawn), so a statistic that is a weighted sum is one matrix product over all resamples:
:class:`~ultrajudge.analysis.table_stats.TableStatistic` (tables are sums of per-cluster tables,
drawn by cluster pattern) and the correlations of float ratings (:data:`FLOAT_STATISTICS`:
weighted moments, weighted mid-ranks, and a weighted inversion count for Kendall's tau, written
here because no library computes these over many weight vectors at once). Any other callable is
evaluated once per resample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from ultrajudge.analysis.agreement_data import (
    NAN,
    FloatArray,
    IntArray,
    paired_codes,
    quiet,
    scale_values,
)
from ultrajudge.analysis.correlation import kendall_tau_b, pearson, spearman
from ultrajudge.analysis.table_stats import TableStatistic

__all__ = ["FLOAT_STATISTICS", "FloatStatistic", "bootstrap_ci"]

_CHUNK = 2**21  # resamples × items per block (a few 16 MB arrays)


@dataclass(frozen=True)
class FloatStatistic:
    """A two-rater statistic of float ratings with a weighted form for the bootstrap.

    ``weighted_fn(x, y, w)`` evaluates it on items ``x, y`` (no missing values) repeated
    ``w[r, i]`` times, for every row r of ``w`` at once. Calling the object computes it for two
    rating vectors (missing values dropped in pairs).
    """

    name: str
    scalar_fn: Callable[[npt.ArrayLike, npt.ArrayLike], float]
    weighted_fn: Callable[[FloatArray, FloatArray, IntArray], FloatArray]

    def __call__(self, a: npt.ArrayLike, b: npt.ArrayLike) -> float:
        return self.scalar_fn(a, b)


def _groups(v: FloatArray) -> tuple[IntArray, IntArray]:
    """The order that sorts ``v`` and the start of each run of equal values in it."""
    order = np.argsort(v, kind="stable")
    s = v[order]
    return order, np.flatnonzero(np.r_[True, s[1:] != s[:-1]])


def _group_weights(w: IntArray, v: FloatArray) -> tuple[IntArray, IntArray]:
    """Weight of each distinct value of ``v`` per resample, and each item's value index."""
    order, starts = _groups(v)
    index = np.empty(len(v), dtype=np.intp)
    index[order] = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(v)]))
    return np.add.reduceat(w[:, order], starts, axis=1), index


def _weighted_corr(x: FloatArray, y: FloatArray, w: FloatArray) -> FloatArray:
    """Weighted Pearson correlation of per-resample scores ``x, y`` (both resamples × items)."""
    n = w.sum(axis=1, keepdims=True)
    with quiet():
        dx = x - np.einsum("ri,ri->r", w, x)[:, None] / n
        dy = y - np.einsum("ri,ri->r", w, y)[:, None] / n
        sxy, sxx, syy = (
            np.einsum("ri,ri,ri->r", w, u, v) for u, v in ((dx, dy), (dx, dx), (dy, dy))
        )
        return np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)


def _spread(w: IntArray, v: FloatArray) -> npt.NDArray[np.bool_]:
    """Whether the items a resample drew hold two or more distinct values of ``v``."""
    drawn = w > 0
    return np.where(drawn, v, np.inf).min(axis=1) < np.where(drawn, v, -np.inf).max(axis=1)


def _pearson_weighted(x: FloatArray, y: FloatArray, w: IntArray) -> FloatArray:
    """Weighted moments from one matrix product (x, y centred first against cancellation)."""
    dx, dy = x - x.mean(), y - y.mean()
    sums = w.astype(np.float64) @ np.column_stack(
        [np.ones_like(dx), dx, dy, dx * dx, dy * dy, dx * dy]
    )
    n, sx, sy, sxx, syy, sxy = sums.T
    with quiet():
        r = (sxy - sx * sy / n) / np.sqrt((sxx - sx * sx / n) * (syy - sy * sy / n))
    return np.where(_spread(w, x) & _spread(w, y), np.clip(r, -1.0, 1.0), np.nan)


def _midranks(w: IntArray, v: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    g, index = _group_weights(w, v)
    ranks = np.cumsum(g, axis=1) - (g - 1) / 2
    return ranks[:, index], np.count_nonzero(g, axis=1) >= 2


def _spearman_weighted(x: FloatArray, y: FloatArray, w: IntArray) -> FloatArray:
    (rx, vx), (ry, vy) = _midranks(w, x), _midranks(w, y)
    return np.where(vx & vy, _weighted_corr(rx, ry, w.astype(np.float64)), np.nan)


def _tied_pairs(w: IntArray, *columns: FloatArray) -> IntArray:
    """Pairs (among the weighted copies) tied on every one of ``columns``."""
    _, codes = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    g, _ = _group_weights(w, codes.ravel().astype(np.float64))
    return (g * (g - 1) // 2).sum(axis=1)


def _inversions(y: FloatArray, w: IntArray) -> IntArray:
    """Σ_{i<j} w_i w_j [y_i > y_j]: a bottom-up merge count, one pass per level for all rows."""
    n, (_, ranks) = len(y), np.unique(y, return_inverse=True)
    span, total, pos = int(ranks.max()) + 2, np.zeros(len(w), dtype=np.int64), np.arange(n)
    level = 1
    while level < n:
        block, right = pos // (2 * level), (pos // level) % 2 == 1
        left_items = np.flatnonzero(~right)
        keys = block[left_items] * span + ranks[left_items]
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        cum = np.zeros((len(w), len(order) + 1), dtype=np.int64)
        np.cumsum(w[:, left_items[order]], axis=1, out=cum[:, 1:])
        r_items = np.flatnonzero(right)
        end = np.searchsorted(keys, (block[r_items] + 1) * span)
        at_most = np.searchsorted(keys, block[r_items] * span + ranks[r_items], side="right")
        total += (w[:, r_items] * (cum[:, end] - cum[:, at_most])).sum(axis=1)
        level *= 2
    return total


def _kendall_weighted(x: FloatArray, y: FloatArray, w: IntArray) -> FloatArray:
    order = np.lexsort((y, x))  # by x, ties by y: a strict y-inversion is a discordant pair
    x, y, w = x[order], y[order], w[:, order]
    n = w.sum(axis=1)
    n0 = n * (n - 1) // 2
    tx, ty, txy = _tied_pairs(w, x), _tied_pairs(w, y), _tied_pairs(w, x, y)
    discordant = _inversions(y, w)
    concordant = n0 - discordant - tx - ty + txy
    with quiet():
        tau = (concordant - discordant) / np.sqrt((n0 - tx).astype(float) * (n0 - ty))
    return np.where((n0 > tx) & (n0 > ty), np.clip(tau, -1.0, 1.0), np.nan)


FLOAT_STATISTICS: MappingProxyType[str, FloatStatistic] = MappingProxyType(
    {
        "spearman": FloatStatistic("spearman", spearman, _spearman_weighted),
        "kendall_tau_b": FloatStatistic("kendall_tau_b", kendall_tau_b, _kendall_weighted),
        "pearson": FloatStatistic("pearson", pearson, _pearson_weighted),
    }
)
"""The correlations of float (e.g. logprob) ratings, with a vectorised bootstrap."""


# --------------------------------------------------------------------------- the bootstrap


def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays: npt.ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    clusters: npt.ArrayLike | None = None,
    **options: Any,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*arrays, **options)``.

    Resamples draw items (the first axis of every array, jointly), or with ``clusters`` (one
    label per item) whole clusters, with replacement from ``np.random.default_rng(seed)``;
    ``options`` pass through unchanged (e.g. ``scale=``). Resamples where the statistic is nan
    are ignored; ``(nan, nan)`` if all are. :class:`TableStatistic` and :class:`FloatStatistic`
    are computed for all resamples at once (see the module docstring); any other callable once
    per resample.

    >>> from ultrajudge.analysis.table_stats import STATISTICS
    >>> a, b = [1, 2, 3, 4, 5] * 20, [1, 2, 3, 5, 4] * 20
    >>> low, high = bootstrap_ci(STATISTICS["exact"], a, b, scale=(1, 2, 3, 4, 5))
    >>> bool(low < 0.6 < high)
    True
    >>> rows = [i // 5 for i in range(100)]  # five items per row
    >>> low, high = bootstrap_ci(STATISTICS["exact"], a, b, scale=(1, 2, 3, 4, 5), clusters=rows)
    >>> low, high  # every row holds the same five items: no row-to-row variation
    (0.6, 0.6)
    """
    data = [np.asarray(x) for x in arrays]
    _check(data, n_resamples, confidence, clusters)
    rng = np.random.default_rng(seed)
    members = _members(clusters, len(data[0]))
    if isinstance(statistic, TableStatistic):
        values = _table_resamples(statistic, data, members, rng, n_resamples, **options)
    elif isinstance(statistic, FloatStatistic):
        values = _float_resamples(statistic, data, members, rng, n_resamples)
    else:
        values = _loop_resamples(statistic, data, members, rng, n_resamples, **options)
    if np.isnan(values).all():
        return NAN, NAN
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _check(
    data: list[np.ndarray], n_resamples: int, confidence: float, clusters: npt.ArrayLike | None
) -> None:
    if not data or len({len(x) for x in data}) != 1 or len(data[0]) == 0:
        raise ValueError("bootstrap_ci needs one or more non-empty arrays of the same length")
    if n_resamples < 1 or not 0 < confidence < 1:
        raise ValueError(
            f"need n_resamples >= 1 and 0 < confidence < 1; got {n_resamples}, {confidence}"
        )
    if clusters is not None and np.shape(clusters) != (len(data[0]),):
        raise ValueError(
            f"clusters needs one label per item ({len(data[0])}); got {np.shape(clusters)}"
        )


def _members(clusters: npt.ArrayLike | None, n: int) -> IntArray:
    """Each item's cluster index (0..C-1); every item its own cluster without labels."""
    if clusters is None:
        return np.arange(n)
    return np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()


def _cluster_weights(members: IntArray, rng: np.random.Generator, size: int) -> IntArray:
    """Resamples × items multiplicities: each item counts as often as its cluster was drawn."""
    n_clusters = int(members.max()) + 1
    picks = rng.integers(0, n_clusters, size=(size, n_clusters))
    picks += n_clusters * np.arange(size)[:, None]
    drawn = np.bincount(picks.ravel(), minlength=size * n_clusters).reshape(size, n_clusters)
    return drawn[:, members]


def _chunks(n_resamples: int, width: int) -> list[int]:
    step = max(1, _CHUNK // max(width, 1))
    return [min(step, n_resamples - start) for start in range(0, n_resamples, step)]


def _table_resamples(
    statistic: TableStatistic,
    data: list[np.ndarray],
    members: IntArray,
    rng: np.random.Generator,
    n_resamples: int,
    *,
    scale: npt.ArrayLike,
) -> FloatArray:
    """A resample's (K+1)² table (missing ratings are one more row and column) is the sum of
    its clusters' tables: clusters with equal tables are one pattern, drawn multinomially."""
    if len(data) != 2:
        raise ValueError(f"{statistic.name} takes two rating arrays; got {len(data)}")
    values = scale_values(scale)
    k = len(values)
    cells = np.ravel_multi_index(paired_codes(data[0], data[1], values), (k + 1, k + 1))
    n_clusters = int(members.max()) + 1
    per_cluster = np.zeros((n_clusters, (k + 1) ** 2), dtype=np.int64)
    np.add.at(per_cluster, (members, cells), 1)
    patterns, counts = np.unique(per_cluster, axis=0, return_counts=True)
    out = []
    for size in _chunks(n_resamples, len(patterns)):
        drawn = rng.multinomial(n_clusters, counts / n_clusters, size=size)
        tables = (drawn @ patterns).reshape(size, k + 1, k + 1)[:, :k, :k]
        out.append(statistic.table_fn(tables.astype(np.float64), values))
    return np.concatenate(out)


def _float_resamples(
    statistic: FloatStatistic,
    data: list[np.ndarray],
    members: IntArray,
    rng: np.random.Generator,
    n_resamples: int,
) -> FloatArray:
    if len(data) != 2:
        raise ValueError(f"{statistic.name} takes two rating arrays; got {len(data)}")
    x, y = (np.asarray(v, dtype=np.float64) for v in data)
    both = ~(np.isnan(x) | np.isnan(y))
    out = []
    for size in _chunks(n_resamples, len(x)):
        w = _cluster_weights(members, rng, size)[:, both]
        out.append(statistic.weighted_fn(x[both], y[both], w))
    return np.concatenate(out)


def _loop_resamples(
    statistic: Callable[..., float],
    data: list[np.ndarray],
    members: IntArray,
    rng: np.random.Generator,
    n_resamples: int,
    **options: Any,
) -> FloatArray:
    by_cluster = np.argsort(members, kind="stable")
    starts = np.searchsorted(members[by_cluster], np.arange(int(members.max()) + 1))
    sizes = np.diff(np.r_[starts, len(members)])
    out = []
    with quiet():
        for _ in range(n_resamples):
            drawn = rng.integers(0, len(starts), size=len(starts))
            offsets = np.arange(sizes[drawn].sum()) - np.repeat(
                np.cumsum(sizes[drawn]) - sizes[drawn], sizes[drawn]
            )
            idx = by_cluster[np.repeat(starts[drawn], sizes[drawn]) + offsets]
            out.append(statistic(*(x[idx] for x in data), **options))
    return np.asarray(out, dtype=np.float64)
