"""The Python API: judges to call from a notebook, a training script or ``Dataset.map``.

Both judges are thin: they hold a backend, the rating or pairwise configuration and a
results store, and run the same library functions the CLI runs
(:func:`ultrajudge.judge.scoring.judge_dataset` and ``add_score_columns``,
:func:`ultrajudge.judge.pairwise.judge_pairs_dataset` and ``add_pairwise_columns``), so a
judgment made here and one made by ``ultrajudge score`` share store keys.

What the CLI sets up and the library does not: glibc's allocator tuning for CPU models
(``ultrajudge.judge.backends.cpu.keep_freed_memory``, or ``GLIBC_TUNABLES``), the
libraries' progress-bar and verbosity switches, and logging handlers (messages go to the
``"ultrajudge"`` logger; configure it as you like).
"""

from __future__ import annotations

import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ultrajudge.analysis.export import Format
    from ultrajudge.analysis.filters import PairFilter
    from ultrajudge.analysis.pairs import PairsOutcome, Strategy
    from ultrajudge.judge.backends.base import Backend
    from ultrajudge.judge.io import Columns
    from ultrajudge.judge.rating import RatingConfig
    from ultrajudge.judge.store import ResultStore
    from ultrajudge.judge.types import GenerationParams

__all__ = ["Judge", "PairwiseJudge", "build_pairs"]

Mode = Literal["generate", "logprob"]


