"""Output rows: input columns kept, completions with provenance, one schema for all generators.

Every generator writes ``completions`` (a list of texts) with two aligned lists
beside it: ``completion_models`` (the model spec that wrote each text, or
``"input"``) and ``completion_params`` (one :func:`provenance` record each, with
the same fields for every generator so that the column has one type).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ultrajudge.judge.io import Columns, DataError
from ultrajudge.judge.types import GenerationParams

#: The fields of every ``completion_params`` record (None where they don't apply).
PROVENANCE_FIELDS = (
    "generator",  # pool, evol_quality, answer, magpie, or input
    "name",  # pool: the generator's name
    "model",  # the model spec as given (./dir, scripted:auto, openai:NAME)
    "backend",  # the backend's id (model fingerprint and loading options)
    "temperature",
    "top_p",
    "max_new_tokens",
    "seed",  # the request's sampling seed (multi-round generators: the run seed)
    "system",  # the system prompt, if any
    "template",  # the prompt template id
    "mutation",  # evol_quality: the aspect it improved
    "source_index",  # evol_quality: index of the completion it rewrote
    "sample",  # pool: the sample number for this generator (0..n-1)
    "finish_reason",  # stop | length
)


def provenance(
    generator: str,
    *,
    model: str | None = None,
    backend: str | None = None,
    params: GenerationParams | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``completion_params`` record; unknown ``extra`` keys are an error."""
    unknown = set(extra) - set(PROVENANCE_FIELDS)
    if unknown:
        raise ValueError(f"unknown provenance field(s) {sorted(unknown)}")
    record: dict[str, Any] = dict.fromkeys(PROVENANCE_FIELDS)
    record.update(generator=generator, model=model, backend=backend, **extra)
    if params is not None:
        record.update(
            temperature=params.temperature,
            top_p=params.top_p,
            max_new_tokens=params.max_new_tokens,
            seed=params.seed,
        )
    return record


@dataclass
class CompletionSet:
    """``completions`` with their models and provenance, kept aligned."""

    texts: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)

    def add(self, text: str, model: str, record: Mapping[str, Any]) -> None:
        self.texts.append(text)
        self.models.append(model)
        self.params.append(dict(record))

    def columns(self) -> dict[str, Any]:
        return {
            "completions": list(self.texts),
            "completion_models": list(self.models),
            "completion_params": list(self.params),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any], column: str | None) -> CompletionSet:
        """The completions a row already has (none if ``column`` is None or absent), with
        the row's own ``completion_models``/``completion_params`` where they line up."""
        if column is None or column not in row or row[column] is None:
            return cls()
        texts = Columns(completions=column).completions_of(row)
        models = row.get("completion_models")
        params = row.get("completion_params")
        aligned = isinstance(models, list) and len(models) == len(texts)
        records = isinstance(params, list) and len(params) == len(texts)
        return cls(
            texts,
            [str(m) for m in models] if aligned else ["input"] * len(texts),  # type: ignore[union-attr]
            [_normalise(p) for p in params]  # type: ignore[union-attr]
            if records
            else [provenance("input") for _ in texts],
        )


def _normalise(record: Any) -> dict[str, Any]:
    base = provenance("input")
    if isinstance(record, Mapping):
        base.update({k: record[k] for k in PROVENANCE_FIELDS if k in record})
    return base


def merge_row(
    row: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    updates: Sequence[str] = (),
    stale: Sequence[str] = (),
) -> dict[str, Any]:
    """``row`` with ``new`` columns added. An input column that ``new`` overwrites (or that
    is ``stale``: no longer true of the output) is kept as ``original_<name>``, except the
    ``updates`` columns, whose new value already includes the input's."""
    out = dict(row)
    for name in dict.fromkeys([*new, *stale]):
        if name in row and name not in updates:
            keep = f"original_{name}"
            if keep in row:
                raise DataError(
                    f"the input has both {name!r} and {keep!r}; the output's {name!r} would "
                    f"overwrite one of them. Rename the input's {keep!r} column first."
                )
            out[keep] = row[name]
            if name not in new:
                del out[name]
    out.update(new)
    return out


def require_columns(column_names: Sequence[str], wanted: Sequence[str], hint: str) -> None:
    """Raise a ``DataError`` naming the missing columns, the ones there are, and what to pass."""
    missing = [c for c in wanted if c not in column_names]
    if missing:
        raise DataError(f"column(s) {missing} not found; columns are {list(column_names)}; {hint}")


def instruction_of(row: Mapping[str, Any], column: str) -> str:
    """The row's instruction: a text, or the last user turn of a chat."""
    return Columns(instruction=column).instruction_of(row)


def text_of(row: Mapping[str, Any], column: str) -> str:
    """The row's text in ``column``; a ``DataError`` naming the column when it holds
    something else (null, a number, a list): nothing is coerced into a text (``None`` would
    become the prompt "None")."""
    value = row.get(column)
    if not isinstance(value, str):
        kind = "null" if value is None else f"{value!r:.60} ({type(value).__name__})"
        raise DataError(f"column {column!r} must hold text, got {kind}; fix or drop the row")
    return value


def optional_text_of(row: Mapping[str, Any], column: str) -> str | None:
    """Like :func:`text_of`, but null or an empty cell is None (e.g. no system prompt)."""
    value = row.get(column)
    return None if value is None or value == "" else text_of(row, column)


def check_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str | None,
    instruction: str | None = None,
    texts: Sequence[str] = (),
    optional: Sequence[str] = (),
    lists: Sequence[str] = (),
) -> None:
    """Refuse, before any model loads, a row a generator cannot read: an ``instruction``
    that is neither a text nor a chat, a ``texts`` column that is not a text (``optional``:
    or empty), a ``lists`` column (when present and not null) with a value that is not a
    text. The ``DataError`` names where the row is (the file's line for JSON Lines and CSV,
    see :func:`~ultrajudge.judge.datafiles.row_place`) and the column."""
    from ultrajudge.judge.datafiles import row_place

    for index, row in enumerate(rows):
        try:
            if instruction is not None:
                instruction_of(row, instruction)
            for column in texts:
                text_of(row, column)
            for column in optional:
                optional_text_of(row, column)
            for column in lists:
                if row.get(column) is not None:
                    Columns(completions=column).completions_of(row)
        except DataError as exc:
            raise DataError(f"{row_place(source, index)}, {exc}") from None
