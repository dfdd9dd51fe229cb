"""The bootstrap: vectorised float statistics against SciPy, and the cluster (row) bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ultrajudge.analysis.bootstrap import FLOAT_STATISTICS, bootstrap_ci
from ultrajudge.analysis.table_stats import STATISTICS

pytestmark = pytest.mark.filterwarnings("error")

SCIPY = {
    "spearman": lambda x, y: stats.spearmanr(x, y).statistic,
    "kendall_tau_b": lambda x, y: stats.kendalltau(x, y).statistic,
    "pearson": lambda x, y: stats.pearsonr(x, y).statistic,
}


def _expanded(stat: str, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """The statistic on the items repeated as the weights say (SciPy), nan when constant."""
    xs, ys = np.repeat(x, w), np.repeat(y, w)
    if len(xs) < 2 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return float("nan")
    return float(SCIPY[stat](xs, ys))


values = st.sampled_from([1.0, 2.0, 2.5, 3.0, 4.75, 5.0])  # ties on purpose


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(FLOAT_STATISTICS)),
    st.lists(st.tuples(values, values), min_size=1, max_size=25),
    st.integers(0, 2**32 - 1),
)
def test_weighted_form_equals_scipy_on_the_resample(stat, items, seed):
    x, y = (np.array(v) for v in zip(*items))
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 4, size=(6, len(x)))
    got = FLOAT_STATISTICS[stat].weighted_fn(x, y, w)
    want = [_expanded(stat, x, y, row) for row in w]
    assert got == pytest.approx(want, abs=1e-9, nan_ok=True)


@pytest.mark.parametrize("stat", sorted(FLOAT_STATISTICS))
def test_vectorised_float_bootstrap_agrees_with_the_loop(stat):
    rng = np.random.default_rng(1)
    x = rng.normal(3, 1, 150)
    y = np.clip(np.rint(x + rng.normal(0, 1, 150)), 1, 5)
    x[::17] = np.nan
    fast = bootstrap_ci(FLOAT_STATISTICS[stat], x, y, n_resamples=2000)
    slow = bootstrap_ci(lambda a, b: FLOAT_STATISTICS[stat](a, b), x, y, n_resamples=400)
    assert fast == pytest.approx(slow, abs=0.04)
    assert fast == bootstrap_ci(FLOAT_STATISTICS[stat], x, y, n_resamples=2000)  # seeded


def _clustered(n_rows: int, per_row: int, seed: int) -> tuple[np.ndarray, ...]:
    """Judge vs human on rows of ``per_row`` completions; the judge's error is shared within a
    row (its mood for that prompt), so agreement is strongly correlated within rows."""
    rng = np.random.default_rng(seed)
    human = rng.integers(1, 6, size=(n_rows, per_row)).astype(float)
    mood = rng.choice([0.0, 2.0], size=(n_rows, 1))  # a whole row right, or a whole row off
    judge = np.clip(human + mood, 1, 5)
    rows = np.repeat(np.arange(n_rows), per_row)
    return judge.ravel(), human.ravel(), rows


def _clustered_floats(n_rows: int, per_row: int, seed: int) -> tuple[np.ndarray, ...]:
    """Logprob-style judge scores and human ratings that share each row's quality, the judge
    off by a mood per row: the correlation is carried by the rows, not the items."""
    rng = np.random.default_rng(seed)
    quality = rng.uniform(1.5, 4.5, size=(n_rows, 1))
    human = np.clip(np.rint(quality + rng.normal(0, 0.3, (n_rows, per_row))), 1, 5)
    judge = np.clip(
        quality + rng.normal(0, 1.0, (n_rows, 1)) + rng.normal(0, 0.2, human.shape), 1, 5
    )
    return judge.ravel(), human.ravel(), np.repeat(np.arange(n_rows), per_row)


@pytest.mark.parametrize("stat", ["exact", "kappa_quadratic", "pearson_float", "kendall_float"])
def test_cluster_intervals_are_wider_on_within_row_correlated_data(stat):
    judge, human, rows = _clustered(60, 5, seed=2)
    fn = STATISTICS.get(stat)
    kw = {"scale": (1, 2, 3, 4, 5)}
    if stat.endswith("_float"):
        judge, human, rows = _clustered_floats(60, 5, seed=2)
        fn, kw = (
            FLOAT_STATISTICS[stat.replace("_float", "").replace("kendall", "kendall_tau_b")],
            {},
        )
    low_i, high_i = bootstrap_ci(fn, judge, human, n_resamples=2000, **kw)
    low_c, high_c = bootstrap_ci(fn, judge, human, n_resamples=2000, clusters=rows, **kw)
    assert high_c - low_c > 1.6 * (high_i - low_i)  # about √5 for whole-row moods


@pytest.mark.parametrize("stat", ["exact", "kappa", "spearman_float"])
def test_one_item_per_row_gives_the_item_bootstrap(stat):
    """With one completion per row the two schemes are the same distribution: the interval
    endpoints over many seeds agree to Monte-Carlo error."""
    rng = np.random.default_rng(3)
    a = rng.integers(1, 6, 80).astype(float)
    b = np.clip(a + rng.integers(-1, 2, 80), 1, 5)
    fn = FLOAT_STATISTICS["spearman"] if stat == "spearman_float" else STATISTICS[stat]
    kw = {} if stat == "spearman_float" else {"scale": (1, 2, 3, 4, 5)}
    rows = [f"row{i}" for i in range(80)]
    by_item = np.array([bootstrap_ci(fn, a, b, seed=s, n_resamples=300, **kw) for s in range(30)])
    by_row = np.array(
        [bootstrap_ci(fn, a, b, seed=s, n_resamples=300, clusters=rows, **kw) for s in range(30)]
    )
    spread = by_item.std(axis=0).max()
    assert by_row.mean(axis=0) == pytest.approx(by_item.mean(axis=0), abs=3 * spread + 1e-3)
    assert stats.ks_2samp(by_item[:, 0], by_row[:, 0]).pvalue > 0.001


def test_cluster_bootstrap_of_a_generic_callable_draws_whole_rows():
    judge, human, rows = _clustered(40, 4, seed=5)
    share = lambda a, b: float(np.mean(a == b))  # noqa: E731
    low_i, high_i = bootstrap_ci(share, judge, human, n_resamples=400)
    low_c, high_c = bootstrap_ci(share, judge, human, n_resamples=400, clusters=rows)
    fast = bootstrap_ci(STATISTICS["exact"], judge, human, scale=range(1, 6), clusters=rows)
    assert high_c - low_c > 1.5 * (high_i - low_i)
    assert (low_c, high_c) == pytest.approx(fast, abs=0.05)


def test_rows_with_identical_items_have_no_between_row_variation():
    a, b = [1, 2, 3, 4, 5] * 20, [1, 2, 3, 5, 4] * 20
    rows = [i // 5 for i in range(100)]
    assert bootstrap_ci(STATISTICS["kappa"], a, b, scale=range(1, 6), clusters=rows) == (
        pytest.approx(0.5),
        pytest.approx(0.5),
    )


def test_clusters_must_label_every_item():
    with pytest.raises(ValueError, match="one label per item"):
        bootstrap_ci(STATISTICS["exact"], [1, 2], [1, 2], scale=(1, 2), clusters=[0])
