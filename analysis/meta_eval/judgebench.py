"""JudgeBench (Tan et al., ICLR 2025): response pairs with an objectively correct side.

Hub: ``ScalerLab/JudgeBench`` (splits ``gpt`` and ``claude``, by the model that wrote the
responses). Its rows: ``pair_id``, ``source`` (e.g. ``mmlu-pro-math``, ``livebench-reasoning``,
``livebench-math``, ``livecodebench``), ``question``, ``response_A``, ``response_B``,
``label`` (``A>B`` or ``B>A``). Groups are the paper's categories: knowledge (MMLU-Pro),
reasoning, math (LiveBench) and coding (LiveCodeBench); another source keeps its own name.

Suite metrics (the paper's): accuracy where each order votes and a pair is correct when the
votes sum to the right side (:mod:`.votes`), every pair in the denominator; inconsistency, the
share of pairs whose two orders (in the original labels) differ, over pairs where both orders
gave a verdict. Ours: the pair verdict (orders agree, else tie) scored ties-half over pairs
with a verdict, and the share of pairs with no verdict.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ultrajudge.analysis.meta_eval.suite import MetaResult, Suite, require_columns
from ultrajudge.analysis.meta_eval.tables import OVERALL, by_group, ties_half_accuracy
from ultrajudge.analysis.meta_eval.votes import inconsistent, vote_sum_accuracy
from ultrajudge.judge.io import DataError

__all__ = ["JUDGEBENCH", "category", "score_judgebench"]

_COLUMNS = ("question", "response_A", "response_B", "label", "source")
_LABELS = {"A>B": "A", "B>A": "B"}
_PREFIXES = (
    ("mmlu-pro", "knowledge"),
    ("livebench-reasoning", "reasoning"),
    ("livebench-math", "math"),
    ("livecodebench", "coding"),
)


def category(source: str) -> str:
    """The paper's category of a JudgeBench source.

    >>> category("mmlu-pro-biology"), category("livecodebench"), category("other")
    ('knowledge', 'coding', 'other')
    """
    return next((cat for prefix, cat in _PREFIXES if source.startswith(prefix)), source)


def _normalize(ds: Any) -> Any:
    require_columns(ds.column_names, _COLUMNS, "judgebench")

    def row(r: dict[str, Any], i: int) -> dict[str, Any]:
        if r["label"] not in _LABELS:
            raise DataError(f"judgebench: row {i + 1}: label {r['label']!r} must be 'A>B' or 'B>A'")
        return {
            "instruction": r["question"],
            "response_a": r["response_A"],
            "response_b": r["response_B"],
            "gold": _LABELS[r["label"]],
            "group": category(str(r["source"])),
        }

    return ds.map(row, with_indices=True, remove_columns=list(ds.column_names))


def _metrics(part: pd.DataFrame) -> dict[str, float]:
    both = part.verdict_first.notna() & part.verdict_second.notna()
    mixed = inconsistent(list(part.verdict_first), list(part.verdict_second))
    return {
        "suite: accuracy (votes sum)": vote_sum_accuracy(
            list(part.verdict_first), list(part.verdict_second), list(part.gold)
        ),
        "suite: inconsistency": float(mixed[both.to_numpy()].mean())
        if both.any()
        else float("nan"),
        "ours: accuracy (ties half)": ties_half_accuracy(part.verdict, part.gold),
        "ours: no verdict": float(part.verdict.isna().mean()),
    }


def score_judgebench(judged: pd.DataFrame) -> MetaResult:
    """The side-by-side table of judged JudgeBench rows (see the module docstring)."""
    table = by_group(judged, _metrics)
    last = table[table.group == OVERALL].iloc[0]
    return MetaResult(
        suite="judgebench",
        table=table,
        overall={
            "suite_accuracy": float(last["suite: accuracy (votes sum)"]),
            "ours_accuracy": float(last["ours: accuracy (ties half)"]),
        },
        conventions=(
            "suite accuracy: each order votes (+1 right side, -1 wrong side, 0 tie or failed); "
            "correct when the votes sum > 0; every pair counts",
            "suite inconsistency: the two orders' verdicts differ, over pairs where both gave one",
            "ours: orders agree -> that verdict, else tie; a tie scores 0.5; pairs with no "
            "verdict (a failed order) are left out and counted in 'no verdict'",
        ),
    )


JUDGEBENCH = Suite(
    name="judgebench",
    hub_id="ScalerLab/JudgeBench",
    split="gpt",
    layout="pairwise",
    description="JudgeBench: knowledge, reasoning, math and coding pairs with a correct side",
    normalize=_normalize,
    score=score_judgebench,
)
