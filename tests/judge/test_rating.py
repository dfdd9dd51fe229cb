from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from ultrajudge.judge.backends.scripted import ScriptedBackend
from ultrajudge.judge.parsing import format_ultrafeedback
from ultrajudge.judge.rating import RatingConfig, rate_rows
from ultrajudge.judge.types import Completion, GenerationParams, Rating, RowJudgment

ITEMS = [("Q1?", ["a1", "a2", "a3"]), ("Q2?", ["b1", "b2"])]


def _texts_in(prompt: str) -> list[str]:
    return re.findall(r"<text \d+>\n(.*?)\n</text", prompt, flags=re.S)


def _rate_by_text(table: dict[str, object]):
    """Responder: answer each 'Text i' with table[text] (an int, or a raw rating string)."""

    def respond(prompt: str) -> str:
        return format_ultrafeedback([(table[t], f"about {t}") for t in _texts_in(prompt)])  # type: ignore[misc]

    return respond


def test_ratings_land_on_their_completions() -> None:
    backend = ScriptedBackend(
        responder=_rate_by_text({"a1": 5, "a2": 1, "a3": 3, "b1": 2, "b2": 4})
    )
    out = rate_rows(backend, ITEMS, RatingConfig())
    assert [[r.value for r in j.ratings] for j in out] == [[5, 1, 3], [2, 4]]
    assert out[0].ratings[1].rationale == "about a2"
    assert all(j.attempts == 1 for j in out)
    assert len(backend.calls) == 2  # one prompt per row, all completions in it


def test_only_failed_completions_are_asked_again_alone() -> None:
    answers = iter(
        [
            format_ultrafeedback(
                [(4, "ok"), ("eleven", "bad"), (2, "ok")]
            ),  # row 1: Text 2 unreadable
            format_ultrafeedback([(3, "retry ok")]),  # retry: only a2, renumbered as Text 1
        ]
    )
    backend = ScriptedBackend(responder=lambda prompt: next(answers))
    (j,) = rate_rows(backend, ITEMS[:1], RatingConfig())
    assert [r.value for r in j.ratings] == [4, 3, 2]
    assert j.attempts == 2
    assert _texts_in(backend.calls[1]) == ["a2"]


def test_retries_are_bounded_and_failure_is_recorded_never_a_grade() -> None:
    backend = ScriptedBackend(responder=lambda prompt: "I refuse to rate these.")
    (j,) = rate_rows(backend, ITEMS[:1], RatingConfig(max_retries=2))
    assert [r.status for r in j.ratings] == ["missing"] * 3
    assert all(r.value is None for r in j.ratings)
    assert j.ratings[0].raw == "I refuse to rate these."
    assert len(backend.calls) == 3  # first try + 2 retries


def test_retries_use_a_new_seed_each_attempt() -> None:
    seeds: list[int] = []

    class Recorder(ScriptedBackend):
        def chat(self, conversations, params):  # type: ignore[override]
            seeds.append(params.seed)
            return super().chat(conversations, params)

    rate_rows(
        Recorder(responder=lambda p: "nothing"),
        ITEMS[:1],
        RatingConfig(max_retries=2, params=GenerationParams(seed=7)),
    )
    assert seeds == [7, 8, 9]


def test_backend_errors_are_recorded_per_completion() -> None:
    class Failing(ScriptedBackend):
        def chat(self, conversations, params):  # type: ignore[override]
            return [
                Completion("", error="HTTP 500: boom", finish_reason="error") for _ in conversations
            ]

    (j,) = rate_rows(Failing(), ITEMS[:1], RatingConfig(max_retries=1))
    assert {r.status for r in j.ratings} == {"backend_error"}
    assert j.ratings[0].raw == "HTTP 500: boom" and j.attempts == 2


def test_na_is_its_own_status_only_where_the_aspect_allows_it() -> None:
    table = {"a1": "N/A", "a2": 4, "a3": 2}
    honest = rate_rows(
        ScriptedBackend(responder=_rate_by_text(table)), ITEMS[:1], RatingConfig(aspect="honesty")
    )[0]
    assert [r.status for r in honest.ratings] == ["na", "ok", "ok"] and honest.attempts == 1
    overall = rate_rows(
        ScriptedBackend(responder=_rate_by_text(table)), ITEMS[:1], RatingConfig(max_retries=0)
    )[0]
    assert [r.status for r in overall.ratings] == ["parse_error", "ok", "ok"]


