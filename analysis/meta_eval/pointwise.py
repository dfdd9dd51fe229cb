"""Pointwise suites: HelpSteer2's attributes and UltraFeedback's fine-grained ratings.

**HelpSteer2** (Wang et al., 2024; Hub ``nvidia/HelpSteer2``, split ``validation``): rows
``prompt``, ``response`` and five human attributes on a 0-4 scale (``helpfulness``,
``correctness``, ``coherence``, ``complexity``, ``verbosity``). The judge grades each response
once on the same 0-4 scale (JSON pointwise format); its grade is correlated with every
attribute. Suite metric: Pearson r per attribute (attribute prediction as the HelpSteer2 and
SteerLM papers evaluate it). Ours: Spearman, and quadratic-weighted kappa on the 0-4 scale.

**UltraFeedback** (Cui et al., 2023; Hub ``openbmb/UltraFeedback``, split ``train``): rows
``instruction`` and ``completions``, each completion a dict with ``response`` and
``annotations`` holding a ``Rating`` ("1"-"5", or "N/A") per aspect. The judge rates all
completions of an instruction at once with UltraFeedback's own template for each aspect
(helpfulness, honesty, instruction_following, truthfulness); each aspect is compared with the
dataset's rating of that aspect (GPT-4's, so this measures agreement with GPT-4's
annotations). Suite metric: Pearson r per aspect (the suite publishes no judge metric of its
own; correlation is the usual report). Ours: Spearman, quadratic kappa on 1-5 and exact
agreement.

A missing human rating ("N/A") or a failed judge rating leaves that completion out of the
statistic; ``n`` counts completions with both. Logprob-mode (expected, fractional) scores
enter the correlations as they are and the kappas rounded to the nearest scale value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ultrajudge.analysis.agreement import STATISTICS, pearson, spearman
from ultrajudge.analysis.meta_eval.suite import MetaResult, Suite, require_columns
from ultrajudge.judge.io import DataError

__all__ = ["HELPSTEER2", "ULTRAFEEDBACK", "attribute_table"]

HELPSTEER2_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
UF_ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
_SUITE_R = "suite: pearson"


def _flat(frame: pd.DataFrame, judge_col: str, human_col: str) -> tuple[np.ndarray, np.ndarray]:
    """Per completion: (judge value, human value), dropping items missing either."""
    judge = [v for row in frame[judge_col] for v in row]
    human = [v for row in frame[human_col] for v in row]
    x = np.array([np.nan if v is None else float(v) for v in judge])
    y = np.array([np.nan if v is None else float(v) for v in human])
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def attribute_table(
    judged: pd.DataFrame, pairs: Sequence[tuple[str, str, str]], scale: Sequence[int]
) -> pd.DataFrame:
    """One row per (name, judge column, human column): n, the suite's Pearson r and ours."""
    rows = []
    for name, judge_col, human_col in pairs:
        x, y = _flat(judged, judge_col, human_col)
        row: dict[str, Any] = {"group": name, "n": len(x)}
        row[_SUITE_R] = pearson(x, y) if len(x) > 1 else float("nan")
        row["ours: spearman"] = spearman(x, y) if len(x) > 1 else float("nan")
        on_scale = np.rint(x)
        kappa = STATISTICS["kappa_quadratic"]
        row["ours: kappa_quadratic"] = kappa(on_scale, y, scale) if len(x) else float("nan")
        row["ours: exact"] = float(np.mean(on_scale == y)) if len(x) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- HelpSteer2

_HS2_SCALE = (0, 1, 2, 3, 4)


def _hs2_normalize(ds: Any) -> Any:
    require_columns(ds.column_names, ("prompt", "response", *HELPSTEER2_ATTRIBUTES), "helpsteer2")

    def row(r: dict[str, Any], i: int) -> dict[str, Any]:
        out: dict[str, Any] = {"instruction": r["prompt"], "completions": [r["response"]]}
        for a in HELPSTEER2_ATTRIBUTES:
            out[f"human_{a}"] = [_on_scale(r[a], _HS2_SCALE, f"helpsteer2: row {i + 1}: {a}")]
        out["group"] = "all"
        return out

    return ds.map(row, with_indices=True, remove_columns=list(ds.column_names))


