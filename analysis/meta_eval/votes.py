"""JudgeBench's convention for a pair judged in both orders: each order votes.

JudgeBench (Tan et al., ICLR 2025; ``utils/metrics.py`` of ScalerLab/JudgeBench) asks the
judge once per order, maps both decisions back to the original labels and adds the votes:
a vote for the right response counts +1, a vote for the wrong one −1, a tie (or a failed
order) 0. The pair is correct when the sum is positive. So one order right and the other
saying tie is correct, one right and one wrong is not (the sum is 0), and a failed order
costs the pair its vote but stays in the denominator.

ultrajudge's own pair verdict (``ultrajudge.judge.pairwise.combine``) is stricter about
consistency: the orders must agree or the pair is a tie, and a tie against gold scores half
(``compare --ties half``). The two conventions give different numbers on the same
judgments; both are stated wherever they are printed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ultrajudge.judge.errors import ConfigError

__all__ = ["inconsistent", "vote_correct", "vote_sum_accuracy"]

_VOTE = {"A": 1, "B": -1}


def _vote(verdict: object, gold: object) -> int:
    """+1 for a vote for ``gold``, −1 for one against it, 0 for a tie or nothing."""
    if verdict not in _VOTE or gold not in _VOTE:
        return 0
    return 1 if verdict == gold else -1


def vote_correct(first: object, second: object, gold: object) -> bool:
    """Whether the two orders' verdicts (original labels) sum to ``gold`` ("A" or "B").

    >>> vote_correct("A", "A", "A"), vote_correct("A", "tie", "A"), vote_correct("A", "B", "A")
    (True, True, False)
    >>> vote_correct(None, "A", "A"), vote_correct("tie", "tie", "A")
    (True, False)
    """
    if gold not in _VOTE:
        raise ConfigError(f"JudgeBench's gold label is A or B, got {gold!r}")
    return _vote(first, gold) + _vote(second, gold) > 0


def vote_sum_accuracy(
    first: Sequence[object], second: Sequence[object], gold: Sequence[object]
) -> float:
    """Share of pairs whose two votes sum to the gold side (every pair counts); nan for none.

    >>> vote_sum_accuracy(["A", "A", "B", None], ["tie", "B", "B", None], ["A", "A", "B", "A"])
    0.5
    """
    if not len(first) == len(second) == len(gold):
        raise ConfigError(
            f"first, second and gold must align; got {len(first)}, {len(second)}, {len(gold)}"
        )
    hits = [vote_correct(f, s, g) for f, s, g in zip(first, second, gold)]
    return float(np.mean(hits)) if hits else float("nan")


def inconsistent(first: Sequence[object], second: Sequence[object]) -> npt.NDArray[np.bool_]:
    """Per pair: both orders gave a verdict and they differ (nan-free; a failed order is
    neither consistent nor inconsistent, so it is False here — count failures apart).

    >>> inconsistent(["A", "A", None], ["A", "tie", "B"]).tolist()
    [False, True, False]
    """
    labels = ("A", "B", "tie")
    return np.array(
        [f in labels and s in labels and f != s for f, s in zip(first, second)], dtype=bool
    )
