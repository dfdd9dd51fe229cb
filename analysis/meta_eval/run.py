"""Judge a suite's canonical rows in the layout it expects, through the results store.

Pairwise suites go through :func:`ultrajudge.judge.pairwise.judge_pairs_dataset` (both orders,
first order seeded per row); pointwise suites through :func:`ultrajudge.judge.scoring.judge_dataset`
with the suite's rating configs. Both are resumable: a rerun asks only for what the store lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ultrajudge.analysis.meta_eval.suite import Suite
from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.io import Columns
from ultrajudge.judge.pairwise import (
    PairColumns,
    PairwiseConfig,
    add_pairwise_columns,
    judge_pairs_dataset,
)
from ultrajudge.judge.rating import RatingConfig
from ultrajudge.judge.scoring import add_score_columns, judge_dataset
from ultrajudge.judge.store import ResultStore

__all__ = ["JudgingOptions", "SuiteJudging"]

_PAIR_COLUMNS = PairColumns()
_POINT_COLUMNS = Columns(instruction="instruction", completions="completions")


@dataclass(frozen=True)
class JudgingOptions:
    """How to judge a suite: mode, the pairwise template, the order seed, batch size."""

    mode: Literal["generate", "logprob"] = "generate"
    pairwise_template: str = "pairwise/mt_bench"
    seed: int = 0
    batch_size: int = 8
    progress: bool = False


@dataclass
class SuiteJudging:
    """Judges ``rows`` (canonical layout of ``suite``) and keeps the judged dataset."""

    suite: Suite
    rows: Any
    options: JudgingOptions = field(default_factory=JudgingOptions)
    judged: Any = None

    def pairwise_config(self) -> PairwiseConfig:
        o = self.options
        return PairwiseConfig(template=o.pairwise_template, mode=o.mode, seed=o.seed)

    def rating_configs(self) -> list[RatingConfig]:
        return [RatingConfig(mode=self.options.mode, **kw) for kw in self.suite.rating]

    def judge_rows(self, backend: Backend, store: ResultStore) -> Any:
        """Fill the store with every judgment of the rows; returns the run's summary."""
        o = self.options
        if self.suite.layout == "pairwise":
            return judge_pairs_dataset(
                backend, self.rows, columns=_PAIR_COLUMNS, config=self.pairwise_config(),
                store=store, chunk_rows=o.batch_size, progress=o.progress,
            )  # fmt: skip
        return judge_dataset(
            backend, self.rows, columns=_POINT_COLUMNS, configs=self.rating_configs(),
            store=store, chunk_rows=o.batch_size, progress=o.progress,
        )  # fmt: skip

    def add_columns(self, backend: Backend, store: ResultStore, summary: Any) -> Any:
        """The rows with the judge's columns, read back from the store (kept in ``judged``)."""
        if self.suite.layout == "pairwise":
            self.judged = add_pairwise_columns(
                backend, self.rows, columns=_PAIR_COLUMNS, config=self.pairwise_config(),
                store=store, summary=summary,
            )  # fmt: skip
        else:
            self.judged = add_score_columns(
                backend, self.rows, columns=_POINT_COLUMNS, configs=self.rating_configs(),
                store=store, summary=summary,
            )  # fmt: skip
        return self.judged
