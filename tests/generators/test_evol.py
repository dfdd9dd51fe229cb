"""Evol-Instruct and EvolQuality: rejection rules, seeded mutations, chains, provenance."""

from __future__ import annotations

from collections import Counter

import pytest

from ultrajudge.generators.engine import Session
from ultrajudge.generators.evol import (
    ASPECTS,
    MUTATIONS,
    EvolInstructConfig,
    EvolQualityConfig,
    check_evolved_instruction,
    check_evolved_response,
    evolve_instructions,
    evolve_responses,
    strip_headers,
)
from ultrajudge.judge.types import Completion, GenerationParams

SOURCE = "Write a Python function that checks whether a string is a palindrome."
LONGER = (
    "Write a Python function that checks whether a string is a palindrome, ignoring case "
    "and punctuation, and state its time complexity."
)


def _instruction(text: str, finish: str = "stop") -> tuple[str, str]:
    return check_evolved_instruction(
        Completion(text, finish_reason=finish),
        source=SOURCE,
        min_length_ratio=0.5,
    )


REORDERED = "Write a function checking whether a string is a palindrome."


@pytest.mark.parametrize(
    ("output", "finish", "status", "text"),
    [
        (LONGER, "stop", "ok", LONGER),
        (f"# Rewritten prompt\n\n{LONGER}", "stop", "ok", LONGER),
        (f"**Rewritten Prompt:** {LONGER}", "stop", "ok", LONGER),
        (f"New prompt:\n{LONGER}", "stop", "ok", LONGER),
        (f"# Original prompt\n{SOURCE}\n# Rewritten prompt\n{LONGER}", "stop", "ok", LONGER),
        (REORDERED, "stop", "ok", REORDERED),  # one new word ("checking"): not a copy
        ("", "stop", "empty", ""),
        ("# Rewritten prompt\n", "stop", "empty", ""),
        (LONGER, "length", "truncated", LONGER),
        (f"{LONGER}\n# Original prompt\n{SOURCE}", "stop", "echoes_header", None),
        (f"In the #Given Prompt#, {LONGER}", "stop", "echoes_header", None),
        (f"{LONGER} Unlike the original prompt, it adds rules.", "stop", "echoes_header", None),
        (SOURCE, "stop", "copies_input", SOURCE),
        (SOURCE.upper() + "!", "stop", "copies_input", SOURCE.upper() + "!"),
        ("A string palindrome function.", "stop", "copies_input", None),  # only cut
        ("Write a palindrome checker.", "stop", "too_short", "Write a palindrome checker."),
    ],
)
def test_evolved_instruction_rules(output: str, finish: str, status: str, text: str | None) -> None:
    got_text, got_status = _instruction(output, finish)
    assert got_status == status
    if text is not None:
        assert got_text == text


def test_backend_error_is_a_failure() -> None:
    assert _instruction("")[1] == "empty"
    out = check_evolved_instruction(
        Completion("", error="timeout"), source=SOURCE, min_length_ratio=0.5
    )
    assert out == ("", "backend_error")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("A better answer.", ("A better answer.", "ok")),
        ("# Improved response\nA better answer.", ("A better answer.", "ok")),
        ("Improved Response: A better answer.", ("A better answer.", "ok")),
        (
            "# Prompt\nQ\n# Response\nold\n# Improved response\n\nA better answer.",
            ("A better answer.", "ok"),
        ),
        (
            "A better answer.\n# Response\nold",
            ("A better answer.\n# Response\nold", "echoes_header"),
        ),
        ("# Improved response", ("", "empty")),
        ("the OLD answer", ("the OLD answer", "copies_input")),
    ],
)
def test_evolved_response_rules(output: str, expected: tuple[str, str]) -> None:
    assert check_evolved_response(Completion(output), source="The old answer.") == expected


def test_strip_headers_keeps_inner_markdown() -> None:
    text = "## Steps\n1. Do this\n\n**Note:** that"
    assert strip_headers(text, output=["improved response"], names=["response"]) == text


_EXTRAS = [
    "Mention the edge cases you would test first.",
    "Use a worked example with concrete numbers.",
    "Compare two different approaches briefly.",
    "Keep the whole answer under two hundred words.",
]


def _evolver(prompt: str, seed: int) -> str:
    """Answers each mutation prompt with its input plus one new requirement per round."""
    instruction = prompt.split("# Original prompt\n", 1)[1].split("\n\n# ", 1)[0]
    return f"{instruction} Also: {_EXTRAS[instruction.count(' Also: ')]}"


_TASKS = {
    "add_constraints": "adding one or two new requirements",
    "deepen": "asking for more depth",
    "concretize": "making it more specific",
    "increase_reasoning": "requiring several steps of reasoning",
    "breadth": "brand-new prompt",
}


_OUTPUT = {m: "New prompt" if m == "breadth" else "Rewritten prompt" for m in MUTATIONS}


def test_prompts_name_their_mutation() -> None:
    from ultrajudge.judge.templates import load_template

    for mutation, phrase in _TASKS.items():
        (_, user) = load_template(f"evol_instruct/{mutation}").render(instruction="Q")
        assert phrase in user.content and user.content.endswith("prompt")


