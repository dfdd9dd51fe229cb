"""What counts as a rating value: the one rule every judge-output parser shares.

A parser finds *where* a rating is written (after ``Rating:``, inside ``[[...]]``, after
``[RESULT]``, in a JSON field); :func:`read_rating_value` decides *what* is written there.
A rating is one whole integer on an explicit scale, optionally written over the scale's
maximum (``4/5``, ``4 out of 5``, ``4 of 5``) and wrapped in markdown or brackets
(``**4**``, ``[4]``, `` `4` ``, ``(4)``). Anything else is a failure, never a guess:

* the number must be the whole token: a digit, letter, ``~``, ``%``, ``½`` or a decimal
  part glued to it makes it another thing (``1e3``, ``4~5``, ``3½``, ``4%``, ``4x``,
  ``3,5``) and the value is ``parse_error``;
* a range or a choice (``3-4``, ``4 – 5``, ``4 to 5``, ``2 or 3``, ``4, 5``), or a second
  number straight after the first (``4 5``, ``4 ½``) is ``parse_error``;
* half points: scales are integers, so ``4.5`` is ``parse_error`` (nothing is rounded);
  ``4.0`` and ``4.`` are 4. A judge that must give halves needs a doubled scale
  (``2..10``) in its template, not a rounding parser;
* a number off the scale, or written over another maximum (``4/10`` on 1-5), is
  ``out_of_range``; a word (``five``, ``about 4``) or nothing at all is ``parse_error``;
* a fraction is a number written over a maximum: over the scale's maximum it is the
  rating (``4/5``), over any other (``1/2`` on 1-5, ``4/10``) it is ``out_of_range``;
  ``3½`` and ``4.5/5`` are ``parse_error`` (above);
* a unit after the number, apart or glued (``4 stars``, ``3 points``, ``4 pts``,
  ``2 marks``, ``80 percent``, ``4/5 stars``, ``4%``), is ``parse_error``: the number
  counts something other than the scale the template asked for (a star rating, a points
  total, a percentage), and which scale the judge meant is a guess;
* ``N/A`` (``NA``, ``not applicable``) is ``na`` where the aspect allows it, else
  ``parse_error``.

What is not a unit is left alone: a sentence's full stop (``4.``), a label or reason
after a space, a dash or a bracket (``4 (Good)``, ``4 - clear``, ``4 because ...``), or
the end of the line. The number is still the whole token there. (The parsers pass only
the text after ``Rating:`` on its line, so a following ``Rationale:`` line is never part
of the value.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ultrajudge.judge.types import RatingStatus

__all__ = ["check_scale", "read_rating_value"]

_LEADING = "*_`[(<\"' \t"
_NA = re.compile(r"(?:n\s*/\s*a|na|not\s+applicable)\b", re.I)
# An integer, an optional decimal part, an optional "/ max" or "out of max".
_NUMBER = re.compile(r"([+-]?[0-9]+)(?:\.([0-9]+))?(?:\s*(?:/|(?:out\s+)?of)\s*([0-9]+))?", re.I)
# A unit after the number (apart from it, or after a closing mark: "**4** stars").
_UNIT = re.compile(
    r"[\s)\]}>*_`'\"]*(?:stars?|points?|pts?|marks?|per\s*cent|percent|\u2605|\u2b50)(?![^\W\d_])",
    re.I,
)
# What may touch the end of a whole number: nothing, a space, a closing mark, or
# sentence punctuation that is not itself glued to a digit or letter ("4." but not "4.x").
_WHOLE_END = re.compile(r"$|\s|[)\]}>*_`'\"\u201d\u2019]|[.,;:!?](?![^\W_])")
_RANGE_TAIL = re.compile(r"\s*(?:[-\u2013\u2014,~/]|to\b|or\b|and\b)\s*[+-]?[0-9]", re.I)
_MAX_DIGITS = 18  # longer numbers are off any scale; int() of huge strings is refused


def check_scale(scale: Sequence[int]) -> frozenset[int]:
    """The allowed values of ``scale``; a ``ValueError`` unless it is non-empty integers.

    >>> sorted(check_scale(range(1, 4)))
    [1, 2, 3]
    """
    values = tuple(scale)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise ValueError(f"scale must be a non-empty sequence of integers, got {scale!r}")
    return frozenset(values)


def read_rating_value(
    text: str, scale: Sequence[int] | frozenset[int], *, allow_na: bool = False
) -> tuple[RatingStatus, float | None]:
    """Status and value of the text written where a rating goes (see the module rules).

    >>> [read_rating_value(t, range(1, 6)) for t in ("4", "**4/5**", "4 (good)", "4.0")]
    [('ok', 4.0), ('ok', 4.0), ('ok', 4.0), ('ok', 4.0)]
    >>> [read_rating_value(t, range(1, 6))[0] for t in ("1e3", "4~5", "3½", "4.5", "3-4")]
    ['parse_error', 'parse_error', 'parse_error', 'parse_error', 'parse_error']
    >>> [read_rating_value(t, range(1, 6))[0] for t in ("4 stars", "3 points", "4/5 stars")]
    ['parse_error', 'parse_error', 'parse_error']
    >>> [read_rating_value(t, range(1, 6))[0] for t in ("6", "4/10", "-1")]
    ['out_of_range', 'out_of_range', 'out_of_range']
    >>> read_rating_value("N/A", range(1, 6), allow_na=True)
    ('na', None)
    """
    allowed = scale if isinstance(scale, frozenset) else check_scale(scale)
    body = text.strip().lstrip(_LEADING)
    if _NA.match(body):
        return ("na" if allow_na else "parse_error"), None
    m = _NUMBER.match(body)
    if m is None or not _is_whole(m, body):
        return "parse_error", None
    number, fraction, maximum = m.groups()
    if fraction and fraction.strip("0"):
        return "parse_error", None  # half points and other decimals: never rounded
    if len(number) > _MAX_DIGITS or (maximum is not None and _off_maximum(maximum, allowed)):
        return "out_of_range", None
    value = int(number)
    return ("ok", float(value)) if value in allowed else ("out_of_range", None)


def _is_whole(m: re.Match[str], body: str) -> bool:
    """The number ends where a token ends, and no range, unit or second number follows it."""
    tail = body[m.end() :]
    if not _WHOLE_END.match(tail) or _RANGE_TAIL.match(tail) or _UNIT.match(tail):
        return False
    rest = tail.lstrip()
    return not rest or not (rest[0].isnumeric() or rest[0] in "%\u2030^~")


def _off_maximum(maximum: str, allowed: frozenset[int]) -> bool:
    return len(maximum) > _MAX_DIGITS or int(maximum) != max(allowed)
