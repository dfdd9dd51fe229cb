"""Agreement statistics, pinned to reference libraries computed in the test and to invariants."""

from __future__ import annotations

import doctest
import itertools
import warnings
from collections.abc import Callable

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from ultrajudge.analysis import (
    agreement_data,
    bootstrap,
    correlation,
    kappa,
    table_stats,
    verdicts,
)
from ultrajudge.analysis.agreement import (
    STATISTICS,
    PreferenceAccuracy,
    bootstrap_ci,
    cohen_kappa,
    contingency_table,
    exact_agreement,
    fleiss_kappa,
    gwet_ac1,
    icc,
    kendall_tau_b,
    krippendorff_alpha,
    label_agreement,
    pairwise_matrix,
    pearson,
    preference_accuracy,
    spearman,
    within_one_agreement,
)

pytestmark = pytest.mark.filterwarnings("error")  # undefined statistics must not warn

NAN = float("nan")
SCALES = {3: (1, 2, 3), 5: (1, 2, 3, 4, 5), 10: tuple(range(1, 11))}


def make_ratings(n: int, raters: int, points: int, missing: float, seed: int) -> np.ndarray:
    """Items × raters on 1..points: shared item quality plus rater noise, some cells nan."""
    rng = np.random.default_rng(seed)
    quality = rng.uniform(1, points, size=(n, 1))
    ratings = np.clip(np.rint(quality + rng.normal(0, points / 6, size=(n, raters))), 1, points)
    ratings[rng.random(ratings.shape) < missing] = np.nan
    return ratings


def paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


CASES = [  # (points, missing, seed)
    (3, 0.0, 1),
    (3, 0.2, 2),
    (5, 0.0, 3),
    (5, 0.05, 4),
    (10, 0.1, 5),
]


# --------------------------------------------------------------------- references, two raters


@pytest.mark.parametrize(("points", "missing", "seed"), CASES)
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(points, missing, seed, weights):
    a, b = make_ratings(300, 2, points, missing, seed).T
    x, y = paired(a, b)
    expected = cohen_kappa_score(x, y, labels=SCALES[points], weights=weights)
    name = "kappa" if weights is None else f"kappa_{weights}"
    assert cohen_kappa(a, b, scale=SCALES[points], weights=weights) == pytest.approx(expected)
    assert STATISTICS[name](a, b, SCALES[points]) == pytest.approx(expected, abs=1e-12)


def test_weighted_kappa_uses_values_of_the_full_scale():
    # only 1, 2 and 5 occur: sklearn without labels would weight them as adjacent categories
    a, b = [1, 2, 5, 5, 1, 2, 5, 2], [2, 1, 5, 2, 1, 5, 5, 2]
    full = cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights="linear")
    observed_only = cohen_kappa_score(a, b, weights="linear")
    assert full != pytest.approx(observed_only)
    assert cohen_kappa(a, b, scale=(1, 2, 3, 4, 5), weights="linear") == pytest.approx(full)


def _value_weighted_kappa(a, b, values, power):
    """Plain double loop over the scale: 1 - sum(w O) / sum(w E), w = (|vi - vj| / range)^p."""
    n, num, den = len(a), 0.0, 0.0
    for vi, vj in itertools.product(values, repeat=2):
        w = (abs(vi - vj) / (max(values) - min(values))) ** power
        observed = sum(1 for x, y in zip(a, b, strict=True) if x == vi and y == vj)
        expected = a.count(vi) * b.count(vj) / n
        num, den = num + w * observed, den + w * expected
    return 1 - num / den


@pytest.mark.parametrize(("weights", "power"), [("linear", 1), ("quadratic", 2)])
def test_weighted_kappa_on_uneven_scale_weights_values_not_indices(weights, power):
    values = (0, 1, 2, 10)
    a, b = [0, 1, 2, 10, 10, 1, 0, 2], [0, 2, 2, 10, 2, 1, 1, 10]
    expected = _value_weighted_kappa(a, b, values, power)
    index_based = cohen_kappa_score(a, b, labels=list(values), weights=weights)
    assert expected != pytest.approx(index_based)
    assert cohen_kappa(a, b, scale=values, weights=weights) == pytest.approx(expected)
    assert STATISTICS[f"kappa_{weights}"](a, b, values) == pytest.approx(expected)


