"""Compare judges with each other and with human (gold) labels on the same items.

A *source* is one judge's output: a scored file (``ultrajudge score``: a ``ratings`` list per
row), a verdict file (``ultrajudge pairwise``: a ``verdict`` per row), one column of either
(``scored.jsonl:ratings_helpfulness``), or a DataFrame. :func:`compare` aligns the sources and
returns a :class:`Comparison` of DataFrames: a rater × rater matrix per statistic, the same
pairs in long form with ``n`` and bootstrap intervals, a judge-vs-human leaderboard shaped like
AlpacaEval's evaluator leaderboard, and the human-vs-human ceiling.

Decisions (the numbers depend on them):

* **Alignment** (:mod:`ultrajudge.analysis.compare_inputs`): rows match by an id column, else by row order
  after checking the instructions agree. Items are (row, completion index). A two-rater
  statistic uses only the items both raters rated (a failed rating is missing, never a grade),
  and every cell reports its ``n``.
* **Several human/gold columns**: a judge's agreement is the mean of its agreement with each;
  this is comparable to the ceiling, the mean agreement between two human columns. Intervals
  are in ``pairs`` for every pair, and in the leaderboard when there is one human column.
* **Float ratings** (logprob mode, averaged human ratings): correlations use the floats; the
  contingency-table statistics (kappas, exact, within-one, Krippendorff's alpha) use the rating
  rounded to the nearest scale value, flagged ``rounded``. A rating outside the scale's range
  is an error (pass the right scale), never clipped.
* **Pairwise ties**: accuracy against gold uses ``ties="half"`` (a tie against a decisive
  verdict scores half) or ``"exclude"`` (pairs where either side says tie are left out).
* ``ties="judgebench"``: accuracy is JudgeBench's vote sum over both orders of a verdict file
  (:mod:`ultrajudge.analysis.meta_eval.votes`; needs ``verdict_first``/``verdict_second``).
* **Intervals**: percentile bootstrap. By default a resample draws whole rows (all completions
  of an instruction together: they share its difficulty and the judge's reading of it, so
  their ratings are correlated and item resampling gives intervals too narrow);
  ``resample="item"`` draws items. The unit is in ``meta["resample"]`` and the report.
* **Runs**: sources whose judge ids differ only in ``seed=N`` *and* that judged the same inputs
  (equal ``Aligned.inputs`` digests) are runs of one judge; each gets the standard deviation of
  the headline statistic (and mean rating) across the runs.
* **Overlap**: sources that share no rows, or no item rated by two raters, are an error; a
  partial overlap is a note, with rows per source and in common in ``meta``.
* **Tokens, seconds, cost** come from the run record next to each file (``<file>.run.json``,
  :func:`ultrajudge.analysis.compare_usage.record_usage`), per judgment: one rated completion
  (pointwise) or one pair judged in both orders (pairwise); the cost is ``--price-in`` /
  ``--price-out`` applied to the tokens when given, else the cost the record holds (an API
  judge with known prices). The ``usage`` column says where they come from, or why they are
  unknown (a file written before run records: nothing is read from the store).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ultrajudge.analysis.agreement import STATISTICS
from ultrajudge.analysis.compare_inputs import Aligned, Kind, Source, SourceLike, align
from ultrajudge.analysis.compare_judges import (
    pairwise_judge,
    pointwise_judge,
    run_group,
)
from ultrajudge.analysis.compare_stats import (
    LABEL_SCALE,
    PAIRWISE_STATISTICS,
    Agreement,
    Resampling,
    agreement,
    alphas,
    label_codes,
    snap_to_scale,
)
from ultrajudge.analysis.compare_usage import record_usage
from ultrajudge.analysis.meta_eval.compare_votes import judgebench_accuracy
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.scales import DEFAULT_SCALE, scale_from_judge_ids

__all__ = [
    "PAIRWISE_STATISTICS",
    "CompareOptions",
    "Comparison",
    "Source",
    "compare",
    "compare_pairwise",
    "compare_pointwise",
]

_NAN = float("nan")


@dataclass(frozen=True)
class CompareOptions:
    """How to compare. ``headline`` (the leaderboard's sort column) defaults to
    ``kappa_quadratic`` (pointwise) or ``accuracy`` (pairwise); ``bootstrap=0`` skips the
    intervals, ``resample`` is their unit (whole rows, or items); prices are USD per million prompt / completion tokens."""

    scale: tuple[float, ...] | None = None  # None: the scale the judge ids name, else 1-5
    headline: str | None = None
    ties: Literal["half", "exclude", "judgebench"] = "half"
    bootstrap: int = 1000
    resample: Literal["row", "item"] = "row"
    confidence: float = 0.95
    seed: int = 0
    min_char_diff: int = 30
    price_in: float | None = None
    price_out: float | None = None

    def __post_init__(self) -> None:
        if self.ties not in ("half", "exclude", "judgebench"):
            raise ConfigError(f"ties must be 'half', 'exclude' or 'judgebench'; got {self.ties!r}")
        if self.resample not in ("row", "item"):
            raise ConfigError(f"resample must be 'row' or 'item'; got {self.resample!r}")
        if self.bootstrap < 0 or not 0 < self.confidence < 1:
            raise ConfigError("need bootstrap >= 0 (0 skips intervals) and 0 < confidence < 1")
        if (self.price_in is None) != (self.price_out is None):
            raise ConfigError("give both prices (--price-in and --price-out; 0 is allowed) or none")

    def headline_for(self, kind: Kind) -> str:
        known = ("accuracy", *PAIRWISE_STATISTICS) if kind == "pairwise" else tuple(STATISTICS)
        name = self.headline or ("accuracy" if kind == "pairwise" else "kappa_quadratic")
        if name not in known:
            raise ConfigError(f"headline {name!r} is not a {kind} statistic; choose from {known}")
        return name

    @property
    def rating_scale(self) -> tuple[float, ...]:
        """The scale ratings are compared on (1-5 when none was given or read)."""
        return self.scale if self.scale is not None else tuple(map(float, DEFAULT_SCALE))

    def accuracy_statistic(self) -> str:
        """The pairwise statistic that is accuracy against gold under ``ties``."""
        return "agreement_no_ties" if self.ties == "exclude" else "agreement_ties_half"


@dataclass(frozen=True)
class Comparison:
    """Every table of a comparison; ``aligned`` holds the items behind them (for plots).

    ``matrix[stat]`` and ``n`` are rater × rater (judges, then human columns); ``pairs`` has
    one row per pair of raters with ``n``, every statistic and its ``_low``/``_high`` interval;
    ``leaderboard`` one row per judge; ``human_ceiling`` the pairs of human columns.
    """

    kind: Kind
    matrix: Mapping[str, pd.DataFrame]
    n: pd.DataFrame
    pairs: pd.DataFrame
    leaderboard: pd.DataFrame
    human_ceiling: pd.DataFrame
    judges: pd.DataFrame
    overall: Mapping[str, float]
    meta: Mapping[str, Any]
    aligned: Aligned = field(repr=False)

    @property
    def headline(self) -> str:
        return str(self.meta["headline"])

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by file stem: ``leaderboard``, ``pairs``, ``matrix_<stat>``, ..."""
        out = {"leaderboard": self.leaderboard, "pairs": self.pairs, "judges": self.judges}
        out["human_ceiling"] = self.human_ceiling
        out.update({f"matrix_{k}": v for k, v in self.matrix.items()})
        out["matrix_n"] = self.n
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tables as records, matrices as {raters, values}, nan as None."""
        data = {
            "kind": self.kind,
            "meta": dict(self.meta),
            "overall": dict(self.overall),
            "leaderboard": _records(self.leaderboard),
            "pairs": _records(self.pairs),
            "human_ceiling": _records(self.human_ceiling),
            "judges": _records(self.judges),
            "matrix": {k: _square(v) for k, v in {**self.matrix, "n": self.n}.items()},
        }
        return _jsonable(data)


def compare(
    sources: Sequence[SourceLike],
    *,
    human_cols: Sequence[str] = (),
    id_col: str | None = None,
    text_cols: Sequence[str] = (),
    options: CompareOptions | None = None,
    kind: Kind | None = None,
) -> Comparison:
    """Compare scored or verdict files, or DataFrames (the kind is read from the data).

    ``sources`` are paths (``FILE:COLUMN`` picks a column), DataFrames or :class:`Source`;
    ``human_cols`` name human (gold) columns in them; ``id_col`` the row id (default ``id``
    when every source has it, else row order); ``text_cols`` the answers whose lengths the
    length statistics use (default ``completions``, or ``response_a`` and ``response_b``).
    """
    opts = options or CompareOptions()
    al = align(sources, human_cols=human_cols, id_col=id_col, text_cols=text_cols, kind=kind)
    if opts.scale is None:
        named = scale_from_judge_ids(al.judge_ids.values()) if al.kind == "pointwise" else None
        opts = replace(opts, scale=tuple(float(v) for v in named) if named else None)
    headline = opts.headline_for(al.kind)
    judge_vs_judge, rows, overall, rounded = (
        _pointwise(al, opts, headline) if al.kind == "pointwise" else _pairwise(al, opts)
    )
    pairs = judge_vs_judge.pairs()
    ceiling = pairs[pairs.rater_a.isin(al.humans) & pairs.rater_b.isin(al.humans)]
    if len(ceiling):
        stat = opts.accuracy_statistic() if headline == "accuracy" else headline
        overall[f"human_ceiling_{headline}"] = float(ceiling[stat].mean())
    return Comparison(
        kind=al.kind,
        matrix=judge_vs_judge.matrix,
        n=judge_vs_judge.n,
        pairs=pairs,
        leaderboard=_leaderboard(rows, al, opts, headline),
        human_ceiling=ceiling.reset_index(drop=True),
        judges=_judges_table(al),
        overall=overall,
        meta=_meta(al, opts, headline, rounded),
        aligned=al,
    )


def compare_pointwise(sources: Sequence[SourceLike], **kwargs: Any) -> Comparison:
    """:func:`compare` for scored files (ratings on a scale); an error for verdict files."""
    return compare(sources, kind="pointwise", **kwargs)


def compare_pairwise(sources: Sequence[SourceLike], **kwargs: Any) -> Comparison:
    """:func:`compare` for verdict files ("A", "B", "tie"); an error for scored files."""
    return compare(sources, kind="pairwise", **kwargs)


# --------------------------------------------------------------------------- the two kinds

_KindResult = tuple[Agreement, list[dict[str, Any]], dict[str, float], list[str]]


def _resampling(opts: CompareOptions, al: Aligned) -> Resampling:
    rows = al.values.index.get_level_values("row").to_numpy()
    clusters = rows if opts.resample == "row" else None
    return Resampling(opts.bootstrap, opts.confidence, opts.seed, clusters)


def _pointwise(al: Aligned, opts: CompareOptions, headline: str) -> _KindResult:
    raters = list(al.values.columns)
    raw = al.values.to_numpy(dtype=np.float64)
    coded, rounded = snap_to_scale(raw, raters, opts.rating_scale)
    table = agreement(
        coded, raters, STATISTICS, scale=opts.rating_scale, resampling=_resampling(opts, al),
        raw=raw, float_raters=frozenset(rounded),
    )  # fmt: skip
    rows = []
    for judge in al.judges:
        row = pointwise_judge(al, judge, min_char_diff=opts.min_char_diff)
        row.update(_vs_humans(table, judge, al.humans, headline))
        rows.append(row | {"rounded": judge in rounded})
    groups = {"judges": al.judges, "humans": al.humans, "all": raters}
    return (
        table,
        rows,
        alphas(coded, raters, groups, level="ordinal", scale=opts.rating_scale),
        rounded,
    )


def _pairwise(al: Aligned, opts: CompareOptions) -> _KindResult:
    raters = list(al.values.columns)
    coded = label_codes(al.values)
    table = agreement(
        coded, raters, PAIRWISE_STATISTICS, scale=LABEL_SCALE, resampling=_resampling(opts, al)
    )
    accuracy = opts.accuracy_statistic()
    rows = []
    for judge in al.judges:
        row = pairwise_judge(al, judge, min_char_diff=opts.min_char_diff)
        stats = _vs_humans(table, judge, al.humans, accuracy)
        row.update(accuracy=stats[accuracy], ties=opts.ties)
        row["accuracy_low"] = stats.pop(f"{accuracy}_low")
        row["accuracy_high"] = stats.pop(f"{accuracy}_high")
        if opts.ties == "judgebench":
            row.update(judgebench_accuracy(al, judge))
        rows.append(row | stats)
    groups = {"judges": al.judges, "humans": al.humans, "all": raters}
    return table, rows, alphas(coded, raters, groups, level="nominal", scale=LABEL_SCALE), []


def _vs_humans(table: Agreement, judge: str, humans: Sequence[str], ci: str) -> dict[str, Any]:
    """A judge's statistics against the human columns (the mean over several), ``n_human``
    (the smallest n) and the interval of statistic ``ci`` (with one human column only)."""
    out: dict[str, Any] = {"n_human": min((int(table.n.loc[judge, h]) for h in humans), default=0)}
    for name, matrix in table.matrix.items():
        out[name] = float(np.mean([matrix.loc[judge, h] for h in humans])) if humans else _NAN
    one = len(humans) == 1
    out[f"{ci}_low"] = float(table.low[ci].loc[judge, humans[0]]) if one else _NAN
    out[f"{ci}_high"] = float(table.high[ci].loc[judge, humans[0]]) if one else _NAN
    return out


# --------------------------------------------------------------------------- leaderboard, meta


def _leaderboard(
    rows: list[dict[str, Any]], al: Aligned, opts: CompareOptions, headline: str
) -> pd.DataFrame:
    """One row per judge: runs across seeds, usage and cost added; the judge, the headline
    statistic with its interval and n first; sorted by the headline when there are humans."""
    board = pd.DataFrame(rows)
    groups = pd.Series([_run_key(al, j) for j in board.judge], index=board.index)
    board["runs"] = groups.map(groups.value_counts()).fillna(1).astype(int)
    for col in [headline, *(["mean_rating"] if "mean_rating" in board else [])]:
        std = board.groupby(groups)[col].transform(lambda s: s.std(ddof=1))
        board[f"{col}_std_runs"] = std.where(board["runs"] > 1)
    _add_usage(board, al, opts)
    first = [
        c
        for c in ("judge", headline, f"{headline}_low", f"{headline}_high", "n_human")
        if c in board
    ]
    board = board[first + [c for c in board.columns if c not in first]]
    if al.humans:
        board = board.sort_values(headline, ascending=False, na_position="last", kind="stable")
    return board.reset_index(drop=True)


def _add_usage(board: pd.DataFrame, al: Aligned, opts: CompareOptions) -> None:
    """Tokens and seconds per judgment, cost per 1,000, and where they come from (``usage``)."""
    usage = [record_usage(al.paths.get(j), al.columns.get(j, ""), al.kind) for j in board.judge]
    board["prompt_tokens"] = [u.per_judgment(u.prompt_tokens) for u in usage]
    board["completion_tokens"] = [u.per_judgment(u.completion_tokens) for u in usage]
    board["seconds_per_1k"] = [1000 * u.per_judgment(u.seconds) for u in usage]
    priced = opts.price_in is not None and opts.price_out is not None
    if priced:
        per_judgment = (
            board.prompt_tokens * opts.price_in + board.completion_tokens * opts.price_out
        )
        board["cost_per_1k"] = 1000 * per_judgment / 1e6
    else:
        board["cost_per_1k"] = [
            1000 * u.per_judgment(u.cost_usd) if u.cost_usd is not None else _NAN for u in usage
        ]
    unknown = "; cost unknown (pass --price-in and --price-out)"
    board["usage"] = [
        u.source + ("" if priced or u.cost_usd is not None or not u.judgments else unknown)
        for u in usage
    ]


def _meta(al: Aligned, opts: CompareOptions, headline: str, rounded: list[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "kind": al.kind,
        "headline": headline,
        "judges": list(al.judges),
        "humans": list(al.humans),
        "aligned_by": al.aligned_by,
        "items": len(al.values),
        "rows": dict(al.rows),
        "rows_common": al.rows_common,
        "bootstrap": opts.bootstrap,
        "resample": opts.resample,
        "confidence": opts.confidence,
        "seed": opts.seed,
        "notes": list(al.notes),
    }
    if al.kind == "pointwise":
        meta.update(scale=list(opts.rating_scale), rounded=rounded)
    else:
        meta["ties"] = opts.ties
    prices = {"prompt": opts.price_in, "completion": opts.price_out}
    meta["prices_usd_per_million_tokens"] = prices if opts.price_in is not None else None
    return meta


def _run_key(al: Aligned, judge: str) -> str | None:
    """Runs of one judge: the judge id up to its seed, and the same inputs."""
    group = run_group(al.judge_ids.get(judge))
    return f"{group} @ {al.inputs.get(judge)}" if group is not None else None


def _judges_table(al: Aligned) -> pd.DataFrame:
    columns = ["judge", "source", "column", "judge_id", "inputs", "run_group"]
    rows = [
        (j, str(al.paths.get(j) or "<DataFrame>"), al.columns[j], al.judge_ids.get(j))
        for j in al.judges
    ]
    return pd.DataFrame(
        [(*r, al.inputs.get(r[0]), _run_key(al, r[0])) for r in rows], columns=columns
    )


# --------------------------------------------------------------------------- JSON


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, row)) for row in frame.itertuples(index=False)]


def _square(frame: pd.DataFrame) -> dict[str, Any]:
    return {"raters": list(frame.columns), "values": frame.to_numpy().tolist()}


def _jsonable(value: Any) -> Any:
    """Plain JSON types; nan and inf become None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value) if isinstance(value, Path) else value
