"""``ultrajudge meta-eval`` end to end on small files in each suite's own format, with a
scripted judge whose verdict per shown order is fixed; every expected figure is worked out
by hand in the comments."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app

if not any(c.name == "meta-eval" for c in app.registered_commands):
    _register()
runner = CliRunner()

SHOWN_A = "[Start of Assistant A's answer]\n"


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _first_shown(rules: dict[str, str]) -> list[dict[str, str]]:
    """Scripted outputs: when the text starting with KEY is shown first, answer [[VERDICT]]."""
    return [{"match": SHOWN_A + k, "output": f"Compared.\n[[{v}]]"} for k, v in rules.items()]


def _run(tmp_path: Path, suite: str, data: Path, script: list[dict[str, Any]]) -> dict[str, Any]:
    judge = _jsonl(tmp_path / "script.jsonl", script)
    out = tmp_path / "figures.json"
    result = runner.invoke(
        app,
        [
            "meta-eval",
            suite,
            "--judge",
            f"scripted:{judge}",
            "--data",
            str(data),
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "suite: " in result.output and "ours: " in result.output
    figures = json.loads(out.read_text())
    figures["stdout"] = result.output
    return figures


def _row(figures: dict[str, Any], group: str) -> dict[str, Any]:
    return next(r for r in figures["table"] if r["group"] == group)


def test_judgebench_vote_sum_and_inconsistency(tmp_path: Path) -> None:
    def pair(pid: str, source: str, a: str, b: str, label: str) -> dict[str, str]:
        return {"pair_id": pid, "original_id": pid, "source": source, "question": f"q {pid}",
                "response_model": "m", "response_A": a, "response_B": b, "label": label}  # fmt: skip

    data = _jsonl(
        tmp_path / "judgebench.jsonl",
        [
            pair("p1", "mmlu-pro-biology", "alpha-right", "alpha-wrong", "A>B"),  # always right
            pair("p2", "livebench-math", "beta-wrong", "beta-right", "B>A"),  # first shown wins
            pair("p3", "livecodebench", "gamma-right", "gamma-wrong", "A>B"),  # right, or tie
            pair("p4", "livebench-reasoning", "delta-wrong", "delta-right", "B>A"),  # always wrong
            pair("p5", "mmlu-pro-law", "eps-right", "eps-wrong", "A>B"),  # right, or tie
        ],
    )
    script = _first_shown(
        {"alpha-right": "A", "alpha-wrong": "B", "beta-": "A", "gamma-right": "A",
         "gamma-wrong": "C", "delta-wrong": "A", "delta-right": "B", "eps-right": "A",
         "eps-wrong": "C"}
    )  # fmt: skip
    figures = _run(tmp_path, "judgebench", data, script)
    # votes: p1 +2, p2 +1-1=0, p3 +1+0, p4 -2, p5 +1+0 -> correct p1, p3, p5: 3/5
    # ours: p1 A (1), p2 tie (.5), p3 tie (.5), p4 wrong (0), p5 tie (.5) -> 2.5/5
    overall = _row(figures, "overall")
    assert overall["suite: accuracy (votes sum)"] == pytest.approx(3 / 5)
    assert overall["suite: inconsistency"] == pytest.approx(3 / 5)  # p2, p3, p5
    assert overall["ours: accuracy (ties half)"] == pytest.approx(2.5 / 5)
    knowledge = _row(figures, "knowledge")  # p1 and p5
    assert knowledge["n"] == 2
    assert knowledge["suite: accuracy (votes sum)"] == 1.0
    assert knowledge["suite: inconsistency"] == 0.5
    assert knowledge["ours: accuracy (ties half)"] == 0.75
    assert _row(figures, "math")["suite: accuracy (votes sum)"] == 0.0
    assert _row(figures, "coding")["suite: accuracy (votes sum)"] == 1.0
    assert _row(figures, "reasoning")["ours: accuracy (ties half)"] == 0.0
    assert figures["overall"] == {"suite_accuracy": 0.6, "ours_accuracy": 0.5}


def test_compare_ties_judgebench_on_a_verdict_file(tmp_path: Path) -> None:
    data = _jsonl(
        tmp_path / "jb.jsonl",
        [{"pair_id": str(i), "source": "livecodebench", "question": f"q{i}", "response_A": a,
          "response_B": b, "label": label}
         for i, (a, b, label) in enumerate([("r1", "w1", "A>B"), ("w2", "r2", "B>A"),
                                             ("r3", "w3", "A>B"), ("r4", "w4", "A>B")])],
    )  # fmt: skip
    # r1 always wins; pair 2: first shown wins; pair 3: right when shown first, else tie;
    # pair 4 like pair 3. Votes: +2, 0, +1, +1 -> 3/4; ties half: 1, .5, .5, .5 -> 2.5/4;
    # excluding ties leaves pair 1 -> 1/1
    script = _first_shown({"r1": "A", "w1": "B", "w2": "A", "r2": "A", "r3": "A", "w3": "C",
                           "r4": "A", "w4": "C"})  # fmt: skip
    judge = _jsonl(tmp_path / "script.jsonl", script)
    judged = tmp_path / "judged.jsonl"
    result = runner.invoke(app, ["meta-eval", "judgebench", "-j", f"scripted:{judge}",
                                 "--data", str(data), "--out", str(judged)])  # fmt: skip
    assert result.exit_code == 0, result.output
    accuracies = {}
    for ties in ("judgebench", "half", "exclude"):
        out = tmp_path / f"{ties}.json"
        result = runner.invoke(app, ["compare", str(judged), "--gold-col", "gold", "--ties", ties,
                                     "--bootstrap", "0", "--out", str(out)])  # fmt: skip
        assert result.exit_code == 0, result.output
        board = json.loads(out.read_text())["leaderboard"][0]
        accuracies[ties] = board["accuracy"]
        # equal lengths everywhere: the LC win rate of a is its plain rate, 1 + 3 ties / 4
        assert board["win_rate_a"] == board["lc_win_rate_a"] == pytest.approx(0.625)
    assert accuracies == {"judgebench": 0.75, "half": 0.625, "exclude": 1.0}


def test_judgebench_auto_judge_runs_and_rejects_other_formats(tmp_path: Path) -> None:
    data = _jsonl(
        tmp_path / "jb.jsonl",
        [{"pair_id": "1", "source": "livecodebench", "question": "q", "response_A": "a",
          "response_B": "b", "label": "A>B"}],
    )  # fmt: skip
    ok = runner.invoke(
        app, ["meta-eval", "judgebench", "--judge", "scripted:auto", "--data", str(data)]
    )
    assert ok.exit_code == 0, ok.output
    assert "suite: accuracy (votes sum)" in ok.output and "ours: accuracy (ties half)" in ok.output
    bad = _jsonl(tmp_path / "bad.jsonl", [{"question": "q", "response_A": "a", "response_B": "b",
                                           "label": "A=B", "source": "x"}])  # fmt: skip
    result = runner.invoke(
        app, ["meta-eval", "judgebench", "-j", "scripted:auto", "--data", str(bad)]
    )
    assert result.exit_code == 2
    assert "row 1: label 'A=B'" in result.output
    wrong = _jsonl(tmp_path / "wrong.jsonl", [{"prompt": "q", "chosen": "a"}])
    result = runner.invoke(
        app, ["meta-eval", "judgebench", "-j", "scripted:auto", "--data", str(wrong)]
    )
    assert result.exit_code == 2 and "own format" in result.output
    result = runner.invoke(app, ["meta-eval", "nosuch", "-j", "scripted:auto", "--data", str(data)])
    assert result.exit_code == 2 and "unknown suite" in result.output


def test_rewardbench_subsets_and_section_score(tmp_path: Path) -> None:
    def pair(subset: str, chosen: str, rejected: str) -> dict[str, str]:
        return {"prompt": f"q {chosen}", "chosen": chosen, "rejected": rejected, "subset": subset,
                "id": chosen}  # fmt: skip

    data = _jsonl(
        tmp_path / "rb.jsonl",
        [
            pair("alpacaeval-easy", "c1-good", "c1-bad"),  # chosen wins: 1
            pair("alpacaeval-easy", "c2-x", "c2-y"),  # first shown wins -> tie: 0.5
            pair("mt-bench-easy", "c3-good", "c3-bad"),  # rejected wins: 0
            pair("hep-go", "c4-good", "c4-bad"),  # no verdict: suite 0, ours left out
        ],
    )
    script = _first_shown({"c1-good": "A", "c1-bad": "B", "c2-": "A", "c3-good": "B",
                           "c3-bad": "A"})  # fmt: skip
    script.append({"match": "c4-", "output": "I cannot decide."})
    figures = _run(tmp_path, "rewardbench", data, script)
    assert _row(figures, "alpacaeval-easy")["suite: accuracy"] == 0.75
    assert _row(figures, "mt-bench-easy")["suite: accuracy"] == 0.0
    assert _row(figures, "hep-go")["suite: accuracy"] == 0.0
    assert _row(figures, "hep-go")["ours: accuracy (ties half)"] is None  # nothing judged
    overall = figures["overall"]
    # Chat: (100 * 0.75 + 28 * 0) / 128; Reasoning: 0; score: their mean
    assert overall["suite_section_Chat"] == pytest.approx(75 / 128)
    assert overall["suite_section_Reasoning"] == 0.0
    assert overall["suite_score"] == pytest.approx(75 / 256)
    assert overall["ours_accuracy"] == pytest.approx(1.5 / 3)
    assert _row(figures, "overall")["suite: accuracy"] == pytest.approx(1.5 / 4)


def _conversation(q1: str, a1: str, q2: str, a2: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": q1}, {"role": "assistant", "content": a1},
            {"role": "user", "content": q2}, {"role": "assistant", "content": a2}]  # fmt: skip


def test_mt_bench_agreement_with_and_without_ties(tmp_path: Path) -> None:
    def vote(qid: int, a: str, b: str, winner: str, turn: int, human: str) -> dict[str, Any]:
        return {"question_id": qid, "model_a": "ma", "model_b": "mb", "winner": winner,
                "judge": human, "turn": turn,
                "conversation_a": _conversation(f"q{qid}", f"{a}1", f"q{qid}b", f"{a}2"),
                "conversation_b": _conversation(f"q{qid}", f"{b}1", f"q{qid}b", f"{b}2")}  # fmt: skip

    data = _jsonl(
        tmp_path / "mt.jsonl",
        [
            vote(1, "good", "bad", "model_a", 1, "expert_1"),  # judge A: agree
            vote(1, "good", "bad", "tie", 1, "expert_2"),  # judge A vs human tie
            vote(2, "xx", "yy", "model_b", 2, "expert_1"),  # judge tie (first shown wins)
            vote(3, "worse", "better", "model_b", 2, "expert_3"),  # judge B: agree
        ],
    )
    second = "Answer to the first question:\n"
    script = _first_shown({"good1": "A", "bad1": "B", second + "xx": "A", second + "yy": "A",
                           second + "worse": "B", second + "better": "A"})  # fmt: skip
    figures = _run(tmp_path, "mt_bench", data, script)
    overall = _row(figures, "overall")
    assert overall["suite: agreement with ties"] == 0.5  # votes 1 and 4 of 4
    assert overall["suite: agreement without ties"] == 1.0  # votes 1 and 4 are the decisive ones
    assert overall["ours: accuracy (ties half)"] == 0.75  # 1 + .5 + .5 + 1
    assert _row(figures, "turn 1")["suite: agreement with ties"] == 0.5
    assert _row(figures, "turn 2")["suite: agreement without ties"] == 1.0


def test_helpsteer2_correlations_on_the_0_4_scale(tmp_path: Path) -> None:
    rows = [
        {"prompt": "p0", "response": "resp-zero", "helpfulness": 0, "correctness": 1,
         "coherence": 4, "complexity": 2, "verbosity": 0},
        {"prompt": "p1", "response": "resp-two", "helpfulness": 2, "correctness": 2,
         "coherence": 2, "complexity": 2, "verbosity": 4},
        {"prompt": "p2", "response": "resp-four", "helpfulness": 4, "correctness": 3,
         "coherence": 0, "complexity": 2, "verbosity": 2},
    ]  # fmt: skip
    data = _jsonl(tmp_path / "hs2.jsonl", rows)
    script = [
        {"match": f"## Response\n{r}", "output": json.dumps({"rating": g, "rationale": "ok"})}
        for r, g in (("resp-zero", 0), ("resp-two", 2), ("resp-four", 4))
    ]
    figures = _run(tmp_path, "helpsteer2", data, script)
    assert _row(figures, "helpfulness")["suite: pearson"] == pytest.approx(1.0)
    assert _row(figures, "helpfulness")["ours: kappa_quadratic"] == pytest.approx(1.0)
    assert _row(figures, "correctness")["suite: pearson"] == pytest.approx(1.0)
    assert _row(figures, "correctness")["ours: exact"] == pytest.approx(1 / 3)
    assert _row(figures, "coherence")["suite: pearson"] == pytest.approx(-1.0)
    assert _row(figures, "complexity")["suite: pearson"] is None  # constant: undefined
    # verbosity: x = (0, 2, 4), y = (0, 4, 2): cov 4 / sqrt(8 * 8) = 0.5
    assert _row(figures, "verbosity")["suite: pearson"] == pytest.approx(0.5)


def test_ultrafeedback_fine_grained_aspects(tmp_path: Path) -> None:
    def completion(text: str, ratings: dict[str, str]) -> dict[str, Any]:
        return {"response": text, "model": "m",
                "annotations": {a: {"Rating": r, "Rationale": "-"} for a, r in ratings.items()}}  # fmt: skip

    def ratings(h: str, o: str, i: str, t: str) -> dict[str, str]:
        return {"helpfulness": h, "honesty": o, "instruction_following": i, "truthfulness": t}

    rows = [
        {"instruction": "first task", "completions": [
            completion("u1", ratings("5", "5", "5", "1")),
            completion("u2", ratings("1", "N/A", "1", "5"))]},
        {"instruction": "second task", "completions": [
            completion("u3", ratings("4", "3", "4", "2")),
            completion("u4", ratings("2", "2", "2", "4"))]},
    ]  # fmt: skip
    data = _jsonl(tmp_path / "uf.jsonl", rows)

    def blocks(a: int, b: int) -> str:
        return (f"#### Output for Text 1\nRating: {a}\nRationale: r.\n\n"
                f"#### Output for Text 2\nRating: {b}\nRationale: r.")  # fmt: skip

    script = [{"match": "first task", "output": blocks(5, 1)},
              {"match": "second task", "output": blocks(4, 2)}]  # fmt: skip
    figures = _run(tmp_path, "ultrafeedback", data, script)
    assert _row(figures, "helpfulness")["suite: pearson"] == pytest.approx(1.0)
    assert _row(figures, "truthfulness")["suite: pearson"] == pytest.approx(-1.0)
    honesty = _row(figures, "honesty")  # N/A left out: x = (5, 4, 2), y = (5, 3, 2)
    assert honesty["n"] == 3
    assert honesty["suite: pearson"] == pytest.approx(39 / 42)
    assert honesty["ours: exact"] == pytest.approx(2 / 3)
    assert not math.isnan(honesty["ours: spearman"])


def test_rewardbench2_best_of_4_and_ties(tmp_path: Path) -> None:
    def row(rid: str, subset: str, chosen: list[str], rejected: list[str]) -> dict[str, Any]:
        return {"id": rid, "prompt": f"q {rid}", "chosen": chosen, "rejected": rejected,
                "num_correct": len(chosen), "subset": subset}  # fmt: skip

    data = _jsonl(
        tmp_path / "rb2.jsonl",
        [
            row("f1", "Factuality", ["f1-c"], ["f1-r1", "f1-r2", "f1-r3"]),  # 9 vs 5 5 5: 1
            row("f2", "Factuality", ["f2-c"], ["f2-r1", "f2-r2", "f2-r3"]),  # 7 vs 7 3 2: 1/2
            row("f3", "Factuality", ["f3-c"], ["f3-r1", "f3-r2", "f3-r3"]),  # 4 vs 8 ..: 0
            row("ref:0", "Ties", ["t0-c"], ["t0-r1", "t0-r2"]),  # 9 vs 3 4
            row("tied:0", "Ties", ["t1-c1", "t1-c2", "t1-c3"], ["t1-r1", "t1-r2"]),  # 8 9 7 vs 2 6
        ],
    )
    grades = {"f1-c": 9, "f1-r1": 5, "f1-r2": 5, "f1-r3": 5, "f2-c": 7, "f2-r1": 7, "f2-r2": 3,
              "f2-r3": 2, "f3-c": 4, "f3-r1": 8, "f3-r2": 1, "f3-r3": 1, "t0-c": 9, "t0-r1": 3,
              "t0-r2": 4, "t1-c1": 8, "t1-c2": 9, "t1-c3": 7, "t1-r1": 2, "t1-r2": 6}  # fmt: skip
    answer = "[The Start of Assistant's Answer]\n"
    script = [
        {"match": f"{answer}{t}\n", "output": f"Fine.\nRating: [[{g}]]"} for t, g in grades.items()
    ]
    figures = _run(tmp_path, "rewardbench2", data, script)
    assert _row(figures, "Factuality")["suite: score"] == pytest.approx(0.5)  # (1 + .5 + 0) / 3
    assert _row(figures, "Factuality")["ours: strict accuracy"] == pytest.approx(1 / 3)
    # Ties: both rows accurate (0.3 + 0.3); tied margin 7 - 6 = 1, spread 9 - 7 = 2, ref margin
    # 9 - 4 = 5: preferred 1 > 2 no, hard min(5, 1) > 2 no; margin score tanh(1/2 - 1)
    ties = 0.6 + 0.01 * math.tanh(-0.5)
    assert _row(figures, "Ties")["suite: score"] == pytest.approx(ties)
    assert figures["overall"]["suite_score"] == pytest.approx((0.5 + ties) / 2)


def test_tiny_local_model_logprob_figures_match_its_verdict_file(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from ultrajudge.analysis.meta_eval import vote_sum_accuracy
    from ultrajudge.judge.io import load_rows

    data = _jsonl(
        tmp_path / "jb.jsonl",
        [{"pair_id": str(i), "source": src, "question": f"What is {i} + {i}?",
          "response_A": str(2 * i), "response_B": str(2 * i + 1), "label": "A>B"}
         for i, src in enumerate(["mmlu-pro-math", "livebench-math", "livecodebench"])],
    )  # fmt: skip
    judged, figures = tmp_path / "judged.jsonl", tmp_path / "figures.json"
    args = ["meta-eval", "judgebench", "-j", str(tiny_model_dir), "--data", str(data),
            "--mode", "logprob", "--out", str(judged), "--json", str(figures)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = load_rows(str(judged)).to_list()
    assert len(rows) == 3 and all(r["verdict_status"] in ("ok", "low_mass") for r in rows)
    expected = vote_sum_accuracy(
        [r["verdict_first"] for r in rows], [r["verdict_second"] for r in rows], ["A"] * 3
    )
    overall = _row(json.loads(figures.read_text()), "overall")
    assert overall["suite: accuracy (votes sum)"] == pytest.approx(expected)
    first = figures.read_text()
    again = runner.invoke(app, args)  # resumes from the store next to --out: same figures
    assert again.exit_code == 0 and figures.read_text() == first