def test_evenly_spaced_non_integer_scale_matches_sklearn():
    a, b = [0.0, 0.5, 1.0, 1.0, 0.5], [0.0, 1.0, 1.0, 0.5, 0.5]
    # sklearn takes class labels, not floats: its index weights on codes 0, 1, 2
    codes = {0.0: 0, 0.5: 1, 1.0: 2}
    expected = cohen_kappa_score(
        [codes[x] for x in a], [codes[y] for y in b], labels=[0, 1, 2], weights="quadratic"
    )
    assert cohen_kappa(a, b, scale=(0, 0.5, 1), weights="quadratic") == pytest.approx(expected)


CORRELATIONS = [
    ("spearman", spearman, stats.spearmanr),
    ("kendall_tau_b", kendall_tau_b, stats.kendalltau),
    ("pearson", pearson, stats.pearsonr),
]


@pytest.mark.parametrize(("points", "missing", "seed"), CASES)
@pytest.mark.parametrize(("name", "ours", "reference"), CORRELATIONS)
def test_correlations_match_scipy(points, missing, seed, name, ours, reference):
    a, b = make_ratings(300, 2, points, missing, seed).T
    expected = reference(*paired(a, b)).statistic
    assert ours(a, b) == pytest.approx(expected)
    assert STATISTICS[name](a, b, SCALES[points]) == pytest.approx(expected, abs=1e-12)


def test_correlations_accept_continuous_scores():
    rng = np.random.default_rng(0)
    a = rng.normal(size=50)
    b = a + rng.normal(size=50)
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert kendall_tau_b(a, b) == pytest.approx(stats.kendalltau(a, b).statistic)
    assert pearson(a, b) == pytest.approx(stats.pearsonr(a, b).statistic)


@pytest.mark.parametrize(("points", "missing", "seed"), CASES)
def test_exact_and_within_one(points, missing, seed):
    a, b = make_ratings(300, 2, points, missing, seed).T
    x, y = paired(a, b)
    assert exact_agreement(a, b) == pytest.approx(np.mean(x == y))
    assert within_one_agreement(a, b) == pytest.approx(np.mean(np.abs(x - y) <= 1))
    assert within_one_agreement(a, b, tolerance=2) == pytest.approx(np.mean(np.abs(x - y) <= 2))
    assert STATISTICS["exact"](a, b, SCALES[points]) == pytest.approx(np.mean(x == y))
    assert STATISTICS["within_one"](a, b, SCALES[points]) == pytest.approx(
        np.mean(np.abs(x - y) <= 1)
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2, 3, 4, None]), st.sampled_from([1, 2, 3, 4, None])),
        min_size=0,
        max_size=30,
    )
)
def test_table_statistics_equal_scalar_functions(pairs):
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    scale = (1, 2, 3, 4)
    scalar: dict[str, Callable[[], float]] = {
        "kappa": lambda: cohen_kappa(a, b, scale=scale),
        "kappa_linear": lambda: cohen_kappa(a, b, scale=scale, weights="linear"),
        "kappa_quadratic": lambda: cohen_kappa(a, b, scale=scale, weights="quadratic"),
        "spearman": lambda: spearman(a, b),
        "kendall_tau_b": lambda: kendall_tau_b(a, b),
        "pearson": lambda: pearson(a, b),
        "exact": lambda: exact_agreement(a, b),
        "within_one": lambda: within_one_agreement(a, b),
    }
    assert set(scalar) == set(STATISTICS)
    for name, fn in scalar.items():
        assert STATISTICS[name](a, b, scale) == pytest.approx(fn(), abs=1e-12, nan_ok=True), name


# --------------------------------------------------------------------- references, many raters


@pytest.mark.parametrize(("points", "missing", "seed"), CASES)
@pytest.mark.parametrize("raters", [2, 3, 7])
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_krippendorff_matches_package(points, missing, seed, raters, level):
    ratings = make_ratings(120, raters, points, missing, seed)
    expected = krippendorff.alpha(ratings.T, level_of_measurement=level)
    assert krippendorff_alpha(ratings, level=level) == pytest.approx(expected)
    scaled = krippendorff_alpha(ratings, level=level, scale=SCALES[points])
    assert scaled == pytest.approx(expected)


def test_krippendorff_reference_example():
    # Krippendorff (2011), 4 observers x 12 units with missing data: nominal alpha = 0.743
    ratings = np.array(KRIPPENDORFF_EXAMPLE, dtype=float)
    assert krippendorff_alpha(ratings) == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(ratings, level="ordinal", scale=(1, 2, 3, 4, 5)) == pytest.approx(
        krippendorff.alpha(ratings.T, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5])
    )


