"""Calibration on files: scores and human ratings read from a scored file, the map applied
to new scored files, and the report with its reliability plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ultrajudge.analysis.calibration import CalibrationMap, CalibrationResult
from ultrajudge.analysis.report import Report, new_figure
from ultrajudge.judge.io import DataError

__all__ = ["apply_map", "build_report", "figures_table", "paired_values", "reliability_figure"]


def _number(value: Any, where: str) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"{where}: {value!r} is not a number")
    return float(value)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def paired_values(ds: Any, scores_col: str, human_col: str) -> tuple[np.ndarray, np.ndarray]:
    """Judge scores and human ratings per item: a list column per row (one value per
    completion, as ``score`` writes) or one value per row; None is missing."""
    for col, flag in ((scores_col, "--scores-col"), (human_col, "--human-col")):
        if col not in ds.column_names:
            raise DataError(f"column {col!r} not found; columns are {ds.column_names}; pass {flag}")
    xs: list[float] = []
    ys: list[float] = []
    for i, row in enumerate(ds.select_columns([scores_col, human_col])):
        scores, human = _as_list(row[scores_col]), _as_list(row[human_col])
        if len(scores) != len(human):
            raise DataError(
                f"row {i + 1}: {scores_col!r} has {len(scores)} values but {human_col!r} has "
                f"{len(human)}; they must be one per completion"
            )
        xs += [_number(v, f"row {i + 1}, column {scores_col!r}") for v in scores]
        ys += [_number(v, f"row {i + 1}, column {human_col!r}") for v in human]
    return np.array(xs), np.array(ys)


def apply_map(ds: Any, cmap: CalibrationMap, scores_col: str) -> Any:
    """``ds`` with ``<scores_col>_calibrated`` (same shape as the scores; None stays None)."""
    if scores_col not in ds.column_names:
        raise DataError(f"column {scores_col!r} not found; columns are {ds.column_names}")
    name = f"{scores_col}_calibrated"
    if name in ds.column_names:
        raise DataError(f"the input already has a column {name!r}; rename it first")

    def one(value: Any, where: str) -> float | None:
        x = _number(value, where)
        return None if np.isnan(x) else float(cmap([x])[0])

    def add(row: dict[str, Any], i: int) -> dict[str, Any]:
        value, where = row[scores_col], f"row {i + 1}, column {scores_col!r}"
        if isinstance(value, list | tuple):
            return {name: [one(v, where) for v in value]}
        return {name: one(value, where)}

    return ds.map(add, with_indices=True)


def _binned(values: np.ndarray, human: np.ndarray, scale: tuple[int, ...]) -> pd.DataFrame:
    snapped = np.clip(np.rint(values), scale[0], scale[-1])
    frame = pd.DataFrame({"bin": snapped, "human": human})
    return frame.groupby("bin").human.agg(["mean", "size"])


def reliability_figure(result: CalibrationResult) -> Any:
    """Mean human rating per judge score (rounded to the scale), before and after (the
    cross-validated calibrated values); a calibrated judge lies on the diagonal."""
    fig, ax = new_figure(5.5, 4.2)
    scale = result.map.scale
    ax.plot([scale[0], scale[-1]], [scale[0], scale[-1]], color="#999", ls="--", label="ideal")
    for label, values, marker in (
        ("before", result.scores, "o"),
        ("after (cross-validated)", result.cross_validated, "s"),
    ):
        bins = _binned(values, result.human, scale)
        ax.plot(bins.index, bins["mean"], marker=marker, label=label)
    ax.set_xlabel("judge score (rounded to the scale)")
    ax.set_ylabel("mean human rating")
    ax.legend()
    return fig


def figures_table(result: CalibrationResult) -> pd.DataFrame:
    """Agreement before and after, one row per statistic."""
    return pd.DataFrame({"before": result.before, "after": result.after}).rename_axis("statistic")


def build_report(result: CalibrationResult, *, source: str | Path) -> Report:
    report = Report(title="Judge calibration")
    section = report.section("Agreement with human ratings")
    section.text(
        f"{len(result.scores)} items from {source}; isotonic regression fitted per fold "
        f"({result.folds}-fold cross-validation), 'after' measured on held-out items."
    )
    section.table(figures_table(result))
    section.figure(
        reliability_figure(result),
        caption="Reliability: mean human rating per judge score, before and after calibration",
    )
    mapping = report.section("The map (fitted on all items)")
    mapping.table(pd.DataFrame({"judge score": result.map.x, "calibrated": result.map.y}))
    return report
