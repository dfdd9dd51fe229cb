"""Dataset I/O: load from the Hub or local files, resolve columns, write atomically."""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ultrajudge.judge.datafiles import (
    FILE_SUFFIXES,
    check_text_file,
    decode_csv_cells,
    encode_csv_cells,
    json_columns,
    local_data_files,
    read_json_beside,
    reader_of,
    recorded_json_columns,
    row_place,
    sidecar_of,
    write_json_array,
)
from ultrajudge.judge.errors import DataError
from ultrajudge.judge.types import Rating


class OutputError(DataError):
    """An output path whose writing would destroy files the toolkit did not write."""


def load_rows(source: str, *, split: str = "train", limit: int | None = None) -> Any:
    """Load a ``datasets.Dataset`` from what ``datasets`` accepts: a JSONL/JSON/CSV/Parquet
    file (optionally ``.gz``), a folder of such shards, a glob, a ``save_to_disk`` folder, or
    a Hub id (``org/name``, ``org/name:config``, ``org/name@revision``). Local text files
    are checked first (:func:`~ultrajudge.judge.datafiles.check_text_file`): an empty file, a
    non-UTF-8 byte or a malformed JSON line is one :class:`DataError` naming file and line.
    CSV columns ultrajudge wrote as JSON (recorded in ``<FILE>.columns.json``) are read back
    as lists and mappings; every other CSV cell stays text. ``limit`` keeps the first rows."""
    import datasets

    path = Path(source)
    saved = ("dataset_info.json", "state.json", "dataset_dict.json")
    if path.is_dir() and any((path / f).exists() for f in saved):
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            ds = _pick_split(ds, split, source)
    else:
        files = local_data_files(source)
        ds = _load_hub(source, split) if files is None else _load_files(files, source)
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return ds


def iter_rows(ds: Any, batch_size: int = 256) -> Iterator[dict[str, Any]]:
    """The rows of a ``datasets.Dataset`` as dicts, in order, read a batch at a time:
    ``for row in ds`` formats every row on its own, which at an API judge's rate costs the
    run's main thread more than sending the requests does."""
    if not hasattr(ds, "iter"):
        yield from ds
        return
    for batch in ds.iter(batch_size=batch_size):
        names = list(batch)
        for values in zip(*(batch[n] for n in names)):
            yield dict(zip(names, values))


def _load_files(files: list[Path], source: str) -> Any:
    import datasets
    import pyarrow as pa

    for f in files:
        check_text_file(f)
    kind = reader_of(files[0])
    try:
        ds = datasets.load_dataset(kind, data_files=[str(f) for f in files], split="train")
    except (datasets.exceptions.DatasetGenerationError, pa.ArrowException, ValueError) as exc:
        cause = exc.__cause__ or exc
        raise DataError(
            f"cannot read {source!r} as {kind}: {type(cause).__name__}: {cause}"
        ) from None
    if kind != "csv":
        return ds
    return decode_csv_cells(ds, recorded_json_columns(files), source=source)


def _pick_split(ds: Any, split: str, source: str) -> Any:
    if split not in ds:
        raise DataError(f"{source!r} has no split {split!r}; splits are {sorted(ds)}; pass --split")
    return ds[split]


def _load_hub(source: str, split: str) -> Any:
    """``org/name``, with an optional ``:config`` (a subset) and ``@revision`` (a branch,
    tag or commit)."""
    import datasets

    name, _, revision = source.partition("@")
    name, _, config = name.partition(":")
    try:
        return datasets.load_dataset(name, config or None, split=split, revision=revision or None)
    except (FileNotFoundError, ConnectionError, OSError, ValueError) as exc:
        raise DataError(
            f"could not load {source!r}: it is not a local file, and loading it from the Hub "
            f"failed ({type(exc).__name__}: {exc}). Check the name, :config, @revision and "
            "--split, or download it and pass the local file (.jsonl, .parquet, .csv) instead."
        ) from exc


# What ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` write, and the cache files
# ``datasets`` adds next to them when such a folder is loaded and mapped. A folder holding
# anything else is not ours to replace.
_SAVED_DATASET_FILE = re.compile(
    r"(dataset_info\.json|state\.json|dataset_dict\.json|data-\d+-of-\d+\.arrow|cache-[0-9a-f]+\.arrow)"
)