def test_krippendorff_on_labels():
    ratings = np.array([["A", "B"], ["A", "A"], ["B", "B"], ["tie", None]], dtype=object)
    expected = krippendorff.alpha(
        np.array([[0, 1], [0, 0], [1, 1], [2, np.nan]], dtype=float).T,
        level_of_measurement="nominal",
    )
    assert krippendorff_alpha(ratings) == pytest.approx(expected)
    with pytest.raises(ValueError, match="nominal"):
        krippendorff_alpha(ratings, level="ordinal")


_ = None
KRIPPENDORFF_EXAMPLE = [  # units x observers; the same table is irrCAC's cac.raw4raters
    [1, 1, _, 1],
    [2, 2, 3, 2],
    [3, 3, 3, 3],
    [3, 3, 3, 3],
    [2, 2, 2, 2],
    [1, 2, 3, 4],
    [4, 4, 4, 4],
    [1, 1, 2, 1],
    [2, 2, 2, 2],
    [_, 5, 5, 5],
    [_, _, 1, 1],
    [_, _, 3, _],
]


def _fleiss_loop(ratings: np.ndarray, categories) -> float:
    """Fleiss' kappa in Gwet's generalisation (irrCAC ``fleiss()``) as plain loops."""
    rated = [[v for v in item if not np.isnan(v)] for item in ratings]
    rated = [r for r in rated if r]
    pa_terms, pi = [], [0.0] * len(categories)
    for r in rated:
        counts = [r.count(c) for c in categories]
        pi = [p + c / len(r) / len(rated) for p, c in zip(pi, counts, strict=True)]
        if len(r) >= 2:
            pa_terms.append(sum(c * (c - 1) for c in counts) / (len(r) * (len(r) - 1)))
    p_a = sum(pa_terms) / len(pa_terms)
    p_e = sum(p * p for p in pi)
    return (p_a - p_e) / (1 - p_e)


@pytest.mark.parametrize(("points", "missing", "seed"), CASES)
@pytest.mark.parametrize("raters", [2, 3, 10])
def test_fleiss_matches_loop_implementation(points, missing, seed, raters):
    ratings = make_ratings(80, raters, points, missing, seed)
    expected = _fleiss_loop(ratings, SCALES[points])
    assert fleiss_kappa(ratings, categories=SCALES[points]) == pytest.approx(expected)


@pytest.mark.parametrize(("points", "seed"), [(3, 1), (5, 2), (10, 3)])
def test_fleiss_matches_statsmodels_on_complete_data(points, seed):
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    ratings = make_ratings(100, 6, points, 0.0, seed)
    table, _ = inter_rater.aggregate_raters(ratings.astype(int), n_cat=None)
    expected = inter_rater.fleiss_kappa(table, method="fleiss")
    assert fleiss_kappa(ratings, categories=SCALES[points]) == pytest.approx(expected)


def test_fleiss_exact_value_with_missing_cell():
    # p_a = mean(1/3, 1, 0) = 4/9; π = mean of item shares (2/3, 0, 1/2, 1) = 13/24 for 1,
    # 11/24 for 2 -> p_e = 290/576; kappa = -17/143. irrCAC 0.4.4 CAC(...).fleiss() gives
    # -0.1188811189 (the pooled shares of the old code gave -5/27).
    ratings = [[1, 1, 2], [2, 2, 2], [1, 2, NAN], [1, NAN, NAN]]
    assert fleiss_kappa(ratings, categories=(1, 2)) == pytest.approx(-17 / 143)
    assert fleiss_kappa(ratings, categories=(1, 2)) == pytest.approx(-0.1188811189, abs=1e-10)


# Five raters with gaps (an item rated once counts in the chance term only). Reference values
# from irrCAC 0.4.4, which does not install beside this project's NumPy/pandas (it pins older
# ones), so they were computed once, outside the project environment, with
#   CAC(pd.DataFrame(FIVE_WITH_GAPS, dtype=float), categories=[1, 2, 3], digits=12)
# and .fleiss() / .gwet() ["est"]["coefficient_value"].
FIVE_WITH_GAPS = [
    [1, 2, 2, NAN, 1],
    [3, 3, 3, 3, NAN],
    [2, NAN, NAN, 2, 2],
    [1, 1, 2, 2, 3],
    [NAN, NAN, 3, NAN, NAN],
    [2, 2, NAN, 1, 2],
    [3, NAN, 3, 2, 3],
    [1, 1, 1, NAN, NAN],
]


