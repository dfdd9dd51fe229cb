"""Tables of realistic judge outputs for ``ultrajudge.judge.parsing``; every bug found adds a row."""

from __future__ import annotations

import doctest
import json
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import ultrajudge.judge.parsing
import ultrajudge.judge.rating_value
from ultrajudge.judge.parsing import (
    DEFAULT_SCALE,
    format_ultrafeedback,
    parse_score_rationale,
    parse_ultrafeedback,
    parse_ultrafeedback_json,
)
from ultrajudge.judge.rating_value import read_rating_value

OK, NA, PE, OOR, MISS = "ok", "na", "parse_error", "out_of_range", "missing"


def block(i: int, rating: str, rationale: str | None = "Fine.", header: str = "####") -> str:
    text = f"{header} Output for Text {i}\nRating: {rating}\n"
    return text + (f"Rationale: {rationale}\n" if rationale is not None else "")


TWO = block(1, "4", "Clear and correct.") + "\n" + block(2, "2", "Misses the point.")

# (id, judge output, n, options, expected ((status, value), ...))
UF_ROWS = [
    ("canonical", TWO, 2, {}, ((OK, 4.0), (OK, 2.0))),
    ("preamble", "Here is my evaluation of the two texts.\n\n" + TWO, 2, {}, ((OK, 4), (OK, 2))),
    (
        "closing-remark",
        TWO + "\nOverall, Text 1 is the stronger answer; Text 2 rates a 1 at best.",
        2,
        {},
        ((OK, 4), (OK, 2)),
    ),
    (
        "blank-lines-in-rationale",
        block(1, "3", "First point.\n\n\nSecond point.") + "\n\n\n" + block(2, "5"),
        2,
        {},
        ((OK, 3), (OK, 5)),
    ),
    (
        "multi-paragraph-rationale",
        "#### Output for Text 1\nRating: 2\nRationale: The answer is wrong.\n\n"
        "It claims the Moon is a planet.\n\nRating it higher would reward errors.\n\n"
        "#### Output for Text 2\nRating: 5\nRationale: Correct.\n",
        2,
        {},
        ((OK, 2), (OK, 5)),
    ),
    ("crlf", TWO.replace("\n", "\r\n"), 2, {}, ((OK, 4), (OK, 2))),
    ("bare-cr", TWO.replace("\n", "\r"), 2, {}, ((OK, 4), (OK, 2))),
    (
        "bold-label-colon-inside",
        "#### Output for Text 1\n**Rating:** 4\n**Rationale:** Good.\n\n"
        "#### Output for Text 2\n**Rating:** 1\n**Rationale:** Bad.",
        2,
        {},
        ((OK, 4), (OK, 1)),
    ),
    (
        "bold-label-colon-outside",
        "#### Output for Text 1\n**Rating**: 4\n**Rationale**: Good.\n\n"
        "#### Output for Text 2\n**Rating**: 3\n",
        2,
        {},
        ((OK, 4), (OK, 3)),
    ),
    ("slash-max", block(1, "4/5") + block(2, "5 / 5"), 2, {}, ((OK, 4), (OK, 5))),
    ("out-of-words", block(1, "4 out of 5"), 1, {}, ((OK, 4),)),
    ("parenthetical", block(1, "4 (good)") + block(2, "1 (poor)"), 2, {}, ((OK, 4), (OK, 1))),
    ("brackets", block(1, "[4]") + block(2, "[2]"), 2, {}, ((OK, 4), (OK, 2))),
    ("bold-value", block(1, "**5**") + block(2, "`3`"), 2, {}, ((OK, 5), (OK, 3))),
    ("integral-decimal", block(1, "4.0"), 1, {}, ((OK, 4),)),
    (
        "header-h3",
        block(1, "4", header="###") + block(2, "2", header="###"),
        2,
        {},
        ((OK, 4), (OK, 2)),
    ),
    (
        "header-lowercase-colon",
        "#### Output for text 1:\nRating: 5\n\n#### Output for text 2:\nRating: 3\n",
        2,
        {},
        ((OK, 5), (OK, 3)),
    ),
    (
        "header-bold",
        "**Output for Text 1**\nRating: 2\n\n**Output for Text 2:**\nRating: 4\n",
        2,
        {},
        ((OK, 2), (OK, 4)),
    ),
    (
        "header-plain-colon",
        "Output for Text 1:\nRating: 1\nOutput for Text 2:\nRating: 5\n",
        2,
        {},
        ((OK, 1), (OK, 5)),
    ),
    (
        "header-bullet-and-hash-number",
        "- Output for Text #1\nRating: 3\n- Output for Text #2\nRating: 4\n",
        2,
        {},
        ((OK, 3), (OK, 4)),
    ),
    ("out-of-order", block(2, "1") + "\n" + block(1, "5"), 2, {}, ((OK, 5), (OK, 1))),
    (
        "missing-middle-block",
        block(1, "4") + block(3, "2"),
        3,
        {},
        ((OK, 4), (MISS, None), (OK, 2)),
    ),
    (
        "duplicate-agreeing",
        block(1, "4") + block(1, "4", "Again.") + block(2, "3"),
        2,
        {},
        ((OK, 4), (OK, 3)),
    ),
    (
        "duplicate-conflicting",
        block(1, "4") + block(2, "3") + block(1, "2"),
        2,
        {},
        ((PE, None), (OK, 3)),
    ),
    (
        "template-echo-then-answer",
        "Format:\n#### Output for Text 1\nRating: <a whole number from 1 to 5>\n\n"
        "Answer:\n#### Output for Text 1\nRating: 4\n",
        1,
        {},
        ((PE, None),),
    ),
    (
        "index-beyond-n-ignored",
        block(1, "4") + block(2, "3") + block(3, "1"),
        2,
        {},
        ((OK, 4), (OK, 3)),
    ),
    (
        "index-beyond-n-does-not-leak",
        block(1, "4") + "#### Output for Text 7\nRating: 1\n" + block(2, "3"),
        2,
        {},
        ((OK, 4), (OK, 3)),
    ),
    ("index-zero-ignored", block(0, "5") + block(1, "2"), 1, {}, ((OK, 2),)),
    ("na-allowed", block(1, "N/A") + block(2, "4"), 2, {"allow_na": True}, ((NA, None), (OK, 4))),
    ("na-not-allowed", block(1, "N/A") + block(2, "4"), 2, {}, ((PE, None), (OK, 4))),
    (
        "na-spellings",
        block(1, "n/a") + block(2, "NA") + block(3, "Not applicable"),
        3,
        {"allow_na": True},
        ((NA, None),) * 3,
    ),
    (
        "all-na",
        block(1, "N/A") + block(2, "N/A") + block(3, "N/A"),
        3,
        {"allow_na": True},
        ((NA, None),) * 3,
    ),
    ("empty-rating", block(1, "") + block(2, "4"), 2, {}, ((PE, None), (OK, 4))),
    ("rating-on-next-line", "#### Output for Text 1\nRating:\n4\n", 1, {}, ((PE, None),)),
    ("spelled-out-number", block(1, "five") + block(2, "Four"), 2, {}, ((PE, None), (PE, None))),
    ("word-before-number", block(1, "I'd give it a 4"), 1, {}, ((PE, None),)),
    (
        "prose-mentions-text-3",
        "#### Output for Text 1\nRating: 2\nRationale: Weaker than Text 3.\n"
        "Output for Text 3 is longer and cites sources.\nIn Output for Text 3, see step 2.\n\n"
        + block(2, "4")
        + block(3, "5"),
        3,
        {},
        ((OK, 2), (OK, 4), (OK, 5)),
    ),
    ("no-rationale", block(1, "3", None) + block(2, "4", None), 2, {}, ((OK, 3), (OK, 4))),
    (
        "truthfulness-type-lines",
        "#### Output for Text 1\nType: 1, 2\nRationale: Contradicts the input.\nRating: 2\n"
        "Rationale: Two factual errors.\n\n#### Output for Text 2\nType: None\n"
        "Rationale: No hallucination.\nRating: 5\nRationale: Accurate.\n",
        2,
        {},
        ((OK, 2), (OK, 5)),
    ),
    (
        "stray-numbers-elsewhere",
        "#### Output for Text 1\nThe answer lists 7 steps; I would say 10/10 on style.\nRating: 4\n"
        "Rationale: 3 of the 7 steps are vague.\n",
        1,
        {},
        ((OK, 4),),
    ),
    (
        "llm-chatter",
        "Sure! I'd be happy to help. Let me carefully evaluate each text.\n\n---\n\n"
        + block(1, "3", "Adequate.")
        + "\n---\n\n"
        + block(2, "5", "Excellent.")
        + "\n---\n\nI hope this helps! Let me know if you need anything else.",
        2,
        {},
        ((OK, 3), (OK, 5)),
    ),
    ("one-completion", block(1, "5", "Perfect."), 1, {}, ((OK, 5),)),
    (
        "four-completions",
        block(1, "1") + block(2, "2") + block(3, "3") + block(4, "4"),
        4,
        {},
        ((OK, 1), (OK, 2), (OK, 3), (OK, 4)),
    ),
    (
        "rates-three-of-four",
        block(1, "4") + block(2, "4") + block(3, "2") + "\nI did not have time for the last one.",
        4,
        {},
        ((OK, 4), (OK, 4), (OK, 2), (MISS, None)),
    ),
    ("zero-out-of-range", block(1, "0") + block(2, "3"), 2, {}, ((OOR, None), (OK, 3))),
    ("six-out-of-range", block(1, "6"), 1, {}, ((OOR, None),)),
    ("ten-out-of-range", block(1, "10") + block(2, "10/10"), 2, {}, ((OOR, None), (OOR, None))),
    ("negative", block(1, "-1") + block(2, "-5"), 2, {}, ((OOR, None), (OOR, None))),
    ("other-maximum", block(1, "4/10") + block(2, "2 out of 3"), 2, {}, ((OOR, None), (OOR, None))),
    ("huge-number", block(1, "9" * 5000), 1, {}, ((OOR, None),)),
    ("decimal", block(1, "3.5") + block(2, "4"), 2, {}, ((PE, None), (OK, 4))),
    ("comma-decimal", block(1, "3,5"), 1, {}, ((PE, None),)),
    ("range", block(1, "3-4") + block(2, "4 – 5") + block(3, "2 or 3"), 3, {}, ((PE, None),) * 3),
    (
        "rating-before-header",
        "Rating: 5\n#### Output for Text 1\nRationale: Good.\n\n" + block(2, "3"),
        2,
        {},
        ((PE, None), (OK, 3)),
    ),
    (
        "block-without-rating",
        "#### Output for Text 1\nRationale: Nice.\n" + block(2, "1"),
        2,
        {},
        ((PE, None), (OK, 1)),
    ),
    (
        "quoted-rating-after-real",
        "#### Output for Text 1\nRating: 4\nRationale: The user wrote:\n"
        "Rating: 1 - this is awful\nbut that is their opinion, not mine.\n",
        1,
        {},
        ((OK, 4),),
    ),
    ("empty-string", "", 2, {}, ((MISS, None), (MISS, None))),
    ("refusal", "I cannot evaluate this content.", 3, {}, ((MISS, None),) * 3),
    ("headerless-single", "Rating: 4\nRationale: Good.", 1, {}, ((MISS, None),)),
    ("n-zero", TWO, 0, {}, ()),
    (
        "ten-point-scale",
        block(1, "8/10") + block(2, "7"),
        2,
        {"scale": range(1, 11)},
        ((OK, 8), (OK, 7)),
    ),
    (
        "sparse-scale",
        block(1, "3") + block(2, "2"),
        2,
        {"scale": (1, 3, 5)},
        ((OK, 3), (OOR, None)),
    ),
    # -- issue 15.1: a rating never shifts onto another text's block -----------------
    (
        "issue-15-shift-bare-text-header",
        "#### Output for Text 1\nRating: 2\nRationale: Weak.\n\n"
        "#### Output for Text 2\nRationale: Clear, but I forgot the number.\n\n"
        "### Text 3\nRating: 5\nRationale: Best.\n",
        3,
        {},
        ((OK, 2), (PE, None), (OK, 5)),
    ),
    *[
        (
            f"block-ends-at-{name}",
            "#### Output for Text 1\nRating: 2\n\n#### Output for Text 2\nRationale: Fine.\n"
            f"{line}\nRating: 5\n",
            3,
            {},
            ((OK, 2), (PE, None), third),
        )
        for name, line, third in [
            ("text-colon-header", "Text 3:", (OK, 5)),
            ("bold-text-header", "**Text 3**", (OK, 5)),
            ("hash-number-header", "## Text #3", (OK, 5)),
            ("output-for-prose", "Output for Text 3 is the strongest one.", (MISS, None)),
            ("bold-text-with-content", "**Text 3:** see below", (MISS, None)),
            ("text-prose", "Text 3 is better.", (MISS, None)),
            ("rating-for-text", "Rating for Text 3:", (MISS, None)),
            ("text-tag", "<text 3>", (MISS, None)),
            ("quoted-header", "> #### Output for Text 3", (MISS, None)),
            ("double-quoted-header", '"#### Output for Text 3"', (MISS, None)),
            ("index-beyond-n", "Text 9:", (MISS, None)),
        ]
    ],
    (
        "one-line-summary-is-not-a-block",
        block(1, "4") + "**Text 2:** Rating: 5\n",
        2,
        {},
        ((OK, 4), (MISS, None)),
    ),
    (
        "other-text-line-before-rating-ends-block",
        "#### Output for Text 2\nText 1 was better, so:\nRating: 2\n",
        2,
        {},
        ((MISS, None), (PE, None)),
    ),
    (
        "same-text-named-inside-its-block",
        "#### Output for Text 2\nText 2 is on topic.\nRating: 4\n",
        2,
        {},
        ((MISS, None), (OK, 4)),
    ),
    (
        "other-text-mid-sentence-ends-nothing",
        "#### Output for Text 2\nUnlike Text 1, this one is right.\nRating: 4\n",
        2,
        {},
        ((MISS, None), (OK, 4)),
    ),
    (
        "fenced-example-header-not-a-block",
        "Example of the format:\n```\n#### Output for Text 2\nRating: 5\n```\n\n" + block(1, "3"),
        2,
        {},
        ((OK, 3), (MISS, None)),
    ),
    (
        "tilde-fenced-example-header",
        block(1, "3", "Fine.\n~~~\n### Text 2\nRating: 5\n~~~") + "\n",
        2,
        {},
        ((OK, 3), (MISS, None)),
    ),
    (
        "fenced-rating-inside-block",
        "#### Output for Text 1\n```\nRating: 5\n```\nRationale: Quoted a rating.\n",
        1,
        {},
        ((PE, None),),
    ),
    (
        "fenced-rating-then-real-rating",
        "#### Output for Text 1\n```text\nRating: 5\n```\nRating: 2\nRationale: Real one.\n",
        1,
        {},
        ((OK, 2),),
    ),
    (
        "unclosed-fence-hides-later-header",
        block(1, "4", "See:\n```python\nprint(1)") + block(2, "3"),
        2,
        {},
        ((OK, 4), (MISS, None)),
    ),
    (
        "longer-closing-fence-closes",
        block(1, "4", "See:\n```\nx\n`````") + block(2, "3"),
        2,
        {},
        ((OK, 4), (OK, 3)),
    ),
    (
        "whole-answer-fenced",
        "```markdown\n" + TWO + "```\n",
        2,
        {},
        ((OK, 4), (OK, 2)),
    ),
    (
        "preamble-then-whole-answer-fenced",
        "Here is my evaluation:\n\n```\n" + TWO + "```",
        2,
        {},
        ((OK, 4), (OK, 2)),
    ),
    (
        "header-quoted-in-rationale",
        "#### Output for Text 1\nRating: 4\nRationale: It pastes the template:\n"
        "> #### Output for Text 2\n> Rating: 5\n",
        2,
        {},
        ((OK, 4), (MISS, None)),
    ),
    (
        "rating-after-rationale-ignored",
        "#### Output for Text 1\nRationale: Weak, as the user said:\nRating: 1\n" + block(2, "4"),
        2,
        {},
        ((PE, None), (OK, 4)),
    ),
    (
        "rating-after-rationale-inline-label",
        "#### Output for Text 1\n**Rationale:** Good.\n**Rating:** 5\n",
        1,
        {},
        ((PE, None),),
    ),
    # -- issue 15.2: a number must be the whole token ----------------------------------
    ("exponent", block(1, "1e3") + block(2, "4E0"), 2, {}, ((PE, None), (PE, None))),
    ("tilde-range", block(1, "4~5") + block(2, "4 ~ 5"), 2, {}, ((PE, None), (PE, None))),
    ("vulgar-fraction", block(1, "3½") + block(2, "3 ½"), 2, {}, ((PE, None), (PE, None))),
    ("half-point", block(1, "4.5") + block(2, "4.50/5"), 2, {}, ((PE, None), (PE, None))),
    ("word-range", block(1, "4 to 5") + block(2, "4 and 5"), 2, {}, ((PE, None), (PE, None))),
    ("two-numbers", block(1, "4 5"), 1, {}, ((PE, None),)),
    ("glued-units", block(1, "4pts") + block(2, "80%") + block(3, "4x"), 3, {}, ((PE, None),) * 3),
    ("percent-apart", block(1, "4 %"), 1, {}, ((PE, None),)),
    ("ordinal", block(1, "4th"), 1, {}, ((PE, None),)),
    ("hex", block(1, "0x4"), 1, {}, ((PE, None),)),
    ("approx", block(1, "~4") + block(2, "≈4"), 2, {}, ((PE, None), (PE, None))),
    ("over-max-glued", block(1, "4/5ths") + block(2, "4/5/5"), 2, {}, ((PE, None), (PE, None))),
    ("nan-inf", block(1, "NaN") + block(2, "inf"), 2, {}, ((PE, None), (PE, None))),
    ("fullwidth-digit", block(1, "４"), 1, {}, ((PE, None),)),
    # a unit makes the number count something else: parse_error, the block kept as raw
    ("unit-stars", block(1, "4 stars") + block(2, "3 points"), 2, {}, ((PE, None), (PE, None))),
    ("unit-over-max", block(1, "4/5 stars") + block(2, "**4** pts"), 2, {}, ((PE, None),) * 2),
    ("unit-percent-word", block(1, "80 percent"), 1, {}, ((PE, None),)),
    # ... what is not a unit is left alone
    ("label-in-brackets", block(1, "4 (Good)") + block(2, "2 [poor]"), 2, {}, ((OK, 4), (OK, 2))),
    ("label-after-dash", block(1, "4 - clear") + block(2, "3 because"), 2, {}, ((OK, 4), (OK, 3))),
    ("bold-number", block(1, "**4**") + block(2, "__3__"), 2, {}, ((OK, 4), (OK, 3))),
    ("over-the-max", block(1, "4/5") + block(2, "3 of 5"), 2, {}, ((OK, 4), (OK, 3))),
    ("over-another-max", block(1, "4/10") + block(2, "1/2"), 2, {}, ((OOR, None), (OOR, None))),
    (
        "crlf-end-of-line",
        "#### Output for Text 1\r\nRating: 4\r\nRationale: ok\r\n",
        1,
        {},
        ((OK, 4),),
    ),
    ("word-starting-like-a-unit", block(1, "4 starship"), 1, {}, ((OK, 4),)),
    ("trailing-period", block(1, "4.") + block(2, "+2"), 2, {}, ((OK, 4), (OK, 2))),
]


