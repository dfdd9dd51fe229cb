"""Agreement between every pair of raters of a comparison: matrices, n, bootstrap intervals.

Every pointwise statistic of :data:`ultrajudge.analysis.agreement.STATISTICS` and every pairwise one of
:data:`PAIRWISE_STATISTICS` is a function of a pair's K×K contingency table, so one call to
``contingency_tables`` serves all pairs and a bootstrap resample costs O(K²)
(:func:`ultrajudge.analysis.agreement.bootstrap_ci`). Pairwise verdicts are coded A = 1, tie = 2, B = 3.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ultrajudge.analysis.agreement import (
    FLOAT_STATISTICS,
    STATISTICS,
    TableStatistic,
    bootstrap_ci,
    contingency_tables,
    krippendorff_alpha,
)
from ultrajudge.judge.io import DataError

__all__ = [
    "LABEL_CODES",
    "LABEL_SCALE",
    "PAIRWISE_STATISTICS",
    "Agreement",
    "Resampling",
    "agreement",
    "alphas",
    "label_codes",
    "snap_to_scale",
]

FloatArray = npt.NDArray[np.float64]
LABEL_CODES = MappingProxyType({"A": 1.0, "tie": 2.0, "B": 3.0})
LABEL_SCALE = (1.0, 2.0, 3.0)
_TIES_HALF = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.5], [0.0, 0.5, 1.0]])


def _share(numerator: FloatArray, n: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, numerator / n, np.nan)


def _no_ties_tables(tables: FloatArray, values: FloatArray) -> FloatArray:
    """Agreement over the items where neither side says tie (the A/B corners of the table)."""
    corners = tables[..., ::2, ::2]
    return _share(corners[..., 0, 0] + corners[..., 1, 1], corners.sum(axis=(-2, -1)))


def _ties_half_tables(tables: FloatArray, values: FloatArray) -> FloatArray:
    """Equal verdicts score 1, a tie against A or B scores 0.5, A against B scores 0."""
    return _share((tables * _TIES_HALF).sum(axis=(-2, -1)), tables.sum(axis=(-2, -1)))


PAIRWISE_STATISTICS: MappingProxyType[str, TableStatistic] = MappingProxyType(
    {
        "agreement": TableStatistic("agreement", STATISTICS["exact"].table_fn),
        "agreement_no_ties": TableStatistic("agreement_no_ties", _no_ties_tables),
        "agreement_ties_half": TableStatistic("agreement_ties_half", _ties_half_tables),
        "kappa": TableStatistic("kappa", STATISTICS["kappa"].table_fn),
    }
)
"""Agreement of two raters' verdicts (on :data:`LABEL_SCALE` codes), symmetric in the raters.

