"""Calibration (isotonic, cross-validated) and the length-controlled win rate: exact values
worked out by hand, invariants, and the CLI on real files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ultrajudge.analysis.calibration import CalibrationMap, fit_calibration
from ultrajudge.analysis.length_control import length_controlled_win_rate
from ultrajudge.cli import _register, app

if not any(c.name == "calibrate" for c in app.registered_commands):
    _register()
runner = CliRunner()


# --------------------------------------------------------------------------- length control


def test_lc_win_rate_saturated_two_groups() -> None:
    # a longer by 100 in 5 pairs (4 wins), shorter by 100 in 2 pairs (1 win): two distinct
    # tanh values, two parameters, so the fit reproduces each group's rate exactly:
    # σ(b0 + b1 t) = 4/5, σ(b0 − b1 t) = 1/2 → b0 = (ln 4 + 0) / 2 = ln 2 → LC = 2/3.
    lc = length_controlled_win_rate(
        ["A"] * 4 + ["B"] + ["A", "B"], [200] * 5 + [100] * 2, [100] * 5 + [200] * 2
    )
    assert lc.win_rate == pytest.approx(5 / 7)
    assert lc.lc_win_rate == pytest.approx(2 / 3, abs=1e-7)
    assert lc.intercept == pytest.approx(math.log(2), abs=1e-6)
    assert lc.slope > 0 and lc.n == 7


def test_lc_ties_count_half_and_missing_left_out() -> None:
    # longer side: A, tie (= 1.5 wins of 2); shorter side: B, tie (0.5 of 2) → b0 = 0 → 1/2
    lc = length_controlled_win_rate(
        ["A", "tie", "B", "tie", None], [300, 300, 100, 100, 5], [100, 100, 300, 300, 9]
    )
    assert lc.n == 4
    assert lc.win_rate == pytest.approx(0.5)
    assert lc.lc_win_rate == pytest.approx(0.5, abs=1e-7)


def test_lc_degenerate_cases() -> None:
    same = length_controlled_win_rate(["A", "A", "B"], [10, 10, 10], [5, 5, 5])
    assert same.lc_win_rate == pytest.approx(2 / 3) and same.slope == 0.0  # one Δ: plain rate
    empty = length_controlled_win_rate([None, "tie?"], [1, 2], [2, 1])
    assert empty.n == 0 and math.isnan(empty.lc_win_rate)
    with pytest.raises(ValueError, match="must align"):
        length_controlled_win_rate(["A"], [1, 2], [1])


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B", "tie"]), st.integers(1, 500),
                          st.integers(1, 500)), min_size=2, max_size=30))  # fmt: skip
def test_lc_swapping_a_and_b_mirrors_the_win_rate(rows: list[tuple[str, int, int]]) -> None:
    swap = {"A": "B", "B": "A", "tie": "tie"}
    v, la, lb = zip(*rows)
    lc = length_controlled_win_rate(list(v), list(la), list(lb))
    mirrored = length_controlled_win_rate([swap[x] for x in v], list(lb), list(la))
    assert 0 <= lc.lc_win_rate <= 1
    assert lc.win_rate + mirrored.win_rate == pytest.approx(1)
    assert lc.lc_win_rate + mirrored.lc_win_rate == pytest.approx(1, abs=1e-4)


# --------------------------------------------------------------------------- calibration


def test_isotonic_map_and_leave_one_out_by_hand() -> None:
    # pooled adjacent violators on (1,1) (2,3) (3,2) (4,4): 3 and 2 pool to 2.5.
    # Leave-one-out: x=1 from {(2,3),(3,2),(4,4)} → pooled 2.5 at 2, clipped → 2.5;
    # x=2 from {(1,1),(3,2),(4,4)} → halfway 1..2 → 1.5; x=3 from {(1,1),(2,3),(4,4)} → 3.5;
    # x=4 from {(1,1),(2,3),(3,2)} → 2.5 (clipped at 3).
    r = fit_calibration([1, 2, 3, 4], [1, 3, 2, 4], scale=(1, 2, 3, 4), folds=4)
    assert r.map([1, 2, 3, 4, 3.5, 9]).tolist() == [1.0, 2.5, 2.5, 4.0, 3.25, 4.0]
    assert r.cross_validated.tolist() == [2.5, 1.5, 3.5, 2.5]
    assert r.before["mae"] == 0.5 and r.after["mae"] == 1.5
    assert r.before["exact"] == 0.5


def test_calibration_fixes_a_shifted_judge() -> None:
    human = np.array([1, 2, 3, 4, 5] * 6, dtype=float)
    judge = np.clip(human + 1, 1, 5)  # one point high, 4 and 5 both become 5
    r = fit_calibration(judge, human, scale=(1, 2, 3, 4, 5), folds=5, seed=0)
    assert r.before["mae"] == pytest.approx(0.8)
    assert r.map([2, 3, 4]).tolist() == [1.0, 2.0, 3.0]
    assert r.after["mae"] < r.before["mae"]
    roundtrip = CalibrationMap.from_json(r.map.to_json())
    assert roundtrip == r.map


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 5), st.integers(1, 5)), min_size=4, max_size=40))
def test_calibration_map_is_monotone_and_on_scale(pairs: list[tuple[float, int]]) -> None:
    x, y = zip(*pairs)
    r = fit_calibration(list(x), list(y), scale=(1, 2, 3, 4, 5), folds=2)
    grid = r.map(np.linspace(0, 6, 61))
    assert np.all(np.diff(grid) >= -1e-12)
    assert grid.min() >= 1 and grid.max() <= 5


def test_calibration_bad_inputs() -> None:
    with pytest.raises(ValueError, match="folds"):
        fit_calibration([1, 2], [1, 2], scale=(1, 2), folds=3)
    with pytest.raises(ValueError, match="align"):
        fit_calibration([1, 2], [1], scale=(1, 2))
    with pytest.raises(ValueError, match="not a calibration map"):
        CalibrationMap.from_json('{"x": [1]}')


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_calibrate_cli_fits_applies_and_reports(tmp_path: Path) -> None:
    labelled = _jsonl(
        tmp_path / "labelled.jsonl",
        [{"instruction": "i", "ratings": [1, 2], "human": [1, 3]},
         {"instruction": "j", "ratings": [3, 4], "human": [2, 4]}],
    )  # fmt: skip
    new = _jsonl(tmp_path / "new.jsonl", [{"instruction": "k", "ratings": [2, None, 3.5]}])
    out, cmap, report = tmp_path / "calibrated.jsonl", tmp_path / "map.json", tmp_path / "r.html"
    result = runner.invoke(
        app,
        ["calibrate", str(labelled), "--human-col", "human", "--scale", "1-4", "--folds", "4",
         "--save-map", str(cmap), "--apply", str(new), "--out", str(out), "--report", str(report)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "mae                  0.500     1.500" in result.output
    row = json.loads(out.read_text().splitlines()[0])
    assert row["ratings_calibrated"] == [2.5, None, 3.25]
    assert json.loads(cmap.read_text())["y"] == [1.0, 2.5, 2.5, 4.0]
    html = report.read_text()
    assert "Reliability" in html and "data:image/png;base64," in html
    bad = _jsonl(tmp_path / "bad.jsonl", [{"ratings": [1, 2], "human": [1]}])
    result = runner.invoke(app, ["calibrate", str(bad), "--human-col", "human", "--folds", "2"])
    assert result.exit_code == 2 and "row 1" in result.output
