"""Per-group tables: a metric function applied to each group's rows and to all of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

__all__ = ["OVERALL", "by_group", "ties_half_accuracy"]

OVERALL = "overall"


def by_group(
    frame: pd.DataFrame, metrics: Callable[[pd.DataFrame], Mapping[str, float]]
) -> pd.DataFrame:
    """One row per ``group`` (sorted) and a last ``overall`` row: ``group``, ``n``, metrics."""
    rows = []
    parts = [(str(g), part) for g, part in frame.groupby("group", sort=True)]
    for name, part in [*parts, (OVERALL, frame)]:
        rows.append({"group": name, "n": len(part), **metrics(part)})
    return pd.DataFrame(rows)


def ties_half_accuracy(verdicts: pd.Series, gold: pd.Series) -> float:
    """ultrajudge's pair accuracy (``compare --ties half``) over pairs with a verdict: equal
    scores 1, a tie on either side against a decisive label 0.5, A against B 0.

    >>> ties_half_accuracy(pd.Series(["A", "tie", "B", None]), pd.Series(["A", "A", "A", "A"]))
    0.5
    """
    judged = verdicts.notna()
    v, g = verdicts[judged].to_numpy(), gold[judged].to_numpy()
    if not len(v):
        return float("nan")
    score = np.where(v == g, 1.0, np.where((v == "tie") | (g == "tie"), 0.5, 0.0))
    return float(score.mean())
