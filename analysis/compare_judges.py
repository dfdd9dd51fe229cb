"""A judge's own numbers in a comparison: ratings, failures, length and position bias, and
runs across seeds (tokens, seconds and cost: :mod:`ultrajudge.analysis.compare_usage`)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ultrajudge.analysis.bias import (
    failure_rates,
    length_preference,
    position_bias,
    rating_length_correlation,
)
from ultrajudge.analysis.compare_inputs import Aligned
from ultrajudge.analysis.length_control import length_controlled_win_rate

__all__ = [
    "pairwise_judge",
    "pointwise_judge",
    "positional_verdicts",
    "run_group",
    "within_row_verdicts",
]

_NAN = float("nan")


def within_row_verdicts(values: pd.Series, lengths: pd.Series) -> pd.DataFrame:
    """Every pair of completions of a row as a verdict: "A" when the first-listed completion
    got the higher rating, "B" the lower, "tie" equal, None when either is missing; with both
    lengths (``len_a``, ``len_b``)."""
    items = pd.DataFrame({"value": values, "length": lengths}).reset_index()
    pairs = items.merge(items, on="row", suffixes=("_a", "_b"))
    pairs = pairs[pairs.completion_a < pairs.completion_b]
    a, b = pairs.value_a.to_numpy(), pairs.value_b.to_numpy()
    verdict = np.select([a > b, a < b, a == b], ["A", "B", "tie"], default="")
    return pd.DataFrame(
        {
            "verdict": np.array([v or None for v in verdict.tolist()], dtype=object),
            "len_a": pairs.length_a.to_numpy(),
            "len_b": pairs.length_b.to_numpy(),
        }
    )


def pointwise_judge(al: Aligned, judge: str, *, min_char_diff: int) -> dict[str, Any]:
    """Items, mean rating, offset from the humans, length preference and failure rate.

    ``bias`` is the mean of (judge − human) over the items both rated (the mean over human
    columns); ``p_prefer_longer`` reads each pair of completions of a row as a verdict (see
    :func:`within_row_verdicts`) and applies :func:`ultrajudge.analysis.bias.length_preference`.
    """
    x = al.values[judge]
    offsets = [float((x - al.values[h]).mean()) for h in al.humans]
    row = {
        "judge": judge,
        "n_items": len(al.statuses[judge]),
        "n_rated": int(x.notna().sum()),
        "mean_rating": float(x.mean()),
        "bias": float(np.mean(offsets)) if offsets else _NAN,
        "rating_length_spearman": _NAN,
        "p_prefer_longer": _NAN,
        "failure_rate": failure_rates(al.statuses[judge].to_numpy()).failure_rate,
    }
    if "length" in al.lengths:
        length = al.lengths["length"].reindex(x.index)
        row["rating_length_spearman"] = rating_length_correlation(x, length)
        pairs = within_row_verdicts(x, length)
        row["p_prefer_longer"] = length_preference(
            pairs.verdict, pairs.len_a, pairs.len_b, min_char_diff=min_char_diff
        )
    return row


def positional_verdicts(orders: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each judging's verdict in shown-position labels (A = shown first), from the
    ``verdict_first``/``verdict_second``/``first_position`` columns of a verdict file: the
    first judging showed ``first_position`` first, the second judging the other response."""
    other = {"A": "B", "B": "A"}
    shown = orders.first_position.tolist()
    first = [_to_position(v, s) for v, s in zip(orders.verdict_first, shown)]
    second = [_to_position(v, other.get(s)) for v, s in zip(orders.verdict_second, shown)]
    return np.array(first, dtype=object), np.array(second, dtype=object)


def _to_position(verdict: Any, shown_first: str | None) -> str | None:
    if verdict in ("A", "B") and shown_first in ("A", "B"):
        return "A" if verdict == shown_first else "B"
    return "tie" if verdict == "tie" else None


def pairwise_judge(al: Aligned, judge: str, *, min_char_diff: int) -> dict[str, Any]:
    """Verdict shares, position bias (both orders), length preference and failure rate."""
    v = al.values[judge]
    decided = v.dropna()
    row: dict[str, Any] = {"judge": judge, "n_items": len(al.statuses[judge])}
    row["n_rated"] = len(decided)
    for label in ("A", "B", "tie"):
        row[f"p_{label.lower()}"] = float((decided == label).mean()) if len(decided) else _NAN
    row.update(position_consistency=_NAN, flip_rate=_NAN, p_first_position=_NAN, n_both_orders=0)
    if judge in al.orders:
        bias = position_bias(*positional_verdicts(al.orders[judge]))
        row.update(
            position_consistency=bias.consistency,
            flip_rate=bias.flip_rate,
            p_first_position=bias.first_position_rate,
            n_both_orders=bias.n,
        )
    row.update(p_prefer_longer=_NAN, win_rate_a=_NAN, lc_win_rate_a=_NAN)
    if "len_a" in al.lengths:
        lengths = al.lengths.reindex(v.index)
        row["p_prefer_longer"] = length_preference(
            v.to_numpy(), lengths.len_a, lengths.len_b, min_char_diff=min_char_diff
        )
        lc = length_controlled_win_rate(v.to_numpy(), lengths.len_a, lengths.len_b)
        row.update(win_rate_a=lc.win_rate, lc_win_rate_a=lc.lc_win_rate)
    row["failure_rate"] = failure_rates(al.statuses[judge].to_numpy()).failure_rate
    return row


def run_group(judge_id: str | None) -> str | None:
    """Runs of one judge share their judge id up to the sampling seed.

    >>> run_group("m | ultrafeedback/overall@1 | generate | t=0.7,top_p=1.0,seed=3")
    'm | ultrafeedback/overall@1 | generate | t=0.7,top_p=1.0'
    """
    return re.sub(r",?\s*seed=\d+", "", judge_id) if judge_id else None
