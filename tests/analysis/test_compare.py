"""Comparison tables on inputs whose answers are known: alignment, n per cell, failures, floats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ultrajudge.analysis.agreement import STATISTICS, cohen_kappa, spearman
from ultrajudge.analysis.compare import (
    CompareOptions,
    Source,
    compare,
    compare_pairwise,
    compare_pointwise,
)
from ultrajudge.judge.io import DataError

HUMAN = [[5, 1], [4, 2], [3, 3], [5, 2], [1, 4], [2, 5]]
IDS = [f"r{i}" for i in range(len(HUMAN))]
QUICK = CompareOptions(bootstrap=0)


def scored(
    ratings: list[list[float | None]],
    *,
    ids: list[str] | None = IDS,
    judge: str = "m | ultrafeedback/overall@1 | generate | greedy",
    statuses: list[list[str]] | None = None,
    human: list[list[int]] | None = HUMAN,
) -> pd.DataFrame:
    """A scored file as ``ultrajudge score`` writes it (ids, instructions follow the rows)."""
    n = len(ratings)
    frame = pd.DataFrame(
        {
            "instruction": [f"question {i}" for i in range(n)],
            "completions": [["x" * 10, "y" * 100] for _ in range(n)],
            "ratings": ratings,
            "rating_status": statuses
            or [["ok" if r is not None else "parse_error" for r in row] for row in ratings],
            "judge": [judge] * n,
        }
    )
    if ids is not None:
        frame.insert(0, "id", ids[:n])
    if human is not None:
        frame["human_ratings"] = human[:n]
    return frame


def flat(rows: list[list[float | None]]) -> list[float]:
    return [np.nan if v is None else float(v) for row in rows for v in row]


def board_row(c, judge: str) -> pd.Series:
    return c.leaderboard.set_index("judge").loc[judge]


# --------------------------------------------------------------------------- known answers


def test_judge_identical_to_human_agrees_perfectly() -> None:
    c = compare([Source(scored(HUMAN), name="copy")], human_cols=["human_ratings"], options=QUICK)
    row = board_row(c, "copy")
    for stat in ("kappa", "kappa_linear", "kappa_quadratic", "spearman", "pearson", "exact"):
        assert row[stat] == pytest.approx(1.0), stat
    assert (row["n_human"], row["bias"], row["failure_rate"]) == (12, 0.0, 0.0)
    assert c.meta["headline"] == "kappa_quadratic" and c.leaderboard.columns[1] == "kappa_quadratic"


def test_constant_judge_gives_zero_kappa_nan_correlations_and_defined_agreement() -> None:
    threes = [[3, 3] for _ in HUMAN]
    c = compare(
        [Source(scored(threes), name="threes")], human_cols=["human_ratings"], options=QUICK
    )
    row = board_row(c, "threes")
    for stat in ("kappa", "kappa_quadratic"):  # p_o = p_e: 0, as scikit-learn gives
        assert row[stat] == pytest.approx(0.0, abs=1e-12), stat
    for stat in ("spearman", "kendall_tau_b", "pearson"):  # zero variance: 0/0
        assert math.isnan(row[stat]), stat
    assert row["exact"] == pytest.approx(2 / 12)
    assert row["mean_rating"] == 3.0


def test_every_cell_matches_the_scalar_statistic_and_the_matrix_is_symmetric() -> None:
    a = [[4, 1], [4, 3], [2, 3], [5, 1], [2, 4], [1, 5]]
    b = [[5, 2], [3, 2], [3, 3], [4, 2], [1, 3], [3, 5]]
    c = compare([Source(scored(a), name="a"), Source(scored(b), name="b")], options=QUICK)
    for name, stat in STATISTICS.items():
        m = c.matrix[name]
        assert m.loc["a", "b"] == m.loc["b", "a"]
        assert m.loc["a", "b"] == pytest.approx(stat(flat(a), flat(b), (1, 2, 3, 4, 5)))
    assert c.n.loc["a", "b"] == 12 and list(c.pairs.rater_a) == ["a"]
    assert c.human_ceiling.empty and math.isnan(board_row(c, "a")["kappa_quadratic"])


def test_failed_ratings_count_as_failures_and_never_enter_a_statistic() -> None:
    ratings: list[list[float | None]] = [list(map(float, row)) for row in HUMAN]
    ratings[0][0] = ratings[2][1] = None
    statuses = [["ok", "ok"] for _ in HUMAN]
    statuses[0][0], statuses[2][1] = "parse_error", "out_of_range"
    ratings[4][0] = 3.0  # one real disagreement
    c = compare(
        [Source(scored(ratings, statuses=statuses), name="j")],
        human_cols=["human_ratings"],
        options=QUICK,
    )
    row = board_row(c, "j")
    assert row["failure_rate"] == pytest.approx(2 / 12)
    assert (row["n_items"], row["n_rated"], row["n_human"]) == (12, 10, 10)
    assert row["exact"] == pytest.approx(9 / 10)
    expected = cohen_kappa(flat(ratings), flat(HUMAN), scale=(1, 2, 3, 4, 5), weights="quadratic")
    assert row["kappa_quadratic"] == pytest.approx(expected)


def test_na_is_not_a_failure() -> None:
    ratings: list[list[float | None]] = [list(map(float, row)) for row in HUMAN]
    ratings[1][1] = None
    statuses = [["ok", "ok"] for _ in HUMAN]
    statuses[1][1] = "na"
    c = compare([Source(scored(ratings, statuses=statuses), name="j")], options=QUICK)
    row = board_row(c, "j")
    assert (row["failure_rate"], row["n_rated"]) == (0.0, 11)


# --------------------------------------------------------------------------- alignment


def test_alignment_by_id_survives_shuffled_rows_and_a_shorter_file() -> None:
    judge = [[4, 1], [4, 3], [2, 3], [5, 1], [2, 4], [1, 5]]
    full = scored(judge)
    part = full.iloc[[5, 0, 3, 2]].reset_index(drop=True)  # shuffled, rows r1 and r4 missing
    c = compare(
        [Source(full, name="full"), Source(part, name="part")],
        human_cols=["human_ratings"],
        options=QUICK,
    )
    assert c.meta["aligned_by"] == "id column 'id'" and c.meta["items"] == 12
    assert c.n.loc["full", "part"] == 8 and c.matrix["exact"].loc["full", "part"] == 1.0
    kept = [0, 2, 3, 5]
    expected = cohen_kappa(
        flat([judge[i] for i in kept]),
        flat([HUMAN[i] for i in kept]),
        scale=(1, 2, 3, 4, 5),
        weights="quadratic",
    )
    assert board_row(c, "part")["kappa_quadratic"] == pytest.approx(expected)
    assert board_row(c, "part")["n_human"] == 8


def test_row_order_alignment_checks_instructions() -> None:
    a, b = scored(HUMAN, ids=None), scored(HUMAN, ids=None).iloc[:4]
    c = compare([Source(a, name="a"), Source(b, name="b")], options=QUICK)
    assert c.meta["aligned_by"] == "row order" and c.n.loc["a", "b"] == 8
    shuffled = a.iloc[::-1].reset_index(drop=True)
    with pytest.raises(DataError, match="--id-col"):
        compare([Source(a, name="a"), Source(shuffled, name="b")], options=QUICK)


def test_same_id_with_a_different_instruction_is_an_error() -> None:
    other = scored(HUMAN)
    other.loc[2, "instruction"] = "something else"
    with pytest.raises(DataError, match="share id 'r2'"):
        compare([Source(scored(HUMAN), name="a"), Source(other, name="b")], options=QUICK)


def test_duplicate_ids_and_missing_columns_are_errors() -> None:
    dup = scored(HUMAN, ids=["x"] * 6)
    with pytest.raises(DataError, match="repeats"):
        compare([Source(dup, name="a")], options=QUICK)
    with pytest.raises(DataError, match="human column|not found"):
        compare([Source(scored(HUMAN), name="a")], human_cols=["nope"], options=QUICK)
    with pytest.raises(DataError, match="no ratings or verdict column"):
        compare([pd.DataFrame({"x": [1]})], options=QUICK)
    with pytest.raises(ValueError, match="not unique"):
        compare([Source(scored(HUMAN), name="a"), Source(scored(HUMAN), name="a")], options=QUICK)


def test_source_parse_and_columns_of_one_file(tmp_path: Path) -> None:
    assert Source.parse("s.jsonl:ratings_honesty") == Source("s.jsonl", "ratings_honesty")
    assert Source.parse("dir/s.jsonl") == Source("dir/s.jsonl")
    path = tmp_path / "two.jsonl"
    frame = scored(HUMAN).assign(
        ratings_helpfulness=HUMAN,
        ratings_honesty=[[r[1], r[0]] for r in HUMAN],
        rating_status_honesty=[["ok", "parse_error"] for _ in HUMAN],
    )
    frame.to_json(path, orient="records", lines=True)
    sources = [f"{path}:ratings_helpfulness", f"{path}:ratings_honesty"]
    c = compare(sources, human_cols=["human_ratings"], options=QUICK)
    assert list(c.matrix["exact"].index) == [
        "two:ratings_helpfulness",
        "two:ratings_honesty",
        "human_ratings",
    ]
    assert board_row(c, "two:ratings_helpfulness")["kappa"] == pytest.approx(1.0)
    assert board_row(c, "two:ratings_honesty")["failure_rate"] == 0.5  # its own status column


# --------------------------------------------------------------------------- floats, humans, runs


def test_float_ratings_use_floats_for_correlations_and_rounding_for_kappa() -> None:
    floats = [[4.6, 1.2], [3.9, 2.4], [3.1, 2.6], [4.4, 1.9], [1.3, 3.6], [2.2, 4.7]]
    c = compare([Source(scored(floats), name="lp")], human_cols=["human_ratings"], options=QUICK)
    row = board_row(c, "lp")
    assert bool(row["rounded"]) and c.meta["rounded"] == ["lp"]
    assert row["spearman"] == pytest.approx(spearman(flat(floats), flat(HUMAN)))
    rounded = [[5, 1], [4, 2], [3, 3], [4, 2], [1, 4], [2, 5]]
    assert row["kappa"] == pytest.approx(cohen_kappa(flat(rounded), flat(HUMAN), scale=range(1, 6)))
    with pytest.raises(ValueError, match="outside the scale"):
        compare([Source(scored([[7, 1]] * 6), name="x")], options=QUICK)


def test_several_human_columns_give_a_ceiling_and_mean_agreement() -> None:
    frame = scored(HUMAN).assign(second=[[r[0], min(5, r[1] + 1)] for r in HUMAN])
    c = compare([Source(frame, name="j")], human_cols=["human_ratings", "second"], options=QUICK)
    assert list(zip(c.human_ceiling.rater_a, c.human_ceiling.rater_b)) == [
        ("human_ratings", "second")
    ]
    exact_humans = c.human_ceiling["exact"].iloc[0]
    assert exact_humans == pytest.approx(7 / 12)  # second completions differ but for [2, 5]
    assert board_row(c, "j")["exact"] == pytest.approx((1 + exact_humans) / 2)
    assert c.overall["human_ceiling_kappa_quadratic"] == c.human_ceiling["kappa_quadratic"].iloc[0]
    assert math.isnan(board_row(c, "j")["kappa_quadratic_low"])  # intervals only per pair


def test_runs_differing_only_in_seed_report_their_spread() -> None:
    sampled = "m | ultrafeedback/overall@1 | generate | t=0.7,top_p=1.0,seed={}"
    run1 = scored([[4, 1], [4, 3], [2, 3], [5, 1], [2, 4], [1, 5]], judge=sampled.format(1))
    run2 = scored([[5, 1], [4, 2], [3, 3], [4, 2], [1, 4], [2, 4]], judge=sampled.format(2))
    other = scored(HUMAN, judge="other | x | generate | greedy")
    sources = [Source(run1, name="s1"), Source(run2, name="s2"), Source(other, name="o")]
    c = compare(sources, human_cols=["human_ratings"], options=QUICK)
    board = c.leaderboard.set_index("judge")
    assert list(board.runs) == [1, 2, 2] and list(board.index) == ["o", "s2", "s1"]
    kappas = board.loc[["s1", "s2"], "kappa_quadratic"]
    assert board.loc["s1", "kappa_quadratic_std_runs"] == pytest.approx(kappas.std(ddof=1))
    assert math.isnan(board.loc["o", "kappa_quadratic_std_runs"])
    judges = c.judges.set_index("judge")
    assert judges.loc["s1", "run_group"] == judges.loc["s2", "run_group"]
    assert judges.loc["s1", "run_group"].startswith(
        "m | ultrafeedback/overall@1 | generate | t=0.7,top_p=1.0 @ "
    )


def test_runs_of_one_judge_on_different_inputs_are_not_seed_runs() -> None:
    sampled = "m | ultrafeedback/overall@1 | generate | t=0.7,top_p=1.0,seed={}"
    run1 = scored([[4, 1], [4, 3], [2, 3], [5, 1], [2, 4], [1, 5]], judge=sampled.format(1))
    run2 = scored([[5, 1], [4, 2], [3, 3], [4, 2], [1, 4], [2, 4]], judge=sampled.format(2))
    run2["completions"] = [["other answer", "y" * 100] for _ in range(len(run2))]  # other data
    c = compare([Source(run1, name="s1"), Source(run2, name="s2")], options=QUICK)
    board = c.leaderboard.set_index("judge")
    assert list(board.runs) == [1, 1]
    assert board["kappa_quadratic_std_runs"].isna().all()
    judges = c.judges.set_index("judge")
    assert judges.loc["s1", "inputs"] != judges.loc["s2", "inputs"]


def test_sources_sharing_no_ids_are_an_error() -> None:
    a = scored(HUMAN, ids=[f"a{i}" for i in range(6)])
    b = scored(HUMAN, ids=[f"b{i}" for i in range(6)])
    with pytest.raises(DataError, match=r"^a shares no id \(id column 'id'\) with the other files"):
        compare([Source(a, name="a"), Source(b, name="b")], options=QUICK)


def test_no_item_rated_by_two_raters_is_an_error() -> None:
    a = scored([[4, None]] * 6, human=None)
    b = scored([[None, 2]] * 6, human=None)
    with pytest.raises(DataError, match=r"no item is rated by two of \['a', 'b'\]"):
        compare([Source(a, name="a"), Source(b, name="b")], options=QUICK)


def test_partial_overlap_is_reported() -> None:
    a = scored(HUMAN)
    b = scored(HUMAN[2:6], ids=IDS[2:6])
    b["instruction"] = [f"question {i}" for i in range(2, 6)]
    c = compare([Source(a, name="a"), Source(b, name="b")], options=QUICK)
    assert c.meta["rows"] == {"a": 6, "b": 4} and c.meta["rows_common"] == 4
    assert "partial overlap: a 6 rows, b 4 rows, 4 in common" in c.meta["notes"][0]
    assert c.pairs.loc[0, "n"] == 8  # 4 rows × 2 completions


def test_bootstrap_intervals_are_seeded_and_cover_the_value() -> None:
    a = [[4, 1], [4, 3], [2, 3], [5, 1], [2, 4], [1, 5]] * 5
    frame = scored(a, ids=[str(i) for i in range(30)], human=HUMAN * 5)
    run = lambda seed: compare(  # noqa: E731
        [Source(frame, name="j")],
        human_cols=["human_ratings"],
        options=CompareOptions(bootstrap=200, seed=seed),
    )
    first, again, other = run(0), run(0), run(1)
    pd.testing.assert_frame_equal(first.pairs, again.pairs)
    assert not first.pairs.equals(other.pairs)
    row = board_row(first, "j")
    assert row["kappa_quadratic_low"] <= row["kappa_quadratic"] <= row["kappa_quadratic_high"]
    assert first.pairs.columns.tolist()[:6] == [
        "rater_a",
        "rater_b",
        "n",
        "kappa",
        "kappa_low",
        "kappa_high",
    ]


def test_length_preference_reads_each_rows_completions_as_a_pair() -> None:
    # completion 1 is 90 characters longer; the judge prefers it in rows 1, 4, 5 and ties row 2
    c = compare([Source(scored(HUMAN), name="j")], options=QUICK)
    row = board_row(c, "j")
    assert row["p_prefer_longer"] == pytest.approx(2 / 5)
    assert not math.isnan(row["rating_length_spearman"])


def test_tokens_seconds_and_cost_are_never_read_from_the_store(tmp_path: Path) -> None:
    from ultrajudge.judge.store import ResultStore, default_store_path

    judge = "m | ultrafeedback/overall@1 | generate | greedy"
    path = tmp_path / "scored.jsonl"
    scored(HUMAN, judge=judge).to_json(path, orient="records", lines=True)
    stored = {"judge": judge, "ratings": [{}, {}], "prompt_tokens": 100, "completion_tokens": 40}
    with ResultStore(default_store_path(path)) as store:
        store.put_many([("k1", stored | {"seconds": 0.5}, True)], kind="rating")
    options = CompareOptions(bootstrap=0, price_in=2.0, price_out=10.0)
    row = board_row(compare([path], options=options), "scored")
    for column in ("prompt_tokens", "completion_tokens", "seconds_per_1k", "cost_per_1k"):
        assert math.isnan(row[column]), column  # no run record: unknown (test_compare_usage)
    assert row["usage"] == "cost unknown: no run record (scored.jsonl.run.json)"
    frame = board_row(compare([scored(HUMAN)], options=QUICK), "judge_1")
    assert (
        math.isnan(frame["prompt_tokens"])
        and frame["usage"] == "cost unknown: not read from a file"
    )


def test_to_dict_is_strict_json_with_nan_as_null() -> None:
    c = compare([Source(scored([[3, 3]] * 6), name="threes")], human_cols=["human_ratings"])
    data = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert data["leaderboard"][0]["spearman"] is None and data["meta"]["scale"] == [1, 2, 3, 4, 5]
    assert data["matrix"]["n"]["values"] == [[12, 12], [12, 12]]
    assert set(c.tables()) >= {"leaderboard", "pairs", "human_ceiling", "matrix_kappa_quadratic"}


# --------------------------------------------------------------------------- pairwise


def verdicts(
    rows: list[tuple[str | None, str | None, str | None, str]],
    *,
    judge: str = "p | t | pairwise-generate | greedy",
) -> pd.DataFrame:
    """(verdict_first, verdict_second, status-or-None, first_position) per pair, settled like
    ``ultrajudge.judge.pairwise.combine``; gold labels and response lengths are fixed."""
    out = []
    for i, (first, second, failed, position) in enumerate(rows):
        verdict = None if failed else (first if first == second else "tie")
        out.append(
            {
                "id": f"p{i}",
                "instruction": f"q{i}",
                "response_a": "a" * (100 if i % 2 else 10),
                "response_b": "b" * (10 if i % 2 else 100),
                "label": GOLD[i],
                "verdict": verdict,
                "verdict_status": failed or "ok",
                "verdict_first": first,
                "verdict_second": second,
                "first_position": position,
                "consistent": None if failed else first == second,
                "judge": judge,
            }
        )
    return pd.DataFrame(out)


GOLD = ["A", "B", "tie", "A", "B", "A"]
PAIRS = [
    ("A", "A", None, "A"),  # consistent A
    ("B", "B", None, "B"),  # consistent B
    ("A", "B", None, "A"),  # shown-first wins both times: a flip, settled as tie
    ("A", "tie", None, "B"),  # inconsistent -> tie
    ("B", "B", None, "A"),
    (None, "A", "parse_error", "A"),  # failed
]


def test_pairwise_accuracy_agreement_and_position_bias() -> None:
    from ultrajudge.analysis.agreement import label_agreement, preference_accuracy
    from ultrajudge.analysis.bias import length_preference

    frame = verdicts(PAIRS)
    for ties in ("half", "exclude"):
        c = compare_pairwise(
            [Source(frame, name="j")],
            human_cols=["label"],
            options=CompareOptions(bootstrap=0, ties=ties),
        )
        row = board_row(c, "j")
        expected = preference_accuracy(frame.verdict, frame.label, ties=ties)
        assert row["accuracy"] == pytest.approx(expected.accuracy) and row["ties"] == ties
        assert c.meta["ties"] == ties
    assert row["agreement"] == pytest.approx(label_agreement(frame.verdict, frame.label))
    assert row["agreement_no_ties"] == pytest.approx(
        label_agreement(frame.verdict, frame.label, include_ties=False)
    )
    assert row["failure_rate"] == pytest.approx(1 / 6)
    # pairs 0, 1, 4 agree across orders; in pair 2 the response shown first wins both times
    assert row["position_consistency"] == pytest.approx(3 / 5)
    assert row["flip_rate"] == pytest.approx(1 / 5)
    assert row["n_both_orders"] == 5
    lengths = frame.response_a.str.len(), frame.response_b.str.len()
    assert row["p_prefer_longer"] == pytest.approx(length_preference(frame.verdict, *lengths))
    assert (row["p_a"], row["p_b"], row["p_tie"]) == pytest.approx((1 / 5, 2 / 5, 2 / 5))


def test_pairwise_statistics_equal_the_scalar_functions() -> None:
    from ultrajudge.analysis.agreement import label_agreement, preference_accuracy
    from ultrajudge.analysis.compare_stats import LABEL_CODES, PAIRWISE_STATISTICS

    rng = np.random.default_rng(3)
    labels = np.array(["A", "B", "tie", None], dtype=object)
    for _ in range(20):
        a, b = rng.choice(labels, 40, p=[0.4, 0.3, 0.2, 0.1]), rng.choice(labels, 40)
        code = lambda x: [LABEL_CODES.get(v, np.nan) for v in x]  # noqa: E731
        value = {n: s(code(a), code(b), (1, 2, 3)) for n, s in PAIRWISE_STATISTICS.items()}
        assert value["agreement"] == pytest.approx(label_agreement(a, b))
        assert value["agreement_no_ties"] == pytest.approx(
            label_agreement(a, b, include_ties=False), nan_ok=True
        )
        assert value["agreement_ties_half"] == pytest.approx(preference_accuracy(a, b).accuracy)


def test_pairwise_judge_matrix_and_kind_checks() -> None:
    same = verdicts(PAIRS)
    c = compare([Source(same, name="x"), Source(same.copy(), name="y")], options=QUICK)
    assert c.kind == "pairwise" and c.matrix["agreement"].loc["x", "y"] == 1.0
    assert c.n.loc["x", "y"] == 5 and c.matrix["kappa"].loc["x", "y"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cannot compare scored files with verdict files"):
        compare([Source(same, name="x"), Source(scored(HUMAN), name="s")], options=QUICK)
    with pytest.raises(DataError, match="must be numbers"):
        compare_pointwise([Source(same, name="x")], options=QUICK)
    bad = same.assign(label=["A", "B", "left", "A", "B", "A"])
    with pytest.raises(DataError, match="not A, B or tie"):
        compare([Source(bad, name="x")], human_cols=["label"], options=QUICK)


def test_package_exports_resolve() -> None:
    from ultrajudge import analysis

    for name in analysis.__all__:
        assert getattr(analysis, name) is not None
