"""Single-answer grading formats beyond UltraFeedback, as data: template, parser, logprob
prefix, and the constraint that holds a backend's answer to the format.

Each format grades one response per prompt:

==============  ================================  ==========================  ==============
format          the judge writes                   logprob mode forces          default scale
==============  ================================  ==========================  ==============
``prometheus``  ``Feedback: ... [RESULT] n``       ``Feedback: [RESULT]``       the rubric's
``mt_bench``    ``... Rating: [[n]]``              ``Rating: [[``               1-10
``json``        ``{"rating": n, "rationale": ..}`` ``{"rating": ``              1-5
==============  ================================  ==========================  ==============

``prometheus`` needs a rubric (:mod:`ultrajudge.judge.formats.rubric`); ``json`` uses one when
given. A reference answer (``--reference-col``) goes into every format's prompt when the row
has one. In logprob mode no feedback is written: the prefix is forced and the grade read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ultrajudge.judge.formats.parsers import (
    parse_json_rating,
    parse_mt_bench_rating,
    parse_prometheus_rating,
)
from ultrajudge.judge.formats.rubric import Rubric
from ultrajudge.judge.types import Rating

__all__ = ["FORMATS", "AnswerFormat", "GradeParser", "grade_schema"]

GradeParser = Callable[..., Rating]  # (text, *, scale, echoes) -> Rating
Form = Literal["regex", "json"]


def _choice(scale: Sequence[int]) -> str:
    return "(" + "|".join(str(v) for v in sorted(scale, key=lambda v: -len(str(v)))) + ")"


def grade_schema(scale: Sequence[int]) -> dict[str, Any]:
    """JSON schema of ``{"rating": <scale value>, "rationale": <string>}`` (OpenAI strict
    mode accepts it).

    >>> grade_schema((0, 1))["properties"]["rating"]
    {'enum': [0, 1]}
    """
    return {
        "type": "object",
        "properties": {"rating": {"enum": list(scale)}, "rationale": {"type": "string"}},
        "required": ["rating", "rationale"],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class AnswerFormat:
    """How one single-answer grading format is asked, constrained, forced and read."""

    name: str
    template: str  # the built-in template
    parse: GradeParser
    forced: str  # logprob mode: the assistant text before the grade
    default_scale: tuple[int, ...] = (1, 2, 3, 4, 5)
    uses_rubric: bool = False  # the template shows a rubric when one is given
    needs_rubric: bool = False  # ... and cannot grade without one
    regex: Callable[[Sequence[int]], str] | None = None  # a regex the whole answer matches
    json_schema: bool = False  # the answer is JSON: constrain it by grade_schema

    def variables(
        self,
        instruction: str,
        completion: str,
        *,
        scale: Sequence[int],
        reference: str | None = None,
        rubric: Rubric | None = None,
    ) -> dict[str, object]:
        """The template's variables for one response."""
        return {
            "instruction": instruction,
            "completion": completion,
            "reference": reference,
            "rubric": rubric,
            "scale": tuple(scale),
        }

    def form(self, backend_caps: object) -> Form | None:
        """The constraint the backend's capabilities allow for this format, or None."""
        if not getattr(backend_caps, "structured_output", None):
            return None
        if self.json_schema:
            return "json"
        if self.regex is not None and getattr(backend_caps, "structured_regex", False):
            return "regex"
        return None

    def constraint(self, form: Form, scale: Sequence[int]) -> Mapping[str, Any]:
        """Keyword arguments of ``chat_structured`` for ``form``."""
        if form == "json":
            return {"json_schema": grade_schema(scale)}
        assert self.regex is not None
        return {"regex": self.regex(scale)}


FORMATS: Mapping[str, AnswerFormat] = {
    "prometheus": AnswerFormat(
        "prometheus",
        "prometheus/absolute",
        parse_prometheus_rating,
        forced="Feedback: [RESULT]",
        uses_rubric=True,
        needs_rubric=True,
        regex=lambda scale: r"Feedback: [^\n\[\]]+ \[RESULT\] " + _choice(scale),
    ),
    "mt_bench": AnswerFormat(
        "mt_bench",
        "mt_bench/single",
        parse_mt_bench_rating,
        forced="Rating: [[",
        default_scale=tuple(range(1, 11)),
        regex=lambda scale: r"[^\n\[\]]+\nRating: \[\[" + _choice(scale) + r"\]\]",
    ),
    "json": AnswerFormat(
        "json",
        "json/pointwise",
        parse_json_rating,
        forced='{"rating": ',
        uses_rubric=True,
        json_schema=True,
    ),
}