class _StoreOwner:
    """A backend built from a spec (or given) and a results store opened at ``store``, or
    in a temporary folder removed with the object. Pickles as its constructor's arguments
    plus an identity hash (see :meth:`__getstate__`)."""

    _init: dict[str, Any]
    backend: Backend
    _store: ResultStore

    def _open(self, spec: str | Backend, store: str | Path | None, options: dict[str, Any]) -> None:
        from ultrajudge.judge.backends import build_backend
        from ultrajudge.judge.store import ResultStore

        self.backend = build_backend(spec, **options) if isinstance(spec, str) else spec
        folder = None if store is not None else tempfile.mkdtemp(prefix="ultrajudge-")
        self._store = ResultStore(Path(folder) / "results.sqlite" if folder else store)  # type: ignore[arg-type]
        weakref.finalize(self, _close, self._store, folder)

    def identity(self) -> str:
        """A hash of everything that decides this judge's answers (backend id, template,
        mode, sampling, columns). ``datasets`` fingerprints a ``map`` with it."""
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        # What ``datasets`` hashes to fingerprint ``Dataset.map(judge)`` (and what a worker
        # process rebuilds the judge from): the arguments and the identity, never the model,
        # the store connection or a closure.
        if not isinstance(self._init["spec"], str):
            raise TypeError("a judge built on a Backend object cannot be pickled; pass a spec")
        return {"init": self._init, "identity": self.identity()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        init = dict(state["init"])
        type(self).__init__(self, init.pop("spec"), **init.pop("backend_options"), **init)  # type: ignore[misc, call-arg]


def _close(store: ResultStore, folder: str | None) -> None:
    import shutil

    store.close()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


class Judge(_StoreOwner):
    """Rate every completion of every instruction, UltraFeedback style.

    An instance is a batched function for ``datasets.Dataset.map``: a batch of rows in
    (``instruction`` and a list column ``completions``, or the columns you name), the
    output columns of ``ultrajudge score`` out (``ratings``, ``rationales``,
    ``rating_status``, ``rating_raw``, ``judge``; in logprob mode also ``rating_argmax``,
    ``rating_probs``, ``rating_mass``; with several aspects, ``_<aspect>`` columns). Every
    judgment goes to the results store first, so a rerun (or another ``map``) asks the
    judge only for what the store lacks. Keep ``num_proc`` at 1: one process per store.

    ``spec`` is what ``--judge`` takes (a local model folder or Hub id, ``openai:MODEL``,
    ``scripted:auto``) or a backend object; ``backend_options`` are its ``-O`` options
    (``base_url=...``, ``device="cuda"``). ``store`` is a SQLite file (default: a
    temporary one that lives as long as the judge).

    >>> from datasets import Dataset
    >>> ds = Dataset.from_dict({"instruction": ["Say hi."], "completions": [["hi", "hello"]]})
    >>> scored = ds.map(Judge("scripted:auto"), batched=True)
    >>> scored[0]["rating_status"], scored[0]["ratings"]
    (['ok', 'ok'], [2.0, 5.0])
    """

    def __init__(
        self,
        spec: str | Backend,
        *,
        aspect: str | Sequence[str] = "overall",
        mode: Mode = "generate",
        template: str | None = None,
        store: str | Path | None = None,
        params: GenerationParams | None = None,
        max_retries: int = 2,
        instruction_col: str = "instruction",
        completions_col: str = "completions",
        completion_cols: Sequence[str] = (),
        batch_size: int = 8,
        **backend_options: Any,
    ) -> None:
        from ultrajudge.judge.io import Columns
        from ultrajudge.judge.rating import RatingConfig
        from ultrajudge.judge.types import GenerationParams

        aspects = [aspect] if isinstance(aspect, str) else list(aspect)
        params = params or GenerationParams(max_new_tokens=512)
        self.configs: list[RatingConfig] = [
            RatingConfig(a, template, mode, params=params, max_retries=max_retries) for a in aspects
        ]
        self.columns: Columns = Columns(instruction_col, completions_col, tuple(completion_cols))
        self.batch_size = batch_size
        self._init = {
            "spec": spec,
            "aspect": aspects,
            "mode": mode,
            "template": template,
            "store": None if store is None else str(store),
            "params": params,
            "max_retries": max_retries,
            "instruction_col": instruction_col,
            "completions_col": completions_col,
            "completion_cols": list(completion_cols),
            "batch_size": batch_size,
            "backend_options": backend_options,
        }
        self._open(spec, store, backend_options)
        self.last_summary: Any = None

    def identity(self) -> str:
        from ultrajudge.judge.store import make_key

        fields = [c.key_fields() for c in self.configs]
        return make_key("api-judge/v1", self.backend.id, fields, asdict(self.columns))

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Judge one batch of rows (what ``store`` lacks) and return the output columns."""
        from datasets import Dataset

        from ultrajudge.judge.scoring import add_score_columns, judge_dataset

        ds = Dataset.from_dict(batch)
        summary = judge_dataset(
            self.backend,
            ds,
            columns=self.columns,
            configs=self.configs,
            store=self._store,
            chunk_rows=self.batch_size,
            progress=False,
        )
        scored = add_score_columns(
            self.backend,
            ds,
            columns=self.columns,
            configs=self.configs,
            store=self._store,
            summary=summary,
        )
        self.last_summary = summary
        added = [c for c in scored.column_names if c not in batch]
        return {name: list(scored[name]) for name in added}


#: Verdicts as TRL's pairwise judges answer: the index of the better completion.
_INDEX = {"A": 0, "B": 1}


class PairwiseJudge(_StoreOwner):
    """Which of two completions is better, asked in both orders (the shape of TRL's
    pairwise judges: ``judge(prompts, completion_pairs) -> [0 | 1 | -1, ...]``).

    Each pair is judged twice, once with each completion shown first; when the two orders
    agree that is the answer (0: the first completion of the pair, 1: the second), when
    they disagree, the judge says tie, or a judging failed, the answer is -1. Judgments
    go through the results store like :class:`Judge`'s.

    >>> judge = PairwiseJudge("scripted:auto")
    >>> judge.judge(["Say hi."], [["hi", "hello"]])  # the scripted judge's stable answer
    [1]
    """

    def __init__(
        self,
        spec: str | Backend,
        *,
        template: str = "pairwise/mt_bench",
        mode: Mode = "generate",
        store: str | Path | None = None,
        params: GenerationParams | None = None,
        max_retries: int = 2,
        seed: int = 0,
        **backend_options: Any,
    ) -> None:
        from ultrajudge.judge.pairwise import PairwiseConfig
        from ultrajudge.judge.types import GenerationParams

        params = params or GenerationParams(max_new_tokens=1024)
        self.config = PairwiseConfig(template, mode, params, max_retries=max_retries, seed=seed)
        self.config.verdict_format()  # a template without a verdict format fails here
        self._init = {
            "spec": spec,
            "template": template,
            "mode": mode,
            "store": None if store is None else str(store),
            "params": params,
            "max_retries": max_retries,
            "seed": seed,
            "backend_options": backend_options,
        }
        self._open(spec, store, backend_options)
        self.last_summary: Any = None

    def identity(self) -> str:
        from ultrajudge.judge.store import make_key

        return make_key("api-pairwise/v1", self.backend.id, self.config.key_fields())

    def judge(
        self,
        prompts: Sequence[str],
        completion_pairs: Sequence[Sequence[str]],
        shuffle_order: bool = True,
    ) -> list[int]:
        """For each prompt, 0 or 1 (the better completion of its pair), or -1 (tie/failure).

        ``shuffle_order`` is accepted for TRL compatibility and changes nothing: both orders
        are always judged (which one first is seeded per pair), so no answer depends on it.
        """
        return [_INDEX.get(v or "", -1) for v in self.verdicts(prompts, completion_pairs)]

    def verdicts(
        self, prompts: Sequence[str], completion_pairs: Sequence[Sequence[str]]
    ) -> list[str | None]:
        """``"A"`` (the first completion), ``"B"``, ``"tie"``, or None where judging failed."""
        from datasets import Dataset

        from ultrajudge.judge.pairwise import (
            PairColumns,
            add_pairwise_columns,
            judge_pairs_dataset,
        )

        pairs = [tuple(p) for p in completion_pairs]
        if len(pairs) != len(prompts) or any(len(p) != 2 for p in pairs):
            raise ValueError("completion_pairs needs one pair (two completions) per prompt")
        ds = Dataset.from_dict(
            {
                "instruction": list(prompts),
                "response_a": [a for a, _ in pairs],
                "response_b": [b for _, b in pairs],
            }
        )
        kwargs = {"columns": PairColumns(), "config": self.config, "store": self._store}
        summary = judge_pairs_dataset(self.backend, ds, progress=False, **kwargs)  # type: ignore[arg-type]
        judged = add_pairwise_columns(self.backend, ds, summary=summary, **kwargs)  # type: ignore[arg-type]
        self.last_summary = summary
        return list(judged["verdict"])


def build_pairs(
    scored: Any,
    *,
    strategy: Strategy = "best-vs-worst",
    filters: Sequence[PairFilter] = (),
    format: Format = "standard",
    seed: int = 0,
    ratings_col: str = "ratings",
    columns: Columns | None = None,
) -> PairsOutcome:
    """DPO pairs in TRL's format from a scored dataset (a ``datasets.Dataset`` or a file
    that ``ultrajudge score`` wrote): what ``ultrajudge pairs`` does, without the files.

    ``strategy``: ``best-vs-worst``, ``best-vs-random-lower`` (seeded per row) or
    ``all-pairs``; ties and failed ratings never become pairs. ``filters`` are
    :mod:`ultrajudge.analysis.filters` objects (``MarginFilter(min_margin=1.0)``, ...), applied
    in order. The outcome holds the kept ``records``, the build ``stats``, the filters'
    ``result`` (kept, dropped, funnel) and the rows that gave no pair.

    >>> from datasets import Dataset
    >>> ds = Dataset.from_dict({"instruction": ["Say hi."], "completions": [["hi", "hello"]],
    ...                         "ratings": [[2, 5]], "rating_status": [["ok", "ok"]]})
    >>> [(r["chosen"], r["rejected"], r["margin"]) for r in build_pairs(ds).records]
    [('hello', 'hi', 3.0)]
    """
    from ultrajudge.analysis.pairs import PairBuilder, make_pairs
    from ultrajudge.judge.io import Columns, load_rows

    ds = load_rows(str(scored)) if isinstance(scored, (str, Path)) else scored
    builder = PairBuilder(strategy, seed, columns or Columns(), ratings_col)
    return make_pairs(ds, builder, filters, format=format)
