"""SelfInstruct: list parsing (table), one row per query, answers, failures."""

from __future__ import annotations

import pytest

from ultrajudge.generators.engine import Session
from ultrajudge.generators.self_instruct import SelfInstructConfig, parse_queries, self_instruct
from ultrajudge.judge.templates import load_template


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        ("1. What is X?\n2. How does Y work?", 5, ["What is X?", "How does Y work?"]),
        ("1) A?\n2) B?\n3) C?", 2, ["A?", "B?"]),  # capped at n
        ("(1) A?\n(2) B?", 5, ["A?", "B?"]),
        ("- A?\n* B?\n• C?\n+ D?", 5, ["A?", "B?", "C?", "D?"]),
        ("Query 1: A?\nQuery 2: B?\nQ3. C?", 5, ["A?", "B?", "C?"]),
        ("**1.** A?\n**2.** **B?**", 5, ["A?", "B?"]),
        ('1. "A?"\n2. “B?”', 5, ["A?", "B?"]),
        ("Here are three queries:\n\n1. A?\n2. B?\n\nI hope these help!", 5, ["A?", "B?"]),
        (
            "1. How does the\n   water cycle work?\n2. B?",
            5,
            ["How does the water cycle work?", "B?"],
        ),
        (
            "1. Explain how a branch\nmoves when you commit.\n2. B?",
            5,
            ["Explain how a branch moves when you commit.", "B?"],
        ),
        ("1. A?\nThanks for asking.", 5, ["A?"]),  # a finished item does not swallow the epilogue
        ("1. A?\n2. a ?\n3. A?\n4. B?", 5, ["A?", "B?"]),  # duplicates by words, case-folded
        ("1. A?\n2.\n3.   \n4. B?", 5, ["A?", "B?"]),  # empty items
        ("Queries:\nWhat is X?\n\nHow does Y work?\n", 5, ["What is X?", "How does Y work?"]),
        ("10. A?\n11. B?", 5, ["A?", "B?"]),
        ("", 3, []),
        ("# Output\n1. A?", 3, ["A?"]),
        ("1. A?\n- B?\n- C?", 5, ["A?", "B?", "C?"]),
    ],
)
def test_parse_queries(text: str, n: int, expected: list[str]) -> None:
    assert parse_queries(text, n) == expected


def test_a_truncated_list_loses_its_last_item() -> None:
    assert parse_queries("1. A?\n2. B?\n3. How does the", 5, truncated=True) == ["A?", "B?"]
    assert parse_queries("1. A?", 5, truncated=True) == []
    with pytest.raises(ValueError, match="n must be"):
        parse_queries("1. A?", 0)


def test_prompt_carries_context_count_and_application() -> None:
    (system, user) = load_template("self_instruct").render(
        context="Git stores history as commits.", num_instructions=4, application="A Git tutor."
    )
    assert system.role == "system"
    assert "Write 4 different user queries" in user.content
    assert (
        "# Application\nA Git tutor.\n\n# Context\nGit stores history as commits." in user.content
    )
    assert user.content.endswith("exactly 4 queries, one per line, and nothing before or after it.")


def test_one_row_per_query_with_answers(session: Session, recording) -> None:
    def respond(prompt: str, seed: int) -> str:
        if "# Context" in prompt:
            topic = prompt.split("# Context\n")[1].split("\n")[0]
            return f"Sure!\n1. What is {topic}?\n2. Why {topic}?\n3. What is {topic} ?\n4. Extra?"
        return "An answer."

    rows = [
        {"id": "a", "context": "git"},
        {"id": "b", "context": "bread", "completions": ["old"]},
    ]
    config = SelfInstructConfig(n=3, answers=True, application="A tutor.")
    out = self_instruct(rows, recording(respond), config, session, model="m")
    assert [(r["id"], r["instruction"], r["query_index"]) for r in out] == [
        ("a", "What is git?", 0),
        ("a", "Why git?", 1),
        ("a", "Extra?", 2),  # the duplicate went first, then the cap at n=3
        ("b", "What is bread?", 0),
        ("b", "Why bread?", 1),
        ("b", "Extra?", 2),
    ]
    assert all(r["completions"] == ["An answer."] for r in out)
    assert out[3]["original_completions"] == ["old"] and out[3]["context"] == "bread"
    assert out[0]["self_instruct_params"]["template"].startswith("self_instruct@")
    assert out[0]["completion_params"][0]["generator"] == "answer"


def test_seed_instructions_are_kept_as_original_instruction(session: Session, recording) -> None:
    backend = recording(lambda p, s: "1. Something new?")
    rows = [{"instruction": "Seed question?"}]
    config = SelfInstructConfig(n=2, context_col="instruction")
    (row,) = self_instruct(rows, backend, config, session)
    assert row["instruction"] == "Something new?"
    assert row["original_instruction"] == "Seed question?"
    assert "completions" not in row


def test_rows_without_queries_are_left_out_and_counted(store, recording) -> None:
    session = Session(store, max_retries=1, progress=False)
    backend = recording(lambda p, s: "Sorry:")  # no queries at all
    out = self_instruct([{"context": "x"}], backend, SelfInstructConfig(), session)
    assert out == []
    assert len(backend.calls) == 2
    assert session.summary.dropped == {"no_queries": 1}
    assert store.counts() == {"generate/self_instruct:failed": 1}
