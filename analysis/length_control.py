"""Length-controlled win rate, AlpacaEval 2 style, for verdict files.

AlpacaEval 2 (Dubois et al., 2024, "Length-Controlled AlpacaEval") fits a logistic model
(a GLM) of the judge's preference on the length difference of the two outputs, standardised
and squashed, ``tanh((len_a − len_b) / std(len_a − len_b))``, plus model and instruction
terms, and reports the win rate predicted at zero length difference. What is implemented
here, for one verdict file (one pair of systems):

    P(a preferred) = σ(β₀ + β₁ · tanh(Δ / sd(Δ))),    LC win rate = σ(β₀)

with Δ = len_a − len_b in characters and sd the sample standard deviation (ddof=1) over the
pairs used. Differences from AlpacaEval: no instruction-difficulty term (one file has no
other systems to estimate it from) and no L2 penalty (AlpacaEval cross-validates one); the
fit is scikit-learn's unpenalised ``LogisticRegression``. A tie enters as half a win and half
a loss (two rows of weight 0.5, AlpacaEval's preference 1.5); pairs with no verdict are left
out. With a single distinct length difference the slope is not identified and the LC win rate
is the plain win rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["LengthControl", "length_controlled_win_rate"]


@dataclass(frozen=True)
class LengthControl:
    """``win_rate`` (ties half), ``lc_win_rate`` (at zero length difference), the fitted
    ``intercept`` and ``slope`` (of the tanh length term), and ``n`` pairs used."""

    win_rate: float
    lc_win_rate: float
    intercept: float
    slope: float
    n: int


def _targets(verdicts: npt.NDArray[np.object_]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows for the fit: (index into the pairs, outcome, weight); a tie gives two rows."""
    idx, y, w = [], [], []
    for i, v in enumerate(verdicts):
        if v in ("A", "B"):
            idx.append(i)
            y.append(float(v == "A"))
            w.append(1.0)
        elif v == "tie":
            idx += [i, i]
            y += [1.0, 0.0]
            w += [0.5, 0.5]
    return np.array(idx, dtype=int), np.array(y), np.array(w)


def length_controlled_win_rate(
    verdicts: npt.ArrayLike, len_a: npt.ArrayLike, len_b: npt.ArrayLike
) -> LengthControl:
    """The win rate of response a and its length-controlled version (module docstring).

    >>> lc = length_controlled_win_rate(
    ...     ["A"] * 4 + ["B"] + ["A", "B"], [200] * 5 + [100] * 2, [100] * 5 + [200] * 2
    ... )
    >>> round(lc.win_rate, 4), round(lc.lc_win_rate, 4)  # 5/7 raw; σ((ln 4 + ln 1) / 2) = 2/3
    (0.7143, 0.6667)
    """
    from sklearn.linear_model import LogisticRegression

    v = np.asarray(verdicts, dtype=object)
    la, lb = np.asarray(len_a, dtype=np.float64), np.asarray(len_b, dtype=np.float64)
    if not v.shape == la.shape == lb.shape:
        raise ValueError(f"verdicts and lengths must align; got {len(v)}, {len(la)}, {len(lb)}")
    known = ~(np.isnan(la) | np.isnan(lb))
    masked = v.copy()
    masked[~known] = None  # a pair without both lengths is left out
    idx, y, w = _targets(masked)
    n = len(set(idx.tolist()))
    nan = float("nan")
    if n == 0:
        return LengthControl(nan, nan, nan, nan, 0)
    win_rate = float(np.average(y, weights=w))
    delta = (la - lb)[idx]
    pairs_delta = (la - lb)[np.unique(idx)]
    sd = float(np.std(pairs_delta, ddof=1)) if n > 1 else 0.0
    if sd == 0 or len(np.unique(y)) < 2:  # slope not identified, or a one-sided record
        return LengthControl(win_rate, win_rate, _logit(win_rate), 0.0, n)
    x = np.tanh(delta / sd).reshape(-1, 1)
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)  # C=inf: no penalty
    model.fit(x, y, sample_weight=w)
    b0, b1 = float(model.intercept_[0]), float(model.coef_[0, 0])
    return LengthControl(win_rate, float(1 / (1 + np.exp(-b0))), b0, b1, n)


def _logit(p: float) -> float:
    with np.errstate(divide="ignore"):
        return float(np.log(p) - np.log1p(-p))
