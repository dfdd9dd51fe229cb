"""Agreement between raters: judges with each other and with human labels.

Conventions (the numbers depend on them):

* Two-rater statistics take two equal-length vectors ``(a, b)`` and drop items where either
  rating is missing (``nan`` or ``None``). Multi-rater statistics take an items × raters matrix
  with ``nan`` in missing cells.
* Ratings live on an explicit ``scale`` (the rating values, e.g. ``(1, 2, 3, 4, 5)``) or an
  explicit ``categories`` list, never on the values that happen to occur; a value off the list
  raises ``ValueError``.
* A statistic that is undefined on the data (a constant rater, a single category, fewer than two
  usable items, zero variance) is ``nan``, never 1.0 or 0.0, and no warning is emitted.

Scalar functions build on scikit-learn, SciPy and ``krippendorff``; Fleiss' kappa with missing
cells, Gwet's AC1 and the ICC are written here. Every pointwise two-rater statistic of ratings on
a scale is also a function of the K×K contingency table: :data:`STATISTICS` evaluates them on
stacks of tables at once, so :func:`pairwise_matrix` costs one pass over the items per judge pair
and :func:`bootstrap_ci` costs O(K²) per resample for them.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any, Literal

import krippendorff
import numpy as np
import numpy.typing as npt
from scipy import stats
from sklearn.metrics import cohen_kappa_score

__all__ = [
    "PREFERENCE_LABELS",
    "STATISTICS",
    "PreferenceAccuracy",
    "TableStatistic",
    "bootstrap_ci",
    "cohen_kappa",
    "contingency_table",
    "contingency_tables",
    "exact_agreement",
    "fleiss_kappa",
    "gwet_ac1",
    "icc",
    "kendall_tau_b",
    "krippendorff_alpha",
    "label_agreement",
    "pairwise_matrix",
    "pearson",
    "preference_accuracy",
    "spearman",
    "within_one_agreement",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Weights = Literal["linear", "quadratic"]
Level = Literal["nominal", "ordinal", "interval"]
TieRule = Literal["half", "exclude"]

PREFERENCE_LABELS = ("A", "B", "tie")
_NAN = float("nan")
_NONE = np.array(None, dtype=object)


# --------------------------------------------------------------------------- input validation


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the warnings that degenerate data raise inside NumPy/SciPy; callers return nan."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # includes SciPy's ConstantInputWarning
        yield


def _as_values(x: npt.ArrayLike) -> np.ndarray:
    """Float array with nan for missing; labels (strings) stay an object array with None/nan."""
    arr = np.asarray(x)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        return arr.astype(object)


def _missing(arr: np.ndarray) -> npt.NDArray[np.bool_]:
    if arr.dtype.kind == "f":
        return np.isnan(arr)
    return np.asarray(np.equal(arr, _NONE) | np.not_equal(arr, arr), dtype=np.bool_)


def _categories(categories: npt.ArrayLike, *, name: str = "categories") -> np.ndarray:
    cats = _as_values(categories)
    if cats.ndim != 1 or len(cats) < 2 or _missing(cats).any() or len(set(cats)) != len(cats):
        raise ValueError(
            f"{name} must list at least two distinct values, none missing; got {categories!r}"
        )
    return cats


def _scale(scale: npt.ArrayLike) -> FloatArray:
    values = _categories(scale, name="scale")
    if values.dtype.kind != "f":
        raise ValueError(
            f"scale must be numeric rating values, e.g. (1, 2, 3, 4, 5); got {scale!r}"
        )
    return np.sort(values)


def _encode(values: np.ndarray, categories: np.ndarray) -> IntArray:
    """Index of each value in ``categories``; ``len(categories)`` marks a missing value."""
    k = len(categories)
    order = np.argsort(categories, kind="stable")
    ordered = categories[order]
    missing = _missing(values)
    # searchsorted puts nan after every category; None has no order, so it is swapped out first
    probe = values if values.dtype.kind == "f" else np.where(missing, ordered[0], values)
    pos = np.minimum(np.searchsorted(ordered, probe), k - 1)
    off = ordered.take(pos) != probe
    off &= ~missing
    if off.any():
        raise ValueError(
            f"ratings {sorted(set(values[off].tolist()))[:5]} are not on the scale/categories "
            f"{categories.tolist()}; mark failed ratings as missing (nan/None) or widen the scale"
        )
    codes = order.take(pos)
    codes[missing] = k
    return codes


def _vector(x: npt.ArrayLike, name: str) -> np.ndarray:
    arr = _as_values(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}")
    return arr


def _vectors(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = _vector(a, "a"), _vector(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must rate the same items; got lengths {len(x)} and {len(y)}")
    return x, y


def _pair(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both vectors, validated, restricted to the items both raters rated."""
    x, y = _vectors(a, b)
    keep = ~(_missing(x) | _missing(y))
    return x[keep], y[keep]


