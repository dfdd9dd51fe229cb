"""The HTML report of a judge comparison: its tables and five plots, in one self-contained file.

Plots: the agreement heatmap of the headline statistic, the rating (verdict) distribution per
rater, confusion matrices of each judge against the first human column, position bias, and
rating against answer length. Built on :mod:`ultrajudge.analysis.report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ultrajudge.analysis.agreement import contingency_table
from ultrajudge.analysis.bias import length_preference
from ultrajudge.analysis.compare import Comparison
from ultrajudge.analysis.compare_stats import LABEL_SCALE, label_codes, snap_to_scale
from ultrajudge.analysis.report import Report, new_figure

__all__ = [
    "RATE_STATISTICS",
    "agreement_heatmap",
    "build_report",
    "colour_scale",
    "confusion_figure",
    "distribution_figure",
    "length_figure",
    "position_figure",
    "write_report",
]

_LABELS = ("A", "tie", "B")


def write_report(
    comparison: Comparison, path: str | Path, *, protect: Sequence[str | Path | None] = ()
) -> Path:
    """Build the report and write it (atomically) to ``path``, never over ``protect``."""
    return build_report(comparison).write(path, protect=protect)


def build_report(c: Comparison, *, title: str = "Judge comparison") -> Report:
    report = Report(title, subtitle=_subtitle(c))
    board = report.section("Leaderboard")
    board.text(_leaderboard_note(c), note=True)
    board.table(_transposed(_shown(c.leaderboard)))
    if len(c.human_ceiling):
        ceiling = c.overall.get(f"human_ceiling_{c.headline}", float("nan"))
        board.text(f"Human ceiling ({c.headline}, mean over pairs of human columns): {ceiling:.3f}")
    agree = report.section("Agreement")
    stat = _matrix_stat(c)
    agree.figure(agreement_heatmap(c.matrix[stat], c.n, stat=stat), caption=f"{stat}, n per cell")
    agree.table(_with_intervals(c.pairs, list(c.matrix)), caption=f"Every pair: value [{_unit(c)}]")
    alphas = pd.DataFrame({"krippendorff_alpha": pd.Series(dict(c.overall))})
    agree.table(alphas.rename_axis("raters"), caption="Across raters")
    if len(c.human_ceiling):
        report.section("Human ceiling").table(_with_intervals(c.human_ceiling, list(c.matrix)))
    ratings = report.section("Verdicts" if c.kind == "pairwise" else "Ratings")
    ratings.figure(distribution_figure(c), caption="Distribution per rater (rated items)")
    if c.aligned.humans:
        caption = f"Each judge against {c.aligned.humans[0]} (counts; rows: judge)"
        ratings.figure(confusion_figure(c), caption=caption)
    bias = report.section("Bias")
    bias.figure(position_figure(c), caption=_position_caption(c))
    if len(c.aligned.lengths):
        bias.figure(length_figure(c), caption=_length_caption(c))
    else:
        bias.text("No answer texts were found, so there is no length analysis.", note=True)
    notes = report.section("Settings")
    notes.table(_settings(c))
    for note in c.meta.get("notes", []):
        notes.text(note, note=True)
    return report


# --------------------------------------------------------------------------- text and tables


def _subtitle(c: Comparison) -> str:
    m = c.meta
    humans = ", ".join(m["humans"]) or "no human column"
    return (
        f"{c.kind}: {len(m['judges'])} judge(s) against {humans}; {m['items']} items aligned by "
        f"{m['aligned_by']}; headline {m['headline']}"
    )


def _leaderboard_note(c: Comparison) -> str:
    if c.kind == "pairwise":
        rule = {
            "half": "ties count half",
            "exclude": "pairs with a tie left out",
            "judgebench": "JudgeBench's rule: each order votes, correct when the votes sum to "
            "the gold side",
        }[c.meta["ties"]]
        return f"Accuracy against the gold column ({rule}); n_human pairs have both."
    return (
        f"Agreement with the human column on the scale {c.meta['scale']}; only items both "
        "rated count (n_human). bias: mean (judge − human). Costs are per 1,000 judgments."
    )


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns with at least one value (a blank column says nothing)."""
    keep = [c for c in frame.columns if frame[c].notna().any()]
    return frame[keep]


