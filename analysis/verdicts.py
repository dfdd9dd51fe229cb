"""Pairwise verdicts ("A", "B", "tie"): accuracy against gold labels, agreement of two judges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ultrajudge.analysis.agreement_data import NAN, missing

__all__ = [
    "PREFERENCE_LABELS",
    "PreferenceAccuracy",
    "TieRule",
    "label_agreement",
    "preference_accuracy",
]

PREFERENCE_LABELS = ("A", "B", "tie")
TieRule = Literal["half", "exclude"]


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


def labels(x: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}")
    present = arr[~missing(arr)]
    unknown = set(present.tolist()) - set(PREFERENCE_LABELS)
    if unknown:
        raise ValueError(f"{name} has labels {sorted(map(str, unknown))}; expected A, B or tie")
    return arr


def _label_pair(pred: npt.ArrayLike, gold: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, int]:
    p, g = labels(pred, "pred"), labels(gold, "gold")
    if p.shape != g.shape:
        raise ValueError(f"pred and gold must label the same items; got {len(p)} and {len(g)}")
    keep = ~(missing(p) | missing(g))
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
    accuracy = float(scores.mean()) if len(scores) else NAN
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
    return float(np.mean(x == y)) if len(x) else NAN
