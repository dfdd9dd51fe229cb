"""Grading formats beyond UltraFeedback: Prometheus rubric grading, MT-Bench ``[[n]]``, JSON.

Parsers are pure functions (:mod:`~ultrajudge.judge.formats.parsers`), rubrics small YAML
files (:mod:`~ultrajudge.judge.formats.rubric`), and each format a frozen record of its
template, parser, logprob prefix and constraint (:mod:`~ultrajudge.judge.formats.pointwise`).
"""

from ultrajudge.judge.formats.parsers import (
    parse_json_rating,
    parse_mt_bench_rating,
    parse_prometheus_rating,
    read_grade,
)
from ultrajudge.judge.formats.pointwise import FORMATS, AnswerFormat, grade_schema
from ultrajudge.judge.formats.rubric import Rubric, RubricError, bundled_rubrics, load_rubric

__all__ = [
    "FORMATS",
    "AnswerFormat",
    "Rubric",
    "RubricError",
    "bundled_rubrics",
    "grade_schema",
    "load_rubric",
    "parse_json_rating",
    "parse_mt_bench_rating",
    "parse_prometheus_rating",
    "read_grade",
]