def test_previous_good_ratings_are_kept_and_not_asked_again() -> None:
    previous = RowJudgment(
        ratings=(Rating(5, "ok", "kept"), Rating(None, "parse_error", raw="x"), Rating(1, "ok")),
        judge="j",
        aspect="overall",
        prompt_tokens=10,
        completion_tokens=5,
        attempts=1,
    )
    backend = ScriptedBackend(responder=_rate_by_text({"a2": 2}))
    (j,) = rate_rows(backend, ITEMS[:1], RatingConfig(), [previous])
    assert [r.value for r in j.ratings] == [5, 2, 1] and j.ratings[0].rationale == "kept"
    assert [_texts_in(c) for c in backend.calls] == [["a2"]]
    assert j.attempts == 2 and j.prompt_tokens > 10


def test_per_completion_mode_uses_score_rationale_prompts() -> None:
    def respond(prompt: str) -> str:
        return "4 - fine." if "# Response\nb1" in prompt else "2 - weak."

    out = rate_rows(
        ScriptedBackend(responder=respond), ITEMS[1:], RatingConfig(per_completion=True)
    )
    assert [r.value for r in out[0].ratings] == [4, 2]
    assert out[0].ratings[0].rationale == "fine."


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aspect": "style"}, "unknown aspect"),
        ({"max_retries": -1}, "max_retries"),
        ({"scale": (3, 1)}, "scale"),
    ],
)
def test_bad_config_is_rejected_early(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RatingConfig(**kwargs)  # type: ignore[arg-type]


def test_judge_id_names_model_template_and_sampling() -> None:
    (j,) = rate_rows(
        ScriptedBackend(), ITEMS[:1], RatingConfig(params=GenerationParams(temperature=0.7, seed=3))
    )
    assert j.judge.startswith("scripted:auto | ultrafeedback/overall@")
    assert j.judge.endswith("generate | t=0.7,top_p=1.0,seed=3")


def test_tiny_model_failures_are_failures(tiny_backend) -> None:
    """A random model writes noise: every rating must be a counted failure, never a score."""
    out = rate_rows(
        tiny_backend, ITEMS, RatingConfig(params=GenerationParams(max_new_tokens=16), max_retries=1)
    )
    statuses: Sequence[str] = [r.status for j in out for r in j.ratings]
    assert len(statuses) == 5 and all(
        s in {"missing", "parse_error", "out_of_range"} for s in statuses
    )
    assert all(j.prompt_tokens > 0 and j.completion_tokens > 0 for j in out)


def test_the_store_encoding_is_asdicts_and_iter_rows_is_row_iteration() -> None:
    """The shallow encoder writes exactly what ``dataclasses.asdict`` wrote (stores stay
    byte-identical), and batched row reading yields exactly ``for row in ds``."""
    import dataclasses
    import json

    import datasets

    from ultrajudge.judge.io import iter_rows
    from ultrajudge.judge.rating import judgment_from_dict, judgment_to_dict
    from ultrajudge.judge.types import Rating, RowJudgment

    judgment = RowJudgment(
        ratings=(Rating(4.0, "ok", "fine", "Rating: 4", (0.1, 0.2, 0.3, 0.3, 0.1), 0.97),
                 Rating(None, "missing", raw="no rating")),
        judge="scripted:auto", aspect="honesty", prompt_tokens=12, completion_tokens=3,
        seconds=0.5, attempts=2, extra={"nested": [1, {"a": None}], "text": "x"},
    )  # fmt: skip
    old = dataclasses.asdict(judgment) | {"extra": dict(judgment.extra)}
    new = judgment_to_dict(judgment)
    assert json.dumps(new) == json.dumps(old) and judgment_from_dict(new) == judgment
    rows = [{"instruction": f"q{i}", "completions": [f"a{i}", None], "meta": {"i": i}}
            for i in range(600)]  # fmt: skip
    ds = datasets.Dataset.from_list(rows)
    assert list(iter_rows(ds, batch_size=256)) == list(ds) == rows
    assert list(iter_rows(rows)) == rows and list(iter_rows(ds.select([]))) == []