def _on_scale(value: Any, scale: Sequence[int], where: str) -> float | None:
    if value is None or value == "N/A":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {value!r} is not a rating") from None
    if number not in scale:
        raise DataError(f"{where}: {value!r} is outside the scale {list(scale)}")
    return number


def _score_hs2(judged: pd.DataFrame) -> MetaResult:
    pairs = [(a, "ratings", f"human_{a}") for a in HELPSTEER2_ATTRIBUTES]
    table = attribute_table(judged, pairs, _HS2_SCALE)
    return MetaResult(
        suite="helpsteer2",
        table=table,
        overall={f"suite_pearson_{g}": float(r) for g, r in zip(table.group, table[_SUITE_R])},
        conventions=(
            "one judge grade per response on HelpSteer2's 0-4 scale, compared with each attribute",
            "suite: Pearson r; ours: Spearman, quadratic kappa and exact agreement on 0-4",
            "a failed grade leaves the response out; n counts responses compared",
        ),
    )


HELPSTEER2 = Suite(
    name="helpsteer2",
    hub_id="nvidia/HelpSteer2",
    split="validation",
    layout="pointwise",
    description="HelpSteer2: five human attributes on 0-4 per response",
    normalize=_hs2_normalize,
    score=_score_hs2,
    rating=({"format": "json", "scale": _HS2_SCALE},),
)


# --------------------------------------------------------------------------- UltraFeedback

_UF_SCALE = (1, 2, 3, 4, 5)


def _uf_rating(completion: Any, aspect: str, where: str) -> float | None:
    if not isinstance(completion, Mapping):
        raise DataError(f"{where}: a completion must be a dict with 'response' and 'annotations'")
    note = (completion.get("annotations") or {}).get(aspect)
    if isinstance(note, list):  # some exports wrap each aspect's annotation in a list
        note = note[0] if note else None
    rating = note.get("Rating") if isinstance(note, Mapping) else None
    return _on_scale(rating, _UF_SCALE, f"{where}: {aspect}")


def _uf_normalize(ds: Any) -> Any:
    require_columns(ds.column_names, ("instruction", "completions"), "ultrafeedback")

    def row(r: dict[str, Any], i: int) -> dict[str, Any]:
        comps = r["completions"]
        if not isinstance(comps, list) or not comps:
            raise DataError(f"ultrafeedback: row {i + 1}: completions must be a non-empty list")
        where = f"ultrafeedback: row {i + 1}"
        out: dict[str, Any] = {
            "instruction": r["instruction"],
            "completions": [str(_response(c, where)) for c in comps],
            "group": "all",
        }
        for a in UF_ASPECTS:
            out[f"human_{a}"] = [_uf_rating(c, a, where) for c in comps]
        return out

    return ds.map(row, with_indices=True, remove_columns=list(ds.column_names))


def _response(completion: Any, where: str) -> str:
    if not isinstance(completion, Mapping) or not isinstance(completion.get("response"), str):
        raise DataError(f"{where}: every completion needs a 'response' text")
    return str(completion["response"])


def _score_uf(judged: pd.DataFrame) -> MetaResult:
    pairs = [(a, f"ratings_{a}", f"human_{a}") for a in UF_ASPECTS]
    table = attribute_table(judged, pairs, _UF_SCALE)
    return MetaResult(
        suite="ultrafeedback",
        table=table,
        overall={f"suite_pearson_{g}": float(r) for g, r in zip(table.group, table[_SUITE_R])},
        conventions=(
            "each aspect judged with UltraFeedback's template for it, all completions of an "
            "instruction in one prompt, compared with the dataset's (GPT-4) rating of that aspect",
            "suite: Pearson r; ours: Spearman, quadratic kappa and exact agreement on 1-5",
            "N/A ratings and failed judge ratings leave that completion out",
        ),
    )


ULTRAFEEDBACK = Suite(
    name="ultrafeedback",
    hub_id="openbmb/UltraFeedback",
    split="train",
    layout="pointwise",
    description="UltraFeedback fine-grained ratings: four aspects on 1-5 per completion",
    normalize=_uf_normalize,
    score=_score_uf,
    rating=tuple({"aspect": a} for a in UF_ASPECTS),
)
