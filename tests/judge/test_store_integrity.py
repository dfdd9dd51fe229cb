"""A damaged results store is never served: every corruption in the table below raises one
``StoreError`` naming the file and the fix. One process holds a store at a time."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ultrajudge.judge.errors import StoreError, UserError
from ultrajudge.judge.store import ResultStore

GOOD = {f"k{i}": {"rating": i % 5 + 1, "rationale": f"reason {i}"} for i in range(40)}


def _fill(path: Path) -> None:
    with ResultStore(path) as store:
        store.put_many(((k, v, True) for k, v in GOOD.items()), kind="rating")
        store.put("failed", {"raw": "no rating"}, ok=False, kind="rating")


def _sql(*statements: str) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        db = sqlite3.connect(path)
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.close()

    return corrupt


def _bytes(edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def corrupt(path: Path) -> None:
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.write_bytes(edit(path.read_bytes()))

    return corrupt


def _flip_in_value(data: bytes) -> bytes:
    at = data.index(b'"reason 17"')
    return data[:at] + b'"reason 18"' + data[at + 11 :]


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "one digit of a value edited": _sql(
        "UPDATE results SET value = replace(value, 'reason 3\"', 'reason 4\"') WHERE key = 'k3'"
    ),
    "a rating edited": _sql(
        "UPDATE results SET value = replace(value, '\"rating\": 1', '\"rating\": 5') WHERE key = 'k5'"
    ),
    "a failure promoted to a final result": _sql("UPDATE results SET ok = 1 WHERE key = 'failed'"),
    "a result moved to another key": _sql("UPDATE results SET key = 'k99' WHERE key = 'k7'"),
    "a kind edited": _sql("UPDATE results SET kind = 'verdict' WHERE key = 'k8'"),
    "a checksum erased": _sql("UPDATE results SET checksum = NULL WHERE key = 'k9'"),
    "a checksum edited": _sql("UPDATE results SET checksum = '0000000000000000' WHERE key = 'k1'"),
    "a value that is not JSON": _sql("UPDATE results SET value = '{\"rating\": ' WHERE key = 'k2'"),
    "a value of the wrong type": _sql("UPDATE results SET ok = 'yes' WHERE key = 'k4'"),
    "the table dropped": _sql("DROP TABLE results", "CREATE TABLE results (key TEXT)"),
    "the table renamed": _sql("ALTER TABLE results RENAME TO old"),
    "one byte of a value flipped on disk": _bytes(_flip_in_value),
    "random bytes": _bytes(lambda d: b"\x00\x17garbage" * (len(d) // 9)),
    "a text file": _bytes(lambda d: b'{"instruction": "a"}\n' * 50),
    "the header zeroed": _bytes(lambda d: b"\x00" * 100 + d[100:]),
    "truncated to one page": _bytes(lambda d: d[:4096]),
    "truncated mid-page": _bytes(lambda d: d[: len(d) // 2 + 77]),
}


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS.values()), ids=list(CORRUPTIONS))
def test_a_damaged_store_is_never_served(tmp_path: Path, corrupt: Callable[[Path], None]) -> None:
    path = tmp_path / "run.ultrajudge.sqlite"
    _fill(path)
    corrupt(path)
    with pytest.raises(StoreError) as caught, ResultStore(path) as store:
        store.get_many([*GOOD, "k99"], include_failed=True)
        store.get_many([*GOOD, "failed", "k99"])
        store.counts()
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    assert "delete it, or pass --store" in message or "another run" in message
    assert isinstance(caught.value, UserError)


def test_a_sound_store_serves_what_was_put(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _fill(path)
    with ResultStore(path) as store:
        assert store.get_many(list(GOOD)) == GOOD
        assert store.get("failed") is None
        assert store.counts() == {"rating:ok": 40, "rating:failed": 1}


def test_an_empty_file_is_a_fresh_store(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.touch()
    with ResultStore(path) as store:
        store.put("k", {"v": 1}, ok=True, kind="x")
        assert store.get("k") == {"v": 1}


def test_a_store_written_before_checksums_is_upgraded_once(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE results (key TEXT PRIMARY KEY, kind TEXT NOT NULL, ok INTEGER NOT NULL, "
        "value TEXT NOT NULL, created REAL NOT NULL)"
    )
    db.execute("INSERT INTO results VALUES ('k', 'rating', 1, ?, 0)", (json.dumps({"v": 3}),))
    db.commit()
    db.close()
    with ResultStore(path) as store:
        assert store.get("k") == {"v": 3}
    _sql("UPDATE results SET value = '{\"v\": 4}'")(path)  # edits after the upgrade are caught
    with ResultStore(path) as store, pytest.raises(StoreError, match="damaged"):
        store.get("k")


def test_a_full_disk_in_the_store_is_one_line_naming_it(tmp_path: Path) -> None:
    class FullDisk:
        def __enter__(self) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        def __exit__(self, *exc: object) -> None:
            return None

        def execute(self, *args: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

    path = tmp_path / "s.sqlite"
    with ResultStore(path) as store:
        real, store._db = store._db, FullDisk()  # type: ignore[assignment]
        with pytest.raises(StoreError, match="the disk is full") as caught:
            store.put("k", {"v": 1}, ok=True, kind="x")
        store._db = real
    assert str(path) in str(caught.value)


def test_one_process_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    code = (
        "import sys, time; from ultrajudge.judge.store import ResultStore; "
        f"s = ResultStore({str(path)!r}, exclusive=True); print('held', flush=True); sys.stdin.readline()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match="another run is using the results store"):
            ResultStore(path, exclusive=True)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(30)
    with ResultStore(path) as store:  # released when the holder exits
        store.put("k", {"v": 1}, ok=True, kind="x")


def test_one_process_may_open_its_store_twice(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with ResultStore(path) as outer:
        with ResultStore(path) as inner:
            inner.put("k", {"v": 1}, ok=True, kind="x")
        assert outer.get("k") == {"v": 1}  # the inner close kept the outer's lock
    with ResultStore(path) as again:
        assert again.get("k") == {"v": 1}
