"""Bias probes for judges: position bias, length preference and failure rates.

Inputs are plain arrays: pairwise verdicts are "A" (the first-shown answer wins), "B" (the
second wins) or "tie", with None for a failed judgment; lengths are character counts; statuses
are the rating status strings the judges record. Rates with nothing to count are nan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ultrajudge.analysis.agreement_data import missing as _missing
from ultrajudge.analysis.correlation import spearman
from ultrajudge.analysis.verdicts import labels as _labels
from ultrajudge.judge.types import INPUT_STATUSES

__all__ = [
    "NON_FAILURE_STATUSES",
    "FailureRates",
    "PositionBias",
    "failure_rates",
    "first_position_rate",
    "length_preference",
    "position_bias",
    "rating_length_correlation",
]

NON_FAILURE_STATUSES = ("ok", "na")
_NAN = float("nan")


def _mean(mask: npt.NDArray[np.bool_]) -> float:
    return float(mask.mean()) if len(mask) else _NAN


def first_position_rate(verdicts: npt.ArrayLike) -> float:
    """P(the first-shown answer wins): share of "A" among decisive ("A"/"B") verdicts.

    0.5 for a judge without position bias, whatever its tie rate; nan without decisive verdicts.

    >>> first_position_rate(["A", "A", "B", "tie", None])
    0.6666666666666666
    """
    v = _labels(verdicts, "verdicts")
    decisive = v[(v == "A") | (v == "B")]
    return _mean(decisive == "A")


@dataclass(frozen=True)
class PositionBias:
    """Verdicts on the same pairs judged in both orders.

    ``consistency``: share of pairs with the same underlying verdict in both orders.
    ``flip_rate``: share of pairs where both orders are decisive but pick the same *position*,
    so the winning answer flips with the order (``consistency + flip_rate ≤ 1``; the rest are
    pairs that are a tie in one order only). ``first_position_rate``: :func:`first_position_rate`
    over both orders. ``n``: pairs with a verdict in both orders.
    """

    consistency: float
    flip_rate: float
    first_position_rate: float
    n: int


def position_bias(verdicts_ab: npt.ArrayLike, verdicts_ba: npt.ArrayLike) -> PositionBias:
    """Position bias from pairs judged as (x, y) in ``verdicts_ab`` and as (y, x) in ``verdicts_ba``.

    Pairs missing a verdict in either order are dropped.

    >>> position_bias(["A", "A", "B", "tie"], ["B", "A", "A", "tie"])
    PositionBias(consistency=0.75, flip_rate=0.25, first_position_rate=0.6666666666666666, n=4)
    """
    ab, ba = _labels(verdicts_ab, "verdicts_ab"), _labels(verdicts_ba, "verdicts_ba")
    if ab.shape != ba.shape:
        raise ValueError(f"both orders must cover the same pairs; got {len(ab)} and {len(ba)}")
    keep = ~(_missing(ab) | _missing(ba))
    ab, ba = ab[keep], ba[keep]
    unswapped = np.where(ba == "A", "B", np.where(ba == "B", "A", ba))
    return PositionBias(
        consistency=_mean(ab == unswapped),
        flip_rate=_mean((ab != "tie") & (ab == ba)),
        first_position_rate=first_position_rate(np.concatenate([ab, ba])),
        n=len(ab),
    )


def length_preference(
    verdicts: npt.ArrayLike,
    len_a: npt.ArrayLike,
    len_b: npt.ArrayLike,
    *,
    min_char_diff: int = 30,
) -> float:
    """P(the judge prefers the longer answer), over pairs whose lengths differ clearly.

    Counts pairs with ``|len_a − len_b| > min_char_diff`` characters and a decisive verdict
    (ties and missing verdicts are left out); 0.5 means no length preference.

    >>> length_preference(["A", "B", "A", "tie"], [500, 500, 100, 900], [100, 120, 110, 100])
    0.5
    """
    v = _labels(verdicts, "verdicts")
    la, lb = np.asarray(len_a, dtype=np.float64), np.asarray(len_b, dtype=np.float64)
    if not v.shape == la.shape == lb.shape:
        raise ValueError(f"verdicts and lengths must align; got {len(v)}, {len(la)}, {len(lb)}")
    counted = (np.abs(la - lb) > min_char_diff) & ((v == "A") | (v == "B"))
    longer = np.where(la > lb, "A", "B")
    return _mean(v[counted] == longer[counted])


def rating_length_correlation(ratings: npt.ArrayLike, lengths: npt.ArrayLike) -> float:
    """Spearman correlation between pointwise ratings and answer lengths (missing ratings dropped).

    >>> rating_length_correlation([1, 2, 3, None], [10, 30, 20, 5])
    0.5
    """
    return spearman(ratings, lengths)


@dataclass(frozen=True)
class FailureRates:
    """Share of each status among ``n`` rating attempts, and the share that failed.

    A failure is any status other than "ok" and "na" (e.g. "parse_error", "out_of_range",
    "missing", "backend_error").
    """

    rates: dict[str, float]
    failure_rate: float
    n: int


def failure_rates(statuses: npt.ArrayLike) -> FailureRates:
    """Rate of every status and the overall failure rate; a None status counts as "missing".
    Completions that were never judged because the input was not a text
    (``invalid_input``) are not the judge's attempts: they count nowhere.

    >>> failure_rates(["ok", "ok", "parse_error", "na", "invalid_input"])
    FailureRates(rates={'na': 0.25, 'ok': 0.5, 'parse_error': 0.25}, failure_rate=0.25, n=4)
    """
    arr = np.asarray(statuses, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"statuses must be one-dimensional; got shape {arr.shape}")
    arr = arr[np.array([s not in INPUT_STATUSES for s in arr], dtype=bool)]
    labels = np.where(_missing(arr), "missing", arr).astype(str)
    names, counts = np.unique(labels, return_counts=True)
    n = len(arr)
    rates = {str(s): int(c) / n for s, c in zip(names, counts, strict=True)}
    failed = sum(r for s, r in rates.items() if s not in NON_FAILURE_STATUSES)
    return FailureRates(rates, float(failed) if n else _NAN, n)
