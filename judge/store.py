"""The results store: an embedded SQLite file that makes every run resumable.

Each result is stored under a key that hashes everything that determines it
(judge id, template, generation parameters, the exact inputs). A rerun asks the
store first and pays only for what is missing. Results carry an ``ok`` flag:
failures are kept (with their raw text, for inspection) but never served as
answers, so the next run asks again.

SQLite in WAL mode with one transaction per ``put_many`` means a run killed at
any point (Ctrl-C, ``kill -9``, a crash) leaves every committed batch intact
and nothing half-written.

Each row carries a checksum of its key, kind, flag and value; a row that does not match
(a file edited or damaged on disk) makes the store refuse to serve anything: a
:class:`StoreError` names the file and says to delete it or pass ``--store`` elsewhere. So
does a file that is not a results store at all. One run at a time holds a store (an
exclusive ``flock`` on the file), so two processes never both pay for the same judgment;
the second is told that another run is using it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from ultrajudge.judge.errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    ok INTEGER NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL,
    checksum TEXT
)
"""
_COLUMNS = {"key", "kind", "ok", "value", "created"}


def make_key(*parts: Any) -> str:
    """Stable hash of JSON-serialisable ``parts`` (dict keys sorted)."""
    return hashlib.sha256(_serialised(parts).encode("utf-8")).hexdigest()


def key_maker(*fixed: Any) -> Callable[..., str]:
    """``make_key(*fixed, *rest)`` as a function of ``rest``, with ``fixed`` serialised
    once: the keys of a million rows share their judge and settings, and serialising those
    for every row cost as much as the row's own text.

    >>> key_maker("rating/v1", {"b": 1, "a": [2]})("text") == make_key("rating/v1", {"a": [2], "b": 1}, "text")
    True
    """
    if not fixed:
        return make_key
    head = _serialised(list(fixed))[:-1]  # "[f1,f2": the array without its closing bracket

    def key(*rest: Any) -> str:
        if not rest:
            return make_key(*fixed)
        tail = _serialised(list(rest))[1:]  # "r1,r2]"
        return hashlib.sha256(f"{head},{tail}".encode()).hexdigest()

    return key


