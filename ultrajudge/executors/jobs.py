"""What an executor does with a batch of rows: rows in, the same rows with result columns out.

A job is a small frozen (picklable) record: the judge spec, its options and the command's
configs. ``process`` is the per-batch function every executor calls; it judges through the
same library calls as the in-process command (store lookups, retries, output columns), with
a results store that is local to the machine it runs on. ``failed`` says which output rows a
repair pass judges again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.io import Columns
from ultrajudge.judge.pairwise import PairColumns, PairwiseConfig
from ultrajudge.judge.rating import RatingConfig
from ultrajudge.judge.runner import RunSummary
from ultrajudge.judge.store import ResultStore
from ultrajudge.judge.types import OK_STATUSES

__all__ = ["BatchResult", "PairwiseJob", "RowJob", "ScoreJob"]


@dataclass(frozen=True)
class BatchResult:
    """The rows with their result columns, and the run's summary of judging them."""

    rows: list[dict[str, Any]]
    summary: RunSummary = field(default_factory=RunSummary)


class RowJob(Protocol):
    """A judging command as a per-batch function."""

    @property
    def judge(self) -> str:
        """The judge spec (``vllm:./model``, ``openai:MODEL``, a model folder)."""
        ...

    @property
    def options(self) -> Mapping[str, str]:
        """The backend's options (``-O``)."""
        ...

    def identity(self) -> dict[str, Any]:
        """What decides the output (an output folder belongs to one identity). The backend's
        options are left out, so a resumed job may change how it runs (concurrency, rate
        limits, batch sizes); the stores key every judgment by the backend's full id."""
        ...

    def validate(self, column_names: Sequence[str]) -> None: ...

    def process(
        self, backend: Backend, store: ResultStore, rows: list[dict[str, Any]]
    ) -> BatchResult: ...

    def failed(self, row: Mapping[str, Any]) -> bool: ...


def _dataset(rows: list[dict[str, Any]]) -> Any:
    import datasets

    return datasets.Dataset.from_list(rows)


@dataclass(frozen=True)
class ScoreJob:
    """``ultrajudge score`` on a batch: ratings, rationales, statuses (see ``judge.scoring``)."""

    judge: str
    configs: tuple[RatingConfig, ...]
    columns: Columns = field(default_factory=Columns)
    options: Mapping[str, str] = field(default_factory=dict)
    batch_size: int = 8

    def identity(self) -> dict[str, Any]:
        return {
            "command": "score",
            "judge": self.judge,
            "configs": [c.key_fields() for c in self.configs],
            "columns": [self.columns.instruction, self.columns.completions],
            "completion_columns": list(self.columns.completion_columns),
        }

    def validate(self, column_names: Sequence[str]) -> None:
        self.columns.validate(column_names)

    def process(
        self, backend: Backend, store: ResultStore, rows: list[dict[str, Any]]
    ) -> BatchResult:
        from ultrajudge.judge.scoring import add_score_columns, judge_dataset

        ds = _dataset(rows)
        summary = judge_dataset(
            backend,
            ds,
            columns=self.columns,
            configs=self.configs,
            store=store,
            chunk_rows=self.batch_size,
            progress=False,
        )
        done = add_score_columns(
            backend, ds, columns=self.columns, configs=self.configs, store=store, summary=summary
        )
        return BatchResult(done.to_list(), summary)

    def failed(self, row: Mapping[str, Any]) -> bool:
        return any(
            status not in OK_STATUSES
            for name, value in row.items()
            if name.startswith("rating_status")
            for status in value or ()
        )


@dataclass(frozen=True)
class PairwiseJob:
    """``ultrajudge pairwise`` on a batch: verdicts of both orders (see ``judge.pairwise``)."""

    judge: str
    config: PairwiseConfig
    columns: PairColumns = field(default_factory=PairColumns)
    options: Mapping[str, str] = field(default_factory=dict)
    batch_size: int = 8

    def identity(self) -> dict[str, Any]:
        return {
            "command": "pairwise",
            "judge": self.judge,
            "config": self.config.key_fields(),
            "columns": [self.columns.instruction, self.columns.response_a, self.columns.response_b],
        }

    def validate(self, column_names: Sequence[str]) -> None:
        PairColumns.resolve(
            column_names,
            instruction=self.columns.instruction,
            response_a=self.columns.response_a,
            response_b=self.columns.response_b,
        )

    def process(
        self, backend: Backend, store: ResultStore, rows: list[dict[str, Any]]
    ) -> BatchResult:
        from ultrajudge.judge.pairwise import add_pairwise_columns, judge_pairs_dataset

        ds = _dataset(rows)
        summary = judge_pairs_dataset(
            backend,
            ds,
            columns=self.columns,
            config=self.config,
            store=store,
            chunk_rows=self.batch_size,
            progress=False,
        )
        done = add_pairwise_columns(
            backend, ds, columns=self.columns, config=self.config, store=store, summary=summary
        )
        return BatchResult(done.to_list(), summary)

    def failed(self, row: Mapping[str, Any]) -> bool:
        return row.get("verdict_status") != "ok"