def test_fleiss_and_gwet_match_irrcac_with_gaps():
    assert fleiss_kappa(FIVE_WITH_GAPS, categories=(1, 2, 3)) == pytest.approx(0.46640527736)
    assert gwet_ac1(FIVE_WITH_GAPS, categories=(1, 2, 3)) == pytest.approx(0.473904917423)


def test_fleiss_on_string_categories():
    ratings = np.array([["A", "A"], ["B", "B"], ["A", "tie"], [None, "B"]], dtype=object)
    codes = np.array([[0, 0], [1, 1], [0, 2], [NAN, 1]])
    expected = _fleiss_loop(codes, (0, 1, 2))
    assert fleiss_kappa(ratings, categories=("A", "B", "tie")) == pytest.approx(expected)


def _gwet_loop(ratings: np.ndarray, categories) -> float:
    """Gwet's AC1 (irrCAC gwet.ac1.raw, identity weights) as plain loops."""
    q = len(categories)
    pa_terms, pi = [], [0.0] * q
    rated = [[v for v in item if not np.isnan(v)] for item in ratings]
    rated = [r for r in rated if r]
    for r in rated:
        counts = [r.count(c) for c in categories]
        pi = [p + c / len(r) / len(rated) for p, c in zip(pi, counts, strict=True)]
        if len(r) >= 2:
            pa_terms.append(sum(c * (c - 1) for c in counts) / (len(r) * (len(r) - 1)))
    p_a = sum(pa_terms) / len(pa_terms)
    p_e = sum(p * (1 - p) for p in pi) / (q - 1)
    return (p_a - p_e) / (1 - p_e)


@pytest.mark.parametrize(("points", "missing", "seed"), CASES)
@pytest.mark.parametrize("raters", [2, 4, 10])
def test_gwet_matches_loop_implementation(points, missing, seed, raters):
    ratings = make_ratings(80, raters, points, missing, seed)
    expected = _gwet_loop(ratings, SCALES[points])
    assert gwet_ac1(ratings, categories=SCALES[points]) == pytest.approx(expected)


def test_gwet_reference_example():
    # irrCAC: gwet.ac1.raw(cac.raw4raters) = 0.7754
    ratings = np.array(KRIPPENDORFF_EXAMPLE, dtype=float)
    assert gwet_ac1(ratings, categories=(1, 2, 3, 4, 5)) == pytest.approx(0.7754, abs=5e-5)


def test_gwet_two_raters_closed_form():
    a, b = make_ratings(200, 2, 5, 0.0, 9).T
    pi = [(np.mean(a == k) + np.mean(b == k)) / 2 for k in SCALES[5]]
    p_e = sum(p * (1 - p) for p in pi) / 4
    expected = (np.mean(a == b) - p_e) / (1 - p_e)
    assert gwet_ac1(np.column_stack([a, b]), categories=SCALES[5]) == pytest.approx(expected)


def test_gwet_counts_unused_categories():
    ratings = [[1, 1], [2, 2], [1, 2], [2, 2]]
    assert gwet_ac1(ratings, categories=(1, 2)) != pytest.approx(
        gwet_ac1(ratings, categories=(1, 2, 3))
    )


SHROUT_FLEISS_TABLE_2 = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]


def _icc_anova(x: np.ndarray, kind: str) -> float:
    """Shrout & Fleiss (1979) Table 1 mean squares, summed term by term."""
    n, k = x.shape
    grand = sum(sum(row) for row in x) / (n * k)
    row_means = [sum(row) / k for row in x]
    col_means = [sum(x[i][j] for i in range(n)) / n for j in range(k)]
    bms = k * sum((m - grand) ** 2 for m in row_means) / (n - 1)
    jms = n * sum((m - grand) ** 2 for m in col_means) / (k - 1)
    ems = sum(
        (x[i][j] - row_means[i] - col_means[j] + grand) ** 2 for i in range(n) for j in range(k)
    ) / ((n - 1) * (k - 1))
    if kind == "3,1":
        return (bms - ems) / (bms + (k - 1) * ems)
    return (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)


def test_icc_shrout_fleiss_table_2():
    assert round(icc(SHROUT_FLEISS_TABLE_2, kind="2,1"), 2) == 0.29
    assert round(icc(SHROUT_FLEISS_TABLE_2, kind="3,1"), 2) == 0.71


@pytest.mark.parametrize(("points", "seed"), [(3, 1), (5, 2), (10, 3)])
@pytest.mark.parametrize("raters", [2, 5])
@pytest.mark.parametrize("kind", ["2,1", "3,1"])
def test_icc_matches_anova(points, seed, raters, kind):
    ratings = make_ratings(40, raters, points, 0.0, seed)
    assert icc(ratings, kind=kind) == pytest.approx(_icc_anova(ratings, kind))