``agreement`` counts a tie as a third label (``label_agreement``); ``agreement_no_ties`` drops
items where either side says tie (``label_agreement(include_ties=False)``, and
``preference_accuracy(ties="exclude")`` against gold); ``agreement_ties_half`` is
``preference_accuracy(ties="half")``; ``kappa`` is Cohen's kappa over the three labels.
"""


def label_codes(values: pd.DataFrame) -> FloatArray:
    """Items × raters codes of verdict labels; nan where a verdict is missing."""
    return values.apply(lambda col: col.map(LABEL_CODES.get)).to_numpy(dtype=np.float64)


def snap_to_scale(
    raw: FloatArray, raters: Sequence[str], scale: Sequence[float]
) -> tuple[FloatArray, list[str]]:
    """Ratings on the scale, and the raters whose ratings had to be rounded to it.

    A rating between scale values moves to the nearest one (the lower on a tie); a rating
    outside the scale's range is an error, never clipped.
    """
    values = np.sort(np.asarray(scale, dtype=np.float64))
    present = ~np.isnan(raw)
    outside = present & ((raw < values[0]) | (raw > values[-1]))
    if outside.any():
        col = int(np.nonzero(outside.any(axis=0))[0][0])
        raise DataError(
            f"{raters[col]} has rating {raw[outside[:, col], col][0]:g}, outside the scale "
            f"{values.tolist()}; pass the scale the ratings were given on (e.g. --scale 1-10)"
        )
    nearest = values[np.abs(np.nan_to_num(raw)[..., None] - values).argmin(axis=-1)]
    snapped = np.where(present, nearest, np.nan)
    changed = ((snapped != raw) & present).any(axis=0)
    return snapped, [r for r, moved in zip(raters, changed) if moved]


@dataclass(frozen=True)
class Resampling:
    """Percentile bootstrap settings; ``n_resamples=0`` skips the intervals. ``clusters`` (one
    label per item, e.g. the row) makes a resample draw whole clusters; None draws items."""

    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    clusters: np.ndarray | None = None


@dataclass(frozen=True)
class Agreement:
    """Rater × rater frames: ``matrix[stat]`` with its ``low``/``high`` interval, and ``n``."""

    matrix: dict[str, pd.DataFrame]
    low: dict[str, pd.DataFrame]
    high: dict[str, pd.DataFrame]
    n: pd.DataFrame

    def pairs(self) -> pd.DataFrame:
        """One row per pair of raters (in rater order): n, then each statistic, low, high."""
        raters = list(self.n.index)
        rows = []
        for a, b in itertools.combinations(raters, 2):
            row: dict[str, Any] = {"rater_a": a, "rater_b": b, "n": int(self.n.loc[a, b])}
            for name in self.matrix:
                row[name] = float(self.matrix[name].loc[a, b])
                row[f"{name}_low"] = float(self.low[name].loc[a, b])
                row[f"{name}_high"] = float(self.high[name].loc[a, b])
            rows.append(row)
        columns = ["rater_a", "rater_b", "n"]
        columns += [f"{s}{end}" for s in self.matrix for end in ("", "_low", "_high")]
        return pd.DataFrame(rows, columns=columns)


def agreement(
    coded: FloatArray,
    raters: Sequence[str],
    stats: Mapping[str, TableStatistic],
    *,
    scale: Sequence[float],
    resampling: Resampling,
    raw: FloatArray | None = None,
    float_raters: frozenset[str] = frozenset(),
) -> Agreement:
    """Every statistic for every pair of columns of ``coded`` (items × raters on ``scale``).

    Correlations of a pair involving one of ``float_raters`` use the unrounded ``raw`` values
    (:data:`~ultrajudge.analysis.bootstrap.FLOAT_STATISTICS`, bootstrapped vectorised too). Items missing either rating are left out of a pair; the matrices
    are exactly symmetric.
    """
    tables = contingency_tables(coded, scale=scale)
    values = {name: stat.on_tables(tables, scale=scale) for name, stat in stats.items()}
    low = {name: np.full_like(v, np.nan) for name, v in values.items()}
    high = {name: np.full_like(v, np.nan) for name, v in values.items()}
    n = tables.sum(axis=(-2, -1))
    for i, j in itertools.combinations_with_replacement(range(len(raters)), 2):
        use_raw = raw is not None and bool({raters[i], raters[j]} & float_raters)
        for name, stat in stats.items():
            fn: Any = stat
            args, kw = (coded[:, i], coded[:, j]), {"scale": scale}
            if use_raw and name in FLOAT_STATISTICS:
                fn, args, kw = FLOAT_STATISTICS[name], (raw[:, i], raw[:, j]), {}  # type: ignore[index]
                values[name][i, j] = fn(*args)
            values[name][j, i] = values[name][i, j]
            if i != j and resampling.n_resamples and n[i, j] >= 2:
                ci = bootstrap_ci(
                    fn, *args, n_resamples=resampling.n_resamples,
                    confidence=resampling.confidence, seed=resampling.seed,
                    clusters=resampling.clusters, **kw,
                )  # fmt: skip
                for bound, value in zip((low[name], high[name]), ci):
                    bound[i, j] = bound[j, i] = value

    def frame(m: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(m, index=pd.Index(list(raters), name="rater"), columns=list(raters))

    return Agreement(
        {k: frame(v) for k, v in values.items()},
        {k: frame(v) for k, v in low.items()},
        {k: frame(v) for k, v in high.items()},
        frame(n.astype(int)),
    )


def alphas(
    coded: FloatArray,
    raters: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    *,
    level: Any,
    scale: Sequence[float],
) -> dict[str, float]:
    """Krippendorff's alpha of each group of raters (nan for fewer than two raters)."""
    out = {}
    for label, members in groups.items():
        cols = [list(raters).index(m) for m in members]
        value = float("nan")
        if len(cols) > 1:
            value = krippendorff_alpha(coded[:, cols], level=level, scale=scale)
        out[f"krippendorff_alpha_{label}"] = value
    return out
