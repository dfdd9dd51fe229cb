"""A deterministic shard plan over the input files, and each shard's output and success marker.

Why a plan of our own and not Ray Data's row-level checkpointing: checkpointing needs an id
column that is unique over the whole dataset, and content hashes are not (a dataset may hold
the same row twice); Ray Data's readers give rows no stable position. A plan cut from the
files themselves (Parquet row ranges, JSONL byte ranges at line starts) gives every row a
position that is the same on every rerun, so "done" is a property of a shard, written once,
after its rows: a killed job reruns only the shards with no marker, a finished job reruns
nothing, and no row can be written twice. Works on any filesystem pyarrow reaches (local,
NFS, object stores), since it needs no atomic rename: the marker is written after the part.

Layout of an output folder::

    out/part-00000.parquet ...          the rows of shard 0, input columns + result columns
    out/_ultrajudge/plan.json           the job's identity and its shards
    out/_ultrajudge/done/00000.json     shard 0 is complete: {"rows": n, "failed": k}
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ultrajudge.judge.io import DataError

__all__ = ["OutputFolder", "Shard", "list_inputs", "plan_shards", "read_output", "read_shard"]

_KINDS = {".parquet": "parquet", ".jsonl": "jsonl"}
#: Column with each row's position in the plan (file order, then row order): unique, stable.
ROW_COLUMN = "uj_row"


@dataclass(frozen=True)
class Shard:
    """Rows ``first_row .. first_row + rows`` of the plan, read from ``file`` at ``start:stop``
    (Parquet: row numbers in the file; JSONL: byte offsets of line starts)."""

    index: int
    file: str
    kind: str
    start: int
    stop: int
    first_row: int
    rows: int


def _fs(path: str) -> tuple[Any, str]:
    from pyarrow import fs

    if "://" in path:
        return fs.FileSystem.from_uri(path)  # type: ignore[no-any-return]
    import os

    return fs.LocalFileSystem(), os.path.abspath(path)


def list_inputs(source: str) -> list[str]:
    """The data files of ``source``: one .parquet/.jsonl file, or a folder of them (sorted)."""
    from pyarrow import fs

    filesystem, path = _fs(source)
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.NotFound:
        raise DataError(f"input {source!r} does not exist")
    if info.type == fs.FileType.File:
        files = [path]
    else:
        found = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
        files = sorted(f.path for f in found if f.type == fs.FileType.File)
        files = [f for f in files if not f.rsplit("/", 1)[-1].startswith((".", "_"))]
    bad = [f for f in files if _kind(f) is None]
    if bad or not files:
        raise DataError(
            f"cannot read {source!r} with --executor ray: it needs .parquet or .jsonl files "
            f"(a file, or a folder of shards){'; found ' + bad[0] if bad else ''}"
        )
    prefix = source.split("://", 1)[0] + "://" if "://" in source else ""
    return [prefix + f if prefix and not f.startswith(prefix) else f for f in files]


def _kind(path: str) -> str | None:
    dot = path.rfind(".")
    return _KINDS.get(path[dot:].lower()) if dot >= 0 else None


def plan_shards(files: Sequence[str], shard_rows: int) -> list[Shard]:
    """Cut the files into shards of at most ``shard_rows`` rows, in file and row order."""
    if shard_rows < 1:
        raise ValueError(f"shard_rows must be >= 1, got {shard_rows}")
    shards: list[Shard] = []
    for file in files:
        cut = _parquet_cuts if _kind(file) == "parquet" else _jsonl_cuts
        for start, stop, rows in cut(file, shard_rows):
            first = shards[-1].first_row + shards[-1].rows if shards else 0
            shards.append(Shard(len(shards), file, _kind(file) or "", start, stop, first, rows))
    return shards


def _parquet_cuts(file: str, shard_rows: int) -> Iterator[tuple[int, int, int]]:
    import pyarrow.parquet as pq

    filesystem, path = _fs(file)
    with filesystem.open_input_file(path) as fh:
        total = pq.ParquetFile(fh).metadata.num_rows
    for start in range(0, total, shard_rows):
        stop = min(total, start + shard_rows)
        yield start, stop, stop - start


def _jsonl_cuts(file: str, shard_rows: int) -> Iterator[tuple[int, int, int]]:
    """Byte ranges holding ``shard_rows`` non-blank lines each (one streaming pass)."""
    filesystem, path = _fs(file)
    start = offset = rows = 0
    with filesystem.open_input_stream(path) as fh:
        for line in _lines(fh):
            offset += len(line)
            rows += bool(line.strip())
            if rows == shard_rows:
                yield start, offset, rows
                start, rows = offset, 0
    if rows:
        yield start, offset, rows


def _lines(fh: Any) -> Iterator[bytes]:
    pending = b""
    while chunk := fh.read(1 << 20):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (line + b"\n" for line in lines)
    if pending:
        yield pending


def read_shard(shard: Shard) -> list[dict[str, Any]]:
    """The shard's rows as dicts, each with its plan position in ``uj_row``."""
    rows = _read_parquet(shard) if shard.kind == "parquet" else _read_jsonl(shard)
    if len(rows) != shard.rows:
        raise DataError(
            f"{shard.file} changed since the job was planned (shard {shard.index} has "
            f"{len(rows)} rows, the plan says {shard.rows}); write to a new --out"
        )
    for k, row in enumerate(rows):
        row[ROW_COLUMN] = shard.first_row + k
    return rows