def _transposed(board: pd.DataFrame) -> pd.DataFrame:
    """One column per judge, one row per measure (many measures, few judges), as text."""
    shown = board.set_index("judge").T.map(_cell)
    return shown.rename_axis(index=None, columns="judge")


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "–" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def _with_intervals(pairs: pd.DataFrame, stats: list[str]) -> pd.DataFrame:
    def cell(row: pd.Series, stat: str) -> str:
        value, low, high = row[stat], row[f"{stat}_low"], row[f"{stat}_high"]
        if pd.isna(value):
            return "–"
        return f"{value:.3f}" if pd.isna(low) else f"{value:.3f} [{low:.3f}, {high:.3f}]"

    out = pd.DataFrame({"pair": pairs.rater_a + " vs " + pairs.rater_b, "n": pairs.n})
    for stat in stats:
        out[stat] = [cell(row, stat) for _, row in pairs.iterrows()]
    return out.set_index("pair")


def _unit(c: Comparison) -> str:
    if not c.meta["bootstrap"]:
        return "no intervals"
    unit = "rows" if c.meta.get("resample", "row") == "row" else "items"
    return f"{c.meta['confidence']:.0%} CI, bootstrap resampling {unit}"


def _settings(c: Comparison) -> pd.DataFrame:
    keep = (
        "kind", "headline", "scale", "ties", "rounded", "bootstrap", "resample", "confidence",
        "seed", "rows", "rows_common",
    )  # fmt: skip
    rows = {k: str(v) for k, v in c.meta.items() if k in keep}
    return pd.DataFrame({"value": pd.Series(rows)}).rename_axis("setting")


def _matrix_stat(c: Comparison) -> str:
    if c.headline != "accuracy":
        return c.headline
    return "agreement_no_ties" if c.meta["ties"] == "exclude" else "agreement_ties_half"


def _length_caption(c: Comparison) -> str:
    if c.kind == "pairwise":
        return (
            "P(the longer answer wins) over decided pairs whose lengths differ clearly. The "
            "leaderboard's lc_win_rate_a is response a's win rate at zero length difference "
            "(AlpacaEval 2 style logistic fit, ties half; see ultrajudge.analysis.length_control)"
        )
    return "Rating against answer length (characters), jittered"


def _position_caption(c: Comparison) -> str:
    if c.kind == "pairwise":
        return "Position bias: P(first shown wins) should be near 0.5, consistency near 1"
    return "Mean rating by the completion's position in the row (Text 1, Text 2, ...)"


# --------------------------------------------------------------------------- plots


RATE_STATISTICS = frozenset(
    {"exact", "within_one", "agreement", "agreement_no_ties", "agreement_ties_half", "accuracy"}
)
"""Statistics that are shares of items (0..1); the others (kappas, correlations) run −1..1."""


def colour_scale(stat: str) -> tuple[str, float, float]:
    """Colour map and range of a statistic's heatmap: its whole range, so colours compare
    across reports (a share 0..1 on a sequential map, a kappa or correlation −1..1 diverging)."""
    return ("YlGn", 0.0, 1.0) if stat in RATE_STATISTICS else ("RdYlGn", -1.0, 1.0)


def agreement_heatmap(matrix: pd.DataFrame, n: pd.DataFrame, *, stat: str) -> Any:
    """Rater × rater heatmap of a statistic, each cell annotated with its value and n."""
    k = len(matrix)
    fig, ax = new_figure(1.6 + 1.1 * k, 1.2 + 0.9 * k)
    values = matrix.to_numpy(dtype=float)
    cmap, low, high = colour_scale(stat)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=low, vmax=high)
    for i in range(k):
        for j in range(k):
            text = "–" if np.isnan(values[i, j]) else f"{values[i, j]:.2f}"
            position = (np.nan_to_num(values[i, j]) - low) / (high - low)  # 0..1 along the map
            colour = "white" if abs(2 * position - 1) > 0.6 else "black"
            ax.text(
                j, i, f"{text}\nn={n.iat[i, j]}", ha="center", va="center", fontsize=8, color=colour
            )
    _ticks(ax, list(matrix.columns), list(matrix.index))
    fig.colorbar(image, ax=ax, label=stat)
    return fig


