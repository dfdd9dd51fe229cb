"""Result columns added to a dataset a block of rows at a time, whatever the judge answered.

Scoring and pairwise judging build their outputs with one batched ``datasets`` ``map``:
each block of rows gets its columns from the store and is written to an Arrow file, so
memory stays that of one block however many rows there are. ``datasets`` takes each new
column's type from the first block. A column that holds only nulls there (every rating
of the first 256 rows ok: no ``rating_raw``) gets the null type, and the first later block
with a value in it (a parse error at row 300) cannot be cast to it: the run judged every
row, then failed to write any of it. :func:`add_columns` sees that block coming and
writes the output again with the columns' types declared: an output whose first block
has a value in each column is written exactly as before (the same bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["add_columns"]

Block = dict[str, list[Any]]


class _Retype(Exception):
    """A block holds a value in a column the first block held only nulls in."""


def add_columns(
    ds: Any,
    make: Callable[[Block], Block],
    *,
    types: Mapping[str, Any],
    block_rows: int,
    fingerprint: str,
    restart: Callable[[], None] = lambda: None,
) -> Any:
    """``ds`` with the columns ``make(block)`` returns for each block of ``block_rows``
    rows (a batched ``map`` written to an Arrow file, fingerprinted ``fingerprint``).
    ``types`` are the new columns' pyarrow types, declared only when the first block
    leaves one of them untyped (see the module docstring); ``restart`` is called before
    the blocks are made again then (a caller that tallies what ``make`` saw clears it)."""
    try:
        return _map(ds, _checked(make), block_rows, fingerprint, None)
    except _Retype:
        restart()
    return _map(ds, make, block_rows, fingerprint, _features(ds, types))


def _checked(make: Callable[[Block], Block]) -> Callable[[Block], Block]:
    """``make``, raising :class:`_Retype` at the first block that would not cast to the
    types ``datasets`` takes from the first one."""
    untyped: set[str] | None = None

    def block(batch: Block) -> Block:
        nonlocal untyped
        columns = make(batch)
        if untyped is None:
            untyped = {name for name, values in columns.items() if _untyped(values)}
        elif any(not _untyped(columns[name]) for name in untyped):
            raise _Retype
        return columns

    return block


def _untyped(value: Any) -> bool:
    """Whether ``datasets`` would give ``value`` the null type: None, or a list of such
    values (an empty list too).

    >>> _untyped([[None], [], None]), _untyped([[None, "raw"]])
    (True, False)
    """
    if value is None:
        return True
    return isinstance(value, list) and all(_untyped(v) for v in value)


def _features(ds: Any, types: Mapping[str, Any]) -> Any:
    """``ds``'s features with the new columns' ``types`` (pyarrow types) declared."""
    import datasets
    import pyarrow as pa

    features = ds.features.copy()
    features.update(datasets.Features.from_arrow_schema(pa.schema(list(types.items()))))
    return features


def _map(ds: Any, make: Callable[[Block], Block], block_rows: int, fingerprint: str, features: Any) -> Any:  # fmt: skip
    return ds.map(
        make,
        batched=True,
        batch_size=block_rows,
        features=features,
        load_from_cache_file=False,
        new_fingerprint=fingerprint,
    )