@pytest.mark.parametrize(
    ("text", "n", "options", "expected"), [r[1:] for r in UF_ROWS], ids=[r[0] for r in UF_ROWS]
)
def test_parse_ultrafeedback_table(text: str, n: int, options: dict, expected: tuple) -> None:
    ratings = parse_ultrafeedback(text, n, **options)
    assert tuple((r.status, r.value) for r in ratings) == expected


def test_table_is_large_enough() -> None:
    assert len(UF_ROWS) >= 40 and len(SR_ROWS) >= 12


def test_rationales() -> None:
    r = parse_ultrafeedback(TWO, 2)
    assert [x.rationale for x in r] == ["Clear and correct.", "Misses the point."]
    text = dict((row[0], row[1]) for row in UF_ROWS)
    multi = parse_ultrafeedback(text["multi-paragraph-rationale"], 2)[0]
    assert multi.rationale == (
        "The answer is wrong.\n\nIt claims the Moon is a planet.\n\nRating it higher would reward errors."
    )
    truth = parse_ultrafeedback(text["truthfulness-type-lines"], 2)
    assert [x.rationale for x in truth] == ["Two factual errors.", "Accurate."]
    chatter = parse_ultrafeedback(text["llm-chatter"], 2)
    assert [x.rationale for x in chatter] == ["Adequate.", "Excellent."]
    quoted = parse_ultrafeedback(text["quoted-rating-after-real"], 1)[0]
    assert (
        quoted.rationale
        == "The user wrote:\nRating: 1 - this is awful\nbut that is their opinion, not mine."
    )
    assert parse_ultrafeedback(text["no-rationale"], 2)[0].rationale is None
    bold = parse_ultrafeedback(text["bold-label-colon-inside"], 2)
    assert [x.rationale for x in bold] == ["Good.", "Bad."]
    assert parse_ultrafeedback(TWO.replace("\n", "\r\n"), 2)[1].rationale == "Misses the point."