def test_icc_when_items_do_not_differ():
    rows_alike = np.tile([0.1, 0.3, 0.7], (6, 1))  # float noise must not turn into a value
    assert icc(rows_alike) == pytest.approx(0.0, abs=1e-12)  # the rater term keeps it defined
    assert np.isnan(icc(rows_alike, kind="3,1"))
    assert np.isnan(icc(np.full((4, 3), 0.3)))  # every rating equal: 0/0 for both


def test_icc_drops_items_with_missing_cells():
    ratings = np.array(SHROUT_FLEISS_TABLE_2, dtype=float)
    with_gaps = np.vstack([ratings, [[1, NAN, 3, 4], [NAN, NAN, NAN, NAN]]])
    assert icc(with_gaps) == pytest.approx(icc(ratings))


# --------------------------------------------------------------------- invariants, all at once

SCALE5 = SCALES[5]


def _on_scale(stat: Callable[..., float]) -> Callable[[np.ndarray, np.ndarray], float]:
    return lambda a, b: stat(a, b, SCALE5)


def _as_two_columns(fn: Callable[[np.ndarray], float]) -> Callable[[np.ndarray, np.ndarray], float]:
    return lambda a, b: fn(np.column_stack([a, b]))


TWO_RATER: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "cohen_kappa": lambda a, b: cohen_kappa(a, b, scale=SCALE5),
    "cohen_kappa_linear": lambda a, b: cohen_kappa(a, b, scale=SCALE5, weights="linear"),
    "cohen_kappa_quadratic": lambda a, b: cohen_kappa(a, b, scale=SCALE5, weights="quadratic"),
    "spearman": spearman,
    "kendall_tau_b": kendall_tau_b,
    "pearson": pearson,
    "exact_agreement": exact_agreement,
    "within_one_agreement": within_one_agreement,
    **{f"STATISTICS[{k}]": _on_scale(stat) for k, stat in STATISTICS.items()},
}
MULTI_RATER: dict[str, Callable[[np.ndarray], float]] = {
    "fleiss_kappa": lambda r: fleiss_kappa(r, categories=SCALE5),
    "gwet_ac1": lambda r: gwet_ac1(r, categories=SCALE5),
    "alpha_nominal": lambda r: krippendorff_alpha(r, level="nominal", scale=SCALE5),
    "alpha_ordinal": lambda r: krippendorff_alpha(r, level="ordinal", scale=SCALE5),
    "alpha_interval": lambda r: krippendorff_alpha(r, level="interval"),
    "icc_2_1": lambda r: icc(r, kind="2,1"),
    "icc_3_1": lambda r: icc(r, kind="3,1"),
}
ALL = {
    **TWO_RATER,
    **{name: _as_two_columns(fn) for name, fn in MULTI_RATER.items()},
}
RATES = {"exact_agreement", "within_one_agreement", "STATISTICS[exact]", "STATISTICS[within_one]"}
CHANCE_CORRECTED = sorted(set(TWO_RATER) - RATES)


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    a, b = make_ratings(150, 2, 5, 0.1, 42).T
    return a, b


@pytest.mark.parametrize("name", sorted(ALL))
def test_symmetric(name, pair):
    a, b = pair
    assert ALL[name](a, b) == pytest.approx(ALL[name](b, a))


@pytest.mark.parametrize("name", sorted(ALL))
def test_perfect_agreement_is_one(name, pair):
    a, _ = pair
    assert ALL[name](a, a.copy()) == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(ALL))
def test_item_order_does_not_matter(name, pair):
    a, b = pair
    order = np.random.default_rng(7).permutation(len(a))
    assert ALL[name](a[order], b[order]) == pytest.approx(ALL[name](a, b))


@pytest.mark.parametrize("name", sorted(TWO_RATER))
def test_items_missing_a_rating_are_ignored(name, pair):
    a, b = pair
    extra_a = np.concatenate([a, [1, NAN, 5]])
    extra_b = np.concatenate([b, [NAN, 3, NAN]])
    assert TWO_RATER[name](extra_a, extra_b) == pytest.approx(TWO_RATER[name](a, b))


KAPPAS = sorted(n for n in CHANCE_CORRECTED if "kappa" in n and "kendall" not in n)
CORRELATIONS = sorted(set(CHANCE_CORRECTED) - set(KAPPAS))


