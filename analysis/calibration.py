"""Calibrate a judge's scores to human ratings with a monotone map (isotonic regression).

A judge can rank well and still be off the humans' scale (everything one point high, the
middle of the scale squeezed). :func:`fit_calibration` fits scikit-learn's
``IsotonicRegression`` from judge scores (in logprob mode the expected score, a float) to
human ratings on a labelled split, clipped to the scale, and measures agreement *before*
(raw scores) and *after* with cross-validated predictions: every item is predicted by a map
fitted on the other folds (``KFold``, shuffled with ``seed``), so "after" is not measured on
the data that made the map. The map that is saved and applied is fitted on all items.
A score outside the fitted range maps to the nearest end (``out_of_bounds="clip"``).

Agreement is reported as mean absolute error, Pearson r, Spearman ρ, and exact agreement and
quadratic-weighted kappa on the scale (calibrated values rounded to the nearest scale value).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ultrajudge.analysis.agreement import STATISTICS, pearson, spearman

__all__ = ["CalibrationMap", "CalibrationResult", "agreement_figures", "fit_calibration"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CalibrationMap:
    """The fitted monotone map: piecewise linear through (``x``, ``y``), clipped at the ends."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    scale: tuple[int, ...]

    def __call__(self, scores: npt.ArrayLike) -> FloatArray:
        """Calibrated values (nan stays nan).

        >>> CalibrationMap((1.0, 2.0, 3.0), (1.0, 2.5, 2.5), (1, 2, 3))([0, 1.5, 3, 9]).tolist()
        [1.0, 1.75, 2.5, 2.5]
        """
        s = np.asarray(scores, dtype=np.float64)
        return np.where(np.isnan(s), np.nan, np.interp(s, self.x, self.y))

    def to_json(self) -> str:
        return json.dumps({"x": list(self.x), "y": list(self.y), "scale": list(self.scale)})

    @classmethod
    def from_json(cls, text: str) -> CalibrationMap:
        d = json.loads(text)
        if not (
            isinstance(d, dict) and {"x", "y", "scale"} <= set(d) and len(d["x"]) == len(d["y"])
        ):
            raise ValueError("not a calibration map: expected JSON with x, y (same length), scale")
        return cls(tuple(map(float, d["x"])), tuple(map(float, d["y"])), tuple(d["scale"]))


@dataclass(frozen=True)
class CalibrationResult:
    """The map fitted on all items, agreement before/after (cross-validated), the items."""

    map: CalibrationMap
    before: dict[str, float]
    after: dict[str, float]
    folds: int
    scores: FloatArray
    human: FloatArray
    cross_validated: FloatArray


def agreement_figures(
    values: npt.ArrayLike, human: npt.ArrayLike, scale: Sequence[int]
) -> dict[str, float]:
    """MAE, Pearson, Spearman, exact agreement and quadratic kappa (rounded values) vs humans.

    >>> agreement_figures([1, 2, 3], [1, 2, 2], (1, 2, 3))["mae"]
    0.3333333333333333
    """
    x, y = np.asarray(values, dtype=np.float64), np.asarray(human, dtype=np.float64)
    snapped = np.clip(np.rint(x), scale[0], scale[-1])
    return {
        "mae": float(np.mean(np.abs(x - y))),
        "pearson": pearson(x, y),
        "spearman": spearman(x, y),
        "exact": float(np.mean(snapped == y)),
        "kappa_quadratic": STATISTICS["kappa_quadratic"](snapped, y, scale),
    }


def _isotonic(scale: Sequence[int]) -> Any:
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=scale[0], y_max=scale[-1], out_of_bounds="clip")


def fit_calibration(
    scores: npt.ArrayLike,
    human: npt.ArrayLike,
    *,
    scale: Sequence[int],
    folds: int = 5,
    seed: int = 0,
) -> CalibrationResult:
    """Fit the map on items where both are present; cross-validate with ``folds`` folds.

    >>> r = fit_calibration([1, 2, 3, 4], [1, 3, 2, 4], scale=(1, 2, 3, 4), folds=4)
    >>> r.map([1, 2, 3, 4]).tolist(), r.cross_validated.tolist()
    ([1.0, 2.5, 2.5, 4.0], [2.5, 1.5, 3.5, 2.5])
    """
    from sklearn.model_selection import KFold

    x, y = np.asarray(scores, dtype=np.float64), np.asarray(human, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"scores and human ratings must align; got {len(x)} and {len(y)}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if not 2 <= folds <= len(x):
        raise ValueError(
            f"need 2 <= folds <= items with both a score and a human rating ({len(x)}); got {folds}"
        )
    predicted = np.empty_like(x)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(x):
        predicted[test] = _isotonic(scale).fit(x[train], y[train]).predict(x[test])
    full = _isotonic(scale).fit(x, y)
    fitted = CalibrationMap(
        tuple(float(v) for v in full.X_thresholds_),
        tuple(float(v) for v in full.y_thresholds_),
        tuple(int(v) for v in scale),
    )
    return CalibrationResult(
        map=fitted,
        before=agreement_figures(x, y, scale),
        after=agreement_figures(predicted, y, scale),
        folds=folds,
        scores=x,
        human=y,
        cross_validated=predicted,
    )