def test_raw_keeps_evidence() -> None:
    text = "Preamble.\n" + block(1, "3.5", "Between.") + block(2, "2")
    first, second, third = parse_ultrafeedback(text, 3)
    assert first.raw == "#### Output for Text 1\nRating: 3.5\nRationale: Between."
    assert first.rationale == "Between."
    assert second.raw == "#### Output for Text 2\nRating: 2\nRationale: Fine."
    assert third.raw == text  # no block: the whole output
    conflict = parse_ultrafeedback(block(1, "4") + block(1, "2"), 1)[0]
    assert "Rating: 4" in (conflict.raw or "") and "Rating: 2" in (conflict.raw or "")


# (id, judge output, options, expected (status, value, rationale))
SR_ROWS = [
    ("plain", "4 - Clear and correct.", {}, (OK, 4.0, "Clear and correct.")),
    (
        "score-label",
        "Score: 3 - Partly answers the question.",
        {},
        (OK, 3, "Partly answers the question."),
    ),
    ("score-label-lower-equals", "score = 2 - Vague.", {}, (OK, 2, "Vague.")),
    ("bold-number", "**4** - Solid.", {}, (OK, 4, "Solid.")),
    ("bold-label", "**Score:** 5 - Excellent.", {}, (OK, 5, "Excellent.")),
    ("bold-label-and-number", "**Score: 4/5** - Good.", {}, (OK, 4, "Good.")),
    ("slash-max", "4/5 - Good but terse.", {}, (OK, 4, "Good but terse.")),
    ("en-dash", "4 – Good.", {}, (OK, 4, "Good.")),
    ("em-dash", "2—Off topic.", {}, (OK, 2, "Off topic.")),
    ("colon", "1: Harmful advice.", {}, (OK, 1, "Harmful advice.")),
    (
        "preamble",
        "Here is my evaluation:\n4 - Accurate and concise.",
        {},
        (OK, 4, "Accurate and concise."),
    ),
    ("leading-whitespace", "\n   5 - Great.\n", {}, (OK, 5, "Great.")),
    (
        "crlf-multiline",
        "3 - Okay.\r\nIt misses one case.",
        {},
        (OK, 3, "Okay.\nIt misses one case."),
    ),
    ("empty-rationale", "4 -", {}, (OK, 4, None)),
    ("ten-point-scale", "8/10 - Good.", {"scale": range(1, 11)}, (OK, 8, "Good.")),
    ("six", "6 - Beyond perfect.", {}, (OOR, None, "Beyond perfect.")),
    ("zero", "0 - Useless.", {}, (OOR, None, "Useless.")),
    ("negative", "-1 - Worse than nothing.", {}, (OOR, None, "Worse than nothing.")),
    ("other-maximum", "7/10 - Fine.", {}, (OOR, None, "Fine.")),
    ("decimal", "3.5 - Between.", {}, (PE, None, "Between.")),
    ("range", "3-4 - Hard to say.", {}, (PE, None, None)),
    ("word", "five - Great.", {}, (PE, None, None)),
    ("no-separator", "Score: 4", {}, (PE, None, None)),
    ("not-anchored", "The response deserves 4 - it is good.", {}, (PE, None, None)),
    ("empty", "", {}, (PE, None, None)),
    ("refusal", "I cannot evaluate this response.", {}, (PE, None, None)),
    ("exponent", "1e3 - Huge.", {}, (PE, None, None)),
    ("tilde-range", "4~5 - Close.", {}, (PE, None, None)),
    ("vulgar-fraction", "3½ - Between.", {}, (PE, None, None)),
    ("half-point", "4.5/5 - Nearly.", {}, (PE, None, "Nearly.")),
]