def test_evolution_chain_with_intermediates_and_answers(session: Session, recording) -> None:
    backend = recording(
        lambda p, s: _evolver(p, s) if "# Original prompt" in p else f"Answer: {p[-20:]}"
    )
    rows = [
        {"instruction": SOURCE, "id": 0, "completions": ["stale answer"]},
        {"instruction": "Explain recursion to a child.", "id": 1},
    ]
    config = EvolInstructConfig(evolutions=3, keep_intermediate=True, answers=True)
    out = evolve_instructions(rows, backend, config, session, model="my-model")
    row = out[0]
    assert row["original_instruction"] == SOURCE and row["id"] == 0
    assert row["original_completions"] == ["stale answer"]
    assert row["evol_status"] == ["ok", "ok", "ok"] and row["evol_rounds"] == 3
    assert all(m in MUTATIONS for m in row["evol_mutations"])
    versions = row["instruction_versions"]
    assert versions[0] == SOURCE and versions[-1] == row["instruction"] and len(versions) == 4
    asked = [p for p in backend.prompts if "# Original prompt" in p and SOURCE in p]
    for before, after, prompt, mutation in zip(
        versions, versions[1:], asked, row["evol_mutations"]
    ):
        assert after.startswith(before + " Also: ")
        assert prompt.endswith(f"# Original prompt\n{before}\n\n# {_OUTPUT[mutation]}")
        assert _TASKS[mutation] in prompt
    assert row["completions"] == [f"Answer: {row['instruction'][-20:]}"]
    assert row["completion_models"] == ["my-model"]
    assert row["completion_params"][0]["generator"] == "answer"
    assert row["evol_params"]["model"] == "my-model" and row["evol_params"]["temperature"] == 0.7


def test_mutations_are_seeded_per_row(session: Session, recording) -> None:
    backend = recording(_evolver)
    rows = [{"instruction": f"Task number {i}: describe item {i} in detail."} for i in range(40)]
    config = EvolInstructConfig(params=GenerationParams(temperature=0.7, seed=1))
    first = [r["evol_mutations"] for r in evolve_instructions(rows, backend, config, session)]
    again = [r["evol_mutations"] for r in evolve_instructions(rows[::-1], backend, config, session)]
    assert first == again[::-1]  # the choice depends on the row, not on its position
    assert set(Counter(m for (m,) in first)) == set(MUTATIONS)
    only = EvolInstructConfig(mutations=("deepen",))
    assert {r["evol_mutations"][0] for r in evolve_instructions(rows, backend, only, session)} == {
        "deepen"
    }


def test_rejected_round_ends_the_chain_and_is_retried(store, recording) -> None:
    backend = recording(lambda p, s: "tiny")  # always much shorter than the input
    config = EvolInstructConfig(evolutions=2)
    (row,) = evolve_instructions(
        [{"instruction": SOURCE}], backend, config, Session(store, max_retries=1, progress=False)
    )
    assert row["instruction"] == SOURCE and row["evol_rounds"] == 0
    assert row["evol_status"] == ["too_short"] and len(row["evol_mutations"]) == 1
    assert len(backend.calls) == 2  # the first round, tried twice; no second round
    fixed = recording(_evolver)
    (row,) = evolve_instructions(
        [{"instruction": SOURCE}], fixed, config, Session(store, progress=False)
    )
    assert row["evol_status"] == ["ok", "ok"]


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown or no mutation.*'harder'"):
        EvolInstructConfig(mutations=("harder",))
    with pytest.raises(ValueError, match="evolutions must be >= 1"):
        EvolInstructConfig(evolutions=0)
    with pytest.raises(ValueError, match="exactly one of response_col and completions_col"):
        EvolQualityConfig(completions_col="completions")


def test_evol_quality_keeps_original_and_evolved(session: Session, recording) -> None:
    backend = recording(
        lambda p, s: "# Improved response\nBetter: " + p.split("# Response\n")[1].split("\n")[0]
    )
    rows = [{"instruction": "What is synthetic data?", "response": "Fake data.", "id": 7}]
    (row,) = evolve_responses(rows, backend, EvolQualityConfig(evolutions=2), session, model="m")
    assert row["response"] == "Fake data." and row["id"] == 7
    assert row["completions"] == ["Fake data.", "Better: Better: Fake data."]
    assert row["completion_models"] == ["input", "m"]
    original, evolved = row["completion_params"]
    assert original["generator"] == "input"
    assert evolved["generator"] == "evol_quality" and evolved["source_index"] == 0
    assert len(evolved["mutation"].split("+")) == 2
    assert set(evolved["mutation"].split("+")) <= set(ASPECTS)
    assert row["evol_quality_status"] == [["ok", "ok"]]


def test_evol_quality_over_a_completions_list(session: Session, recording) -> None:
    backend = recording(lambda p, s: "same" if "# Response\nsame" in p else "improved")
    rows = [
        {
            "instruction": "Q",
            "completions": ["first", "same"],
            "completion_models": ["x", "y"],
        }
    ]
    config = EvolQualityConfig(response_col=None, completions_col="completions")
    (row,) = evolve_responses(
        rows, backend, config, Session(session.store, max_retries=0, progress=False)
    )
    assert row["completions"] == ["first", "same", "improved"]
    assert row["completion_models"] == ["x", "y", backend.id]
    assert row["completion_params"][2]["source_index"] == 0
    assert row["evol_quality_status"] == [["ok"], ["copies_input"]]
    assert "original_completions" not in row
