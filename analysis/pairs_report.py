"""The pairs report: what was built, what each filter dropped, and how the jury agreed.

Sections: rows → pairs (rows without a pair, by reason; completions left out),
the funnel (pairs in, dropped and out of each filter, with a bar chart), drop
reasons, the margin histogram of kept and dropped pairs, length distributions
of chosen and rejected texts, and, for a jury, pairwise agreement between the
jurors over every completion they both rated and over the order of the pairs.
Built with :mod:`ultrajudge.analysis.report` (one self-contained HTML file).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from ultrajudge.analysis.filters import FilterResult
from ultrajudge.analysis.pairs import BuildStats
from ultrajudge.analysis.report import Report, new_figure

__all__ = ["build_table", "jury_order_agreement", "pairs_report"]


def build_table(stats: BuildStats) -> pd.DataFrame:
    """Rows → pairs: how many rows gave pairs, and why the others gave none."""
    rows = [("rows", stats.rows), ("rows with pairs", stats.rows_with_pairs)]
    rows += [(f"no pair: {reason}", n) for reason, n in sorted(stats.no_pair.items())]
    rows += [("completions", stats.completions)]
    rows += [
        (f"completions left out: {reason}", n)
        for reason, n in sorted(stats.excluded_completions.items())
    ]
    rows += [("pairs built", stats.pairs)]
    return pd.DataFrame(rows, columns=["", "count"])


def jury_order_agreement(pairs: pd.DataFrame) -> pd.DataFrame:
    """For each juror, the share of pairs it orders as the jury did (chosen strictly above),
    tied, or reversed; and for each two jurors, the share of pairs they order alike."""
    names = [c.removeprefix("score_chosen__") for c in pairs if c.startswith("score_chosen__")]
    signs = {
        n: np.sign(
            pairs[f"score_chosen__{n}"].to_numpy(float)
            - pairs[f"score_rejected__{n}"].to_numpy(float)
        )
        for n in names
    }
    rows = [
        {
            "judges": n,
            "agrees": float(np.mean(s > 0)),
            "ties": float(np.mean(s == 0)),
            "reverses": float(np.mean(s < 0)),
        }
        for n, s in signs.items()
    ]
    rows += [
        {"judges": f"{a} & {b}", "agrees": float(np.mean(signs[a] == signs[b]))}
        for a, b in itertools.combinations(names, 2)
    ]
    return pd.DataFrame(rows)


def _funnel_figure(funnel: pd.DataFrame) -> Any:
    fig, ax = new_figure(6.0, 0.5 + 0.45 * (len(funnel) + 1))
    labels = ["built", *funnel["step"]]
    counts = [int(funnel["in"].iloc[0]) if len(funnel) else 0, *funnel["out"]]
    ax.barh(labels[::-1], counts[::-1], color="#4c72b0")
    for y, n in enumerate(counts[::-1]):
        ax.text(n, y, f" {n}", va="center", fontsize=9)
    ax.set_xlabel("pairs remaining")
    return fig


def _margin_figure(kept: pd.DataFrame, dropped: pd.DataFrame) -> Any:
    fig, ax = new_figure()
    values = [kept["margin"].to_numpy(float), dropped["margin"].to_numpy(float)]
    both = np.concatenate(values) if any(len(v) for v in values) else np.zeros(1)
    bins = np.histogram_bin_edges(both, bins=min(20, max(1, len(np.unique(both)))))
    ax.hist(
        values, bins=bins, stacked=True, label=["kept", "dropped"], color=["#4c72b0", "#dd8452"]
    )
    ax.set_xlabel("margin (score_chosen − score_rejected)")
    ax.set_ylabel("pairs")
    ax.legend()
    return fig


def _length_figure(kept: pd.DataFrame) -> Any:
    fig, ax = new_figure()
    chosen = kept["chosen"].str.len().to_numpy(float)
    rejected = kept["rejected"].str.len().to_numpy(float)
    both = np.concatenate([chosen, rejected]) if len(chosen) else np.ones(1)
    bins = np.geomspace(max(1.0, both.min()), max(2.0, both.max()), 20)
    ax.hist([chosen, rejected], bins=bins, label=["chosen", "rejected"], alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("length (characters)")
    ax.set_ylabel("pairs")
    ax.legend()
    return fig


def _length_table(kept: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for side in ("chosen", "rejected"):
        lengths = kept[side].str.len()
        rows.append(
            {
                "": side,
                "mean": lengths.mean(),
                "median": lengths.median(),
                "p90": lengths.quantile(0.9),
            }
        )
    return pd.DataFrame(rows)


def pairs_report(
    stats: BuildStats,
    result: FilterResult,
    *,
    jury: pd.DataFrame | None = None,
    title: str = "Preference pairs",
    subtitle: str = "",
) -> Report:
    """The HTML report (see the module docstring). ``jury`` is
    :func:`ultrajudge.analysis.jury_agreement.jury_table` over the scored completions, when the
    data was scored by a jury."""
    report = Report(title, subtitle=subtitle)
    report.section("Rows → pairs").table(build_table(stats))
    funnel = report.section("Funnel")
    funnel.text(
        "Each filter sees the pairs the previous ones kept; a pair is counted once, "
        "by the first filter that drops it (out = in − dropped)."
    )
    funnel.table(result.funnel)
    if len(result.funnel):
        funnel.figure(_funnel_figure(result.funnel), caption="pairs left after each filter")
    if len(result.dropped):
        reasons = result.dropped.groupby("dropped_by").size().rename("pairs").reset_index()
        funnel.table(reasons, caption="pairs dropped, by filter")
    every = pd.concat([result.kept, result.dropped], ignore_index=True)
    if len(every):
        report.section("Margins").figure(
            _margin_figure(result.kept, result.dropped), caption="margin of kept and dropped pairs"
        )
    if len(result.kept):
        lengths = report.section("Lengths of kept pairs")
        lengths.table(_length_table(result.kept), float_format="{:.1f}")
        lengths.figure(_length_figure(result.kept), caption="chosen vs rejected length")
    if jury is not None:
        section = report.section("Jury agreement")
        section.table(jury, caption="between jurors, over every completion both rated")
        if any(c.startswith("score_chosen__") for c in every):
            section.table(
                jury_order_agreement(every), caption="order of the built pairs (before filters)"
            )
    return report