@pytest.mark.parametrize(
    ("text", "options", "expected"), [r[1:] for r in SR_ROWS], ids=[r[0] for r in SR_ROWS]
)
def test_parse_score_rationale_table(text: str, options: dict, expected: tuple) -> None:
    r = parse_score_rationale(text, **options)
    assert (r.status, r.value, r.rationale) == expected
    assert r.raw == text


def test_format_round_trip() -> None:
    pairs = [(4, "Clear."), (1, "Wrong.\n\nVery wrong."), ("N/A", "Does not apply."), (5, "")]
    ratings = parse_ultrafeedback(format_ultrafeedback(pairs), 4, allow_na=True)
    assert [(r.status, r.value, r.rationale) for r in ratings] == [
        (OK, 4.0, "Clear."),
        (OK, 1.0, "Wrong.\n\nVery wrong."),
        (NA, None, "Does not apply."),
        (OK, 5.0, None),
    ]


@pytest.mark.parametrize("rationale", ["ok\n#### Output for Text 2\nmore", "ok\n---\nmore"])
def test_format_rejects_rationale_that_would_misparse(rationale: str) -> None:
    with pytest.raises(ValueError, match="rationale for Text 1"):
        format_ultrafeedback([(3, rationale)])


@pytest.mark.parametrize("scale", [(), (1, 2.5), (True, False)])
def test_bad_scale_is_rejected(scale: tuple) -> None:
    with pytest.raises(ValueError, match="scale"):
        parse_ultrafeedback(TWO, 2, scale=scale)
    with pytest.raises(ValueError, match="scale"):
        parse_score_rationale("4 - ok", scale=scale)