@pytest.mark.parametrize("name", KAPPAS)
def test_constant_rater_kappa_is_zero_like_sklearn(name, pair):
    """(p_o − p_e)/(1 − p_e) with p_o = p_e: defined and 0 (issue 14; was nan)."""
    _, b = pair
    a = np.full_like(b, 3.0)
    weights = {"linear": "linear", "quadratic": "quadratic"}.get(name.rsplit("_", 1)[-1].strip("]"))
    x, y = paired(a, b)
    expected = cohen_kappa_score(x, y, labels=list(SCALE5), weights=weights)
    assert expected == 0.0
    assert TWO_RATER[name](a, b) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", KAPPAS)
def test_kappa_of_raters_constant_on_different_values_is_zero(name):
    a, b = np.full(6, 1.0), np.full(6, 4.0)
    assert cohen_kappa_score(a, b, labels=list(SCALE5)) == 0.0
    assert TWO_RATER[name](a, b) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", CORRELATIONS)
def test_constant_rater_correlation_is_nan(name, pair):
    _, b = pair
    assert np.isnan(TWO_RATER[name](np.full_like(b, 3.0), b))  # zero variance: 0/0


@pytest.mark.parametrize("name", sorted(ALL))
def test_single_category(name):
    a = np.full(20, 4.0)
    if name in RATES:
        assert ALL[name](a, a) == 1.0  # raw agreement is defined: nothing to correct for chance
    elif name == "gwet_ac1":
        assert ALL[name](a, a) == 1.0  # p_a = 1, p_e = 0
    else:
        assert np.isnan(ALL[name](a, a))  # kappa: p_o = p_e = 1; alpha: D_e = 0; r, ICC: 0/0


ONE_ITEM = {  # one item rated 2 by a and 5 by b: what each formula gives
    "fleiss_kappa": -1.0,  # p_a = 0, π = (1/2, 1/2): p_e = 1/2
    "gwet_ac1": -1 / 7,  # p_e = (1/4 + 1/4) / 4 = 1/8
    "alpha_nominal": 0.0,  # D_o = D_e (krippendorff gives 0.0, checked below)
    "alpha_ordinal": 0.0,
    "alpha_interval": 0.0,
    **{name: 0.0 for name in KAPPAS},  # p_o = p_e = 0
    **{name: 0.0 for name in RATES},
}


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("n_items", [0, 1])
def test_fewer_than_two_items(name, n_items):
    a, b = np.array([2.0, 4.0][:n_items]), np.array([5.0, 5.0][:n_items])
    value = ALL[name](a, b)
    if n_items == 1 and name in ONE_ITEM:
        assert value == pytest.approx(ONE_ITEM[name], abs=1e-12)
    else:
        assert np.isnan(value)  # no items: 0/0; one item: no variance (r, ICC)


def test_one_item_references():
    assert cohen_kappa_score([2], [5], labels=list(SCALE5)) == 0.0
    one = np.array([[2.0], [5.0]])
    for level in ("nominal", "ordinal", "interval"):
        assert krippendorff.alpha(one, level_of_measurement=level, value_domain=SCALE5) == 0.0


def test_gwet_ac1_all_agree_is_one():
    """irrCAC 0.4.4: CAC(pd.DataFrame([[3, 3], [3, 3], [3, 3]]), categories=[1..5]).gwet()
    and the same with gaps ([[3]*5, [3, 3, nan, 3, 3], [3, nan, nan, nan, 3]]) give 1.0;
    .fleiss() divides by zero on both (our nan)."""
    ratings = [[3, 3], [3, 3], [3, 3]]
    gaps = [[3, 3, 3, 3, 3], [3, 3, NAN, 3, 3], [3, NAN, NAN, NAN, 3]]
    for data in (ratings, gaps):
        assert gwet_ac1(data, categories=SCALE5) == 1.0
        assert np.isnan(fleiss_kappa(data, categories=SCALE5))


