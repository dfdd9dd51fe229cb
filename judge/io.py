"""Dataset I/O: load from the Hub or local files, resolve columns, write atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_READERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class DataError(ValueError):
    """Input data is missing or has the wrong shape; the message says what to do."""


def load_rows(source: str, *, split: str = "train", limit: int | None = None) -> Any:
    """Load a ``datasets.Dataset`` from a JSONL/JSON/CSV/Parquet file, a ``save_to_disk``
    directory, or a Hub id. ``limit`` keeps the first rows."""
    import datasets

    path = Path(source)
    saved = ("dataset_info.json", "state.json", "dataset_dict.json")
    if path.is_dir() and any((path / f).exists() for f in saved):
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            ds = _pick_split(ds, split, source)
    elif path.suffix.lower() in _READERS:
        if not path.is_file():
            raise DataError(f"input file {source!r} does not exist")
        ds = datasets.load_dataset(
            _READERS[path.suffix.lower()], data_files=str(path), split="train"
        )
    elif path.exists():
        raise DataError(
            f"cannot read {source!r}: use .jsonl, .json, .csv, .parquet or a save_to_disk folder"
        )
    else:
        ds = _load_hub(source, split)
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return ds


def _pick_split(ds: Any, split: str, source: str) -> Any:
    if split not in ds:
        raise DataError(f"{source!r} has no split {split!r}; splits are {sorted(ds)}; pass --split")
    return ds[split]


def _load_hub(source: str, split: str) -> Any:
    import datasets

    try:
        return datasets.load_dataset(source, split=split)
    except (FileNotFoundError, ConnectionError, OSError, ValueError) as exc:
        raise DataError(
            f"could not load {source!r}: it is not a local file, and loading it from the Hub "
            f"failed ({type(exc).__name__}: {exc}). Check the name and --split, or download it "
            "and pass the local file (.jsonl, .parquet, .csv) instead."
        ) from exc


def save_rows(ds: Any, out: str | Path) -> Path:
    """Write by the output path: ``.jsonl``/``.json``, ``.parquet``, ``.csv``, or a
    ``save_to_disk`` directory (any other path). Written to a temporary sibling and
    renamed, so a crash never leaves a half-written output."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix in (".jsonl", ".json", ".parquet", ".csv"):
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        os.close(fd)
        try:
            if suffix == ".parquet":
                ds.to_parquet(tmp)
            elif suffix == ".csv":
                ds.to_csv(tmp, index=False)
            else:
                ds.to_json(tmp, lines=True, force_ascii=False, double_precision=15)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return out
    tmp_dir = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        ds.save_to_disk(str(tmp_dir))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp_dir, out)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir)
    return out


@dataclass(frozen=True)
class Columns:
    """Where a row's instruction and completions are.

    Three input shapes: one list column of completions (``completions``); several
    completion columns, one text each (``chosen`` and ``rejected``); and either of
    these with the instruction as a chat (a list of ``{"role", "content"}``
    messages), in which case the last user turn is the instruction.
    """

    instruction: str = "instruction"
    completions: str | None = "completions"
    completion_columns: tuple[str, ...] = ()

    def validate(self, column_names: Sequence[str]) -> None:
        wanted = [self.instruction, *(self.completion_columns or [self.completions])]
        missing = [c for c in wanted if c not in column_names]
        if missing:
            hint = (
                "pass --instruction-col"
                if self.instruction in missing
                else "pass --completions-col (a list column) or --completion-col once per text column"
            )
            raise DataError(
                f"column(s) {missing} not found; columns are {list(column_names)}; {hint}"
            )

    def instruction_of(self, row: Mapping[str, Any]) -> str:
        value = row[self.instruction]
        if isinstance(value, list):  # a chat: the last user turn is the instruction
            users = [
                m["content"] for m in value if isinstance(m, Mapping) and m.get("role") == "user"
            ]
            if not users:
                raise DataError(
                    f"column {self.instruction!r} holds a chat with no user turn: {value!r:.200}"
                )
            return str(users[-1])
        if not isinstance(value, str):
            raise DataError(
                f"column {self.instruction!r} must hold text, got {type(value).__name__}"
            )
        return value

    def completions_of(self, row: Mapping[str, Any]) -> list[str]:
        if self.completion_columns:
            values = [row[c] for c in self.completion_columns]
        else:
            values = row[self.completions]  # type: ignore[index]
            if isinstance(values, str) or not isinstance(values, Sequence):
                raise DataError(
                    f"column {self.completions!r} must hold a list of texts, got {type(values).__name__}; "
                    "for one text per column pass --completion-col for each column"
                )
        return [_as_text(v) for v in values]


def _as_text(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[-1], Mapping):  # a chat reply
        return str(value[-1].get("content", ""))
    if isinstance(value, Mapping) and "content" in value:
        return str(value["content"])
    return "" if value is None else str(value)