def _matrix(ratings: npt.ArrayLike) -> np.ndarray:
    arr = _as_values(ratings)
    if arr.ndim != 2:
        raise ValueError(f"ratings must be an items × raters matrix; got shape {arr.shape}")
    return arr


def _varies(x: np.ndarray) -> bool:
    return bool(len(x) > 1 and (x != x[0]).any())


# --------------------------------------------------------------------------- two-rater statistics


def cohen_kappa(
    a: npt.ArrayLike, b: npt.ArrayLike, *, scale: npt.ArrayLike, weights: Weights | None = None
) -> float:
    """Cohen's kappa between two raters, optionally weighted by the distance between rating values.

    ``κ = 1 − Σ w_ij O_ij / Σ w_ij E_ij`` where ``O`` is the observed contingency table over the
    scale, ``E_ij = O_i· O_·j / n`` the table expected by chance, and the disagreement weight is
    ``w_ij = [i ≠ j]`` (unweighted), ``|v_i − v_j| / (max − min)`` (linear) or its square
    (quadratic), computed on the rating *values* ``v`` of the scale. Undefined (nan) when either
    rater is constant or fewer than two items are rated by both.

    scikit-learn's ``cohen_kappa_score(labels=..., weights=...)`` weights label *indices*; this
    equals value weights when the labels are the full scale and the values are evenly spaced, so
    it is used then (fed the aggregated table through ``sample_weight``). For an unevenly spaced
    scale the value weights are applied directly.

    References: Cohen (1960), Educ. Psychol. Meas. 20:37–46; Cohen (1968), Psychol. Bull. 70:213.

    >>> cohen_kappa([1, 2, 3, 3, 2], [1, 2, 3, 2, 2], scale=(1, 2, 3))
    0.6875
    >>> round(cohen_kappa([1, 2, 3, 3, 2], [1, 2, 3, 2, 2], scale=(1, 2, 3), weights="linear"), 4)
    0.7368
    """
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}")
    values = _scale(scale)
    table = contingency_table(a, b, scale=values)
    if _undefined(table):
        return _NAN
    if weights is not None and not _evenly_spaced(values):
        return float(_kappa_tables(table, values, weights=weights))
    cells = np.arange(table.size)
    rows, cols = np.divmod(cells, len(values))
    return float(
        cohen_kappa_score(
            rows, cols, labels=np.arange(len(values)), weights=weights, sample_weight=table.ravel()
        )
    )


def _evenly_spaced(values: FloatArray) -> bool:
    return bool(np.allclose(np.diff(values), values[1] - values[0]))


def _correlation(a: npt.ArrayLike, b: npt.ArrayLike, fn: Callable[..., Any]) -> float:
    x, y = _pair(a, b)
    if not (_varies(x) and _varies(y)):
        return _NAN
    with _quiet():
        return float(fn(x.astype(np.float64), y.astype(np.float64)).statistic)


