"""Chance-corrected agreement: Cohen's kappa, Fleiss' kappa, Gwet's AC1, Krippendorff's alpha.

Each is ``(observed − chance) / (1 − chance)`` (alpha: ``1 − D_o / D_e``) and is nan only where
that quotient is 0/0; on other degenerate data it takes the value the formula gives, as the
reference libraries do (see :mod:`ultrajudge.analysis.agreement`).
"""

from __future__ import annotations

from typing import Literal

import krippendorff
import numpy as np
import numpy.typing as npt
from sklearn.metrics import cohen_kappa_score

from ultrajudge.analysis.agreement_data import (
    NAN,
    FloatArray,
    IntArray,
    categories_of,
    contingency_table,
    encode,
    marginals,
    matrix,
    missing,
    quiet,
    scale_values,
)

__all__ = ["cohen_kappa", "fleiss_kappa", "gwet_ac1", "kappa_tables", "krippendorff_alpha"]

Weights = Literal["linear", "quadratic"]
Level = Literal["nominal", "ordinal", "interval"]


def cohen_kappa(
    a: npt.ArrayLike, b: npt.ArrayLike, *, scale: npt.ArrayLike, weights: Weights | None = None
) -> float:
    """Cohen's kappa between two raters, optionally weighted by the distance between rating values.

    ``κ = 1 − Σ w_ij O_ij / Σ w_ij E_ij`` where ``O`` is the observed contingency table over the
    scale, ``E_ij = O_i· O_·j / n`` the table expected by chance, and the disagreement weight is
    ``w_ij = [i ≠ j]`` (unweighted), ``|v_i − v_j| / (max − min)`` (linear) or its square
    (quadratic), computed on the rating *values* ``v`` of the scale.

    Undefined (nan) exactly when ``Σ w_ij E_ij = 0``, the 0/0 case: no item rated by both, or
    both raters constant on the *same* value. A rater constant while the other varies gives
    ``O = E`` and so κ = 0, and two raters constant on different values κ = 0 (as scikit-learn
    gives; this supersedes the earlier "constant rater → nan" rule of DESIGN.md).

    scikit-learn's ``cohen_kappa_score(labels=..., weights=...)`` weights label *indices*; this
    equals value weights when the labels are the full scale and the values are evenly spaced, so
    it is used then (fed the aggregated table through ``sample_weight``). For an unevenly spaced
    scale the value weights are applied directly.

    References: Cohen (1960), Educ. Psychol. Meas. 20:37–46; Cohen (1968), Psychol. Bull. 70:213.

    >>> cohen_kappa([1, 2, 3, 3, 2], [1, 2, 3, 2, 2], scale=(1, 2, 3))
    0.6875
    >>> round(cohen_kappa([1, 2, 3, 3, 2], [1, 2, 3, 2, 2], scale=(1, 2, 3), weights="linear"), 4)
    0.7368
    >>> cohen_kappa([3, 3, 3], [1, 2, 3], scale=(1, 2, 3))
    0.0
    """
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}")
    values = scale_values(scale)
    table = contingency_table(a, b, scale=values)
    kappa = float(kappa_tables(table, values, weights=weights))
    if np.isnan(kappa) or (weights is not None and not _evenly_spaced(values)):
        return kappa
    cells = np.arange(table.size)
    rows, cols = np.divmod(cells, len(values))
    return float(
        cohen_kappa_score(
            rows, cols, labels=np.arange(len(values)), weights=weights, sample_weight=table.ravel()
        )
    )


def _evenly_spaced(values: FloatArray) -> bool:
    return bool(np.allclose(np.diff(values), values[1] - values[0]))


def _disagreement(values: FloatArray, weights: Weights | None) -> FloatArray:
    """K×K kappa weights on the scale values: [i ≠ j], |v_i − v_j| / range, or its square."""
    distance = np.abs(values[:, None] - values[None, :]) / (values[-1] - values[0])
    if weights is None:
        return (distance > 0).astype(np.float64)
    return distance if weights == "linear" else distance**2


def kappa_tables(
    tables: FloatArray, values: FloatArray, *, weights: Weights | None = None
) -> FloatArray:
    """:func:`cohen_kappa` of every table in a ``(..., K, K)`` stack; nan where it is 0/0."""
    w = _disagreement(values, weights)
    rows, cols, n = marginals(tables)
    with quiet():
        expected = rows[..., :, None] * cols[..., None, :] / n[..., None, None]
        chance_cost = (w * expected).sum(axis=(-2, -1))
        kappa = 1 - (w * tables).sum(axis=(-2, -1)) / chance_cost
    return np.where((n > 0) & (chance_cost > 0), kappa, np.nan)


# --------------------------------------------------------------------------- many raters


def item_counts(ratings: npt.ArrayLike, categories: np.ndarray) -> IntArray:
    """Items × categories matrix: how many raters put each item in each category."""
    values = matrix(ratings)
    k, n_items = len(categories), values.shape[0]
    codes = encode(values, categories)
    codes += (k + 1) * np.arange(n_items)[:, None]
    counts = np.bincount(codes.ravel(), minlength=n_items * (k + 1))
    return counts.reshape(n_items, k + 1)[:, :k]


