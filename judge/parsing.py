"""Read judge outputs into ``Rating`` records: pure ``str -> Rating`` functions.

Three formats:

* UltraFeedback blocks (``#### Output for Text i`` / ``Rating:`` / ``Rationale:``),
  aligned by their ``Text i`` headers, never by position or blank lines;
* the same answer as JSON, ``{"text_1": {"rating": 4, "rationale": "..."}, ...}``, which
  servers with JSON-schema constrained output write (:func:`parse_ultrafeedback_json`);
* the seed chapter's one-line ``score - rationale``.

What is written where a rating goes is read by :func:`~ultrajudge.judge.rating_value.read_rating_value`,
the rule every parser shares: one whole integer on an explicit ``scale`` (``4``, ``**4**``,
``4/5``); off the scale (or over another maximum, ``4/10`` on 1-5) is ``out_of_range``; a
decimal (``3.5``: half points are never rounded), a range (``3-4``, ``4~5``), an exponent
(``1e3``), a fraction (``3½``), a unit (``4%``, ``4 stars``), a word (``five``) or nothing is
``parse_error``. Every rating keeps ``raw``: the text of its block, or the whole output when
no block was found.

The promise: a rating is only ever attached to the block whose header names that text.
Decisions on ambiguous UltraFeedback outputs:

* A header is a whole line: optional markdown (``#``, ``*``, ``-``, ``_``, whitespace),
  ``Output for Text i`` or just ``Text i``, then only markdown or ``:``/``.``
  (``### Text 3``, ``**Text 3:**``). A quoted line (``> ...``, ``"...``) is never a header.
* A block runs from its header to the next line that names *another* text at its start
  (``### Text 3``, ``Text 3:``, ``**Text 3** is better``, ``Output for Text 3 ...``,
  ``> Output for Text 3``, ``<text 3>``): a header starts that text's block; any other such
  line only ends the current one, and what follows it belongs to no block until the next
  header. A quoted line naming a text (``> Output for Text 1``, ``"Text 1"``) ends the
  block even when it names the block's own text, and a quoted ``> Rating:`` is no label. So a block without its own rating is ``parse_error``, never the next block's
  number. ``Text 3`` in the middle of a sentence ends nothing. Headers with indices outside
  ``1..n`` start blocks that are ignored.
* Fenced code (```` ``` ```` or ``~~~``) is quoted material: no header, boundary, ``Rating:``
  or ``Rationale:`` inside it counts, unless no header stands outside any fence at all (a
  judge that wrapped its whole answer in a code block).
* The rating is the block's first ``Rating:`` line, and only when it comes before the block's
  ``Rationale:`` (a ``Rating:`` after the rationale is quoted text). One exception: a
  ``Rationale:`` that follows a ``Type:`` line (the truthfulness/honesty hallucination type)
  is skipped. A number anywhere else is never read; a ``Rating:`` before the first header is
  preamble: ignored.
* The rationale is the first ``Rationale:`` line *after* the rating line and the lines that
  follow it, up to the end of the block or a ``---``/``***`` rule.
* The same ``Text i`` twice: if every copy reads the same (status, value) the first copy is
  kept; if they disagree the completion is ``parse_error``.
* ``N/A`` (also ``NA``, ``not applicable``) is ``na`` when ``allow_na`` else ``parse_error``.
* A block with no ``Rating:`` line is ``parse_error``; no block is ``missing``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ultrajudge.judge.rating_value import check_scale, read_rating_value
from ultrajudge.judge.types import Rating

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
_INDEX = r"text\s*(?:#\s*)?([0-9]{1,6})(?![0-9])"
_HEADER = re.compile(r"[\s#*_-]*(?:output\s+for\s+)?" + _INDEX + r"[\s*_:#.]*", re.I)
# A line that names a text at its start (quoted or not): ends the block of any other text.
_NAMES_TEXT = re.compile(
    r"([\s#*_>\-\"'`<\[(|\u201c\u2018]*)"
    r"(?:(?:output|response|evaluation|assessment|rating|feedback|score)s?\s+(?:for|of|to)\s+)?"
    + _INDEX,
    re.I,
)
_QUOTES = frozenset(">\"'`\u201c\u2018")
_RATING_LINE = re.compile(r"[\s*#_-]*rating[\s*_]*[:=](.*)", re.I)
_RATIONALE_LINE = re.compile(r"[\s*#_-]*rationale[\s*_]*[:=][\s*_]*(.*)", re.I)
_TYPE_LINE = re.compile(r"[\s*#_-]*type[\s*_]*[:=]", re.I)
_RULE = re.compile(r"\s*(?:-{3,}|\*{3,}|_{3,})\s*")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_SCORE_LINE = re.compile(
    r"[*_]*(?:score[*_]*\s*[:=-]\s*(?:[*_]+\s*)?)?"  # optional "Score:" label, maybe bold
    r"([+-]?[0-9]+(?:\.[0-9]+)?(?:\s*/\s*[0-9]+)?)"  # 4, 4.5, 4/5
    r"[*_]*\s*[-–—:](?![0-9])\s*(.*)",  # separator, then the rationale
    re.I,
)

Line = tuple[str, bool]  # a line and whether it counts (False: inside fenced code)


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _fenced(lines: list[str]) -> list[bool]:
    """For each line, whether it is part of a fenced code block (fence lines included).
    An unclosed fence runs to the end, as in CommonMark."""
    flags, opener = [], ""
    for line in lines:
        m = _FENCE.match(line)
        flags.append(bool(opener or m))
        if not opener:
            opener = m.group(1) if m else ""
        elif m and _closes(m, opener):
            opener = ""
    return flags


def _closes(fence: re.Match[str], opener: str) -> bool:
    mark = fence.group(1)
    return mark[0] == opener[0] and len(mark) >= len(opener) and not fence.group(2).strip()


def _live_lines(text: str) -> list[Line]:
    lines = _lines(text)
    fenced = _fenced(lines)
    if not any(_HEADER.fullmatch(x) for x, f in zip(lines, fenced) if not f):
        fenced = [False] * len(lines)  # the whole answer is fenced: its headers are real
    return [(x, not f) for x, f in zip(lines, fenced)]


def _blocks(lines: list[Line]) -> list[tuple[int, list[Line]]]:
    blocks: list[tuple[int, list[Line]]] = []
    current: list[Line] | None = None
    index = -1
    for line, live in lines:
        if live:
            header = _HEADER.fullmatch(line)
            if header is not None:
                index, current = int(header.group(1)), [(line, True)]
                blocks.append((index, current))
                continue
            named = _NAMES_TEXT.match(line)
            if named is not None and (
                int(named.group(2)) != index or not _QUOTES.isdisjoint(named.group(1))
            ):
                current, index = None, -1  # another text's (or a quoted header) ends the block
                continue
        if current is not None:
            current.append((line, live))
    return blocks


def _rationale(lines: Sequence[Line]) -> str | None:
    for k, (line, live) in enumerate(lines):
        m = _RATIONALE_LINE.match(line) if live else None
        if m is None:
            continue
        kept = [m.group(1)]
        for rest, rest_live in lines[k + 1 :]:
            if rest_live and _RULE.fullmatch(rest):
                break
            kept.append(rest)
        return "\n".join(kept).strip() or None
    return None


def _rating_line(body: Sequence[Line]) -> tuple[int, str] | None:
    """Where the block's rating is: its first ``Rating:`` line before its rationale."""
    after_type = False
    for k, (line, live) in enumerate(body):
        if not live:
            continue
        if _TYPE_LINE.match(line):
            after_type = True
        elif _RATIONALE_LINE.match(line):
            if not after_type:
                return None  # a Rating: after the rationale is quoted text
            after_type = False  # the hallucination type's rationale: skipped
        elif (m := _RATING_LINE.match(line)) is not None:
            return k, m.group(1)
    return None