def check_output(
    out: str | Path, *, protect: Iterable[str | Path | None] = (), folder: bool | None = None
) -> Path:
    """Refuse an output path whose writing would destroy something the toolkit did not write.

    Refused: the working directory or any folder above it; the same path as, or a folder
    above, anything in ``protect`` (the input, the results store, a pipeline file); an
    existing folder that is not a dataset folder ``save_rows`` wrote (one holding only
    ``datasets``' own files); an existing file where a folder output goes. ``folder``: whether
    the output is a folder (default: by its suffix, as :func:`save_rows` decides). Returns ``out``.
    """
    path = Path(out)
    target = path.resolve()
    guarded = [Path.cwd().resolve(), *(Path(p).resolve() for p in protect if p is not None)]
    for i, kept in enumerate(guarded):
        if target == kept or target in kept.parents:
            what = (
                "the working directory or a folder above it"
                if i == 0
                else f"{'the same path as' if target == kept else 'a folder above'} {str(kept)!r}, which this run reads or keeps"
            )
            raise OutputError(
                f"refusing to write the output to {str(out)!r}: it is {what}, and replacing it "
                "would delete files ultrajudge did not write; pass a new path to --out"
            )
    if folder is None:
        folder = _is_folder_output(path)
    if not folder:
        if path.is_dir():
            raise OutputError(
                f"refusing to write the output to {str(out)!r}: it is an existing folder, not a "
                "file; pass a new path to --out"
            )
    elif path.is_dir() and not _is_saved_dataset(path):
        raise OutputError(
            f"refusing to replace the folder {str(out)!r}: it holds files that are not a dataset "
            "ultrajudge wrote; pass a new folder to --out, or a file ending in .jsonl, .parquet or .csv"
        )
    elif path.exists() and not path.is_dir():
        raise OutputError(
            f"refusing to replace the file {str(out)!r} with a dataset folder; pass a path ending "
            "in .jsonl, .parquet or .csv, or a new folder"
        )
    return path


def _is_saved_dataset(folder: Path) -> bool:
    """Only ``save_to_disk`` files at the top, or split folders that hold only those."""
    for entry in folder.iterdir():
        if entry.is_symlink():
            return False
        if entry.is_dir():
            if not any(entry.iterdir()) or not _is_saved_dataset(entry):
                return False
        elif not _SAVED_DATASET_FILE.fullmatch(entry.name):
            return False
    return True


def _is_folder_output(path: Path) -> bool:
    """A path without a suffix (or an existing folder) is a ``save_to_disk`` folder; one of
    :data:`FILE_SUFFIXES` is a file; any other suffix is refused: ``scored.txt`` must not
    silently become a folder, nor ``x.json.gz`` an uncompressed file."""
    suffix = path.suffix.lower()
    if suffix in FILE_SUFFIXES:
        return False
    if not suffix or path.is_dir():
        return True
    raise OutputError(
        f"cannot write a dataset to {str(path)!r}: its suffix {path.suffix!r} is not one of "
        f"{', '.join(FILE_SUFFIXES)}; use one of those, or a path without a suffix for a "
        "save_to_disk folder"
    )


