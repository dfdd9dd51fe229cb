"""File formats: which local files a source names, checked before ``datasets`` reads them,
and writers that make each output suffix mean what it says.

Inputs: a file (``.jsonl``, ``.json``, ``.csv``, ``.parquet``, each optionally ``.gz``), a
folder of such shards, or a glob. Text files are checked first, line by line, so that an
empty file, a byte that is not UTF-8 or a malformed JSON line is one :class:`DataError`
naming the file and the line (``datasets`` would raise a generation error 50 lines deep).

Outputs: ``.jsonl`` is JSON Lines, ``.json`` one JSON array, ``.parquet`` Parquet, ``.csv``
CSV whose list and mapping cells are JSON text; a path without a suffix is a
``save_to_disk`` folder; any other suffix is refused.

CSV round trip: the writer records which columns it encoded as JSON in the sidecar
``<out>.columns.json`` (``"json_columns"``), and :func:`decode_csv_cells` decodes those
columns only. A CSV without that record (one a person or another tool wrote) keeps every
cell as text, even a cell that happens to be valid JSON (``["a"]``, ``[1, 2]``); only the
column a command reads as a list of completions decodes such a cell, where it is used
(:meth:`ultrajudge.judge.io.Columns.texts_of`).
"""

from __future__ import annotations

import glob
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ultrajudge.judge.errors import DataError

__all__ = [
    "FILE_SUFFIXES",
    "READERS",
    "check_text_file",
    "decode_csv_cells",
    "encode_csv_cells",
    "json_columns",
    "local_data_files",
    "reader_of",
    "recorded_json_columns",
    "row_place",
    "sidecar_of",
    "write_json_array",
]

READERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
FILE_SUFFIXES = tuple(READERS)


def reader_of(path: Path) -> str | None:
    """The ``datasets`` builder for a data file (``x.jsonl.gz`` → ``json``), or None."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return READERS.get(suffixes[-1]) if suffixes else None


def local_data_files(source: str) -> list[Path] | None:
    """The data files ``source`` names: one file, the shards in a folder, or a glob's
    matches (sorted). None when ``source`` names nothing local (a Hub id)."""
    path = Path(source)
    if any(ch in source for ch in "*?["):
        files = [Path(p) for p in sorted(glob.glob(source, recursive=True)) if Path(p).is_file()]
        if not files:
            raise DataError(f"the pattern {source!r} matches no file")
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and reader_of(p) is not None)
        if not files:
            raise DataError(
                f"the folder {source!r} holds no data files (.jsonl, .json, .csv, .parquet, "
                "optionally .gz) and is no save_to_disk folder"
            )
    elif reader_of(path) is not None:
        if not path.is_file():
            raise DataError(f"input file {source!r} does not exist")
        files = [path]
    elif path.exists():
        raise DataError(
            f"cannot read {source!r}: use .jsonl, .json, .csv or .parquet (optionally .gz), "
            "a folder of those, or a save_to_disk folder"
        )
    else:
        return None
    kinds = {reader_of(p) for p in files}
    if len(kinds) != 1 or None in kinds:
        names = ", ".join(p.name for p in files[:5])
        raise DataError(f"{source!r} mixes file formats ({names}); give files of one format")
    return files


def _open_bytes(path: Path) -> IO[bytes]:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is IO[bytes]
    return path.open("rb")


def check_text_file(path: Path) -> None:
    """Check a JSON Lines, JSON or CSV file before ``datasets`` reads it: not empty, UTF-8
    throughout, and (JSON Lines) one JSON object per non-blank line. Each failure is a
    :class:`DataError` naming the file and the line."""
    kind = reader_of(path)
    if kind not in ("json", "csv"):
        return
    try:
        with _open_bytes(path) as raw:
            first = _check_lines(path, raw, jsonl=kind == "json")
    except (OSError, EOFError) as exc:  # a damaged .gz
        raise DataError(f"cannot read {str(path)!r}: {exc}") from None
    if first is None:
        raise DataError(f"input file {str(path)!r} is empty: there are no rows to read")


def _check_lines(path: Path, raw: IO[bytes], *, jsonl: bool) -> bytes | None:
    """Decode every line; in a ``.jsonl`` (or a ``.json`` that is JSON Lines) parse each.
    Returns the first non-blank byte, or None for an empty file."""
    first: bytes | None = None
    for number, line in enumerate(raw, 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{str(path)!r} line {number} is not UTF-8 (byte 0x{line[exc.start]:02x} at "
                f"column {exc.start + 1}); save the file as UTF-8, e.g. iconv -f latin1 -t utf-8"
            ) from None
        stripped = text.strip()
        if not stripped:
            continue
        if first is None:
            first = stripped[:1].encode()
            if (
                jsonl
                and path.name.lower().removesuffix(".gz").endswith(".json")
                and first
                in (
                    b"[",
                    b"{",
                )
            ):
                jsonl = _is_json_lines(stripped)
        if jsonl:
            _check_json_line(path, number, stripped)
    return first


def row_place(source: str | None, index: int) -> str:
    """Where row ``index`` (0-based, in the order rows are read) is, for an error message:
    ``'in.jsonl' line 3`` in one local JSON Lines or CSV file (the file's own line number:
    blank lines, the CSV header and cells spanning lines counted as an editor shows them),
    else ``row 3 of 'data.parquet'`` (1-based).

    >>> row_place(None, 0)
    'row 1'
    """
    files = None
    if source is not None:
        try:
            files = local_data_files(source)
        except DataError:
            files = None
    line = _line_of_row(files[0], index) if files is not None and len(files) == 1 else None
    if line is not None:
        return f"{str(files[0])!r} line {line}"  # type: ignore[index]
    return f"row {index + 1}" + (f" of {source!r}" if source is not None else "")


def _line_of_row(path: Path, index: int) -> int | None:
    """The line on which row ``index`` starts, for a JSON Lines or CSV file; else None."""
    import csv
    import io

    kind = reader_of(path)
    if kind not in ("json", "csv"):
        return None
    try:
        with _open_bytes(path) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            if kind == "json":
                return _nth_nonblank(text, index)
            reader = csv.reader(text)
            start, records = 1, -1  # the header is record -1
            for record in reader:
                if any(cell.strip() for cell in record):
                    if records == index:
                        return start
                    records += 1
                start = reader.line_num + 1
    except (OSError, EOFError, UnicodeDecodeError, csv.Error):
        return None
    return None


def _nth_nonblank(lines: IO[str], index: int) -> int | None:
    """The line of the ``index``-th object of a JSON Lines file (None for a JSON document:
    its rows are not lines)."""
    seen = -1
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if seen == -1 and not _is_json_lines(line.strip()):
            return None
        seen += 1
        if seen == index:
            return number
    return None


def _is_json_lines(first_line: str) -> bool:
    """A ``.json`` file is JSON Lines when its first line is a whole JSON object."""
    try:
        return isinstance(json.loads(first_line), dict)
    except ValueError:
        return False


def _check_json_line(path: Path, number: int, text: str) -> None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise DataError(
            f"{str(path)!r} line {number} is not valid JSON ({exc}); fix or remove that line"
        ) from None
    if not isinstance(value, dict):
        raise DataError(
            f"{str(path)!r} line {number} is a JSON {type(value).__name__}, not an object "
            '({"column": value, ...}); each line must be one row'
        )


def sidecar_of(out: str | Path) -> Path:
    """The record kept next to an output: ``<out>.columns.json`` (the column mapping a
    command judged it by, and for a CSV the columns written as JSON)."""
    return Path(f"{out}.columns.json")


def json_columns(ds: Any) -> list[str]:
    """The columns a CSV holds as JSON text: those whose cells are lists or mappings."""
    import datasets

    return [
        name
        for name, feature in ds.features.items()
        if not isinstance(feature, datasets.Value | datasets.ClassLabel)
    ]


def encode_csv_cells(ds: Any) -> Any:
    """The dataset with every :func:`json_columns` column turned into JSON text, so that a
    CSV holds ``["a", "b"]`` (read back by :func:`decode_csv_cells` when the sidecar names
    the column) rather than a Python repr."""
    import datasets

    nested = json_columns(ds)
    if not nested:
        return ds

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {
            c: [None if v is None else json.dumps(v, ensure_ascii=False) for v in batch[c]]
            for c in nested
        }

    features = ds.features.copy()
    for c in nested:
        features[c] = datasets.Value("string")
    return ds.map(encode, batched=True, features=features)


def read_json_beside(path: Path, unreadable: str) -> Any:
    """The JSON of a record ultrajudge keeps beside a file (a run record, a column record),
    None when there is none. An unreadable one is a :class:`DataError` from ``unreadable``,
    a message with the fields ``{path}`` (quoted) and ``{error}``."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(unreadable.format(path=repr(str(path)), error=exc)) from None