def test_negative_n_is_rejected() -> None:
    with pytest.raises(ValueError, match="n "):
        parse_ultrafeedback(TWO, -1)


def test_docstring_examples() -> None:
    assert doctest.testmod(ultrajudge.judge.parsing).failed == 0


# -- properties ---------------------------------------------------------------

SCALES = st.sampled_from([(1, 2, 3, 4, 5), tuple(range(1, 11)), (0, 1), (1, 3, 5)])
PIECES = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda h, i: f"{h}Output for Text {i}{h[::-1]}",
        st.sampled_from(["", "#### ", "**", "### "]),
        st.integers(-2, 8),
    ),
    st.builds(
        lambda v: f"Rating: {v}",
        st.one_of(st.integers(-20, 20), st.floats(allow_nan=True), st.text(max_size=8)),
    ),
    st.builds(lambda s: f"Rationale: {s}", st.text(max_size=20)),
    st.sampled_from(["", "---", "Rating:", "Rating: N/A", "Type: 1", "4 - ok", "Score: 3 - fine"]),
)
SPLICED = st.builds(
    lambda parts, sep: sep.join(parts),
    st.lists(PIECES, max_size=25),
    st.sampled_from(["\n", "\r\n", "\r", " "]),
)


def _check(rating, scale) -> None:  # type: ignore[no-untyped-def]
    if rating.status == OK:
        assert rating.value in scale
    else:
        assert rating.value is None
        assert rating.status in {NA, PE, OOR, MISS}


