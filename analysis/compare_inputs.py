"""Inputs of a judge comparison: sources, and their alignment item by item.

Alignment rules:

* Rows match by an id column: ``id_col``, or ``id`` when every source has it. Without one they
  match by row order, and the instructions (``instruction`` or ``prompt``) must agree row by
  row; a source with fewer rows (``--limit``) is fine. With ids, a shared id whose instructions
  differ is an error too.
* Items are (row, completion index): a list value (``ratings``) gives one item per element, a
  scalar (``verdict``, a single human rating) one item with index 0. Every item of any source
  is kept; a rater without a value for it has a missing cell.
* Sources must overlap: a source that shares no row with any other is an error (with ids: no
  shared id), and so is a comparison where no item is rated by two raters. A partial overlap is
  reported (rows per source, rows common to all) in ``Aligned.notes``.
* Human (gold) columns are read from every source that has them (a shorter file adds nothing
  new); two sources giving an item different human values is an error.
* Answer lengths come from the texts (``completions``, or ``response_a``/``response_b``) of
  every source that has them; a chat message counts its last turn's content.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from ultrajudge.analysis.agreement import PREFERENCE_LABELS
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.io import DataError, load_rows

__all__ = ["Aligned", "Kind", "Source", "SourceLike", "align"]

Kind = Literal["pointwise", "pairwise"]
_INSTRUCTION_COLS = ("instruction", "prompt")
_ORDER_COLS = ("verdict_first", "verdict_second", "first_position")
_DEFAULT_TEXT = {"pointwise": ("completions",), "pairwise": ("response_a", "response_b")}
_ITEM_NAMES = ["row", "completion"]
_TEXT_COLS = ("completions", "response_a", "response_b")


@dataclass(frozen=True)
class Source:
    """One judge to compare: a file or DataFrame, the column with its ratings or verdicts
    (default ``ratings``, else ``verdict``) and a display name (default: the file stem, plus
    ``:column`` when a column is picked)."""

    data: str | Path | pd.DataFrame
    column: str | None = None
    name: str | None = None

    @classmethod
    def parse(cls, spec: str | Path, name: str | None = None) -> Source:
        """``scored.jsonl`` or ``scored.jsonl:ratings_helpfulness`` (a path that exists as
        written is always a path)."""
        text = str(spec)
        path, sep, column = text.rpartition(":")
        if sep and path and column and not Path(text).exists() and not re.search(r"[/\\]", column):
            return cls(path, column, name)
        return cls(text, None, name)


SourceLike: TypeAlias = "str | Path | pd.DataFrame | Source"


@dataclass(frozen=True)
class Aligned:
    """Every rater's value per item, judges first, then human columns.

    ``values`` is items × raters: floats with nan (pointwise) or "A"/"B"/"tie" with missing
    (pairwise). ``statuses`` covers every item of a judge's own source (for failure rates);
    ``rows`` counts each source's rows and ``rows_common`` the rows all sources share;
    ``inputs`` is a digest of each source's inputs (row keys, instructions, answer texts), equal
    only for sources that judged the same data. ``lengths`` holds ``length`` (pointwise) or ``len_a``/``len_b`` (pairwise) per item, empty
    when no texts were found; ``orders`` a verdict file's ``verdict_first``, ``verdict_second``
    and ``first_position`` per item, for each judge whose file has them.
    """

    kind: Kind
    values: pd.DataFrame
    judges: tuple[str, ...]
    humans: tuple[str, ...]
    statuses: Mapping[str, pd.Series]
    lengths: pd.DataFrame
    orders: Mapping[str, pd.DataFrame]
    columns: Mapping[str, str]
    paths: Mapping[str, Path | None]
    judge_ids: Mapping[str, str | None]
    aligned_by: str
    notes: tuple[str, ...] = ()
    rows: Mapping[str, int] = field(default_factory=dict)
    rows_common: int = 0
    inputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Loaded:
    name: str
    column: str
    path: Path | None
    rows: dict[str, list[Any]]  # only the columns a comparison reads
    all_columns: list[str]


def align(
    sources: Sequence[SourceLike],
    *,
    human_cols: Sequence[str] = (),
    id_col: str | None = None,
    text_cols: Sequence[str] = (),
    kind: Kind | None = None,
) -> Aligned:
    """Load the sources and line up their items (see the module docstring for the rules)."""
    if not sources:
        raise ConfigError("nothing to compare: pass one or more scored or verdict files")
    wanted = {id_col or "id", *_INSTRUCTION_COLS, *_ORDER_COLS, *human_cols, *text_cols}
    wanted |= {c for cols in _DEFAULT_TEXT.values() for c in cols}
    loaded = [_load(_as_source(s), i, wanted) for i, s in enumerate(sources)]
    _check_names([x.name for x in loaded], human_cols)
    keys, aligned_by, notes = _row_keys(loaded, id_col)
    judged = {x.name: _items(k, x.rows[x.column]) for x, k in zip(loaded, keys)}
    kind = kind or _kind(loaded, judged)
    rows, common, overlap_note = _overlap(loaded, keys, aligned_by)
    values = {name: _convert(series, kind, name) for name, series in judged.items()}
    for col in human_cols:
        values[col] = _human(loaded, keys, col, kind)
    lengths, length_note = _lengths(loaded, keys, kind, tuple(text_cols))
    table = pd.concat(values, axis=1)
    _check_common_items(table)
    return Aligned(
        kind=kind,
        values=table,
        judges=tuple(judged),
        humans=tuple(human_cols),
        statuses={x.name: _statuses(x, k) for x, k in zip(loaded, keys)},
        lengths=lengths,
        orders={x.name: o for x, k in zip(loaded, keys) if (o := _orders(x, k)) is not None},
        columns={x.name: x.column for x in loaded},
        paths={x.name: x.path for x in loaded},
        judge_ids={x.name: _judge_id(x) for x in loaded},
        aligned_by=aligned_by,
        notes=tuple(notes + overlap_note + length_note),
        rows=rows,
        rows_common=common,
        inputs={x.name: _inputs_digest(x, k) for x, k in zip(loaded, keys)},
    )


def _as_source(s: SourceLike) -> Source:
    if isinstance(s, Source):
        return s
    return Source(s) if isinstance(s, pd.DataFrame) else Source.parse(s)


def _load(src: Source, index: int, wanted: set[str]) -> _Loaded:
    if isinstance(src.data, pd.DataFrame):
        frame, path, label = src.data, None, f"DataFrame #{index + 1}"
        names: list[str] = [str(c) for c in frame.columns]
    else:
        path, label = Path(src.data), str(src.data)
        ds = load_rows(label)
        names = list(ds.column_names)
    column = src.column or next((c for c in ("ratings", "verdict") if c in names), None)
    if column is None or column not in names:
        raise DataError(
            f"{label}: no {'ratings or verdict' if column is None else repr(column)} column; "
            f"columns are {names}; pick one with {label}:COLUMN"
        )
    read = [c for c in names if c in wanted | {column, *_companions(column)}]
    if isinstance(src.data, pd.DataFrame):
        rows = {c: src.data[c].tolist() for c in read}
    else:
        rows = ds.select_columns(read).to_dict()
    return _Loaded(src.name or _default_name(src, path, index), column, path, rows, names)


def _default_name(src: Source, path: Path | None, index: int) -> str:
    stem = path.name.split(".")[0] if path is not None else f"judge_{index + 1}"
    return f"{stem}:{src.column}" if src.column else stem


def _companions(column: str) -> tuple[str, ...]:
    """The status and judge-id columns written next to a ratings or verdict column."""
    for prefix, status in (("ratings", "rating_status"), ("verdict", "verdict_status")):
        if column.startswith(prefix):
            suffix = column[len(prefix) :]
            return status + suffix, "judge" + suffix
    return ()


def _check_names(names: list[str], human_cols: Sequence[str]) -> None:
    clash = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(human_cols)))
    if clash:
        raise ConfigError(f"judge names {clash} are not unique; give each source a --name")


# --------------------------------------------------------------------------- rows and items


def _row_keys(
    loaded: list[_Loaded], id_col: str | None
) -> tuple[list[list[Hashable]], str, list[str]]:
    if id_col is None and all("id" in x.rows for x in loaded):
        id_col = "id"
    if id_col is None:
        keys: list[list[Hashable]] = [list(range(_n_rows(x))) for x in loaded]
        return keys, "row order", _check_instructions(loaded, keys, by_id=False)
    for x in loaded:
        if id_col not in x.rows:
            raise DataError(
                f"{x.name}: no id column {id_col!r}; columns are {x.all_columns}; pass --id-col"
            )
    keys = [[_id(v, x.name) for v in x.rows[id_col]] for x in loaded]
    for x, k in zip(loaded, keys):
        dupes = pd.Series(k)[pd.Series(k).duplicated()].unique().tolist()
        if dupes:
            raise DataError(
                f"{x.name}: id column {id_col!r} repeats {dupes[:5]}; pass a unique --id-col"
            )
    return keys, f"id column {id_col!r}", _check_instructions(loaded, keys, by_id=True)


def _overlap(
    loaded: list[_Loaded], keys: list[list[Hashable]], aligned_by: str
) -> tuple[dict[str, int], int, list[str]]:
    """Rows per source and rows common to all; a source sharing no row with the others is an
    error, a partial overlap a note."""
    rows = {x.name: len(k) for x, k in zip(loaded, keys)}
    sets = [set(k) for k in keys]
    common = len(set.intersection(*sets))
    for x, own in zip(loaded, sets):
        others = set().union(*(s for s in sets if s is not own))
        if len(loaded) > 1 and not own & others:
            what = "no row" if aligned_by == "row order" else f"no id ({aligned_by})"
            sample = sorted(map(str, own))[:3]
            raise DataError(
                f"{x.name} shares {what} with the other files (its ids start {sample}); "
                "compare files that judged the same dataset, or pass the right --id-col"
            )
    notes = []
    if len(set(rows.values()) | {common}) > 1:
        counts = ", ".join(f"{name} {n} rows" for name, n in rows.items())
        notes.append(
            f"partial overlap: {counts}, {common} in common; each pair of raters uses the "
            "items both rated (n per pair)"
        )
    return rows, common, notes


def _check_common_items(values: pd.DataFrame) -> None:
    if values.shape[1] >= 2 and not (values.notna().sum(axis=1) >= 2).any():
        raise DataError(
            f"no item is rated by two of {list(values.columns)}: nothing to compare; check that "
            "the files judged the same rows (--id-col) and that the ratings are not all missing"
        )


def _inputs_digest(x: _Loaded, keys: list[Hashable]) -> str:
    """A digest of what the source judged: its row keys, instructions and answer texts."""
    cols = [c for c in (*_INSTRUCTION_COLS, *_TEXT_COLS) if c in x.rows]
    rows = sorted(
        (str(k), *(json.dumps(x.rows[c][i], sort_keys=True, default=str) for c in cols))
        for i, k in enumerate(keys)
    )
    return hashlib.sha256(json.dumps([cols, rows]).encode()).hexdigest()[:16]


def _id(value: Any, name: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise DataError(f"{name}: a row has no id; fill the id column or pass another --id-col")
    return str(value)


def _n_rows(x: _Loaded) -> int:
    return len(next(iter(x.rows.values())))


def _check_instructions(
    loaded: list[_Loaded], keys: list[list[Hashable]], *, by_id: bool
) -> list[str]:
    """Rows matched up must hold the same instruction; sources without one are noted."""
    texts = []
    for x, k in zip(loaded, keys):
        col = next((c for c in _INSTRUCTION_COLS if c in x.rows), None)
        texts.append(dict(zip(k, map(str, x.rows[col]))) if col else None)
    notes = [
        f"{x.name} has no instruction column; its rows were matched without a check"
        for x, t in zip(loaded, texts)
        if t is None
    ]
    present = [(x, t) for x, t in zip(loaded, texts) if t is not None]
    for (first, ref), (other, text) in _with_first(present):
        bad = next((k for k in text if k in ref and ref[k] != text[k]), None)
        if bad is not None:
            how = f"share id {bad!r}" if by_id else f"have different instructions in row {bad}"
            fix = (
                "check the id column"
                if by_id
                else "add an id column (--id-col) or write both files in the same row order"
            )
            raise DataError(
                f"{first.name} and {other.name} {how} but differ: {ref[bad][:60]!r} vs {text[bad][:60]!r}; {fix}"
            )
    return notes


def _with_first(items: list[Any]) -> list[tuple[Any, Any]]:
    return [(items[0], item) for item in items[1:]]


def _items(keys: list[Hashable], values: list[Any]) -> pd.Series:
    """One entry per (row, completion): list elements, or the scalar as completion 0."""
    rows, completions, data = [], [], []
    for key, value in zip(keys, values):
        many = isinstance(value, list | tuple | np.ndarray)
        for k, v in enumerate(value if many else [value]):
            rows.append(key)
            completions.append(k)
            data.append(v)
    index = pd.MultiIndex.from_arrays([rows, completions], names=_ITEM_NAMES)
    return pd.Series(data, index=index, dtype=object)


def _kind(loaded: list[_Loaded], judged: dict[str, pd.Series]) -> Kind:
    kinds: dict[str, Kind] = {}
    for x in loaded:
        present = judged[x.name].dropna()
        if len(present):
            kinds[x.name] = "pairwise" if isinstance(present.iloc[0], str) else "pointwise"
        else:
            kinds[x.name] = "pairwise" if x.column.startswith("verdict") else "pointwise"
    if len(set(kinds.values())) > 1:
        raise ConfigError(f"cannot compare scored files with verdict files: {kinds}")
    return next(iter(kinds.values()))


def _convert(series: pd.Series, kind: Kind, name: str) -> pd.Series:
    present = series.dropna()
    if kind == "pairwise":
        unknown = sorted({str(v) for v in present} - set(PREFERENCE_LABELS))
        if unknown:
            raise DataError(f"{name}: verdicts {unknown[:5]} are not A, B or tie")
        return series.where(series.notna(), None)
    if any(isinstance(v, str | bool) for v in present):
        raise DataError(
            f"{name}: ratings must be numbers; found {present.iloc[0]!r} (a verdict file?)"
        )
    return series.astype(np.float64)


def _not_found(loaded: list[_Loaded], cols: Sequence[str], flag: str) -> DataError:
    return DataError(
        f"column(s) {list(cols)} not found in any source; columns are {loaded[0].all_columns}; "
        f"check {flag}"
    )


def _human(loaded: list[_Loaded], keys: list[list[Hashable]], col: str, kind: Kind) -> pd.Series:
    """A human column's values from every source that has it; sources must not disagree."""
    parts = [
        _convert(_items(k, x.rows[col]), kind, col) for x, k in zip(loaded, keys) if col in x.rows
    ]
    if not parts:
        raise _not_found(loaded, [col], "--human-col")
    merged = parts[0]
    for part in parts[1:]:
        shared = merged.index.intersection(part.index)
        a, b = merged[shared], part[shared]
        clash = a.notna() & b.notna() & (a != b)
        if clash.any():
            raise DataError(
                f"{col!r} differs between sources for item {clash.idxmax()}: "
                f"{a[clash].iloc[0]!r} vs {b[clash].iloc[0]!r}; are the files scored on the same data?"
            )
        merged = merged.combine_first(part)
    return merged


