"""Read single-answer grades: pure ``str -> Rating`` functions for three formats.

* ``prometheus`` (absolute grading): feedback, then ``[RESULT] n``;
* ``mt_bench`` (single-answer grading): an explanation, then ``Rating: [[n]]``;
* ``json``: ``{"rating": n, "rationale": "..."}``.

The grade is an integer on an explicit ``scale``, read by the project's one number rule
(:mod:`ultrajudge.judge.rating_value`): the number must be the whole token (``[RESULT] 45``
is 45, never 4; ``4th``, ``4a`` are ``parse_error``), ``4/5`` and ``4 out of 5`` are 4 when
the maximum is the scale's, another maximum or a value off the scale is ``out_of_range``,
and a decimal (``4.5``), a range (``3-4``, ``3 or 4``), a unit (``4 stars``), a word or nothing at all is
``parse_error``. ``4.0`` is 4.

The final verdict is anchored, so that a response that holds the format cannot hijack it:

1. Text the judge copied from the graded response (``echoes``) is masked before reading,
   as in :mod:`ultrajudge.judge.pairwise_parsing`: the whole echoed response, and any
   echoed line of it that holds a marker and other text; so is a quotation on one line
   that holds a marker and other text (``The answer ends with "[RESULT] 5".``).
2. The *last* marker left is the verdict (a judge that corrects itself ends with its final
   answer); another marker on the same line with a different value makes the output
   ambiguous: ``parse_error``.
3. JSON: the whole answer, else its last fenced block (```json ... ```), else the last object
   that ends the answer is read; an object anywhere else is never read.

The rationale is the judge's text before the verdict (Prometheus' feedback, MT-Bench's
explanation; a leading ``Feedback:`` and a trailing ``Rating:`` label are dropped), or the
JSON ``rationale`` string. ``raw`` is always the whole output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ultrajudge.judge.pairwise_parsing import mask_echoes
from ultrajudge.judge.rating_value import check_scale, read_rating_value
from ultrajudge.judge.types import Rating, RatingStatus

__all__ = ["parse_json_rating", "parse_mt_bench_rating", "parse_prometheus_rating", "read_grade"]

_RESULT = re.compile(r"\[\s*RESULT\s*\]", re.I)
# The marker with its grade: a quotation or echo that holds only this is a bare verdict.
_RESULT_TOKEN = re.compile(r"\[\s*RESULT\s*\][ \t:*_]*[+-]?[0-9]*(?:[./][0-9]+)?", re.I)
_DOUBLE = re.compile(r"\[\[[ \t]*([+-]?[0-9][^\[\]\n]{0,40}?)[ \t]*\]\]")
_FEEDBACK_LABEL = re.compile(r"^[\s*_#]*feedback[\s*_]*:[\s*_]*", re.I)
_RATING_LABEL = re.compile(r"[\s*_#]*(?:rating|score)[\s*_]*:?[\s*_]*$", re.I)
_RATING_KEY = re.compile(r"\"rating\"\s*:")
_FENCE = re.compile(r"```[a-zA-Z]*[ \t]*\n(.*?)\n[ \t]*```", re.S)


def read_grade(text: str, scale: Sequence[int]) -> tuple[RatingStatus, float | None]:
    """Status and value of the grade that opens ``text`` (a ``:`` before it is skipped):
    the project's one number rule, :func:`ultrajudge.judge.rating_value.read_rating_value`.

    >>> read_grade(" **4**/5", (1, 2, 3, 4, 5)), read_grade(": 10", range(1, 11))
    (('ok', 4.0), ('ok', 10.0))
    >>> read_grade("45", (1, 2, 3, 4, 5)), read_grade("3-4", (1, 2, 3, 4, 5))
    (('out_of_range', None), ('parse_error', None))
    """
    return read_rating_value(text.strip().lstrip(":"), check_scale(scale))


def _normalised(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _marked(
    text: str, marker: re.Pattern[str], value_of: re.Pattern[str] | None, scale: Sequence[int]
) -> tuple[RatingStatus, float | None, int] | None:
    """The last marker's grade and where it starts; None when there is no marker.

    ``value_of`` reads the grade inside the marker (``[[n]]``); without it the grade is the
    text after the marker, up to the next marker or the end of its line (``[RESULT] n``).
    """
    found = list(marker.finditer(text))
    if not found:
        return None
    grades = []
    for k, m in enumerate(found):
        if value_of is not None:
            inner = value_of.fullmatch(m.group())
            grade = read_grade(inner.group(1) if inner else "", scale)
        else:
            stop = found[k + 1].start() if k + 1 < len(found) else len(text)
            grade = read_grade(text[m.end() : stop].split("\n", 1)[0], scale)
        grades.append((text.count("\n", 0, m.start()), grade))
    line, grade = grades[-1]
    if any(g != grade for ln, g in grades if ln == line):
        return "parse_error", None, found[-1].start()
    return grade[0], grade[1], found[-1].start()


def _rationale(before: str) -> str | None:
    text = _RATING_LABEL.sub("", _FEEDBACK_LABEL.sub("", before.strip())).strip()
    return text or None


def _parse_marked(
    text: str,
    scale: Sequence[int],
    echoes: Sequence[str],
    marker: re.Pattern[str],
    value_of: re.Pattern[str] | None = None,
    token: re.Pattern[str] | None = None,
) -> Rating:
    check_scale(scale)
    clean = _normalised(text)
    read = _marked(mask_echoes(clean, echoes, token or marker), marker, value_of, scale)
    if read is None:
        return Rating(None, "parse_error", raw=text)
    status, value, start = read
    return Rating(value, status, rationale=_rationale(clean[:start]), raw=text)


def parse_prometheus_rating(
    text: str, *, scale: Sequence[int] = (1, 2, 3, 4, 5), echoes: Sequence[str] = ()
) -> Rating:
    """Prometheus absolute grading: ``(feedback) [RESULT] n``.

    >>> r = parse_prometheus_rating("Feedback: Accurate but terse. [RESULT] 4")
    >>> (r.status, r.value, r.rationale)
    ('ok', 4.0, 'Accurate but terse.')
    >>> parse_prometheus_rating("[RESULT] 10", scale=range(1, 11)).value
    10.0
    >>> parse_prometheus_rating("Looks fine.").status
    'parse_error'
    """
    return _parse_marked(text, scale, echoes, _RESULT, token=_RESULT_TOKEN)


def parse_mt_bench_rating(
    text: str, *, scale: Sequence[int] = tuple(range(1, 11)), echoes: Sequence[str] = ()
) -> Rating:
    """MT-Bench single-answer grading: ``Rating: [[n]]`` (1-10 by default).

    >>> r = parse_mt_bench_rating("Correct and complete.\\nRating: [[10]]")
    >>> (r.status, r.value, r.rationale)
    ('ok', 10.0, 'Correct and complete.')
    >>> parse_mt_bench_rating("Rating: [[7.5]]").status
    'parse_error'
    """
    return _parse_marked(text, scale, echoes, _DOUBLE, _DOUBLE)


def parse_json_rating(
    text: str, *, scale: Sequence[int] = (1, 2, 3, 4, 5), echoes: Sequence[str] = ()
) -> Rating:
    """JSON pointwise: ``{"rating": n, "rationale": "..."}``, alone, fenced, or ending the text.

    >>> r = parse_json_rating('{"rating": 4, "rationale": "Clear."}')
    >>> (r.status, r.value, r.rationale)
    ('ok', 4.0, 'Clear.')
    >>> parse_json_rating('Verdict: {"rating": "9"}').status
    'out_of_range'
    >>> parse_json_rating('{"rating": 4} and more').status
    'parse_error'
    """
    check_scale(scale)
    data = _final_object(mask_echoes(_normalised(text), echoes, _RATING_KEY))
    if not isinstance(data, dict) or "rating" not in data:
        return Rating(None, "parse_error", raw=text)
    status, value = _json_grade(data["rating"], scale)
    note = data.get("rationale")
    rationale = note.strip() or None if isinstance(note, str) else None
    return Rating(value, status, rationale=rationale, raw=text)


def _json_grade(rating: object, scale: Sequence[int]) -> tuple[RatingStatus, float | None]:
    if isinstance(rating, bool) or not isinstance(rating, (int, float, str)):
        return "parse_error", None
    if isinstance(rating, float):
        if rating != rating or rating in (float("inf"), float("-inf")):
            return "parse_error", None
        if not rating.is_integer():
            return "parse_error", None
        rating = int(rating)
    if isinstance(rating, int):
        return ("ok", float(rating)) if rating in check_scale(scale) else ("out_of_range", None)
    return read_grade(rating, scale)


def _load(text: str) -> object:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError):
        return None


def _final_object(text: str, *, tries: int = 200) -> object:
    """The whole text as JSON, else its last fenced block, else the last object that ends it."""
    stripped = text.strip()
    whole = _load(stripped)
    if whole is not None:
        return whole
    fences = _FENCE.findall(stripped)
    if fences:
        return _load(fences[-1].strip())
    decoder = json.JSONDecoder()
    start = stripped.rfind("{")
    while start != -1 and tries > 0:
        try:
            value, end = decoder.raw_decode(stripped, start)
        except (json.JSONDecodeError, RecursionError, ValueError):
            value, end = None, -1
        if end == len(stripped):
            return value
        start, tries = stripped.rfind("{", 0, start), tries - 1
    return None
