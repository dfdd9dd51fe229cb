from __future__ import annotations

import multiprocessing
from pathlib import Path

from ultrajudge.judge.store import ResultStore, default_store_path, make_key


def test_make_key_is_stable_and_order_insensitive_for_dicts() -> None:
    assert make_key("a", {"x": 1, "y": 2}) == make_key("a", {"y": 2, "x": 1})
    assert make_key("a", [1, 2]) != make_key("a", [2, 1])
    assert len(make_key("anything")) == 64


def test_failures_are_kept_but_never_served(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.put("k", {"v": "bad"}, ok=False, kind="rating")
        assert store.get("k") is None
        assert store.get_many(["k"], include_failed=True) == {"k": {"v": "bad"}}
        store.put("k", {"v": "good"}, ok=True, kind="rating")
        assert store.get("k") == {"v": "good"}
        assert store.counts() == {"rating:ok": 1}


def test_a_final_result_is_never_overwritten_by_a_failure(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.put("k", {"v": 1}, ok=True, kind="rating")
        store.put("k", {"v": 2}, ok=False, kind="rating")
        store.put("k", {"v": 3}, ok=True, kind="rating")
        assert store.get("k") == {"v": 1}


def test_get_many_handles_more_keys_than_sqlite_variables(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        store.put_many(((f"k{i}", {"i": i}, True) for i in range(1200)), kind="x")
        got = store.get_many([f"k{i}" for i in range(1300)])
        assert len(got) == 1200 and got["k1199"] == {"i": 1199}


def _write_then_die(path: str) -> None:
    store = ResultStore(path)
    store.put_many(((f"k{i}", {"i": i}, True) for i in range(100)), kind="x")
    import os

    os._exit(0)  # no close(), no cleanup: like a crash right after a commit


def test_committed_batches_survive_a_crash(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite")
    proc = multiprocessing.get_context("spawn").Process(target=_write_then_die, args=(path,))
    proc.start()
    proc.join(60)
    with ResultStore(path) as store:
        assert len(store.get_many([f"k{i}" for i in range(100)])) == 100


def test_default_store_path_sits_next_to_the_output(tmp_path: Path) -> None:
    assert (
        default_store_path(tmp_path / "scored.jsonl") == tmp_path / "scored.jsonl.ultrajudge.sqlite"
    )
    assert default_store_path(tmp_path / "outdir") == tmp_path / "outdir.ultrajudge.sqlite"