@settings(deadline=None, max_examples=300)
@given(
    text=st.one_of(st.text(), SPLICED), n=st.integers(0, 6), scale=SCALES, allow_na=st.booleans()
)
def test_parse_ultrafeedback_invariants(text: str, n: int, scale: tuple, allow_na: bool) -> None:
    ratings = parse_ultrafeedback(text, n, scale=scale, allow_na=allow_na)
    assert len(ratings) == n
    for r in ratings:
        _check(r, scale)
        assert allow_na or r.status != NA


@settings(deadline=None, max_examples=300)
@given(text=st.one_of(st.text(), SPLICED), scale=SCALES)
def test_parse_score_rationale_invariants(text: str, scale: tuple) -> None:
    r = parse_score_rationale(text, scale=scale)
    _check(r, scale)
    assert r.status != MISS and r.raw == text


RATIONALE = st.text(alphabet="abcXYZ019 .,!?'\n-#:", max_size=60)


@settings(deadline=None)
@given(
    pairs=st.lists(st.tuples(st.one_of(st.integers(1, 5), st.just("N/A")), RATIONALE), max_size=6)
)
def test_format_parse_round_trip_property(pairs: list) -> None:
    try:
        text = format_ultrafeedback(pairs)
    except ValueError:
        assume(False)
    ratings = parse_ultrafeedback(text, len(pairs), allow_na=True)
    for (value, rationale), r in zip(pairs, ratings, strict=True):
        assert (r.status, r.value) == ((NA, None) if value == "N/A" else (OK, float(value)))
        assert r.rationale == (rationale.strip() or None)


# -- no catastrophic backtracking ---------------------------------------------

PATHOLOGICAL = {
    "headers-no-newlines": "####Output for Text" * 6000,
    "headers-lines": "####Output for Text\n" * 6000,
    "header-then-spaces": "#### Output for Text " + " " * 100_000 + "x",
    "header-then-hashes": "Output for Text 1" + "#" * 100_000 + "x",
    "leading-markdown": "*#" * 50_000 + "Output",
    "rating-then-spaces": "#### Output for Text 1\nRating:" + " " * 100_000 + "x",
    "many-blocks": "#### Output for Text 1\nRating: 4\n" * 4000,
    "score-then-spaces": "Score:" + " " * 100_000 + "x",
    "digits": "4" * 100_000 + " -",
}


@pytest.mark.timeout(5)
@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_input_finishes(text: str) -> None:
    assert len(parse_ultrafeedback(text, 3)) == 3
    assert parse_score_rationale(text).status in {PE, OOR}


# -- the promise: a rating only ever lands on the block whose header names that text ----

HEADERS = [
    "#### Output for Text {i}",
    "### Text {i}",
    "**Output for Text {i}**",
    "Text {i}:",
    "**Text {i}:**",
    "Output for text #{i}",
    "- Output for Text {i}",
]
GOOD_TOKENS = ["{v}", "**{v}**", "{v}/5", "[{v}]", "{v} (fair)", "`{v}`"]
ODD_TOKENS = ["1e3", "4~5", "3½", "4.5", "2-3", "4 or 5", "five", "", "N/A", "0", "6", "4/10"]
ODD_TOKENS += ["9" * 30, "3,5", "4%", "NaN", "~4", "4th"]
# Lines that may follow a block's rationale; {j} names any text, {v} any rating. None of them
# is a header outside a fence, so none may give text j (or the block's own text) a rating.
DECOYS = [
    "```\n#### Output for Text {j}\nRating: {v}\n```",
    "~~~\n### Text {j}\nRating: {v}\n~~~",
    "> #### Output for Text {j}\n> Rating: {v}",
    '"#### Output for Text {j}"\nRating: {v}',
    "Text {j} is better.\nRating: {v}",
    "Output for Text {j} is longer.\nRating: {v}",
    "**Text {j}:** Rating: {v}",
    "<text {j}>\nRating: {v}",
    "Rating for Text {j}: {v}",
    "Rating: {v}",
    "Unlike Text {j}, this one is right. Rating: {v}",
]


