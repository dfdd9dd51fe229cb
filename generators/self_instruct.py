"""SelfInstruct: new user queries from a context (a passage, or a seed instruction).

For each row, the model is asked for ``n`` queries that an application (given
by its description) could receive about the row's context. The answer is read
as a list: numbered (``1.``, ``1)``, ``(1)``, ``Query 1:``) or bulleted
(``-``, ``*``, ``•``) lines, with continuation lines (indented, or following an
unfinished item) joined to their item, or failing any marker one query per line. Preambles, empty items and duplicates
are dropped, and at most ``n`` are kept. Each query becomes one output row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ultrajudge.generators.engine import Outcome, Request, Session, basic_check, seeded
from ultrajudge.generators.pooling import answer_each
from ultrajudge.generators.rows import merge_row, provenance, text_of
from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.similarity import normalise_words
from ultrajudge.judge.templates import load_template
from ultrajudge.judge.types import Completion, GenerationParams

DEFAULT_APPLICATION = (
    "A general-purpose AI assistant that answers questions, explains concepts, writes and "
    "edits text and code, and helps people plan and decide."
)
_MARKER = re.compile(
    r"""^\s*(?:\*\*|__)?(?:
        \d{1,3}\s*[.):]        # 1.  1)  1:
      | \(\d{1,3}\)            # (1)
      | [-*•+]                 # bullets
      | (?:query|question|instruction|prompt|q)\s*\#?\d{1,3}\s*[.):-]   # Query 1:
    )(?:\*\*|__)?\s+""",
    re.IGNORECASE | re.VERBOSE,
)
_ENDS = (".", "?", "!", ":", '"', "”", ")")
_QUOTES = "\"'“”‘’`"


def _clean(item: str) -> str:
    item = " ".join(item.split())
    for mark in ("**", "__"):
        if item.startswith(mark) and item.endswith(mark) and len(item) > 2 * len(mark):
            item = item[len(mark) : -len(mark)].strip()
    if len(item) > 1 and item[0] in _QUOTES and item[-1] in _QUOTES:
        item = item[1:-1].strip()
    return item


def _items(text: str) -> list[str]:
    lines = text.splitlines()
    if not any(_MARKER.match(line) for line in lines):
        # No list markers: one query per line; a line ending in ":" is a preamble.
        return [line for line in lines if line.strip() and not line.rstrip().endswith(":")]
    items: list[str] = []
    joinable = False  # a non-marker line continues the item just above it
    for line in lines:
        marker = _MARKER.match(line)
        if marker:
            items.append(line[marker.end() :])
            joinable = True
        elif not line.strip():
            joinable = False
        elif joinable and (line[0].isspace() or not items[-1].rstrip().endswith(_ENDS)):
            items[-1] += " " + line.strip()  # an indented line, or the item was unfinished
        else:
            joinable = False  # an epilogue ("Hope this helps!")
    return items


def parse_queries(text: str, n: int, *, truncated: bool = False) -> list[str]:
    """The queries in a model's list, in order, without duplicates, at most ``n``.

    With ``truncated`` (the output hit its token limit), the last item may be cut
    off and is dropped.

    >>> parse_queries("Here are three:\\n1. What is X?\\n2) How does Y\\n   work?\\n- What is x?\\nHope this helps!", 5)
    ['What is X?', 'How does Y work?']
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    items = _items(text)
    if truncated and items:
        items = items[:-1]
    seen: set[tuple[str, ...]] = set()
    out = []
    for item in map(_clean, items):
        key = tuple(normalise_words(item))
        if not key or key in seen or item.startswith("#"):
            continue
        seen.add(key)
        out.append(item)
    return out[:n]


def check_query_list(completion: Completion, *, n: int) -> Outcome:
    """Accept an output that holds at least one query (``no_queries`` otherwise)."""
    text, status = basic_check(completion)
    if status != "ok":
        return text, status
    truncated = completion.finish_reason == "length"
    return text, "ok" if parse_queries(text, n, truncated=truncated) else "no_queries"


@dataclass(frozen=True)
class SelfInstructConfig:
    """How many queries, for which application, from which column."""

    n: int = 5
    application: str = DEFAULT_APPLICATION
    params: GenerationParams = field(default_factory=lambda: GenerationParams(temperature=0.7))
    context_col: str = "context"
    answers: bool = False
    template: str = "self_instruct"

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")
        if not self.application.strip():
            raise ValueError("the application description is empty")

    def request(self, context: str) -> Request:
        template = load_template(self.template)
        messages = template.render(
            context=context, num_instructions=self.n, application=self.application
        )
        params = seeded(self.params, "self_instruct")
        return Request(
            "self_instruct",
            messages,
            params,
            template.id,
            check=lambda c: check_query_list(c, n=self.n),
            rules=(("n", self.n),),
        )


def self_instruct(
    rows: Sequence[Mapping[str, Any]],
    backend: Backend,
    config: SelfInstructConfig,
    session: Session,
    *,
    model: str = "",
) -> list[dict[str, Any]]:
    """One output row per new query: the source row's columns, ``instruction`` (the query;
    an input ``instruction`` is kept as ``original_instruction``), ``query_index``,
    ``self_instruct_params``, and with ``answers`` an answer in ``completions``. Rows whose
    generation failed are left out (counted in the summary; rerun to retry them)."""
    model = model or backend.id
    out: list[dict[str, Any]] = []
    requests = [config.request(text_of(row, config.context_col)) for row in rows]
    queries: list[tuple[int, int, str]] = []  # (row, index, query)
    for i, gen in enumerate(session.run(backend, requests, "self-instruct")):
        if not gen.ok:
            session.summary.dropped[gen.status] += 1
            continue
        found = parse_queries(gen.text, config.n, truncated=gen.finish_reason == "length")
        queries += [(i, k, q) for k, q in enumerate(found)]
    answers = (
        answer_each(session, backend, [q for _, _, q in queries], params=config.params, model=model)
        if config.answers
        else None
    )
    record = provenance("self_instruct", model=model, backend=backend.id, params=config.params)
    for j, (i, k, query) in enumerate(queries):
        new: dict[str, Any] = {
            "instruction": query,
            "query_index": k,
            "self_instruct_params": {**record, "template": requests[0].template},
        }
        if answers is not None:
            new.update(answers[j].columns())
        out.append(
            merge_row(rows[i], new, stale=("completions", "completion_models", "completion_params"))
        )
    return out
