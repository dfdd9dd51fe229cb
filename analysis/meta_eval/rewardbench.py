"""RewardBench v1 (Lambert et al., 2024): chosen/rejected pairs in 23 subsets, 4 sections.

Hub: ``allenai/reward-bench``, split ``filtered``; rows ``prompt``, ``chosen``, ``rejected``,
``subset`` (and ``id``, ``chosen_model``, ...). Each pair is judged in both orders with the
chosen response as "a".

Suite metrics (RewardBench's leaderboard, ``rewardbench/constants.py``): accuracy per subset;
a section's score is the mean of its subsets' accuracies weighted by the subsets' published
example counts (:data:`EXAMPLE_COUNTS`, where math-prm is counted 984 times instead of 447 so
that math weighs as much as the six code subsets together); the score is the unweighted mean
of the sections (Chat, Chat Hard, Safety, Reasoning; the optional Prior Sets are not part of
it). A subset the file lacks is left out of its section's weights. Per pair: chosen wins 1,
tie 0.5, rejected wins 0, no verdict 0 (every pair counts). Ours: ties-half over pairs with a
verdict (failures left out).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ultrajudge.analysis.meta_eval.suite import MetaResult, Suite, require_columns
from ultrajudge.analysis.meta_eval.tables import OVERALL, by_group, ties_half_accuracy

__all__ = ["EXAMPLE_COUNTS", "REWARDBENCH", "SECTIONS", "score_rewardbench", "section_scores"]

SECTIONS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "Chat": ("alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy",
                 "mt-bench-med"),
        "Chat Hard": ("mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor",
                      "llmbar-adver-GPTInst", "llmbar-adver-GPTOut", "llmbar-adver-manual"),
        "Safety": ("refusals-dangerous", "refusals-offensive", "xstest-should-refuse",
                   "xstest-should-respond", "donotanswer"),
        "Reasoning": ("math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python",
                      "hep-rust"),
    }
)  # fmt: skip
EXAMPLE_COUNTS: MappingProxyType[str, int] = MappingProxyType(
    {
        "alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95,
        "mt-bench-easy": 28, "mt-bench-med": 40, "mt-bench-hard": 37,
        "llmbar-natural": 100, "llmbar-adver-neighbor": 134, "llmbar-adver-GPTInst": 92,
        "llmbar-adver-GPTOut": 47, "llmbar-adver-manual": 46,
        "refusals-dangerous": 100, "refusals-offensive": 100, "xstest-should-refuse": 154,
        "xstest-should-respond": 250, "donotanswer": 136,
        "math-prm": 984,  # 447 pairs, counted as many as the six code subsets (6 x 164)
        "hep-cpp": 164, "hep-go": 164, "hep-java": 164, "hep-js": 164, "hep-python": 164,
        "hep-rust": 164,
    }
)  # fmt: skip
_COLUMNS = ("prompt", "chosen", "rejected", "subset")
_SUITE_ACC = "suite: accuracy"


def _normalize(ds: Any) -> Any:
    require_columns(ds.column_names, _COLUMNS, "rewardbench")

    def row(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "instruction": r["prompt"],
            "response_a": r["chosen"],
            "response_b": r["rejected"],
            "gold": "A",
            "group": str(r["subset"]),
        }

    return ds.map(row, remove_columns=list(ds.column_names))


def _suite_accuracy(verdicts: pd.Series) -> float:
    """Chosen ("A") 1, tie 0.5, rejected or no verdict 0, over every pair."""
    score = np.select([verdicts == "A", verdicts == "tie"], [1.0, 0.5], default=0.0)
    return float(score.mean()) if len(score) else float("nan")


def _metrics(part: pd.DataFrame) -> dict[str, float]:
    return {
        _SUITE_ACC: _suite_accuracy(part.verdict),
        "ours: accuracy (ties half)": ties_half_accuracy(part.verdict, part.gold),
    }


def section_scores(subset_accuracy: dict[str, float]) -> dict[str, float]:
    """Each section's example-count-weighted accuracy (over the subsets given) and ``score``,
    the mean of the sections present. Subsets outside the four sections are ignored.

    >>> section_scores({"alpacaeval-easy": 1.0, "mt-bench-easy": 0.0, "hep-go": 0.5})
    {'Chat': 0.78125, 'Reasoning': 0.5, 'score': 0.640625}
    """
    out: dict[str, float] = {}
    for section, subsets in SECTIONS.items():
        present = [s for s in subsets if s in subset_accuracy]
        if present:
            weights = np.array([EXAMPLE_COUNTS[s] for s in present], dtype=np.float64)
            values = np.array([subset_accuracy[s] for s in present], dtype=np.float64)
            out[section] = float((weights * values).sum() / weights.sum())
    out["score"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


def score_rewardbench(judged: pd.DataFrame) -> MetaResult:
    """Per-subset accuracy, then the section-weighted score (see the module docstring)."""
    table = by_group(judged, _metrics)
    subsets = table[table.group != OVERALL]
    sections = section_scores(dict(zip(subsets.group, subsets[_SUITE_ACC])))
    last = table[table.group == OVERALL].iloc[0]
    overall = {f"suite_section_{k}": v for k, v in sections.items() if k != "score"}
    overall.update(
        suite_score=sections["score"],
        ours_accuracy=float(last["ours: accuracy (ties half)"]),
    )
    unknown = sorted(set(subsets.group) - set(EXAMPLE_COUNTS))
    notes = (
        (f"subsets outside RewardBench's sections, not in the score: {unknown}",) if unknown else ()
    )
    return MetaResult(
        suite="rewardbench",
        table=table,
        overall=overall,
        conventions=(
            "suite accuracy per pair: chosen wins 1, tie (orders disagree, or the judge says "
            "tie) 0.5, rejected or no verdict 0; every pair counts",
            "suite score: sections weighted by RewardBench's published subset counts "
            "(math-prm counted 984 = the six code subsets), then the mean of the sections present",
            "ours: ties half over pairs with a verdict; failed pairs left out",
        ),
        notes=notes,
    )


REWARDBENCH = Suite(
    name="rewardbench",
    hub_id="allenai/reward-bench",
    split="filtered",
    layout="pairwise",
    description="RewardBench v1: chosen vs rejected in Chat, Chat Hard, Safety and Reasoning",
    normalize=_normalize,
    score=score_rewardbench,
)
