"""``compare --ties judgebench``: a verdict file's accuracy under JudgeBench's vote sum."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ultrajudge.analysis.meta_eval.votes import vote_sum_accuracy
from ultrajudge.judge.io import DataError

if TYPE_CHECKING:
    from ultrajudge.analysis.compare_inputs import Aligned

__all__ = ["judgebench_accuracy"]


def judgebench_accuracy(al: Aligned, judge: str) -> dict[str, Any]:
    """``accuracy`` of ``judge`` against the one gold column under JudgeBench's convention
    (each order votes, correct when the votes sum to the gold side), over the items with a
    decisive gold label; the bootstrap interval is left blank (``nan``)."""
    if judge not in al.orders:
        raise DataError(
            f"--ties judgebench needs each order's verdict; {judge}'s file has no "
            "verdict_first/verdict_second columns (write it with ultrajudge pairwise)"
        )
    if len(al.humans) != 1:
        raise DataError(f"--ties judgebench needs exactly one --gold-col, got {len(al.humans)}")
    orders, gold = al.orders[judge], al.values[al.humans[0]]
    gold = gold.reindex(orders.index)
    decisive = gold.isin(["A", "B"])
    if not decisive.any():
        raise DataError("--ties judgebench needs gold labels A or B; the gold column has none")
    accuracy = vote_sum_accuracy(
        list(orders.verdict_first[decisive]),
        list(orders.verdict_second[decisive]),
        list(gold[decisive]),
    )
    nan = float("nan")
    return {
        "accuracy": accuracy,
        "accuracy_low": nan,
        "accuracy_high": nan,
        "n_human": int(decisive.sum()),
    }