def _parse_block(lines: list[Line], allowed: frozenset[int], *, allow_na: bool) -> Rating:
    raw = "\n".join(line for line, _ in lines).strip()
    body = lines[1:]
    found = _rating_line(body)
    if found is None:
        return Rating(None, "parse_error", rationale=_rationale(body), raw=raw)
    k, written = found
    status, value = read_rating_value(written, allowed, allow_na=allow_na)
    return Rating(value, status, rationale=_rationale(body[k + 1 :]), raw=raw)


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
    >>> out = "### Text 1\\nRationale: Good.\\n### Text 2\\nRating: 5"  # Text 1 wrote no rating
    >>> [(r.status, r.value) for r in parse_ultrafeedback(out, 2)]
    [('parse_error', None), ('ok', 5.0)]
    """
    if n < 0:
        raise ValueError(f"n (the number of completions) must be >= 0, got {n}")
    allowed = check_scale(scale)
    found: dict[int, list[Rating]] = {i: [] for i in range(1, n + 1)}
    for index, lines in _blocks(_live_lines(text)):
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
    allowed = check_scale(scale)
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
        status, value = read_rating_value(str(rating), allowed, allow_na=allow_na)
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
    allowed = check_scale(scale)
    lines = _lines(text)
    for k, line in enumerate(lines):
        m = _SCORE_LINE.fullmatch(line.strip())
        if m is not None:
            status, value = read_rating_value(m.group(1), allowed, allow_na=False)
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
            if _NAMES_TEXT.match(line) or _RULE.fullmatch(line) or _FENCE.match(line):
                raise ValueError(
                    f"rationale for Text {i} has the line {line!r}, which the parser reads as "
                    "a block header or boundary, a rule or a code fence; reword or remove it"
                )
        blocks.append(f"#### Output for Text {i}\nRating: {rating}\nRationale: {rationale}\n")
    return "\n".join(blocks)