def write_text(out: str | Path, text: str, *, protect: Iterable[str | Path | None] = ()) -> Path:
    """Write a text file (a report, a table) atomically: a temporary sibling, then a rename.
    Refuses what :func:`check_output` refuses; the file gets the user's umask."""
    out = check_output(out, protect=protect, folder=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _temporary(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    return out


def save_rows(ds: Any, out: str | Path, *, protect: Iterable[str | Path | None] = ()) -> Path:
    """Write by the output path's suffix: ``.jsonl`` JSON Lines, ``.json`` one JSON array,
    ``.parquet``, ``.csv`` (list and mapping cells as JSON text, those columns recorded in
    ``<out>.columns.json`` so that :func:`load_rows` decodes them and nothing else), or a ``save_to_disk`` folder (no suffix); any other suffix is refused.
    Written to a temporary sibling and renamed, so a crash never leaves a half-written
    output; temporaries an earlier run left (killed mid-write) are removed first. Files and
    folders get the user's umask, like any other file they create.

    Never removes what the toolkit did not write: :func:`check_output` refuses the working
    directory, anything in ``protect`` (the input, the store, a pipeline file) and the
    folders above them, and any existing folder that is not a dataset folder we wrote."""
    out = check_output(out, protect=protect)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out)
    suffix = out.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        _save_folder(ds, out)
        return out
    with _temporary(out) as tmp:
        if suffix == ".parquet":
            ds.to_parquet(str(tmp))
        elif suffix == ".csv":
            encoded = encode_csv_cells(ds)
            encoded.to_csv(str(tmp), index=False)
            drop_cache_files(encoded, keep=[ds])
        elif suffix == ".json":
            write_json_array(ds, str(tmp))
        else:
            ds.to_json(str(tmp), lines=True, force_ascii=False, double_precision=15)
        os.replace(tmp, out)
    if suffix == ".csv":  # which columns are JSON: only those are decoded when read back
        _write_sidecar(out, {"json_columns": json_columns(ds)})
    return out


def drop_cache_files(ds: Any, *, keep: Iterable[Any] = ()) -> None:
    """Delete the Arrow files a ``map`` wrote for ``ds`` (``datasets`` names them
    ``cache-*.arrow``, beside the data they were mapped from: in the Hugging Face cache, or
    in a ``save_to_disk`` folder given as input), except those ``keep``'s datasets read.
    Once the output is written they are a second copy of it, as large as the dataset (780
    MB for a million scored rows), that nothing reads again. ``ds`` stays readable where
    an open file can be deleted (POSIX); elsewhere the file stays."""
    kept = {entry["filename"] for other in keep for entry in getattr(other, "cache_files", [])}
    for entry in getattr(ds, "cache_files", []):
        path = Path(entry["filename"])
        if path.name.startswith("cache-") and path.suffix == ".arrow" and str(path) not in kept:
            with suppress(OSError):  # an open file on Windows: datasets' cache rules apply
                path.unlink(missing_ok=True)


def remove_output(out: str | Path) -> None:
    """Delete an output :func:`save_rows` wrote: its file and CSV column sidecar, or its
    dataset folder, only while that folder holds nothing but ``datasets``' own files (a
    folder holding anything else is left alone, as :func:`check_output` would refuse it)."""
    path = Path(out)
    if path.is_dir() and not path.is_symlink():
        if _is_saved_dataset(path):
            shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    sidecar_of(path).unlink(missing_ok=True)


def _save_folder(ds: Any, out: Path) -> None:
    with _temporary(out, folder=True) as tmp_dir:
        old_dir = tmp_dir.with_name(tmp_dir.name.removesuffix(".tmp") + ".old.tmp")
        try:
            ds.save_to_disk(str(tmp_dir))
            if out.exists():  # checked above: a dataset folder we wrote
                os.replace(out, old_dir)
            os.replace(tmp_dir, out)
        finally:
            if old_dir.exists():  # a folder this call made
                shutil.rmtree(old_dir)


@contextmanager
def _temporary(out: Path, *, folder: bool = False) -> Iterator[Path]:
    """A hidden sibling ``.NAME.<random>.tmp`` created with the user's umask (``mkstemp``
    would make it 0600), removed unless renamed into place."""
    tmp = out.parent / f".{out.name}.{secrets.token_hex(4)}.tmp"
    if folder:
        os.mkdir(tmp, 0o777)
    else:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp)
        elif tmp.exists():
            tmp.unlink()


def _remove_stale_temporaries(out: Path) -> None:
    """Temporaries of ``out`` left by a run killed mid-write (only our own names)."""
    for leftover in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        if _TEMPORARY.fullmatch(leftover.name[len(out.name) + 2 :]):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


# The tail of a temporary's name after ".NAME.": ours (8 hex digits), and those of older
# versions (``mkstemp``'s 8 characters).
_TEMPORARY = re.compile(r"[a-z0-9_]{8}(\.old)?\.tmp")


@dataclass(frozen=True)
class NotText:
    """A completion value that is not a text (null, a number, a boolean, a nested list, a
    chat message whose content is not a string). It is never judged: its rating is
    ``invalid_input`` and ``reason`` says what the value was."""

    reason: str


