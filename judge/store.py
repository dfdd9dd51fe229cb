"""The results store: an embedded SQLite file that makes every run resumable.

Each result is stored under a key that hashes everything that determines it
(judge id, template, generation parameters, the exact inputs). A rerun asks the
store first and pays only for what is missing. Results carry an ``ok`` flag:
failures are kept (with their raw text, for inspection) but never served as
answers, so the next run asks again.

SQLite in WAL mode with one transaction per ``put_many`` means a run killed at
any point (Ctrl-C, ``kill -9``, a crash) leaves every committed batch intact
and nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    ok INTEGER NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def make_key(*parts: Any) -> str:
    """Stable hash of JSON-serialisable ``parts`` (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResultStore:
    """Key → JSON value, with an ``ok`` flag. Safe to share between threads of one process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, timeout=60, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored value if it is a final (ok) result, else None."""
        return self.get_many([key]).get(key)

    def get_many(
        self, keys: Sequence[str], *, include_failed: bool = False
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, value FROM results WHERE key IN ({marks})"
            if not include_failed:
                query += " AND ok = 1"
            out.update((k, json.loads(v)) for k, v in self._db.execute(query, chunk))
        return out

    def put_many(self, items: Iterable[tuple[str, Mapping[str, Any], bool]], *, kind: str) -> None:
        """Write ``(key, value, ok)`` triples in one transaction. A final result is never
        overwritten by a failure."""
        now = time.time()
        rows = [(k, kind, int(ok), json.dumps(v, ensure_ascii=False), now) for k, v, ok in items]
        with self._db:  # one transaction: all or nothing
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO results (key, kind, ok, value, created) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET ok=excluded.ok, value=excluded.value, "
                "created=excluded.created WHERE results.ok = 0",
                rows,
            )

    def put(self, key: str, value: Mapping[str, Any], *, ok: bool, kind: str) -> None:
        self.put_many([(key, value, ok)], kind=kind)

    def counts(self) -> dict[str, int]:
        """Number of final and failed results by kind, e.g. ``{"rating:ok": 12}``."""
        rows = self._db.execute("SELECT kind, ok, COUNT(*) FROM results GROUP BY kind, ok")
        return {f"{kind}:{'ok' if ok else 'failed'}": n for kind, ok, n in rows}

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_store_path(out: str | Path) -> Path:
    """The store lives next to the output: ``scored.jsonl`` → ``scored.jsonl.ultrajudge.sqlite``."""
    out = Path(out)
    return out.parent / f"{out.name.rstrip('/')}.ultrajudge.sqlite"
