"""Logprob mode: expected scores from the judge's next-token distribution, no generation."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.judge.backends.positions import (
    PositionRequest,
    score_positions,
    score_positions_portable,
)
from ultrajudge.judge.backends.scripted import ScriptedBackend
from ultrajudge.judge.logprob import (
    argmax_choice,
    rating_from_distribution,
    scale_probabilities,
    uf_forced,
)
from ultrajudge.judge.parsing import parse_ultrafeedback
from ultrajudge.judge.rating import RatingConfig, rate_rows
from ultrajudge.judge.templates import load_template
from ultrajudge.judge.types import Capabilities, TokenDistribution

SCALE = (1, 2, 3, 4, 5)
CANDIDATES = [str(s) for s in SCALE]
ITEMS = [
    ("Explain why the sky is blue.", ["Rayleigh scattering.", "Because it is.", "Blue paint."]),
    ("List two prime numbers.", ["2 and 3.", "4 and 6 are prime numbers for sure."]),
    ("Write a haiku about rain.", ["Rain taps the window", "rain rain rain", "No."]),
]


def _requests(per_completion: bool = False) -> list[PositionRequest]:
    if per_completion:
        template = load_template("score_rationale")
        return [
            PositionRequest(template.render(instruction=ins, completion=c))
            for ins, comps in ITEMS
            for c in comps
        ]
    template = load_template("ultrafeedback/overall")
    return [
        PositionRequest(template.render(instruction=ins, completions=comps), uf_forced(len(comps)))
        for ins, comps in ITEMS
    ]


def _max_diff(a: list[list[TokenDistribution]], b: list[list[TokenDistribution]]) -> float:
    assert [len(x) for x in a] == [len(x) for x in b]
    diffs = []
    for xs, ys in zip(a, b):
        for x, y in zip(xs, ys):
            assert x.prompt_tokens == y.prompt_tokens  # the same text was scored
            diffs += [abs(x.logprobs[t] - y.logprobs[t]) for t in CANDIDATES]
    return max(diffs)


# -- the distribution arithmetic ------------------------------------------------------


def test_probs_sum_to_one_and_value_is_the_expected_score(tiny_backend) -> None:
    judged = rate_rows(tiny_backend, ITEMS, RatingConfig(mode="logprob", min_mass=0.0))
    assert [len(j.ratings) for j in judged] == [3, 2, 3]
    for j in judged:
        for r in j.ratings:
            assert r.status == "ok" and r.probs is not None and r.mass is not None
            assert math.isclose(sum(r.probs), 1.0, rel_tol=1e-9)
            assert r.value == pytest.approx(sum(p * s for p, s in zip(r.probs, SCALE)), abs=1e-12)
            assert 0.0 < r.mass <= 1.0 and 1.0 <= r.value <= 5.0
            assert r.rationale is None  # nothing is generated in this mode


def test_both_spellings_count_and_other_tokens_do_not() -> None:
    logprobs = {"3": math.log(0.1), " 3": math.log(0.2), "3\n": math.log(0.3), "x": -0.1}
    raw, mass = scale_probabilities(logprobs, SCALE)
    assert raw == pytest.approx((0, 0, 0.3, 0, 0)) and mass == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("logprobs", "status", "value"),
    [
        ({" 2": math.log(0.5), " 4": math.log(0.5)}, "ok", 3.0),
        ({" 5": math.log(0.6), "Sure": math.log(0.4)}, "ok", 5.0),
        ({" 5": math.log(0.3), "Sure": math.log(0.7)}, "low_mass", None),
        ({"Sure": 0.0}, "low_mass", None),
    ],
)
def test_low_mass_is_flagged_not_graded(logprobs, status, value) -> None:
    r = rating_from_distribution(TokenDistribution(logprobs), SCALE, min_mass=0.5)
    assert (r.status, r.value) == (status, value)
    if status == "low_mass" and r.mass:
        assert r.probs == pytest.approx((0, 0, 0, 0, 1)) and r.mass == pytest.approx(0.3)
        assert "'Sure'" in (r.raw or "")


def test_a_backend_error_is_an_error_not_a_grade() -> None:
    r = rating_from_distribution(TokenDistribution({}, error="boom"), SCALE, min_mass=0.5)
    assert (r.status, r.value, r.raw) == ("backend_error", None, "boom")


# -- fast path == scoring each position separately --------------------------------------


def test_one_prefill_teacher_forcing_equals_each_position_scored_alone(tiny_backend) -> None:
    requests = _requests()
    choose = argmax_choice(SCALE)
    fast = tiny_backend.score_positions(requests, candidates=CANDIDATES, choose=choose)
    alone = score_positions_portable(tiny_backend, requests, candidates=CANDIDATES, choose=choose)
    assert _max_diff(fast, alone) < 1e-4
    # one prefill per row: the positions after the first cost a few tokens each
    assert [d.prompt_tokens for d in fast[0]] == sorted({d.prompt_tokens for d in fast[0]})


def test_per_completion_prompts_share_prefixes_and_match(tiny_backend) -> None:
    requests = _requests(per_completion=True)
    choose = argmax_choice(SCALE)
    before = tiny_backend.tokens_processed
    fast = tiny_backend.score_positions(requests, candidates=CANDIDATES, choose=choose)
    processed = tiny_backend.tokens_processed - before
    alone = score_positions_portable(tiny_backend, requests, candidates=CANDIDATES, choose=choose)
    assert _max_diff(fast, alone) < 1e-4
    assert processed < 0.7 * sum(d[0].prompt_tokens for d in fast)


def test_the_template_prefix_is_reused_by_the_next_call(tiny_backend) -> None:
    requests = _requests(per_completion=True)
    choose = argmax_choice(SCALE)
    tiny_backend.score_positions(requests[:3], candidates=CANDIDATES, choose=choose)
    before = tiny_backend.tokens_processed
    again = tiny_backend.score_positions(requests[3:], candidates=CANDIDATES, choose=choose)
    processed = tiny_backend.tokens_processed - before
    alone = score_positions_portable(
        tiny_backend, requests[3:], candidates=CANDIDATES, choose=choose
    )
    assert _max_diff(again, alone) < 1e-4
    system_tokens = len(tiny_backend.encode(tiny_backend.render(requests[0].messages[:1])))
    assert processed <= sum(d[0].prompt_tokens for d in again) - system_tokens


def test_forced_text_reads_back_as_the_argmax_ratings(tiny_backend) -> None:
    (request,) = _requests()[:1]
    choose = argmax_choice(SCALE)
    (dists,) = tiny_backend.score_positions([request], candidates=CANDIDATES, choose=choose)
    choices = [choose(d) for d in dists]
    parsed = parse_ultrafeedback(request.prefix(choices) + choices[-1], len(request.forced))
    assert [r.value for r in parsed] == [float(c) for c in choices]


# -- any backend with log-probabilities ---------------------------------------------------


def test_a_backend_without_the_fast_path_is_scored_one_position_at_a_time() -> None:
    backend = ScriptedBackend()  # 90% of its mass on "1".."5", no score_positions
    judged = rate_rows(backend, ITEMS, RatingConfig(mode="logprob"))
    assert len(backend.calls) == 8  # one next_token_logprobs request per rating position
    first, second = backend.calls[0], backend.calls[3]  # row 1, positions 1 and 2
    assert first.endswith("#### Output for Text 1\nRating:")
    # the most likely rating, spelled as the judge spells it ("3": no space here)
    assert re.fullmatch(r" ?[1-5]\n\n#### Output for Text 2\nRating:", second.removeprefix(first))
    for j in judged:
        for r in j.ratings:
            assert r.status == "ok" and r.mass == pytest.approx(0.9)
            assert r.value == pytest.approx(sum(p * s for p, s in zip(r.probs, SCALE)))


def test_a_backend_without_logprobs_is_refused_with_a_hint() -> None:
    backend = ScriptedBackend(capabilities=Capabilities(logprobs=False))
    with pytest.raises(ValueError, match="--mode generate"):
        score_positions(backend, _requests(), candidates=CANDIDATES, choose=argmax_choice(SCALE))


# -- the CLI --------------------------------------------------------------------------


def test_cli_logprob_mode_writes_the_distribution_and_resumes(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from ultrajudge.cli import _register, app

    _register()
    data = tmp_path / "in.jsonl"
    data.write_text(
        "".join(json.dumps({"instruction": i, "completions": c}) + "\n" for i, c in ITEMS)
    )
    out = tmp_path / "out.jsonl"
    args = ["score", str(data), "--judge", str(tiny_model_dir), "--mode", "logprob"]
    args += ["--min-mass", "0", "--out", str(out), "--no-progress", "-O", "dtype=float32"]
    first = CliRunner().invoke(app, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        assert len(row["ratings"]) == len(row["completions"])
        for value, argmax, probs, mass in zip(
            row["ratings"], row["rating_argmax"], row["rating_probs"], row["rating_mass"]
        ):
            assert math.isclose(sum(probs), 1.0, rel_tol=1e-9)
            assert value == pytest.approx(sum(p * s for p, s in zip(probs, SCALE)))
            assert argmax == SCALE[probs.index(max(probs))] and 0 < mass < 1
        assert row["rationales"] == [None] * len(row["completions"])
    second = CliRunner().invoke(app, args, catch_exceptions=False)
    assert "0 made now, 3 from the store" in second.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows


def test_cli_flags_low_mass_by_default(tmp_path: Path, tiny_model_dir: Path) -> None:
    from ultrajudge.cli import _register, app

    _register()
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"instruction": "Hi?", "completions": ["Hello."]}) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["score", str(data), "--judge", str(tiny_model_dir), "--mode", "logprob"]
    result = CliRunner().invoke(
        app,
        [*args, "--out", str(out), "--no-progress", "--per-completion", "--max-failure-rate", "1"],
    )
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    # a random model spreads its probability over the whole vocabulary: not an answer
    assert row["rating_status"] == ["low_mass"] and row["ratings"] == [None]
    assert row["rating_argmax"] == [None] and row["rating_mass"][0] < 0.5
    assert math.isclose(sum(row["rating_probs"][0]), 1.0)