def _statuses(x: _Loaded, keys: list[Hashable]) -> pd.Series:
    values = _items(keys, x.rows[x.column])
    status_col = next(iter(_companions(x.column)), None)
    if status_col is not None and status_col in x.rows:
        return _items(keys, x.rows[status_col]).reindex(values.index)
    return pd.Series(np.where(values.notna(), "ok", "missing"), index=values.index, dtype=object)


def _lengths(
    loaded: list[_Loaded], keys: list[list[Hashable]], kind: Kind, text_cols: tuple[str, ...]
) -> tuple[pd.DataFrame, list[str]]:
    """Answer lengths per item, from every source that has the text columns."""
    cols = text_cols or _DEFAULT_TEXT[kind]
    if kind == "pairwise" and len(cols) != 2:
        raise DataError(f"pairwise lengths need two text columns (a and b); got {list(cols)}")
    parts = [
        _source_lengths(x.rows, k, kind, cols)
        for x, k in zip(loaded, keys)
        if set(cols) <= set(x.rows)
    ]
    if not parts:
        if text_cols:
            raise _not_found(loaded, cols, "--text-col")
        return pd.DataFrame(), [f"no text column(s) {list(cols)}: length statistics left blank"]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.combine_first(part)
    return merged, []


def _source_lengths(
    rows: dict[str, list[Any]], keys: list[Hashable], kind: Kind, cols: Sequence[str]
) -> pd.DataFrame:
    if kind == "pairwise":
        a, b = (_items(keys, [_text_len(v) for v in rows[c]]).astype(float) for c in cols)
        return pd.DataFrame({"len_a": a, "len_b": b})
    if len(cols) == 1:  # one list of completions per row
        texts = [
            list(v) if isinstance(v, list | tuple | np.ndarray) else [v] for v in rows[cols[0]]
        ]
    else:  # one completion per column
        texts = [list(t) for t in zip(*(rows[c] for c in cols))]
    lengths = _items(keys, [[_text_len(t) for t in row] for row in texts])
    return pd.DataFrame({"length": lengths.astype(float)})


def _text_len(value: Any) -> float:
    if isinstance(value, list) and value and isinstance(value[-1], Mapping):  # a chat reply
        value = value[-1].get("content")
    elif isinstance(value, Mapping):
        value = value.get("content")
    return float(len(value)) if isinstance(value, str) else float("nan")


def _orders(x: _Loaded, keys: list[Hashable]) -> pd.DataFrame | None:
    """A verdict file's per-order columns, by item (pairs are completion 0)."""
    if x.column != "verdict" or not all(c in x.rows for c in _ORDER_COLS):
        return None
    index = pd.MultiIndex.from_arrays([keys, [0] * len(keys)], names=_ITEM_NAMES)
    return pd.DataFrame({c: x.rows[c] for c in _ORDER_COLS}, index=index, dtype=object)


# --------------------------------------------------------------------------- judge ids


def _judge_id(x: _Loaded) -> str | None:
    """The source's judge id when its judge column holds exactly one."""
    col = next(iter(_companions(x.column)[1:]), None)
    ids = {v for v in x.rows.get(col, []) if v is not None} if col else set()
    return ids.pop() if len(ids) == 1 else None