def recorded_json_columns(files: list[Path]) -> list[str]:
    """The columns the sidecars of ``files`` (CSV files ultrajudge wrote) record as JSON;
    [] for a CSV without a sidecar. An unreadable sidecar is a :class:`DataError`."""
    found: dict[str, None] = {}
    for path in files:
        data = read_json_beside(
            sidecar_of(path),
            f"cannot read {{path}}, which records the JSON columns of {str(path)!r} "
            "({error}); delete it to read every cell as text",
        )
        names = data.get("json_columns") if isinstance(data, dict) else None
        found.update(dict.fromkeys(str(n) for n in names or ()))
    return list(found)


def decode_csv_cells(ds: Any, columns: list[str], *, source: str = "the CSV") -> Any:
    """Read back what :func:`encode_csv_cells` wrote, for the ``columns`` the writer
    recorded (see the module docstring); every other column stays text. A recorded
    column with a cell that is not JSON is a :class:`DataError` naming it."""
    import datasets

    wanted = [c for c in columns if c in ds.column_names]
    if not wanted:
        return ds
    decoded = {name: _decode_column(ds[name], name, source) for name in wanted}
    table = {name: decoded.get(name, ds[name]) for name in ds.column_names}
    return datasets.Dataset.from_dict(table)


def _decode_column(values: list[Any], name: str, source: str) -> list[Any]:
    out: list[Any] = []
    for index, v in enumerate(values):
        if v is None or v == "":
            out.append(None)
            continue
        try:
            out.append(json.loads(v) if isinstance(v, str) else v)
        except ValueError:
            raise DataError(
                f"{row_place(source, index)}, column {name!r} is not the JSON that ultrajudge "
                f"wrote there ({v!r:.60}); fix the cell, or delete {str(sidecar_of(source))!r} "
                "to read every cell as text"
            ) from None
    return out


def write_json_array(ds: Any, path: str) -> None:
    """Write the rows as one JSON array of objects (``datasets``' own writer, with
    ``lines=False``, writes one array per batch: not one JSON document)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        for i, row in enumerate(_rows(ds)):
            f.write(",\n" if i else "\n")
            f.write(json.dumps(row, ensure_ascii=False, default=str))
        f.write("\n]\n")


def _rows(ds: Any) -> Iterator[dict[str, Any]]:
    for batch in ds.iter(batch_size=1000):
        names = list(batch)
        for values in zip(*(batch[n] for n in names)):
            yield dict(zip(names, values))
