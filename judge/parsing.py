"""Read judge outputs into ``Rating`` records: pure ``str -> Rating`` functions.

Three formats:

* UltraFeedback blocks (``#### Output for Text i`` / ``Rating:`` / ``Rationale:``),
  aligned by their ``Text i`` headers, never by position or blank lines;
* the same answer as JSON, ``{"text_1": {"rating": 4, "rationale": "..."}, ...}``, which
  servers with JSON-schema constrained output write (:func:`parse_ultrafeedback_json`);
* the seed chapter's one-line ``score - rationale``.

A rating is an integer on an explicit ``scale``. A number off the scale (or
written over another maximum, ``4/10`` on a 1-5 scale) is ``out_of_range``; a
non-integer (``3.5``), a range (``3-4``), a word (``five``) or an empty rating is
``parse_error``. Nothing is rounded or guessed. Every rating keeps ``raw``: the
text of its block, or the whole output when no block was found.

Decisions on ambiguous UltraFeedback outputs:

* A header is a whole line: optional markdown (``#``, ``*``, ``>``, ``-``,
  ``_``, whitespace), ``Output for Text i``, then only markdown or ``:``/``.``.
  ``Text 3`` mentioned in prose never starts a block.
* A block runs from its header to the next header (any index, including
  indices outside ``1..n``, which are otherwise ignored).
* The first ``Rating:`` line of a block is the rating; a number anywhere else
  is never read. A ``Rating:`` before the first header is preamble: ignored.
* The rationale is the first ``Rationale:`` line *after* the rating line (so
  the truthfulness/honesty "Type" rationale before it is skipped) and the lines
  that follow it, up to the end of the block or a ``---``/``***`` rule.
* The same ``Text i`` twice: if every copy reads the same (status, value) the
  first copy is kept; if they disagree the completion is ``parse_error``.
* ``N/A`` (also ``NA``, ``not applicable``) is ``na`` when ``allow_na`` else
  ``parse_error``. Spelled-out numbers (``five``) are ``parse_error``.
* A block with no ``Rating:`` line is ``parse_error``; no block is ``missing``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ultrajudge.judge.types import Rating, RatingStatus

__all__ = [
    "DEFAULT_SCALE",
    "format_ultrafeedback",
    "parse_score_rationale",
    "parse_ultrafeedback",
    "parse_ultrafeedback_json",
]

DEFAULT_SCALE: tuple[int, ...] = (1, 2, 3, 4, 5)

# Every pattern is matched against one line and has no two adjacent quantifiers
# over overlapping characters, so matching stays linear in the line length.
_HEADER = re.compile(r"[\s#*>_-]*output\s+for\s+text\s*(?:#\s*)?([0-9]{1,6})[\s*_:#.]*", re.I)
_RATING_LINE = re.compile(r"[\s*#>_-]*rating[\s*_]*[:=](.*)", re.I)
_RATIONALE_LINE = re.compile(r"[\s*#>_-]*rationale[\s*_]*[:=][\s*_]*(.*)", re.I)
_RULE = re.compile(r"\s*(?:-{3,}|\*{3,}|_{3,})\s*")
_NA = re.compile(r"(?:n\s*/\s*a|na|not\s+applicable)\b", re.I)
_NUMBER = re.compile(r"([+-]?[0-9]+)(?:\.([0-9]+))?(?:\s*(?:/|out\s+of)\s*([0-9]+))?(.*)", re.I)
_RANGE_TAIL = re.compile(r"\s*(?:[-–—,]|to\b|or\b)\s*[+-]?[0-9]", re.I)
_SCORE_LINE = re.compile(
    r"[*_]*(?:score[*_]*\s*[:=-]\s*(?:[*_]+\s*)?)?"  # optional "Score:" label, maybe bold
    r"([+-]?[0-9]+(?:\.[0-9]+)?(?:\s*/\s*[0-9]+)?)"  # 4, 4.5, 4/5
    r"[*_]*\s*[-–—:](?![0-9])\s*(.*)",  # separator, then the rationale
    re.I,
)
_MAX_DIGITS = 18  # longer numbers are off any scale; int() of huge strings is refused


def _allowed(scale: Sequence[int]) -> frozenset[int]:
    values = tuple(scale)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise ValueError(f"scale must be a non-empty sequence of integers, got {scale!r}")
    return frozenset(values)


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _off_maximum(maximum: str, allowed: frozenset[int]) -> bool:
    return len(maximum) > _MAX_DIGITS or int(maximum) != max(allowed)


def _read_value(
    text: str, allowed: frozenset[int], *, allow_na: bool
) -> tuple[RatingStatus, float | None]:
    """Status and value of what follows ``Rating:`` (or a score token)."""
    body = text.strip().lstrip("*_`[(<\"' \t")
    if _NA.match(body):
        return ("na" if allow_na else "parse_error"), None
    m = _NUMBER.match(body)
    if m is None:
        return "parse_error", None
    number, fraction, maximum, tail = m.groups()
    if (fraction and fraction.strip("0")) or _RANGE_TAIL.match(tail):
        return "parse_error", None
    if len(number) > _MAX_DIGITS or (maximum is not None and _off_maximum(maximum, allowed)):
        return "out_of_range", None
    value = int(number)
    return ("ok", float(value)) if value in allowed else ("out_of_range", None)


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    blocks: list[tuple[int, list[str]]] = []
    for line in lines:
        header = _HEADER.fullmatch(line)
        if header is not None:
            blocks.append((int(header.group(1)), [line]))
        elif blocks:
            blocks[-1][1].append(line)
    return blocks


def _rationale(lines: list[str]) -> str | None:
    for k, line in enumerate(lines):
        m = _RATIONALE_LINE.match(line)
        if m is None:
            continue
        kept = [m.group(1)]
        for rest in lines[k + 1 :]:
            if _RULE.fullmatch(rest):
                break
            kept.append(rest)
        return "\n".join(kept).strip() or None
    return None


def _parse_block(lines: list[str], allowed: frozenset[int], *, allow_na: bool) -> Rating:
    raw = "\n".join(lines).strip()
    body = lines[1:]
    for k, line in enumerate(body):
        m = _RATING_LINE.match(line)
        if m is not None:
            status, value = _read_value(m.group(1), allowed, allow_na=allow_na)
            return Rating(value, status, rationale=_rationale(body[k + 1 :]), raw=raw)
    return Rating(None, "parse_error", rationale=_rationale(body), raw=raw)


def _settle(candidates: list[Rating], text: str) -> Rating:
    if not candidates:
        return Rating(None, "missing", raw=text)
    first = candidates[0]
    if all((c.status, c.value) == (first.status, first.value) for c in candidates):
        return first
    return Rating(None, "parse_error", raw="\n\n".join(c.raw or "" for c in candidates))


def parse_ultrafeedback(
    text: str, n: int, *, scale: Sequence[int] = DEFAULT_SCALE, allow_na: bool = False
) -> tuple[Rating, ...]:
    """One ``Rating`` per completion ``1..n`` from an UltraFeedback-style output.

    >>> out = "Sure!\\n#### Output for Text 2\\nRating: 2\\nRationale: Off topic.\\n\\n"
    >>> out += "**Output for Text 1**\\n**Rating:** 4/5\\nRationale: Clear."
    >>> [(r.status, r.value) for r in parse_ultrafeedback(out, 3)]
    [('ok', 4.0), ('ok', 2.0), ('missing', None)]
    >>> parse_ultrafeedback(out, 3)[1].rationale
    'Off topic.'
    >>> parse_ultrafeedback("#### Output for Text 1\\nRating: N/A", 1, allow_na=True)[0].status
    'na'
    """
    if n < 0:
        raise ValueError(f"n (the number of completions) must be >= 0, got {n}")
    allowed = _allowed(scale)
    found: dict[int, list[Rating]] = {i: [] for i in range(1, n + 1)}
    for index, lines in _blocks(_lines(text)):
        if index in found:
            found[index].append(_parse_block(lines, allowed, allow_na=allow_na))
    return tuple(_settle(found[i], text) for i in range(1, n + 1))


def parse_ultrafeedback_json(
    text: str, n: int, *, scale: Sequence[int] = DEFAULT_SCALE, allow_na: bool = False
) -> tuple[Rating, ...]:
    """One ``Rating`` per completion ``1..n`` from a JSON answer keyed ``text_1..text_n``.

    Each value is read like the text after ``Rating:`` (so ``"4"``, ``4`` and ``4.0``
    are 4, ``"N/A"`` is ``na`` only when ``allow_na``); a missing key is ``missing``,
    output that is not a JSON object is ``parse_error`` for every completion.

    >>> out = '{"text_1": {"rating": 4, "rationale": "Clear."}, "text_2": {"rating": 9}}'
    >>> [(r.status, r.value, r.rationale) for r in parse_ultrafeedback_json(out, 3)]
    [('ok', 4.0, 'Clear.'), ('out_of_range', None, None), ('missing', None, None)]
    >>> parse_ultrafeedback_json('{"text_1": {"rating": 4', 1)[0].status
    'parse_error'
    """
    if n < 0:
        raise ValueError(f"n (the number of completions) must be >= 0, got {n}")
    allowed = _allowed(scale)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return tuple(Rating(None, "parse_error", raw=text) for _ in range(n))
    out = []
    for i in range(1, n + 1):
        item = data.get(f"text_{i}")
        if item is None:
            out.append(Rating(None, "missing", raw=text))
            continue
        raw = json.dumps(item, ensure_ascii=False)
        if not isinstance(item, dict) or isinstance(item.get("rating"), (bool, type(None))):
            out.append(Rating(None, "parse_error", raw=raw))
            continue
        rating, rationale = item["rating"], item.get("rationale")
        status, value = _read_value(str(rating), allowed, allow_na=allow_na)
        note = rationale.strip() or None if isinstance(rationale, str) else None
        out.append(Rating(value, status, rationale=note, raw=raw))
    return tuple(out)


def parse_score_rationale(text: str, *, scale: Sequence[int] = DEFAULT_SCALE) -> Rating:
    """Read the seed chapter's ``score - rationale`` answer.

    The first line shaped like ``[Score:] <n>[/<max>] <-|–|—|:> <rationale>``
    wins; the rationale runs from there to the end of the output.

    >>> r = parse_score_rationale("Here is my evaluation:\\n**Score: 4/5** - Clear and correct.")
    >>> (r.status, r.value, r.rationale)
    ('ok', 4.0, 'Clear and correct.')
    >>> parse_score_rationale("3.5 - Decent.").status
    'parse_error'
    """
    allowed = _allowed(scale)
    lines = _lines(text)
    for k, line in enumerate(lines):
        m = _SCORE_LINE.fullmatch(line.strip())
        if m is not None:
            status, value = _read_value(m.group(1), allowed, allow_na=False)
            rationale = "\n".join([m.group(2), *lines[k + 1 :]]).strip() or None
            return Rating(value, status, rationale=rationale, raw=text)
    return Rating(None, "parse_error", raw=text)


def format_ultrafeedback(ratings: Sequence[tuple[int | str, str]]) -> str:
    """Canonical UltraFeedback text for ``(rating, rationale)`` pairs, Text 1 first.

    >>> print(format_ultrafeedback([(4, "Clear."), ("N/A", "Not applicable.")]))
    #### Output for Text 1
    Rating: 4
    Rationale: Clear.
    <BLANKLINE>
    #### Output for Text 2
    Rating: N/A
    Rationale: Not applicable.
    <BLANKLINE>
    """
    blocks = []
    for i, (rating, rationale) in enumerate(ratings, start=1):
        if "\n" in str(rating) or "\r" in str(rating):
            raise ValueError(f"rating for Text {i} must be one line, got {rating!r}")
        for line in _lines(rationale):
            if _HEADER.fullmatch(line) or _RULE.fullmatch(line):
                raise ValueError(
                    f"rationale for Text {i} has the line {line!r}, which the parser reads as "
                    "a block header or a rule; reword or remove it"
                )
        blocks.append(f"#### Output for Text {i}\nRating: {rating}\nRationale: {rationale}\n")
    return "\n".join(blocks)