@st.composite
def adversarial_answer(draw: st.DrawFn) -> tuple[str, int, set, set]:
    """An answer, n, the (text, value) pairs a header-owned ``Rating:`` line gives, and the
    texts that have exactly one header and a readable rating (they must be read)."""
    n = draw(st.integers(1, 5))
    indices = draw(st.lists(st.integers(1, n + 1), max_size=7))  # shuffled, missing, repeated
    owned: set[tuple[int, float]] = set()
    clean: dict[int, float | None] = {}
    parts = [draw(st.sampled_from(["", "Sure, here you go.", "Rating: 5\nPreamble rating."]))]
    for i in indices:
        header = draw(st.sampled_from(HEADERS)).format(i=i)
        # the truthfulness shape: Type, the type's rationale, Rating, the rating's rationale
        lines = [header] + (["Type: 1", "Rationale: Type one."] if draw(st.booleans()) else [])
        value: float | None = None
        if draw(st.booleans()):  # a readable rating
            value = float(draw(st.integers(1, 5)))
            lines.append("Rating: " + draw(st.sampled_from(GOOD_TOKENS)).format(v=int(value)))
            owned.add((i, value))
        elif draw(st.booleans()):  # an odd one, or no rating line at all
            lines.append("Rating: " + draw(st.sampled_from(ODD_TOKENS)))
        lines.append("Rationale: " + draw(st.sampled_from(["Fine.", "Too long.", ""])))
        for decoy in draw(st.lists(st.sampled_from(DECOYS), max_size=3)):
            j, v = draw(st.integers(1, n + 1)), draw(st.integers(1, 5))
            lines.append(decoy.format(j=j, v=v))
        if draw(st.booleans()):  # an injected real header: a block of text j by the grammar
            j, v = draw(st.integers(1, n + 1)), draw(st.integers(1, 5))
            lines += [f"#### Output for Text {j}", f"Rating: {v}"]
            owned.add((j, float(v)))
            clean[j] = None
        clean[i] = value if i not in clean else None
        parts.append("\n".join(lines))
    if draw(st.booleans()):
        parts.append("Overall: Text 1: 5, Text 2: 1.")
    text = draw(st.sampled_from(["\n", "\n\n", "\r\n"])).join(parts)
    must_read = {(i, v) for i, v in clean.items() if v is not None and indices.count(i) == 1}
    return text, n, owned, must_read


@settings(deadline=None, max_examples=400)
@given(adversarial_answer())
def test_rating_only_from_the_block_that_names_the_text(case: tuple) -> None:
    text, n, owned, must_read = case
    ratings = parse_ultrafeedback(text, n, allow_na=True)
    for i, r in enumerate(ratings, start=1):
        if r.status == OK:
            assert (i, r.value) in owned, (i, r.value, text)
    for i, v in must_read:
        if i <= n:
            assert (ratings[i - 1].status, ratings[i - 1].value) == (OK, v), text


@settings(deadline=None, max_examples=200)
@given(
    decoys=st.lists(st.sampled_from(DECOYS), min_size=1, max_size=4),
    j=st.integers(1, 3),
    v=st.integers(1, 5),
)
def test_decoys_alone_never_rate_a_real_block(decoys: list, j: int, v: int) -> None:
    """A real block for every text but without its rating line, then decoys: nothing is ok."""
    text = "\n".join(
        f"#### Output for Text {i}\nRationale: No number.\n" + "\n".join(decoys).format(j=j, v=v)
        for i in range(1, 4)
    )
    assert all(r.status != OK for r in parse_ultrafeedback(text, 3))


# -- fuzz: never raises, never off the scale ----------------------------------------

FUZZ_PIECES = st.one_of(
    PIECES,
    st.sampled_from(["```", "~~~", "````md", "> #### Output for Text 1", "<text 2>", "Text 2:"]),
    st.builds(lambda h, i: h.format(i=i), st.sampled_from(HEADERS), st.integers(0, 7)),
    st.builds(lambda t: f"Rating: {t}", st.sampled_from(ODD_TOKENS + GOOD_TOKENS)),
)
FUZZ = st.one_of(
    st.text(),
    st.builds(
        lambda parts, sep: sep.join(parts),
        st.lists(FUZZ_PIECES, max_size=30),
        st.sampled_from(["\n", "\r\n", "\r"]),
    ),
)


@settings(deadline=None, max_examples=400)
@given(text=FUZZ, n=st.integers(0, 6), scale=SCALES, allow_na=st.booleans())
def test_fuzz_parsers_never_raise_or_leave_the_scale(
    text: str, n: int, scale: tuple, allow_na: bool
) -> None:
    for r in parse_ultrafeedback(text, n, scale=scale, allow_na=allow_na):
        _check(r, scale)
    for r in parse_ultrafeedback_json(text, n, scale=scale, allow_na=allow_na):
        _check(r, scale)
    _check(parse_score_rationale(text, scale=scale), scale)
    status, value = read_rating_value(text, scale, allow_na=allow_na)
    assert (value in scale) if status == OK else value is None


