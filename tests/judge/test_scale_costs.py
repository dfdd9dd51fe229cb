"""What the toolkit itself keeps per row must not grow with the dataset: the scripted
judge keeps a bounded sample of its prompts, and the run record never builds a backend's
repr when it has an id."""

from __future__ import annotations

import time

from ultrajudge.judge.backends.scripted import ScriptedBackend
from ultrajudge.judge.run_record import run_record
from ultrajudge.judge.runner import RunSummary
from ultrajudge.judge.types import GenerationParams


def test_the_scripted_judge_keeps_its_first_prompts_and_counts_them_all() -> None:
    backend = ScriptedBackend(keep_calls=3)
    backend.complete([f"prompt {i}" for i in range(5)], GenerationParams())
    assert backend.calls == ["prompt 0", "prompt 1", "prompt 2"]
    assert backend.n_calls == 5
    assert "prompt" not in repr(backend)  # a repr never carries the prompts


class _Exploding:
    """A backend whose repr must not be built (it would be as large as every prompt sent)."""

    id = "exploding:1"

    def __repr__(self) -> str:
        raise AssertionError("the run record built the backend's repr")


class _Anonymous:
    def __str__(self) -> str:
        return "anonymous backend"


def test_the_run_record_names_a_judge_by_its_id_and_builds_no_repr() -> None:
    record = run_record(
        RunSummary(),
        version="0",
        command=["ultrajudge"],
        judges=[_Exploding(), _Anonymous()],
        settings={},
        store="s.sqlite",
        started=time.time(),
    )
    assert [j["id"] for j in record["judges"]] == ["exploding:1", "anonymous backend"]