def distribution_figure(c: Comparison) -> Any:
    """Share of each rating value (verdict) among each rater's rated items."""
    categories, coded = _categories(c)
    raters = list(c.aligned.values.columns)
    fig, ax = new_figure(max(5.0, 1.2 * len(categories) + 0.3 * len(raters)), 3.4)
    width = 0.8 / len(raters)
    for r, rater in enumerate(raters):
        col = coded[:, r][~np.isnan(coded[:, r])]
        share = [float(np.mean(col == v)) if len(col) else 0.0 for v in categories]
        ax.bar(
            np.arange(len(categories)) + (r - (len(raters) - 1) / 2) * width,
            share,
            width,
            label=rater,
        )
    ax.set_xticks(np.arange(len(categories)), _category_names(c, categories))
    ax.set_ylabel("share of rated items")
    ax.legend(fontsize=8)
    return fig


def confusion_figure(c: Comparison) -> Any:
    """One panel per judge: its contingency table against the first human column."""
    categories, coded = _categories(c)
    raters = list(c.aligned.values.columns)
    human = raters.index(c.aligned.humans[0])
    judges = list(c.aligned.judges)
    fig, _ = new_figure(3.0 * len(judges) + 0.5, 3.2)
    fig.clf()
    axes = np.atleast_1d(fig.subplots(1, len(judges)))
    names = _category_names(c, categories)
    for ax, judge in zip(axes, judges):
        table = contingency_table(coded[:, raters.index(judge)], coded[:, human], scale=categories)
        ax.imshow(table, cmap="Blues")
        for (i, j), count in np.ndenumerate(table):
            colour = "white" if count > table.max() / 2 else "black"
            ax.text(j, i, f"{count:g}", ha="center", va="center", fontsize=8, color=colour)
        _ticks(ax, names, names)
        ax.set_title(judge, fontsize=9)
        ax.set_xlabel(c.aligned.humans[0])
        ax.set_ylabel("judge")
    return fig


def position_figure(c: Comparison) -> Any:
    fig, ax = new_figure()
    if c.kind == "pairwise":
        measures = ["position_consistency", "flip_rate", "p_first_position"]
        board = c.leaderboard.set_index("judge")[measures]
        width = 0.8 / len(measures)
        for m, measure in enumerate(measures):
            x = np.arange(len(board)) + (m - 1) * width
            ax.bar(x, board[measure].fillna(0), width, label=measure)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(np.arange(len(board)), list(board.index))
        ax.set_ylim(0, 1)
    else:
        values = c.aligned.values
        by_position = values.groupby(level="completion").mean()
        for rater in values.columns:
            ax.plot(by_position.index + 1, by_position[rater], marker="o", label=rater)
        ax.set_xlabel("position in the row")
        ax.set_ylabel("mean rating")
        ax.set_xticks(by_position.index + 1)
    ax.legend(fontsize=8)
    return fig


def length_figure(c: Comparison) -> Any:
    """Pointwise: rating against length (jittered). Pairwise: P(prefer the longer answer)."""
    fig, ax = new_figure()
    lengths = c.aligned.lengths
    if c.kind == "pairwise":
        len_a, len_b = (
            lengths.len_a.reindex(c.aligned.values.index),
            lengths.len_b.reindex(c.aligned.values.index),
        )
        shares = {
            r: length_preference(c.aligned.values[r].to_numpy(), len_a, len_b)
            for r in c.aligned.values
        }
        ax.bar(list(shares), [0 if np.isnan(v) else v for v in shares.values()])
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_ylabel("P(prefers the longer answer)")
        ax.set_ylim(0, 1)
        return fig
    rng = np.random.default_rng(0)
    length = lengths["length"].reindex(c.aligned.values.index)
    for rater in c.aligned.values.columns:
        y = c.aligned.values[rater]
        ax.scatter(length, y + rng.uniform(-0.15, 0.15, len(y)), s=12, alpha=0.6, label=rater)
    ax.set_xlabel("answer length (characters)")
    ax.set_ylabel("rating (jittered)")
    ax.legend(fontsize=8)
    return fig


def _categories(c: Comparison) -> tuple[tuple[float, ...], np.ndarray]:
    if c.kind == "pairwise":
        return LABEL_SCALE, label_codes(c.aligned.values)
    raters = list(c.aligned.values.columns)
    coded, _ = snap_to_scale(c.aligned.values.to_numpy(dtype=float), raters, c.meta["scale"])
    return tuple(float(v) for v in sorted(c.meta["scale"])), coded


def _category_names(c: Comparison, categories: tuple[float, ...]) -> list[str]:
    return list(_LABELS) if c.kind == "pairwise" else [f"{v:g}" for v in categories]


def _ticks(ax: Any, x: list[str], y: list[str]) -> None:
    ax.set_xticks(range(len(x)), x, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(y)), y, fontsize=8)