def _serialised(parts: Any) -> str:
    return json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _checksum(key: str, kind: str, ok: int, value: str) -> str:
    blob = "\x00".join((key, kind, str(ok), value))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class ResultStore:
    """Key → JSON value, with an ``ok`` flag. Safe to share between threads of one process;
    held by one process at a time."""

    def __init__(self, path: str | Path, *, exclusive: bool = False) -> None:
        """``exclusive``: hold the store for this process alone (a CLI run); workers of one
        scale-out run share it without."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _StoreLock.acquire(self.path) if exclusive else _StoreLock(self.path)
        self._use = threading.RLock()  # one statement or transaction at a time on the connection
        try:
            with self._errors("opening"):
                self._db = sqlite3.connect(
                    self.path, timeout=60, check_same_thread=False, isolation_level=None
                )
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(_SCHEMA)
                self._upgrade()
        except BaseException:
            self._lock.release()
            raise

    def _upgrade(self) -> None:
        """Check the table's columns; give a store written before checksums existed its
        checksums, once (its rows are trusted as they are)."""
        tables = {
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if tables != {"results"}:
            raise sqlite3.DatabaseError(f"it holds the tables {sorted(tables)}, not only 'results'")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(results)")}
        if not columns >= _COLUMNS:
            raise sqlite3.DatabaseError(f"table 'results' has columns {sorted(columns)}")
        if "checksum" not in columns:
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute("ALTER TABLE results ADD COLUMN checksum TEXT")
                rows = self._db.execute("SELECT key, kind, ok, value FROM results").fetchall()
                self._db.executemany(
                    "UPDATE results SET checksum = ? WHERE key = ?",
                    [(_checksum(*row), row[0]) for row in rows],
                )

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored value if it is a final (ok) result, else None."""
        return self.get_many([key]).get(key)

    def get_many(
        self, keys: Sequence[str], *, include_failed: bool = False
    ) -> dict[str, dict[str, Any]]:
        """The stored values of ``keys`` (final ones only, unless ``include_failed``). A row
        whose checksum does not match raises :class:`StoreError`: a damaged store is never
        served."""
        out: dict[str, dict[str, Any]] = {}
        with self._errors("reading"), self._use:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, kind, ok, value, checksum FROM results WHERE key IN ({marks})"
                if not include_failed:
                    query += " AND ok = 1"
                for key, kind, ok, value, checksum in self._db.execute(query, chunk):
                    out[key] = self._checked(key, kind, ok, value, checksum)
        return out

    def _checked(self, key: Any, kind: Any, ok: Any, value: Any, checksum: Any) -> dict[str, Any]:
        fields_ok = all(isinstance(x, str) for x in (key, kind, value)) and ok in (0, 1)
        if not fields_ok or checksum != _checksum(key, kind, ok, value):
            raise self._damaged(f"the result under key {str(key)[:12]} does not match its checksum")
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            raise self._damaged(f"the result under key {key[:12]} is not a JSON object")
        return decoded

    def put_many(self, items: Iterable[tuple[str, Mapping[str, Any], bool]], *, kind: str) -> None:
        """Write ``(key, value, ok)`` triples in one transaction. A final result is never
        overwritten by a failure."""
        now = time.time()
        rows = []
        for k, v, ok in items:
            value = json.dumps(v, ensure_ascii=False)
            rows.append((k, kind, int(ok), value, now, _checksum(k, kind, int(ok), value)))
        with self._errors("writing"), self._use, self._db:  # one transaction: all or nothing
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO results (key, kind, ok, value, created, checksum) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET ok=excluded.ok, value=excluded.value, "
                "created=excluded.created, checksum=excluded.checksum WHERE results.ok = 0",
                rows,
            )

    def put(self, key: str, value: Mapping[str, Any], *, ok: bool, kind: str) -> None:
        self.put_many([(key, value, ok)], kind=kind)

    def counts(self) -> dict[str, int]:
        """Number of final and failed results by kind, e.g. ``{"rating:ok": 12}``."""
        with self._errors("reading"):
            rows = self._db.execute(
                "SELECT kind, ok, COUNT(*) FROM results GROUP BY kind, ok"
            ).fetchall()
        return {f"{kind}:{'ok' if ok else 'failed'}": n for kind, ok, n in rows}

    def close(self) -> None:
        try:
            if hasattr(self, "_db"):
                self._db.close()
        finally:
            self._lock.release()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _damaged(self, what: str) -> StoreError:
        return StoreError(
            f"the results store {str(self.path)!r} is damaged ({what}); delete it, or pass "
            "--store with a new path, to start afresh (its results will be judged again)"
        )

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """SQLite's errors as one :class:`StoreError` naming the file and what to do."""
        try:
            yield
        except sqlite3.Error as exc:
            text = str(exc)
            if "full" in text:
                raise StoreError(
                    f"the disk is full ({doing} the results store {str(self.path)!r}); free "
                    "some space and rerun the same command: what was stored is kept"
                ) from None
            if "locked" in text or "busy" in text:
                raise _in_use(self.path) from None
            if "readonly" in text or "unable to open" in text:
                raise StoreError(
                    f"cannot write the results store {str(self.path)!r} ({text}); make its "
                    "folder writable, or pass --store with another path"
                ) from None
            raise self._damaged(f"{type(exc).__name__}: {text}") from None


def _in_use(path: Path) -> StoreError:
    return StoreError(
        f"another run is using the results store {str(path)!r}; wait for it to finish, or "
        "pass --store with another path"
    )


class _StoreLock:
    """An exclusive ``flock`` on the store file, shared by the stores one process opens on
    the same file (a pipeline opens one store from several steps). ``flock`` because SQLite's
    own locks are per transaction: two runs would interleave and judge the same rows twice."""

    _held: ClassVar[dict[Path, tuple[int, int]]] = {}  # path → (fd, count)
    _guard = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def acquire(cls, path: Path) -> _StoreLock:
        key = path.resolve()
        with cls._guard:
            if key in cls._held:
                fd, count = cls._held[key]
                cls._held[key] = (fd, count + 1)
                return cls(key)
            fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                import fcntl
            except ImportError:  # not a POSIX system: no lock, as before
                cls._held[key] = (fd, 1)
                return cls(key)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise _in_use(path) from None
            cls._held[key] = (fd, 1)
            return cls(key)

    def release(self) -> None:
        with self._guard:
            if self.path not in self._held:
                return
            fd, count = self._held[self.path]
            if count > 1:
                self._held[self.path] = (fd, count - 1)
                return
            del self._held[self.path]
            os.close(fd)  # closing the last descriptor drops the flock


def default_store_path(out: str | Path) -> Path:
    """The store lives next to the output: ``scored.jsonl`` → ``scored.jsonl.ultrajudge.sqlite``."""
    out = Path(out)
    return out.parent / f"{out.name.rstrip('/')}.ultrajudge.sqlite"
