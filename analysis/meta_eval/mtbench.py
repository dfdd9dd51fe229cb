"""MT-Bench human judgments (Zheng et al., 2023): expert votes on pairs of model answers.

Hub: ``lmsys/mt_bench_human_judgments``, split ``human``; rows ``question_id``, ``model_a``,
``model_b``, ``winner`` (``model_a``, ``model_b``, ``tie`` or ``tie (bothbad)``), ``judge``
(the human), ``conversation_a`` and ``conversation_b`` (chat messages) and ``turn`` (1 or 2).
One row per human vote; a pair with several votes is judged once (the results store keys
judgings by content) and compared with every vote, as the paper does. Turn 1 shows the
first question and each model's first answer; turn 2 shows both questions and each model's
two answers (the paper's judge sees each model's whole conversation).

Suite metrics (the paper's Table 2): agreement between judge and human votes with ties as a
third label (setup S1; an inconsistent pair, orders disagreeing, counts as a tie) and without
ties (setup S2: votes where either side says tie are left out), per turn. Ours: ties-half
accuracy against the human votes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ultrajudge.analysis.agreement import label_agreement
from ultrajudge.analysis.meta_eval.suite import MetaResult, Suite, require_columns
from ultrajudge.analysis.meta_eval.tables import OVERALL, by_group, ties_half_accuracy
from ultrajudge.judge.io import DataError

__all__ = ["MT_BENCH", "score_mt_bench"]

_COLUMNS = ("winner", "conversation_a", "conversation_b", "turn")
_WINNERS = {"model_a": "A", "model_b": "B", "tie": "tie", "tie (bothbad)": "tie"}


def _turns(conversation: Any, i: int, side: str) -> tuple[list[str], list[str]]:
    """The user turns and assistant turns of one conversation."""
    if not isinstance(conversation, Sequence) or isinstance(conversation, str):
        raise DataError(f"mt_bench: row {i + 1}: conversation_{side} must be a list of messages")
    messages = [m for m in conversation if isinstance(m, Mapping)]
    users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
    answers = [str(m.get("content", "")) for m in messages if m.get("role") == "assistant"]
    return users, answers


def _normalize(ds: Any) -> Any:
    require_columns(ds.column_names, _COLUMNS, "mt_bench")

    def row(r: dict[str, Any], i: int) -> dict[str, Any]:
        if r["winner"] not in _WINNERS:
            raise DataError(
                f"mt_bench: row {i + 1}: winner {r['winner']!r} must be one of {list(_WINNERS)}"
            )
        turn = int(r["turn"])
        users, answers_a = _turns(r["conversation_a"], i, "a")
        _, answers_b = _turns(r["conversation_b"], i, "b")
        if turn not in (1, 2) or len(users) < turn or min(len(answers_a), len(answers_b)) < turn:
            raise DataError(
                f"mt_bench: row {i + 1}: turn {r['turn']!r} needs that many user and assistant "
                "messages in both conversations"
            )
        return {
            "instruction": _question(users, turn),
            "response_a": _answer(answers_a, turn),
            "response_b": _answer(answers_b, turn),
            "gold": _WINNERS[r["winner"]],
            "group": f"turn {turn}",
        }

    return ds.map(row, with_indices=True, remove_columns=list(ds.column_names))


def _question(users: list[str], turn: int) -> str:
    if turn == 1:
        return users[0]
    return f"First question:\n{users[0]}\n\nSecond question (judge the answers to this one):\n{users[1]}"


def _answer(answers: list[str], turn: int) -> str:
    if turn == 1:
        return answers[0]
    return f"Answer to the first question:\n{answers[0]}\n\nAnswer to the second question:\n{answers[1]}"


def _metrics(part: pd.DataFrame) -> dict[str, float]:
    return {
        "suite: agreement with ties": label_agreement(part.verdict, part.gold),
        "suite: agreement without ties": label_agreement(
            part.verdict, part.gold, include_ties=False
        ),
        "ours: accuracy (ties half)": ties_half_accuracy(part.verdict, part.gold),
    }


def score_mt_bench(judged: pd.DataFrame) -> MetaResult:
    """Agreement with human votes, with and without ties, per turn (module docstring)."""
    table = by_group(judged, _metrics)
    last = table[table.group == OVERALL].iloc[0]
    return MetaResult(
        suite="mt_bench",
        table=table,
        overall={
            "suite_agreement_with_ties": float(last["suite: agreement with ties"]),
            "suite_agreement_without_ties": float(last["suite: agreement without ties"]),
            "ours_accuracy": float(last["ours: accuracy (ties half)"]),
        },
        conventions=(
            "one item per human vote; the judge's verdict is settled over both orders "
            "(disagreeing orders are a tie, as MT-Bench counts inconsistent votes)",
            "with ties (S1): tie is a third label; without ties (S2): votes where the judge or "
            "the human says tie are left out; pairs with no verdict are left out of both",
            "ours: a tie against a decisive human vote scores 0.5",
        ),
    )


MT_BENCH = Suite(
    name="mt_bench",
    hub_id="lmsys/mt_bench_human_judgments",
    split="human",
    layout="pairwise",
    description="MT-Bench human judgments: expert pairwise votes, turns 1 and 2",
    normalize=_normalize,
    score=score_mt_bench,
)