def _read_parquet(shard: Shard) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    filesystem, path = _fs(shard.file)
    with filesystem.open_input_file(path) as fh:
        pf = pq.ParquetFile(fh)
        groups, first, seen = [], None, 0
        for g in range(pf.metadata.num_row_groups):  # only the row groups the range touches
            n = pf.metadata.row_group(g).num_rows
            if seen + n > shard.start and seen < shard.stop:
                groups.append(g)
                first = seen if first is None else first
            seen += n
        table = pf.read_row_groups(groups) if groups else pa.table({})
    offset = shard.start - (first or 0)
    return table.slice(offset, shard.stop - shard.start).to_pylist()  # type: ignore[no-any-return]


def _read_jsonl(shard: Shard) -> list[dict[str, Any]]:
    filesystem, path = _fs(shard.file)
    with filesystem.open_input_file(path) as fh:
        fh.seek(shard.start)
        blob = fh.read(shard.stop - shard.start)
    rows = []
    for n, line in enumerate(blob.split(b"\n")):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{shard.file}: line {n + 1} after byte {shard.start} is not JSON ({exc.msg}); "
                "fix or drop that line"
            ) from None
        if not isinstance(row, dict):
            raise DataError(f"{shard.file}: a line after byte {shard.start} is not a JSON object")
        rows.append(row)
    return rows


class OutputFolder:
    """The parts, the plan and the success markers of one job's output folder."""

    def __init__(self, out: str) -> None:
        self.out = out.rstrip("/")
        self.fs, self.path = _fs(self.out)

    def _at(self, *parts: str) -> str:
        return "/".join([self.path, *parts])

    def part(self, index: int) -> str:
        return self._at(f"part-{index:05d}.parquet")

    def check_plan(self, identity: Mapping[str, Any], shards: Sequence[Shard]) -> None:
        """Write the plan on the first run; on a rerun, refuse a folder of another job."""
        from pyarrow import fs

        plan = {"identity": identity, "shards": [asdict(s) for s in shards]}
        where = self._at("_ultrajudge", "plan.json")
        if self.fs.get_file_info(where).type == fs.FileType.File:
            with self.fs.open_input_stream(where) as fh:
                old = json.loads(fh.read())
            if old != json.loads(json.dumps(plan)):
                raise DataError(
                    f"{self.out} holds the output of another job (other input, judge or "
                    "options); pass a new --out, or delete that folder to start over"
                )
            return
        listed = self.fs.get_file_info(fs.FileSelector(self.path, allow_not_found=True))
        if listed:
            raise DataError(
                f"{self.out} exists and is not an ultrajudge --executor ray output folder; "
                "pass a new --out"
            )
        self.fs.create_dir(self._at("_ultrajudge", "done"))
        with self.fs.open_output_stream(where) as fh:
            fh.write(json.dumps(plan, indent=1).encode())

    def markers(self) -> dict[int, dict[str, Any]]:
        """Shard index → its marker, for every completed shard."""
        from pyarrow import fs

        found = self.fs.get_file_info(
            fs.FileSelector(self._at("_ultrajudge", "done"), allow_not_found=True)
        )
        out = {}
        for info in found:
            name = info.path.rsplit("/", 1)[-1]
            if name.endswith(".json") and name[:-5].isdigit():
                with self.fs.open_input_stream(info.path) as fh:
                    out[int(name[:-5])] = json.loads(fh.read())
        return out

    def write(self, shard: Shard, rows: list[dict[str, Any]], marker: Mapping[str, Any]) -> None:
        """The shard's part, then its marker (the marker means: the part is complete)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows)
        pq.write_table(table, self.part(shard.index), filesystem=self.fs)
        with self.fs.open_output_stream(
            self._at("_ultrajudge", "done", f"{shard.index:05d}.json")
        ) as fh:
            fh.write(json.dumps(dict(marker)).encode())

    def read_part(self, index: int) -> list[dict[str, Any]]:
        import pyarrow.parquet as pq

        return pq.read_table(self.part(index), filesystem=self.fs).to_pylist()  # type: ignore[no-any-return]


def read_output(out: str) -> Any:
    """The whole output folder as one ``pyarrow.Table``, in input order (a part whose result
    column is all None has a null type there; the tables are unified, null promoted)."""
    import pyarrow as pa

    folder = OutputFolder(out)
    parts = [_promote_read(folder, i) for i in sorted(folder.markers())]
    if not parts:
        raise DataError(f"{out} holds no finished shards")
    return pa.concat_tables(parts, promote_options="permissive")


def _promote_read(folder: OutputFolder, index: int) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(folder.part(index), filesystem=folder.fs)
