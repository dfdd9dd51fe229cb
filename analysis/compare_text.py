"""The terminal summary of a judge comparison: what was compared, the leaderboard, and how the
judges agree with each other (headline statistic with its interval and n, per pair)."""

from __future__ import annotations

import math

import pandas as pd

from ultrajudge.analysis.compare import Comparison

__all__ = ["judge_pairs", "pair_statistics", "summary"]


def pair_statistics(c: Comparison) -> list[str]:
    """The statistics shown per pair of judges: the headline (the accuracy statistic for
    verdicts), then raw agreement and Cohen's kappa."""
    if c.kind == "pairwise":
        first = "agreement_ties_half" if c.meta["ties"] == "half" else "agreement_no_ties"
        rest = ["agreement", "kappa"]
    else:
        first, rest = c.headline, ["exact", "kappa"]
    return [first, *(s for s in rest if s != first)]


def _cell(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:.3f}" if math.isnan(low) else f"{value:.3f} [{low:.3f}, {high:.3f}]"


def judge_pairs(c: Comparison) -> pd.DataFrame:
    """One row per pair of judges (humans left out): n, then each of :func:`pair_statistics`
    as ``value [low, high]`` text."""
    judges = set(c.meta["judges"])
    pairs = c.pairs[c.pairs.rater_a.isin(judges) & c.pairs.rater_b.isin(judges)]
    stats = pair_statistics(c)
    table = pd.DataFrame(
        {
            "pair": pairs.rater_a + " vs " + pairs.rater_b,
            "n": pairs.n,
            **{
                s: [_cell(r[s], r[f"{s}_low"], r[f"{s}_high"]) for _, r in pairs.iterrows()]
                for s in stats
            },
        }
    )
    return table.set_index("pair")


def _unit(c: Comparison) -> str:
    if not c.meta["bootstrap"]:
        return "no intervals (--bootstrap 0)"
    unit = "rows (all completions of an instruction together)"
    if c.meta["resample"] == "item":
        unit = "items"
    return f"{c.meta['confidence']:.0%} bootstrap intervals resampling {unit}"


def summary(c: Comparison) -> str:
    """Leaderboard (measures × judges), judge × judge agreement when there are several
    judges, Krippendorff's alphas, then what was aligned and how, and the notes."""
    board = c.leaderboard.set_index("judge")
    board = board[[col for col in board.columns if board[col].notna().any()]]
    lines = []
    with pd.option_context("display.width", 120, "display.max_columns", None):
        lines.append(board.T.to_string(float_format=lambda v: f"{v:.3f}"))
        if len(c.meta["judges"]) > 1:
            lines += ["", f"judge × judge agreement ({_unit(c)}):"]
            lines.append(judge_pairs(c).to_string())
    lines += [""] + [f"{k}: {v:.3f}" for k, v in c.overall.items() if not math.isnan(v)]
    rows = ", ".join(f"{name} {n}" for name, n in c.meta["rows"].items())
    lines.append(
        f"{c.meta['items']} items aligned by {c.meta['aligned_by']} (rows: {rows}; "
        f"{c.meta['rows_common']} in common); intervals: {_unit(c)}"
    )
    lines += [f"note: {note}" for note in c.meta["notes"]]
    return "\n".join(lines)