@dataclass(frozen=True)
class Columns:
    """Where a row's instruction and completions are.

    Three input shapes: one list column of completions (``completions``); several
    completion columns, one text each (``chosen`` and ``rejected``); and either of
    these with the instruction as a chat (a list of ``{"role", "content"}``
    messages), in which case the last user turn is the instruction. A completion may
    also be a chat (its last message's content is the text) or one message.

    Nothing is coerced into a text: ``None``, numbers, booleans, nested lists and
    messages whose content is not a string are :class:`NotText` (see :meth:`texts_of`).
    Methods take the row's ``index`` so that an error names the row.
    """

    instruction: str = "instruction"
    completions: str | None = "completions"
    completion_columns: tuple[str, ...] = ()
    reference: str | None = None  # a reference answer column (rubric and MT-Bench grading)

    def validate(self, column_names: Sequence[str]) -> None:
        if self.reference is not None and self.reference not in column_names:
            raise DataError(
                f"reference column {self.reference!r} not found; columns are "
                f"{list(column_names)}; pass --reference-col with one of them"
            )
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

    def check_rows(self, ds: Any, source: str | None = None) -> None:
        """Refuse, before any judge loads, a row :meth:`item_of` cannot read (an instruction
        that is neither a text nor a chat, a completions cell that is not a list), naming it
        as :func:`~ultrajudge.judge.datafiles.row_place` does: the file's own line for one
        local JSON Lines or CSV ``source``, else ``row N`` (1-based). A completion that is
        not a text is no error: it is ``invalid_input`` in the output."""
        wanted = [self.instruction, *(self.completion_columns or [self.completions])]
        for index, row in enumerate(iter_rows(ds.select_columns(list(dict.fromkeys(wanted))))):
            try:
                self.item_of(row)
            except DataError as exc:
                raise DataError(f"{row_place(source, index)}, {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        """The mapping as plain data (for run records and file metadata)."""
        return {
            "instruction": self.instruction,
            "completions": None if self.completion_columns else self.completions,
            "completion_columns": list(self.completion_columns),
            "reference": self.reference,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Columns:
        """The inverse of :meth:`as_dict`."""
        return cls(
            str(data.get("instruction") or "instruction"),
            data.get("completions"),
            tuple(str(c) for c in data.get("completion_columns") or ()),
            data.get("reference"),
        )

    def instruction_of(self, row: Mapping[str, Any], index: int | None = None) -> str:
        value = row[self.instruction]
        where = _where(index, self.instruction)
        if isinstance(value, list):  # a chat: the last user turn is the instruction
            users = [m for m in value if isinstance(m, Mapping) and m.get("role") == "user"]
            if not users:
                raise DataError(f"{where} holds a chat with no user turn: {value!r:.200}")
            content = users[-1].get("content")
            if not isinstance(content, str):
                raise DataError(f"{where}: the last user turn has no text content: {content!r:.80}")
            return content
        if not isinstance(value, str):
            raise DataError(
                f"{where} must hold text (or a chat), got {_describe(value)}; fix or drop the row"
            )
        return value

    def reference_of(self, row: Mapping[str, Any]) -> str | None:
        """The row's reference answer; None without a reference column or for an empty cell."""
        if self.reference is None or row.get(self.reference) is None:
            return None
        value = row[self.reference]
        if not isinstance(value, str):
            raise DataError(
                f"reference column {self.reference!r} must hold text, got {type(value).__name__}"
            )
        return value if value.strip() else None

    def texts_of(self, row: Mapping[str, Any], index: int | None = None) -> list[str | NotText]:
        """Every completion of the row in order: its text, or :class:`NotText`."""
        if self.completion_columns:
            return [_as_text(row[c]) for c in self.completion_columns]
        values = _json_list(row[self.completions])  # type: ignore[index]
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise DataError(
                f"{_where(index, self.completions)} must hold a list of texts, got "
                f"{_describe(values)}; for one text per column pass --completion-col for each column"
            )
        return [_as_text(v) for v in values]

    def completions_of(self, row: Mapping[str, Any], index: int | None = None) -> list[str]:
        """The row's completion texts; a ``DataError`` naming the row and column when one is
        not a text (for commands that cannot leave a completion out, e.g. pairwise)."""
        texts = self.texts_of(row, index)
        for k, text in enumerate(texts):
            if isinstance(text, NotText):
                column = (
                    self.completion_columns[k]
                    if self.completion_columns
                    else f"{self.completions}[{k}]"
                )
                raise DataError(
                    f"{_where(index, column)} is not a text ({text.reason}); fix or drop the row"
                )
        return texts  # type: ignore[return-value]

    def item_of(self, row: Mapping[str, Any], index: int | None = None) -> tuple[str, list[str]]:
        """``(instruction, texts to judge)``: the completions that are texts, in order
        (:func:`place_ratings` puts their ratings back in place)."""
        texts = self.texts_of(row, index)
        return self.instruction_of(row, index), [t for t in texts if isinstance(t, str)]


def columns_record(out: str | Path) -> Path:
    """Where the column mapping of an output is recorded: ``<out>.columns.json``."""
    return sidecar_of(out)


def record_columns(out: str | Path, mapping: Mapping[str, Any]) -> Path:
    """Record next to ``out`` the columns a command judged it by (``kind`` and the
    :meth:`Columns.as_dict` or pairwise mapping), so that ``pairs`` and ``compare`` read them
    without the column flags. Written atomically, keeping the CSV writer's ``json_columns``;
    returns the record's path."""
    record: dict[str, Any] = {"columns": dict(mapping)}
    if Path(out).suffix.lower() == ".csv":
        record["json_columns"] = recorded_json_columns([Path(out)])
    return _write_sidecar(out, record)


def _write_sidecar(out: str | Path, record: Mapping[str, Any]) -> Path:
    text = json.dumps(dict(record), indent=2, sort_keys=True) + "\n"
    return write_text(columns_record(out), text)


def recorded_columns(source: str | Path) -> dict[str, Any] | None:
    """The column mapping recorded for ``source``: the ``columns`` of its run record
    (``<source>.run.json``) when that has one, else ``<source>.columns.json``; None when
    neither exists (an input ultrajudge did not judge)."""
    for path in (Path(f"{source}.run.json"), columns_record(source)):
        data = read_json_beside(
            path,
            "cannot read the column mapping recorded in {path} ({error}); delete it or pass "
            "the column flags",
        )
        columns = data.get("columns") if isinstance(data, dict) else None
        if isinstance(columns, dict):
            return columns
    return None


def place_ratings(ratings: Sequence[Rating], texts: Sequence[str | NotText]) -> tuple[Rating, ...]:
    """The ratings of the judged texts back at their positions among ``texts``; each
    :class:`NotText` gets an ``invalid_input`` rating whose ``raw`` says why.

    >>> r = place_ratings([Rating(4.0, "ok")], [NotText("null"), "b"])
    >>> [(x.status, x.value, x.raw) for x in r]
    [('invalid_input', None, 'not a text: null'), ('ok', 4.0, None)]
    """
    judged = iter(ratings)
    placed = [
        Rating(None, "invalid_input", raw=f"not a text: {t.reason}")
        if isinstance(t, NotText)
        else next(judged)
        for t in texts
    ]
    if next(judged, None) is not None:
        raise ValueError(f"{len(ratings)} ratings for {len(placed)} positions")
    return tuple(placed)


def _json_list(value: Any) -> Any:
    """A completions cell written as a JSON array (a CSV made by hand or by another tool,
    whose cells are all text) is that list: the command reads this column as a list. Any
    other value is returned as it is."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, list) else value
    return value


def _where(index: int | None, column: str | None) -> str:
    """``index`` is 0-based (a position in the dataset); messages count rows from 1."""
    return f"column {column!r}" if index is None else f"row {index + 1}, column {column!r}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, list | tuple):
        return f"a list ({value!r:.60})"
    return f"a {type(value).__name__} ({value!r:.60})"


def _as_text(value: Any) -> str | NotText:
    """A completion value as its text, never coerced: a string, one chat message with a
    string ``content``, or a chat whose last message is one; anything else is NotText."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, Mapping) for m in value):
        value = value[-1]  # a chat: the reply is its last message
    if isinstance(value, Mapping):
        content = value.get("content")
        if isinstance(content, str):
            return content
        return NotText(f"a chat message whose content is {_describe(content)}")
    return NotText(_describe(value))
