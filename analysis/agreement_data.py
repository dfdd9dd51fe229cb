"""Rating data for the agreement statistics: validation, category codes, contingency tables.

Shared by :mod:`ultrajudge.analysis.kappa`, :mod:`ultrajudge.analysis.correlation`,
:mod:`ultrajudge.analysis.table_stats`, :mod:`ultrajudge.analysis.verdicts` and
:mod:`ultrajudge.analysis.bootstrap` (the conventions are in :mod:`ultrajudge.analysis.agreement`).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

__all__ = ["contingency_table", "contingency_tables"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
NAN = float("nan")
_NONE = np.array(None, dtype=object)


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the warnings that degenerate data raise inside NumPy/SciPy; callers return nan."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # includes SciPy's ConstantInputWarning
        yield


def as_values(x: npt.ArrayLike) -> np.ndarray:
    """Float array with nan for missing; labels (strings) stay an object array with None/nan."""
    arr = np.asarray(x)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        return arr.astype(object)


def missing(arr: np.ndarray) -> npt.NDArray[np.bool_]:
    """True where a value is missing: nan, or None in a label array."""
    if arr.dtype.kind == "f":
        return np.isnan(arr)
    return np.asarray(np.equal(arr, _NONE) | np.not_equal(arr, arr), dtype=np.bool_)


def categories_of(categories: npt.ArrayLike, *, name: str = "categories") -> np.ndarray:
    """The explicit category list, validated: two or more distinct values, none missing."""
    cats = as_values(categories)
    if cats.ndim != 1 or len(cats) < 2 or missing(cats).any() or len(set(cats)) != len(cats):
        raise ValueError(
            f"{name} must list at least two distinct values, none missing; got {categories!r}"
        )
    return cats


def scale_values(scale: npt.ArrayLike) -> FloatArray:
    """The numeric rating values of a scale, sorted."""
    values = categories_of(scale, name="scale")
    if values.dtype.kind != "f":
        raise ValueError(
            f"scale must be numeric rating values, e.g. (1, 2, 3, 4, 5); got {scale!r}"
        )
    return np.sort(values)


def encode(values: np.ndarray, categories: np.ndarray) -> IntArray:
    """Index of each value in ``categories``; ``len(categories)`` marks a missing value."""
    k = len(categories)
    order = np.argsort(categories, kind="stable")
    ordered = categories[order]
    absent = missing(values)
    # searchsorted puts nan after every category; None has no order, so it is swapped out first
    probe = values if values.dtype.kind == "f" else np.where(absent, ordered[0], values)
    pos = np.minimum(np.searchsorted(ordered, probe), k - 1)
    off = ordered.take(pos) != probe
    off &= ~absent
    if off.any():
        raise ValueError(
            f"ratings {sorted(set(values[off].tolist()))[:5]} are not on the scale/categories "
            f"{categories.tolist()}; mark failed ratings as missing (nan/None) or widen the scale"
        )
    codes = order.take(pos)
    codes[absent] = k
    return codes


def vector(x: npt.ArrayLike, name: str) -> np.ndarray:
    arr = as_values(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}")
    return arr


def vectors(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = vector(a, "a"), vector(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must rate the same items; got lengths {len(x)} and {len(y)}")
    return x, y


def pair(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both vectors, validated, restricted to the items both raters rated."""
    x, y = vectors(a, b)
    keep = ~(missing(x) | missing(y))
    return x[keep], y[keep]


def matrix(ratings: npt.ArrayLike) -> np.ndarray:
    arr = as_values(ratings)
    if arr.ndim != 2:
        raise ValueError(f"ratings must be an items × raters matrix; got shape {arr.shape}")
    return arr


def varies(x: np.ndarray) -> bool:
    return bool(len(x) > 1 and (x != x[0]).any())


def joint_counts(codes_a: IntArray, codes_b: IntArray, k: int) -> FloatArray:
    """(k+1)×(k+1) counts of code pairs; the last row/column counts missing ratings."""
    counts = np.bincount(codes_a * (k + 1) + codes_b, minlength=(k + 1) ** 2)
    return counts.reshape(k + 1, k + 1).astype(np.float64)


def paired_codes(
    a: npt.ArrayLike, b: npt.ArrayLike, values: FloatArray
) -> tuple[IntArray, IntArray]:
    x, y = vectors(a, b)
    return encode(x, values), encode(y, values)


def contingency_table(a: npt.ArrayLike, b: npt.ArrayLike, *, scale: npt.ArrayLike) -> FloatArray:
    """K×K counts: ``table[i, j]`` items rated ``scale[i]`` by a and ``scale[j]`` by b.

    The scale is sorted; items missing either rating are not counted.

    >>> contingency_table([1, 2, 2, None], [1, 2, 3, 3], scale=(1, 2, 3)).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    """
    values = scale_values(scale)
    codes_a, codes_b = paired_codes(a, b, values)
    return joint_counts(codes_a, codes_b, len(values))[:-1, :-1]


def contingency_tables(ratings: npt.ArrayLike, *, scale: npt.ArrayLike) -> FloatArray:
    """Judges × judges × K × K: the :func:`contingency_table` of every ordered pair of columns."""
    values = scale_values(scale)
    codes = encode(np.ascontiguousarray(matrix(ratings).T), values)  # judges × items
    k, n_judges = len(values), codes.shape[0]
    tables = np.empty((n_judges, n_judges, k, k))
    for p, q in itertools.combinations_with_replacement(range(n_judges), 2):  # pairs, not items
        tables[p, q] = joint_counts(codes[p], codes[q], k)[:-1, :-1]
        tables[q, p] = tables[p, q].T
    return tables


def marginals(tables: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Row sums, column sums and totals of a ``(..., K, K)`` stack of tables."""
    return tables.sum(axis=-1), tables.sum(axis=-2), tables.sum(axis=(-2, -1))


def constant_rater(tables: FloatArray) -> npt.NDArray[np.bool_]:
    """Fewer than two items, or a rater using a single value (zero variance)."""
    rows, cols, n = marginals(tables)
    return (n < 2) | (np.count_nonzero(rows, axis=-1) < 2) | (np.count_nonzero(cols, axis=-1) < 2)