def spearman(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Spearman's rank correlation (``scipy.stats.spearmanr``, ties get mid-ranks).

    ``ρ = corr(rank(a), rank(b))``. Undefined (nan) for a constant rater or < 2 paired items.

    Reference: Spearman (1904), Am. J. Psychol. 15:72–101.

    >>> round(spearman([1, 2, 3, 4], [1, 3, 2, 4]), 4)
    0.8
    """
    return _correlation(a, b, stats.spearmanr)


def kendall_tau_b(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Kendall's tau-b (``scipy.stats.kendalltau``), corrected for ties.

    ``τ_b = (P − Q) / √((n₀ − n₁)(n₀ − n₂))`` with P/Q the concordant/discordant pairs,
    ``n₀ = n(n−1)/2`` and n₁, n₂ the pairs tied in a and in b. Nan for a constant rater.

    Reference: Kendall (1945), Biometrika 33:239–251.

    >>> round(kendall_tau_b([1, 2, 2, 3], [1, 2, 3, 3]), 4)
    0.8
    """
    return _correlation(a, b, partial(stats.kendalltau, variant="b"))


def pearson(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Pearson's correlation of the rating values (``scipy.stats.pearsonr``).

    ``r = cov(a, b) / (σ_a σ_b)``. Nan for a constant rater or < 2 paired items.

    Reference: Pearson (1895), Proc. R. Soc. Lond. 58:240–242.

    >>> round(pearson([1, 2, 3], [1, 2, 4]), 4)
    0.982
    """
    return _correlation(a, b, stats.pearsonr)


def exact_agreement(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Fraction of items given the same rating (or label) by both raters.

    ``Σ [a_i = b_i] / n`` over items rated by both; nan when there are none. Not chance-corrected,
    so it stays defined for a constant rater.

    >>> exact_agreement([1, 2, 3, None], [1, 2, 2, 4])
    0.6666666666666666
    """
    x, y = _pair(a, b)
    return float(np.mean(x == y)) if len(x) else _NAN


def within_one_agreement(a: npt.ArrayLike, b: npt.ArrayLike, *, tolerance: float = 1) -> float:
    """Fraction of items whose two ratings differ by at most ``tolerance`` rating points.

    ``Σ [|a_i − b_i| ≤ tolerance] / n`` over items rated by both; nan when there are none.

    >>> within_one_agreement([1, 2, 5], [2, 4, 5])
    0.6666666666666666
    """
    x, y = _pair(a, b)
    return float(np.mean(np.abs(x - y) <= tolerance)) if len(x) else _NAN


# --------------------------------------------------------------------------- multi-rater statistics


def _item_counts(ratings: npt.ArrayLike, categories: np.ndarray) -> IntArray:
    """Items × categories matrix: how many raters put each item in each category."""
    matrix = _matrix(ratings)
    k, n_items = len(categories), matrix.shape[0]
    codes = _encode(matrix, categories)
    codes += (k + 1) * np.arange(n_items)[:, None]
    counts = np.bincount(codes.ravel(), minlength=n_items * (k + 1))
    return counts.reshape(n_items, k + 1)[:, :k]


def _pairwise_agreement(counts: IntArray) -> FloatArray:
    """Per item with ≥ 2 ratings: ``P_i = Σ_k n_ik(n_ik − 1) / (n_i(n_i − 1))``."""
    n_i = counts.sum(axis=1)
    return (counts * (counts - 1)).sum(axis=1) / (n_i * (n_i - 1))


def fleiss_kappa(ratings: npt.ArrayLike, *, categories: npt.ArrayLike) -> float:
    """Fleiss' kappa for many raters, generalised to a varying number of raters per item.

    Items with fewer than two ratings are dropped. With ``n_ik`` the raters putting item i in
    category k and ``n_i = Σ_k n_ik``::

        P_i = Σ_k n_ik(n_ik − 1) / (n_i(n_i − 1)),   P̄ = mean_i P_i,
        p_k = Σ_i n_ik / Σ_i n_i,   P_e = Σ_k p_k²,   κ = (P̄ − P_e) / (1 − P_e).

    Equals Fleiss (1971) when every item has the same number of raters. Nan when every rating is
    in one category or fewer than two items have two ratings.

    References: Fleiss (1971), Psychol. Bull. 76:378–382; Gwet, Handbook of Inter-Rater
    Reliability (4th ed., 2014), ch. 2.

    >>> round(fleiss_kappa([[1, 1, 2], [2, 2, 2], [1, 2, float("nan")]], categories=(1, 2)), 4)
    -0.1852
    """
    counts = _item_counts(ratings, _categories(categories))
    counts = counts[counts.sum(axis=1) >= 2]
    if len(counts) < 2 or np.count_nonzero(counts.sum(axis=0)) < 2:
        return _NAN
    p_e = float(((counts.sum(axis=0) / counts.sum()) ** 2).sum())
    return (float(_pairwise_agreement(counts).mean()) - p_e) / (1 - p_e)


def gwet_ac1(ratings: npt.ArrayLike, *, categories: npt.ArrayLike) -> float:
    """Gwet's AC1 for many raters with missing ratings (two raters are the special case).

    With ``r_ik`` the raters putting item i in category k, ``r_i = Σ_k r_ik`` and K categories::

        p_a = mean over items with r_i ≥ 2 of Σ_k r_ik(r_ik − 1) / (r_i(r_i − 1)),
        π_k = mean over items with r_i ≥ 1 of r_ik / r_i,
        p_e = Σ_k π_k(1 − π_k) / (K − 1),   AC1 = (p_a − p_e) / (1 − p_e).

    K is the length of ``categories``, including categories nobody used. Nan when every rating
    is in one category or fewer than two items have two ratings.

    References: Gwet (2008), Br. J. Math. Stat. Psychol. 61:29–48; Gwet, Handbook of Inter-Rater
    Reliability (4th ed., 2014), ch. 4 (the irrCAC ``gwet.ac1.raw`` formulas).

    >>> round(gwet_ac1([[1, 1], [2, 2], [1, 2], [1, 1]], categories=(1, 2)), 4)
    0.5294
    """
    cats = _categories(categories)
    counts = _item_counts(ratings, cats)
    r_i = counts.sum(axis=1)
    multi = counts[r_i >= 2]
    if len(multi) < 2 or np.count_nonzero(counts.sum(axis=0)) < 2:
        return _NAN
    pi = (counts[r_i >= 1] / r_i[r_i >= 1, None]).mean(axis=0)
    p_e = float((pi * (1 - pi)).sum()) / (len(cats) - 1)
    return (float(_pairwise_agreement(multi).mean()) - p_e) / (1 - p_e)


def krippendorff_alpha(
    ratings: npt.ArrayLike, *, level: Level = "nominal", scale: npt.ArrayLike | None = None
) -> float:
    """Krippendorff's alpha for many raters with missing ratings (wraps ``krippendorff.alpha``).

    ``α = 1 − D_o / D_e``: observed over expected disagreement in the coincidence matrix, with
    the distance of the ``level`` (nominal, ordinal, or squared difference for interval).

    ``ratings`` is items × raters (the package wants raters × units; the per-unit value counts
    are built here and passed as ``value_counts``). ``scale`` is the ordered ``value_domain``;
    without it the observed values are used, which gives the same alpha (unused values carry no
    weight) but does not check that ratings are on the scale. Labels (strings) need
    ``level="nominal"``. Nan when fewer than two units have two ratings or only one value occurs.

    Reference: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", U. Penn.

    >>> round(krippendorff_alpha([[1, 1], [2, 2], [3, 2], [3, 3]], level="ordinal"), 4)
    0.79
    """
    if level not in ("nominal", "ordinal", "interval"):
        raise ValueError(f"level must be 'nominal', 'ordinal' or 'interval'; got {level!r}")
    domain = _alpha_domain(ratings, level, scale)
    if len(domain) < 2:
        return _NAN
    counts = _item_counts(ratings, domain)
    counts = counts[counts.sum(axis=1) >= 2]  # unpairable units carry no information
    if len(counts) < 2 or np.count_nonzero(counts.sum(axis=0)) < 2:
        return _NAN
    with _quiet():
        return float(
            krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
        )


def _alpha_domain(ratings: npt.ArrayLike, level: Level, scale: npt.ArrayLike | None) -> np.ndarray:
    if scale is not None:
        return _categories(scale, name="scale") if level == "nominal" else _scale(scale)
    matrix = _matrix(ratings)
    observed = matrix[~_missing(matrix)]
    if level != "nominal" and observed.dtype.kind != "f":
        raise ValueError(f"level={level!r} needs numeric ratings; use level='nominal' for labels")
    return np.unique(observed)


def icc(ratings: npt.ArrayLike, *, kind: Literal["2,1", "3,1"] = "2,1") -> float:
    """Intraclass correlation of single ratings (Shrout & Fleiss 1979), from a two-way ANOVA.

    With n items (rows) and k raters (columns), mean squares MSR (items), MSC (raters) and MSE
    (residual)::

        ICC(2,1) = (MSR − MSE) / (MSR + (k − 1) MSE + k (MSC − MSE) / n)   # absolute agreement
        ICC(3,1) = (MSR − MSE) / (MSR + (k − 1) MSE)                       # consistency

    ANOVA needs a complete matrix, so items with any missing cell are dropped. Nan with fewer
    than two complete items or raters, or when nothing varies across items.

    Reference: Shrout & Fleiss (1979), Psychol. Bull. 86:420–428 (Table 2 is the example below).

    >>> table2 = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> round(icc(table2, kind="2,1"), 2), round(icc(table2, kind="3,1"), 2)
    (0.29, 0.71)
    """
    if kind not in ("2,1", "3,1"):
        raise ValueError(f"kind must be '2,1' or '3,1'; got {kind!r}")
    matrix = _matrix(ratings)
    if matrix.dtype.kind != "f":
        raise ValueError("icc needs numeric ratings")
    complete = matrix[~np.isnan(matrix).any(axis=1)]
    n, k = complete.shape
    if n < 2 or k < 2 or (complete == complete[0]).all():  # every item rated alike: no signal
        return _NAN
    ms_r, ms_c, ms_e = _anova_mean_squares(complete)
    rater_term = k * (ms_c - ms_e) / n if kind == "2,1" else 0.0
    return (ms_r - ms_e) / (ms_r + (k - 1) * ms_e + rater_term)


def _anova_mean_squares(x: FloatArray) -> tuple[float, float, float]:
    n, k = x.shape
    centred = x - x.mean()
    ss_rows = k * float((centred.mean(axis=1) ** 2).sum())
    ss_cols = n * float((centred.mean(axis=0) ** 2).sum())
    ss_error = max(float((centred**2).sum()) - ss_rows - ss_cols, 0.0)
    return ss_rows / (n - 1), ss_cols / (k - 1), ss_error / ((n - 1) * (k - 1))


# --------------------------------------------------------------------------- pairwise verdicts


@dataclass(frozen=True)
class PreferenceAccuracy:
    """Accuracy of pairwise verdicts against gold labels, with the tie convention that produced it.

    ``n`` items were scored; ``n_dropped`` were left out (a missing verdict or gold label, or a
    tie on either side under ``ties="exclude"``).
    """

    accuracy: float
    ties: TieRule
    n: int
    n_dropped: int


def _labels(x: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}")
    present = arr[~_missing(arr)]
    unknown = set(present.tolist()) - set(PREFERENCE_LABELS)
    if unknown:
        raise ValueError(f"{name} has labels {sorted(map(str, unknown))}; expected A, B or tie")
    return arr


def _label_pair(pred: npt.ArrayLike, gold: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, int]:
    p, g = _labels(pred, "pred"), _labels(gold, "gold")
    if p.shape != g.shape:
        raise ValueError(f"pred and gold must label the same items; got {len(p)} and {len(g)}")
    keep = ~(_missing(p) | _missing(g))
    return p[keep], g[keep], len(p)


def preference_accuracy(
    pred: npt.ArrayLike, gold: npt.ArrayLike, *, ties: TieRule = "half"
) -> PreferenceAccuracy:
    """Accuracy of pairwise verdicts ("A", "B", "tie") against gold verdicts.

    ``ties="half"`` (AlpacaEval style): an item scores 1 when the verdicts are equal (a tie
    against a gold tie included), 0.5 when exactly one side is a tie, and 0 for A against B.
    ``ties="exclude"``: items where either side is a tie are dropped; the rest score
    ``[pred = gold]``. Items with a missing verdict are dropped in both cases (a failed judgment
    is counted by :mod:`ultrajudge.analysis.bias`, never graded). Accuracy is nan when nothing is left.

    >>> preference_accuracy(["A", "B", "tie", "A"], ["A", "A", "A", "tie"])
    PreferenceAccuracy(accuracy=0.5, ties='half', n=4, n_dropped=0)
    >>> preference_accuracy(["A", "B", "tie", "A"], ["A", "A", "A", "tie"], ties="exclude")
    PreferenceAccuracy(accuracy=0.5, ties='exclude', n=2, n_dropped=2)
    """
    if ties not in ("half", "exclude"):
        raise ValueError(f"ties must be 'half' or 'exclude'; got {ties!r}")
    p, g, total = _label_pair(pred, gold)
    either_tie = (p == "tie") | (g == "tie")
    if ties == "exclude":
        p, g, either_tie = p[~either_tie], g[~either_tie], either_tie[~either_tie]
    scores = np.where(p == g, 1.0, np.where(either_tie, 0.5, 0.0))
    accuracy = float(scores.mean()) if len(scores) else _NAN
    return PreferenceAccuracy(accuracy, ties, len(scores), total - len(scores))


def label_agreement(a: npt.ArrayLike, b: npt.ArrayLike, *, include_ties: bool = True) -> float:
    """Fraction of items where two judges give the same pairwise verdict ("A", "B", "tie").

    Items with a missing verdict are dropped; with ``include_ties=False`` so are items where
    either judge says tie. Nan when nothing is left.

    >>> label_agreement(["A", "B", "tie"], ["A", "A", "tie"])
    0.6666666666666666
    >>> label_agreement(["A", "B", "tie"], ["A", "A", "tie"], include_ties=False)
    0.5
    """
    x, y, _ = _label_pair(a, b)
    if not include_ties:
        decisive = (x != "tie") & (y != "tie")
        x, y = x[decisive], y[decisive]
    return float(np.mean(x == y)) if len(x) else _NAN


# --------------------------------------------------------------------------- contingency tables


def _joint_counts(codes_a: IntArray, codes_b: IntArray, k: int) -> FloatArray:
    """(k+1)×(k+1) counts of code pairs; the last row/column counts missing ratings."""
    counts = np.bincount(codes_a * (k + 1) + codes_b, minlength=(k + 1) ** 2)
    return counts.reshape(k + 1, k + 1).astype(np.float64)


def _paired_codes(
    a: npt.ArrayLike, b: npt.ArrayLike, values: FloatArray
) -> tuple[IntArray, IntArray]:
    x, y = _vectors(a, b)
    return _encode(x, values), _encode(y, values)


def contingency_table(a: npt.ArrayLike, b: npt.ArrayLike, *, scale: npt.ArrayLike) -> FloatArray:
    """K×K counts: ``table[i, j]`` items rated ``scale[i]`` by a and ``scale[j]`` by b.

    The scale is sorted; items missing either rating are not counted.

    >>> contingency_table([1, 2, 2, None], [1, 2, 3, 3], scale=(1, 2, 3)).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    """
    values = _scale(scale)
    codes_a, codes_b = _paired_codes(a, b, values)
    return _joint_counts(codes_a, codes_b, len(values))[:-1, :-1]


def contingency_tables(ratings: npt.ArrayLike, *, scale: npt.ArrayLike) -> FloatArray:
    """Judges × judges × K × K: the :func:`contingency_table` of every ordered pair of columns."""
    values = _scale(scale)
    codes = _encode(np.ascontiguousarray(_matrix(ratings).T), values)  # judges × items
    k, n_judges = len(values), codes.shape[0]
    tables = np.empty((n_judges, n_judges, k, k))
    for p, q in itertools.combinations_with_replacement(range(n_judges), 2):  # pairs, not items
        tables[p, q] = _joint_counts(codes[p], codes[q], k)[:-1, :-1]
        tables[q, p] = tables[p, q].T
    return tables


def _marginals(tables: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    return tables.sum(axis=-1), tables.sum(axis=-2), tables.sum(axis=(-2, -1))


def _undefined(tables: FloatArray) -> npt.NDArray[np.bool_]:
    """Fewer than two items, or a rater using a single value."""
    rows, cols, n = _marginals(tables)
    return (n < 2) | (np.count_nonzero(rows, axis=-1) < 2) | (np.count_nonzero(cols, axis=-1) < 2)


def _disagreement(values: FloatArray, weights: Weights | None) -> FloatArray:
    """K×K kappa weights on the scale values: [i ≠ j], |v_i − v_j| / range, or its square."""
    distance = np.abs(values[:, None] - values[None, :]) / (values[-1] - values[0])
    if weights is None:
        return (distance > 0).astype(np.float64)
    return distance if weights == "linear" else distance**2


def _kappa_tables(
    tables: FloatArray, values: FloatArray, *, weights: Weights | None = None
) -> FloatArray:
    w = _disagreement(values, weights)
    rows, cols, n = _marginals(tables)
    with _quiet():
        expected = rows[..., :, None] * cols[..., None, :] / n[..., None, None]
        observed_cost = (w * tables).sum(axis=(-2, -1))
        kappa = 1 - observed_cost / (w * expected).sum(axis=(-2, -1))
    return np.where(_undefined(tables), np.nan, kappa)


def _correlation_tables(tables: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """Pearson correlation of row scores x and column scores y, weighted by the table counts."""
    rows, cols, n = _marginals(tables)
    with _quiet():
        dx = x - ((rows * x).sum(axis=-1) / n)[..., None]
        dy = y - ((cols * y).sum(axis=-1) / n)[..., None]
        cov = np.einsum("...i,...ij,...j->...", dx, tables, dy)
        r = cov / np.sqrt((rows * dx**2).sum(axis=-1) * (cols * dy**2).sum(axis=-1))
    return np.where(_undefined(tables), np.nan, np.clip(r, -1.0, 1.0))


def _midranks(counts: FloatArray) -> FloatArray:
    return np.cumsum(counts, axis=-1) - (counts - 1) / 2


def _pearson_tables(tables: FloatArray, values: FloatArray) -> FloatArray:
    return _correlation_tables(tables, values, values)


def _spearman_tables(tables: FloatArray, values: FloatArray) -> FloatArray:
    rows, cols, _ = _marginals(tables)
    return _correlation_tables(tables, _midranks(rows), _midranks(cols))


def _kendall_tables(tables: FloatArray, values: FloatArray) -> FloatArray:
    below = np.flip(np.cumsum(np.flip(tables, axis=-2), axis=-2), axis=-2) - tables  # k > i
    right = np.flip(np.cumsum(np.flip(below, axis=-1), axis=-1), axis=-1) - below  # k>i, l>j
    left = np.cumsum(below, axis=-1) - below  # k > i, l < j
    rows, cols, n = _marginals(tables)
    concordant_minus_discordant = (tables * (right - left)).sum(axis=(-2, -1))
    n0 = n * (n - 1) / 2
    ties_a, ties_b = [(m * (m - 1) / 2).sum(axis=-1) for m in (rows, cols)]
    with _quiet():
        tau = concordant_minus_discordant / np.sqrt((n0 - ties_a) * (n0 - ties_b))
    return np.where(_undefined(tables), np.nan, np.clip(tau, -1.0, 1.0))


def _rate_tables(tables: FloatArray, values: FloatArray, *, tolerance: float) -> FloatArray:
    close = np.abs(values[:, None] - values[None, :]) <= tolerance
    n = tables.sum(axis=(-2, -1))
    with _quiet():
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
        return self.table_fn(np.asarray(tables, dtype=np.float64), _scale(scale))


def _registry(*stats_: TableStatistic) -> MappingProxyType[str, TableStatistic]:
    return MappingProxyType({s.name: s for s in stats_})


STATISTICS: MappingProxyType[str, TableStatistic] = _registry(
    TableStatistic("kappa", _kappa_tables),
    TableStatistic("kappa_linear", partial(_kappa_tables, weights="linear")),
    TableStatistic("kappa_quadratic", partial(_kappa_tables, weights="quadratic")),
    TableStatistic("spearman", _spearman_tables),
    TableStatistic("kendall_tau_b", _kendall_tables),
    TableStatistic("pearson", _pearson_tables),
    TableStatistic("exact", partial(_rate_tables, tolerance=0.0)),
    TableStatistic("within_one", partial(_rate_tables, tolerance=1.0)),
)
"""Pointwise two-rater statistics by name; each is callable as ``stat(a, b, scale)``.

Each equals its scalar function (``kappa_linear`` is ``cohen_kappa(..., weights="linear")``,
``spearman`` is :func:`spearman`, ...) on ratings that lie on the scale.
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


# --------------------------------------------------------------------------- bootstrap


def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays: npt.ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    **options: Any,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*arrays, **options)``, resampling items.

    Items (rows, the first axis of every array) are drawn jointly with replacement from
    ``np.random.default_rng(seed)``; ``options`` pass through unchanged (e.g. ``scale=``).
    Resamples where the statistic is nan are ignored; ``(nan, nan)`` if all are.

    For a :class:`TableStatistic` (the values of :data:`STATISTICS`) a resample's contingency
    table is drawn directly from ``Multinomial(n, counts / n)`` (missing pairs are one more cell)
    — the same distribution as resampling rows, at O(K²) per resample.

    >>> a, b = [1, 2, 3, 4, 5] * 20, [1, 2, 3, 5, 4] * 20
    >>> low, high = bootstrap_ci(STATISTICS["exact"], a, b, scale=(1, 2, 3, 4, 5))
    >>> bool(low < 0.6 < high)
    True
    """
    data = [np.asarray(x) for x in arrays]
    _check_bootstrap(data, n_resamples, confidence)
    rng = np.random.default_rng(seed)
    if isinstance(statistic, TableStatistic):
        values = _table_resamples(statistic, data, rng, n_resamples, **options)
    else:
        values = _row_resamples(statistic, data, rng, n_resamples, **options)
    tail = 100 * (1 - confidence) / 2
    if np.isnan(values).all():
        return _NAN, _NAN
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _check_bootstrap(data: list[np.ndarray], n_resamples: int, confidence: float) -> None:
    if not data or len({len(x) for x in data}) != 1 or len(data[0]) == 0:
        raise ValueError("bootstrap_ci needs one or more non-empty arrays of the same length")
    if n_resamples < 1 or not 0 < confidence < 1:
        raise ValueError(
            f"need n_resamples >= 1 and 0 < confidence < 1; got {n_resamples}, {confidence}"
        )


def _table_resamples(
    statistic: TableStatistic,
    data: list[np.ndarray],
    rng: np.random.Generator,
    n_resamples: int,
    *,
    scale: npt.ArrayLike,
) -> FloatArray:
    if len(data) != 2:
        raise ValueError(f"{statistic.name} takes two rating arrays; got {len(data)}")
    values = _scale(scale)
    k = len(values)
    counts = _joint_counts(*_paired_codes(data[0], data[1], values), k).ravel()
    draws = rng.multinomial(int(counts.sum()), counts / counts.sum(), size=n_resamples)
    tables = draws.reshape(n_resamples, k + 1, k + 1)[:, :k, :k].astype(np.float64)
    return statistic.table_fn(tables, values)


def _row_resamples(
    statistic: Callable[..., float],
    data: list[np.ndarray],
    rng: np.random.Generator,
    n_resamples: int,
    **options: Any,
) -> FloatArray:
    n = len(data[0])
    chunk = max(1, 2**22 // n)  # bound the index matrix to ~32 MB
    out = []
    with _quiet():
        for start in range(0, n_resamples, chunk):
            rows = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
            out += [statistic(*(x[idx] for x in data), **options) for idx in rows]
    return np.asarray(out, dtype=np.float64)
