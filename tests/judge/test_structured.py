"""Constrained rating output (ultrajudge.judge.structured), its JSON parser, and API usage metering."""

from __future__ import annotations

import doctest
import re

import pytest

from ultrajudge.judge import metering, structured
from ultrajudge.judge.backends.profiles import PROFILES, ServerProfile
from ultrajudge.judge.backends.scripted import ScriptedBackend
from ultrajudge.judge.metering import ApiUsage, snapshot, spent
from ultrajudge.judge.parsing import format_ultrafeedback, parse_ultrafeedback_json
from ultrajudge.judge.rating import RatingConfig, constraint_form
from ultrajudge.judge.scoring import judgment_key
from ultrajudge.judge.structured import (
    score_rationale_regex,
    structured_form,
    ultrafeedback_regex,
    ultrafeedback_schema,
)
from ultrajudge.judge.types import Capabilities, Completion

SCALE = (1, 2, 3, 4, 5)


def test_doctests() -> None:
    for module in (structured, metering):
        assert doctest.testmod(module).failed == 0, module.__name__


@pytest.mark.parametrize("n", [1, 2, 4])
def test_the_regex_matches_the_canonical_answer_and_nothing_looser(n: int) -> None:
    regex = ultrafeedback_regex(n, SCALE, allow_na=True)
    answer = format_ultrafeedback([(i % 5 + 1, f"Reason {i}.") for i in range(n)]).rstrip("\n")
    assert re.fullmatch(regex, answer)
    assert re.fullmatch(regex, answer.replace("Rating: 1", "Rating: N/A", 1))
    for broken in (
        "Sure!\n" + answer,  # a preamble
        answer.replace("Text 1", "Text 0"),  # a wrong index
        answer.replace("Rating: 1", "Rating: 6"),  # off the scale
        answer.replace("Reason 0.", ""),  # an empty rationale
        answer + "\n\n#### Output for Text 9\nRating: 1\nRationale: x",  # a block too many
    ):
        assert re.fullmatch(regex, broken) is None, broken


def test_na_only_where_allowed() -> None:
    block = "#### Output for Text 1\nRating: N/A\nRationale: Not applicable."
    assert re.fullmatch(ultrafeedback_regex(1, SCALE, allow_na=True), block)
    assert re.fullmatch(ultrafeedback_regex(1, SCALE), block) is None
    assert re.fullmatch(score_rationale_regex((0, 10)), "10 - Fine.")
    assert re.fullmatch(score_rationale_regex((0, 10)), "5 - Fine.") is None
    schema = ultrafeedback_schema(2, SCALE, allow_na=True)
    assert schema["required"] == ["text_1", "text_2"] and not schema["additionalProperties"]
    assert schema["properties"]["text_1"]["properties"]["rating"]["enum"] == [*SCALE, "N/A"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"text_1": {"rating": 4, "rationale": " Clear. "}}', [("ok", 4.0, "Clear.")]),
        ('{"text_1": {"rating": "5", "rationale": ""}}', [("ok", 5.0, None)]),
        ('{"text_1": {"rating": 4.5, "rationale": "x"}}', [("parse_error", None, "x")]),
        ('{"text_1": {"rating": 0, "rationale": "x"}}', [("out_of_range", None, "x")]),
        ('{"text_1": {"rating": "N/A", "rationale": "x"}}', [("parse_error", None, "x")]),
        ('{"text_1": {"rating": true, "rationale": "x"}}', [("parse_error", None, None)]),
        ('{"text_1": {"rationale": "x"}}', [("parse_error", None, None)]),
        ('{"text_1": 3}', [("parse_error", None, None)]),
        ('{"text_2": {"rating": 3, "rationale": "x"}}', [("missing", None, None)]),
        ('[{"rating": 3}]', [("parse_error", None, None)]),
        ('{"text_1": {"rating": 3', [("parse_error", None, None)]),
        ("", [("parse_error", None, None)]),
    ],
)
def test_parse_ultrafeedback_json(text: str, expected: list) -> None:
    got = parse_ultrafeedback_json(text, len(expected))
    assert [(r.status, r.value, r.rationale) for r in got] == expected
    assert all(r.raw is not None for r in got)  # what was read is kept


def test_parse_ultrafeedback_json_reads_na_where_allowed() -> None:
    (r,) = parse_ultrafeedback_json('{"text_1": {"rating": "N/A", "rationale": "x"}}', 1, allow_na=True)  # fmt: skip
    assert (r.status, r.value) == ("na", None)


class _Structured(ScriptedBackend):
    def chat_structured(self, conversations, params, *, json_schema=None, regex=None):
        return [Completion("") for _ in conversations]


@pytest.mark.parametrize("kind", sorted(PROFILES))
def test_the_form_follows_the_server_profile(kind: str) -> None:
    profile: ServerProfile = PROFILES[kind]
    backend = _Structured(capabilities=profile.capabilities())
    expected = None if profile.structured_output is None else ("regex" if kind in ("vllm", "vllm_guided", "sglang", "tgi") else "json")  # fmt: skip
    assert structured_form(backend, per_completion=False) == expected
    assert structured_form(backend, per_completion=True) == (
        "regex" if expected == "regex" else None
    )


def test_only_generate_mode_and_built_in_templates_are_constrained(tmp_path) -> None:
    caps = Capabilities(structured_output="vllm", structured_regex=True)
    backend = _Structured(capabilities=caps)
    assert constraint_form(backend, RatingConfig()) == "regex"
    assert constraint_form(backend, RatingConfig(per_completion=True)) == "regex"
    assert constraint_form(backend, RatingConfig(structured=False)) is None
    assert constraint_form(backend, RatingConfig(mode="logprob")) is None
    own = tmp_path / "mine.jinja2"
    own.write_text("{% block user %}Rate {{ instruction }}{% endblock %}")
    assert constraint_form(backend, RatingConfig(template=str(own))) is None
    assert constraint_form(ScriptedBackend(), RatingConfig()) is None  # no chat_structured


def test_constrained_judgments_are_stored_apart_and_free_keys_are_unchanged() -> None:
    free, held = ScriptedBackend(), _Structured(capabilities=Capabilities(structured_output="x"))
    config = RatingConfig()
    args = ("instruction", ["a", "b"])
    assert judgment_key(free, config, *args) == judgment_key(
        free, RatingConfig(structured=False), *args
    )
    assert judgment_key(held, config, *args) != judgment_key(
        held, RatingConfig(structured=False), *args
    )


class _Metered:
    def __init__(self, price: float | None) -> None:
        self.usage = ApiUsage()
        self.price = price

    def cost_usd(self) -> float | None:
        return None if self.price is None else self.usage.prompt_tokens * self.price


def test_spent_is_the_difference_and_unknown_prices_stay_unknown() -> None:
    backend = _Metered(0.5)
    backend.usage = ApiUsage(requests=2, prompt_tokens=10, fallbacks={"n_ignored": 1})
    before = snapshot(backend)
    backend.usage = ApiUsage(requests=5, retries=1, prompt_tokens=30, fallbacks={"n_ignored": 3})
    used = spent(before, backend)
    assert used == ApiUsage(  # retries are the job runner's to count, not a backend's
        requests=3, prompt_tokens=20, fallbacks={"n_ignored": 2}, cost_usd=10.0
    )
    assert spent(None, ScriptedBackend()) is None and snapshot(ScriptedBackend()) is None
    assert snapshot(_Metered(None)).cost_usd is None
    assert "cost unknown" in ApiUsage(cost_usd=None).describe()