def _pingouin_icc(ratings: np.ndarray) -> tuple[float, float]:
    pg = pytest.importorskip("pingouin")
    pd = pytest.importorskip("pandas")
    n, k = ratings.shape
    long = pd.DataFrame(
        {
            "item": np.repeat(np.arange(n), k),
            "rater": np.tile(np.arange(k), n),
            "score": ratings.ravel(),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pingouin's own deprecation and 0/0 warnings
        table = pg.intraclass_corr(long, targets="item", raters="rater", ratings="score")
    icc_values = table.set_index("Type")["ICC"]
    return float(icc_values["ICC(A,1)"]), float(icc_values["ICC(C,1)"])


@pytest.mark.parametrize(
    "ratings",
    [
        [[1, 3], [1, 3], [1, 3], [1, 3]],  # two raters constant on different values
        [[1, 3, 2], [1, 3, 2], [1, 3, 2]],  # three
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    ],
)
def test_icc_matches_pingouin_on_degenerate_and_ordinary_data(ratings):
    data = np.array(ratings, dtype=float)
    icc2, icc3 = _pingouin_icc(data)
    assert icc(data, kind="2,1") == pytest.approx(icc2, nan_ok=True)
    assert icc(data, kind="3,1") == pytest.approx(icc3, nan_ok=True)


def test_icc_constant_raters_on_different_values():
    data = np.array([[1, 3], [1, 3], [1, 3]], dtype=float)
    assert icc(data, kind="2,1") == 0.0  # MSR = MSE = 0 < MSC
    assert np.isnan(icc(data, kind="3,1"))  # 0/0


def test_icc_two_by_two_with_equal_means_is_nan():
    # MSR = MSC = 0 < MSE: ICC(2,1)'s denominator MSR + MSE + 2(MSC − MSE)/2 is 0
    assert np.isnan(icc([[1, 2], [2, 1]], kind="2,1"))
    assert icc([[1, 2], [2, 1]], kind="3,1") == -1.0


@pytest.mark.parametrize("name", sorted(MULTI_RATER))
def test_multi_rater_perfect_agreement_with_many_raters(name):
    column = make_ratings(60, 1, 5, 0.0, 3)
    ratings = np.repeat(column, 6, axis=1)
    ratings[::7, 2] = np.nan
    assert MULTI_RATER[name](ratings) == pytest.approx(1.0)


# --------------------------------------------------------------------- exact values, docs


@pytest.mark.parametrize(
    "module", [agreement_data, bootstrap, correlation, kappa, table_stats, verdicts]
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 1
    assert result.failed == 0


def test_exact_values():
    a, b = [1, 2, 3, 3, 2], [1, 2, 3, 2, 2]
    # O: diag 1,2,1 + (3,2); rows (1,2,2), cols (1,3,1): p_o = 4/5, p_e = 9/25
    assert cohen_kappa(a, b, scale=(1, 2, 3)) == pytest.approx((4 / 5 - 9 / 25) / (1 - 9 / 25))
    assert cohen_kappa(a, b, scale=(1, 2, 3), weights="linear") == pytest.approx(14 / 19)
    assert exact_agreement([1, 2, None], [1, 3, 2]) == 0.5
    assert within_one_agreement([1, 5, 3], [2, 3, 3]) == pytest.approx(2 / 3)
    assert contingency_table([1, 2, 2], [2, 2, 1], scale=(2, 1)).tolist() == [
        [0.0, 1.0],
        [1.0, 1.0],
    ]


# --------------------------------------------------------------------- pairwise verdicts


@pytest.mark.parametrize(
    ("pred", "gold", "half", "exclude"),
    [
        (["A", "B"], ["A", "B"], 1.0, 1.0),
        (["A", "B"], ["B", "A"], 0.0, 0.0),
        (["tie", "tie"], ["tie", "A"], 0.75, NAN),
        (["A", "tie", "B", "A"], ["tie", "tie", "B", "B"], 0.625, 0.5),
    ],
)
def test_preference_accuracy(pred, gold, half, exclude):
    result = preference_accuracy(pred, gold)
    assert result.ties == "half"
    assert result.accuracy == pytest.approx(half)
    excluded = preference_accuracy(pred, gold, ties="exclude")
    assert excluded.ties == "exclude"
    assert excluded.accuracy == pytest.approx(exclude, nan_ok=True)
    assert excluded.n + excluded.n_dropped == len(pred)


def test_preference_accuracy_drops_missing_verdicts():
    result = preference_accuracy(["A", None, "B"], ["A", "B", None])
    assert result == PreferenceAccuracy(accuracy=1.0, ties="half", n=1, n_dropped=2)


def test_preference_labels_are_validated():
    with pytest.raises(ValueError, match="expected A, B or tie"):
        preference_accuracy(["A", "C"], ["A", "B"])
    with pytest.raises(ValueError, match="ties"):
        preference_accuracy(["A"], ["A"], ties="zero")  # type: ignore[arg-type]


def test_label_agreement():
    a, b = ["A", "B", "tie", "tie", None], ["A", "A", "tie", "B", "B"]
    assert label_agreement(a, b) == pytest.approx(2 / 4)
    assert label_agreement(a, b, include_ties=False) == pytest.approx(1 / 2)
    assert label_agreement(a, b) == pytest.approx(label_agreement(b, a))
    assert np.isnan(label_agreement(["tie"], ["tie"], include_ties=False))


# --------------------------------------------------------------------- matrix and bootstrap


def test_pairwise_matrix_matches_scalar_statistics():
    ratings = make_ratings(200, 4, 5, 0.1, 11)
    matrix = pairwise_matrix(ratings, "kappa_quadratic", scale=SCALE5)
    for p, q in itertools.product(range(4), repeat=2):
        expected = cohen_kappa(ratings[:, p], ratings[:, q], scale=SCALE5, weights="quadratic")
        assert matrix[p, q] == pytest.approx(expected)
    assert np.allclose(matrix, matrix.T)
    spearman_matrix = pairwise_matrix(ratings, STATISTICS["spearman"], scale=SCALE5)
    assert spearman_matrix[0, 3] == pytest.approx(spearman(ratings[:, 0], ratings[:, 3]))


def test_pairwise_matrix_rejects_unknown_statistic():
    with pytest.raises(ValueError, match="known"):
        pairwise_matrix([[1, 2]], "kappa_cubic", scale=SCALE5)


def test_bootstrap_is_seeded_and_brackets_the_estimate(pair):
    a, b = pair
    stat = STATISTICS["kappa_linear"]
    low, high = bootstrap_ci(stat, a, b, scale=SCALE5, seed=3)
    assert (low, high) == bootstrap_ci(stat, a, b, scale=SCALE5, seed=3)
    assert (low, high) != bootstrap_ci(stat, a, b, scale=SCALE5, seed=4)
    assert low < stat(a, b, SCALE5) < high


def test_bootstrap_table_shortcut_agrees_with_row_resampling(pair):
    a, b = pair
    fast = bootstrap_ci(STATISTICS["spearman"], a, b, scale=SCALE5, n_resamples=2000)
    slow = bootstrap_ci(lambda x, y: spearman(x, y), a, b, n_resamples=300)
    assert fast == pytest.approx(slow, abs=0.04)


def test_bootstrap_row_resampling_of_multi_rater_statistic():
    ratings = make_ratings(60, 3, 5, 0.05, 8)
    low, high = bootstrap_ci(fleiss_kappa, ratings, categories=SCALE5, n_resamples=200)
    assert low < fleiss_kappa(ratings, categories=SCALE5) < high


def test_bootstrap_ignores_nan_resamples():
    a = np.array([1.0] * 9 + [2.0])  # many resamples have a constant rater
    b = np.array([1.0] * 8 + [2.0, 2.0])
    low, high = bootstrap_ci(STATISTICS["kappa"], a, b, scale=(1, 2), n_resamples=500)
    assert -1 <= low <= high <= 1
    assert bootstrap_ci(STATISTICS["kappa"], a[:9], b[:9], scale=(1, 2)) != (low, high)
    assert all(np.isnan(bootstrap_ci(STATISTICS["kappa"], a[:8], b[:8], scale=(1, 2))))


def test_bootstrap_validates_inputs():
    with pytest.raises(ValueError, match="same length"):
        bootstrap_ci(exact_agreement, [1, 2], [1])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(exact_agreement, [1, 2], [1, 2], confidence=95)


# --------------------------------------------------------------------- input errors


def test_value_off_the_scale_is_an_error():
    with pytest.raises(ValueError, match=r"\[6\.0\] are not on the scale"):
        cohen_kappa([1, 6], [1, 2], scale=SCALE5)
    with pytest.raises(ValueError, match="not on the scale"):
        fleiss_kappa([[1, 2.5]], categories=SCALE5)


@pytest.mark.parametrize(
    "call",
    [
        lambda: cohen_kappa([1, 2], [1, 2, 3], scale=SCALE5),
        lambda: cohen_kappa([1, 2], [1, 2], scale=(1,)),
        lambda: cohen_kappa([1, 2], [1, 2], scale=(1, 1, 2)),
        lambda: cohen_kappa([1, 2], [1, 2], scale=SCALE5, weights="cubic"),  # type: ignore[arg-type]
        lambda: fleiss_kappa([1, 2, 3], categories=SCALE5),
        lambda: krippendorff_alpha([[1, 2]], level="ratio"),  # type: ignore[arg-type]
        lambda: icc([[1, 2]], kind="1,1"),  # type: ignore[arg-type]
        lambda: spearman([[1, 2]], [[1, 2]]),
    ],
)
def test_invalid_input_is_rejected(call):
    with pytest.raises(ValueError):
        call()