def _observed_and_shares(counts: IntArray) -> tuple[float, FloatArray] | None:
    """``p_a`` (mean pairwise agreement over items with ≥ 2 ratings) and ``π_k`` (mean share
    of category k over items with ≥ 1 rating); None when no item has two ratings."""
    r_i = counts.sum(axis=1)
    multi, rated = counts[r_i >= 2], counts[r_i >= 1]
    if not len(multi):
        return None
    n_i = multi.sum(axis=1)
    p_a = float(((multi * (multi - 1)).sum(axis=1) / (n_i * (n_i - 1))).mean())
    return p_a, (rated / r_i[r_i >= 1, None]).mean(axis=0)


def fleiss_kappa(ratings: npt.ArrayLike, *, categories: npt.ArrayLike) -> float:
    """Fleiss' kappa for many raters, in Gwet's generalisation to missing ratings.

    With ``r_ik`` the raters putting item i in category k and ``r_i = Σ_k r_ik``::

        p_a = mean over items with r_i ≥ 2 of Σ_k r_ik(r_ik − 1) / (r_i(r_i − 1)),
        π_k = mean over items with r_i ≥ 1 of r_ik / r_i,
        p_e = Σ_k π_k²,   κ = (p_a − p_e) / (1 − p_e).

    This is irrCAC's ``fleiss()`` (R: ``fleiss.kappa.raw``): the chance term averages each
    item's category shares over the items (an item rated once counts there), rather than pooling
    all ratings. Both equal Fleiss (1971) when every item has the same number of raters.

    Undefined (nan) exactly when it is 0/0: no item has two ratings, or every rating is in one
    category (p_e = p_a = 1; irrCAC divides by zero there). One item rated 2 and 5 by two raters
    gives p_a = 0, p_e = 1/2, κ = −1.

    References: Fleiss (1971), Psychol. Bull. 76:378–382; Gwet, Handbook of Inter-Rater
    Reliability (4th ed., 2014), ch. 2 (Fleiss' kappa with missing ratings), as computed by
    irrCAC 0.4.4, ``CAC.fleiss()`` in ``irrCAC/raw.py``.

    >>> round(fleiss_kappa([[1, 1, 2], [2, 2, 2], [1, 2, float("nan")]], categories=(1, 2)), 4)
    -0.1688
    """
    counts = item_counts(ratings, categories_of(categories))
    parts = _observed_and_shares(counts)
    if parts is None or np.count_nonzero(counts.sum(axis=0)) < 2:
        return NAN
    p_a, pi = parts
    p_e = float((pi**2).sum())
    return (p_a - p_e) / (1 - p_e)


def gwet_ac1(ratings: npt.ArrayLike, *, categories: npt.ArrayLike) -> float:
    """Gwet's AC1 for many raters with missing ratings (two raters are the special case).

    With ``p_a`` and ``π_k`` as in :func:`fleiss_kappa` and K categories::

        p_e = Σ_k π_k(1 − π_k) / (K − 1),   AC1 = (p_a − p_e) / (1 − p_e).

    K is the length of ``categories``, including categories nobody used. Since
    ``p_e ≤ 1/K < 1``, AC1 is defined whenever ``p_a`` is: nan only when no item has two
    ratings. When every rating agrees, p_e = 0 and AC1 = 1 (irrCAC gives 1.0; AC1 was built to
    stay defined there, where kappa is 0/0).

    References: Gwet (2008), Br. J. Math. Stat. Psychol. 61:29–48; Gwet, Handbook of Inter-Rater
    Reliability (4th ed., 2014), ch. 4 (the irrCAC ``gwet.ac1.raw`` formulas).

    >>> round(gwet_ac1([[1, 1], [2, 2], [1, 2], [1, 1]], categories=(1, 2)), 4)
    0.5294
    >>> gwet_ac1([[3, 3], [3, 3]], categories=(1, 2, 3))
    1.0
    """
    cats = categories_of(categories)
    parts = _observed_and_shares(item_counts(ratings, cats))
    if parts is None:
        return NAN
    p_a, pi = parts
    p_e = float((pi * (1 - pi)).sum()) / (len(cats) - 1)
    return (p_a - p_e) / (1 - p_e)


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
    ``level="nominal"``. Undefined (nan) exactly when ``D_e = 0`` (0/0): fewer than two distinct
    values among the pairable units (units with two or more ratings). One pairable unit with two
    values gives α = 0, as the package does.

    Reference: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", U. Penn.

    >>> round(krippendorff_alpha([[1, 1], [2, 2], [3, 2], [3, 3]], level="ordinal"), 4)
    0.79
    """
    if level not in ("nominal", "ordinal", "interval"):
        raise ValueError(f"level must be 'nominal', 'ordinal' or 'interval'; got {level!r}")
    domain = _alpha_domain(ratings, level, scale)
    if len(domain) < 2:
        return NAN
    counts = item_counts(ratings, domain)
    counts = counts[counts.sum(axis=1) >= 2]  # unpairable units carry no information
    if np.count_nonzero(counts.sum(axis=0)) < 2:
        return NAN
    with quiet():
        return float(
            krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
        )


def _alpha_domain(ratings: npt.ArrayLike, level: Level, scale: npt.ArrayLike | None) -> np.ndarray:
    if scale is not None:
        return categories_of(scale, name="scale") if level == "nominal" else scale_values(scale)
    values = matrix(ratings)
    observed = values[~missing(values)]
    if level != "nominal" and observed.dtype.kind != "f":
        raise ValueError(f"level={level!r} needs numeric ratings; use level='nominal' for labels")
    return np.unique(observed)