@settings(deadline=None, max_examples=300)
@given(
    value=st.one_of(
        st.integers(-(10**20), 10**20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_fuzz_json_rating_values(value: object) -> None:
    text = json.dumps({"text_1": {"rating": value, "rationale": "x"}})
    (r,) = parse_ultrafeedback_json(text, 1)
    _check(r, DEFAULT_SCALE)
    if r.status == OK:
        assert isinstance(value, (int, float, str)) and not isinstance(value, bool)
        if isinstance(value, str):
            assert re.search(rf"(?<![0-9.]){int(r.value or 0)}(?![0-9])", value), value
        else:
            assert value == r.value


# -- the number-token rule, on its own ------------------------------------------------

# (written value, scale, allow_na, expected (status, value))
VALUE_ROWS = [
    ("4", DEFAULT_SCALE, False, (OK, 4.0)),
    ("**4**", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4/5", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4 out of 5", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4.0", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4 (good)", DEFAULT_SCALE, False, (OK, 4.0)),
    ("8/10", tuple(range(1, 11)), False, (OK, 8.0)),
    ("1e3", DEFAULT_SCALE, False, (PE, None)),
    ("4~5", DEFAULT_SCALE, False, (PE, None)),
    ("3½", DEFAULT_SCALE, False, (PE, None)),
    ("4.5", DEFAULT_SCALE, False, (PE, None)),
    ("4.5", tuple(range(1, 11)), False, (PE, None)),
    ("3-4", DEFAULT_SCALE, False, (PE, None)),
    ("4 5", DEFAULT_SCALE, False, (PE, None)),
    ("4%", DEFAULT_SCALE, False, (PE, None)),
    ("four", DEFAULT_SCALE, False, (PE, None)),
    ("", DEFAULT_SCALE, False, (PE, None)),
    ("N/A", DEFAULT_SCALE, False, (PE, None)),
    ("N/A", DEFAULT_SCALE, True, (NA, None)),
    ("6", DEFAULT_SCALE, False, (OOR, None)),
    ("4/10", DEFAULT_SCALE, False, (OOR, None)),
    ("-2", DEFAULT_SCALE, False, (OOR, None)),
    # issue 15.2 "4 stars": a unit is parse_error; a full stop, a label, markdown are not units
    ("4 stars", DEFAULT_SCALE, False, (PE, None)),
    ("4 Stars.", DEFAULT_SCALE, False, (PE, None)),
    ("1 star", DEFAULT_SCALE, False, (PE, None)),
    ("3 points", DEFAULT_SCALE, False, (PE, None)),
    ("4 pts", DEFAULT_SCALE, False, (PE, None)),
    ("2 marks", DEFAULT_SCALE, False, (PE, None)),
    ("**4** stars", DEFAULT_SCALE, False, (PE, None)),
    ("4/5 stars", DEFAULT_SCALE, False, (PE, None)),
    ("4 out of 5 stars", DEFAULT_SCALE, False, (PE, None)),
    ("8 points out of 10", tuple(range(1, 11)), False, (PE, None)),
    ("4 per cent", DEFAULT_SCALE, False, (PE, None)),
    ("4 ★", DEFAULT_SCALE, False, (PE, None)),
    ("4.", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4 (Good)", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4 (stars)", DEFAULT_SCALE, False, (OK, 4.0)),
    ("**4**", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4 - clear and correct", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4 because it is right", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4 pointed remarks", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4 of 5", DEFAULT_SCALE, False, (OK, 4.0)),
    ("4 of 10", DEFAULT_SCALE, False, (OOR, None)),
    ("4 of the 5 criteria", DEFAULT_SCALE, False, (OK, 4.0)),
    ("1/2", DEFAULT_SCALE, False, (OOR, None)),
    ("4.5/5", DEFAULT_SCALE, False, (PE, None)),
]

UNITS = ["star", "stars", "point", "points", "pt", "pts", "mark", "marks", "percent", "per cent"]
TRAILERS = ["", ".", " (Good)", " - clear", ": fine", " because it is right", "**", " [ok]"]


@settings(deadline=None, max_examples=200)
@given(
    scale=SCALES,
    data=st.data(),
    unit=st.sampled_from(UNITS),
    trailer=st.sampled_from(TRAILERS),
    space=st.sampled_from([" ", "  ", "\t", ""]),
    upper=st.booleans(),
)
def test_a_unit_is_parse_error_and_a_benign_trailer_is_not(
    scale: tuple, data: st.DataObject, unit: str, trailer: str, space: str, upper: bool
) -> None:
    n = data.draw(st.sampled_from(scale))
    unit = unit.upper() if upper else unit
    assert read_rating_value(f"{n}{space}{unit}{trailer}", scale) == (PE, None)
    assert read_rating_value(f"{n}{trailer}", scale) == (OK, float(n))
    (r,) = parse_ultrafeedback(block(1, f"{n}{space}{unit}{trailer}"), 1, scale=scale)
    assert (r.status, r.value) == (PE, None) and f"{n}{space}{unit}" in (r.raw or "")


@pytest.mark.parametrize(("written", "scale", "allow_na", "expected"), VALUE_ROWS)
def test_read_rating_value_table(
    written: str, scale: tuple, allow_na: bool, expected: tuple
) -> None:
    assert read_rating_value(written, scale, allow_na=allow_na) == expected


def test_parse_error_keeps_the_raw_block() -> None:
    (r,) = parse_ultrafeedback("#### Output for Text 1\nRating: 1e3\nRationale: Huge.", 1)
    assert (r.status, r.raw, r.rationale) == (
        PE,
        "#### Output for Text 1\nRating: 1e3\nRationale: Huge.",
        "Huge.",
    )


def test_rating_value_module_doctests() -> None:
    assert doctest.testmod(ultrajudge.judge.rating_value).failed == 0
