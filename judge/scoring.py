"""Score a whole dataset: store lookups, batching, progress, output columns, summary.

Rows are judged in chunks; each chunk's judgments are committed to the store
before the next starts, so an interrupted run loses at most one chunk of work
and a rerun asks only for what the store does not have. Outputs are built in a
second pass that reads the store, so nothing scales with the dataset in memory.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.io import Columns
from ultrajudge.judge.metering import ApiUsage, bar_fields, snapshot, spent
from ultrajudge.judge.rating import Item, RatingConfig, constraint_form, rate_rows
from ultrajudge.judge.store import ResultStore, make_key
from ultrajudge.judge.types import OK_STATUSES, Rating, RowJudgment


@dataclass
class ScoreSummary:
    """What a scoring run did, for the end-of-run report."""

    rows: int = 0
    completions: int = 0
    judged_now: int = 0  # row x aspect judgments paid for in this run
    from_store: int = 0  # row x aspect judgments served by the store
    statuses: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cost_usd: float | None = None  # what this run's requests cost; None: unknown or local
    api: ApiUsage | None = None  # a metered (API) judge: requests, retries, billed tokens

    def failure_rate(self) -> float:
        total = sum(self.statuses.values())
        failed = sum(n for s, n in self.statuses.items() if s not in OK_STATUSES)
        return failed / total if total else float("nan")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["statuses"] = dict(self.statuses)
        d["failure_rate"] = self.failure_rate()
        return d


def judgment_to_dict(j: RowJudgment) -> dict[str, Any]:
    d = asdict(j)
    d["extra"] = dict(j.extra)
    return d


def judgment_from_dict(d: dict[str, Any]) -> RowJudgment:
    ratings = tuple(
        Rating(**{**r, "probs": tuple(r["probs"]) if r.get("probs") is not None else None})
        for r in d["ratings"]
    )
    return RowJudgment(**{**d, "ratings": ratings})


def judgment_key(
    backend: Backend,
    config: RatingConfig,
    instruction: str,
    completions: Sequence[str],
    reference: str | None = None,
) -> str:
    fields = config.key_fields()
    form = constraint_form(backend, config)
    if form is not None:  # constrained answers are other judgments than free ones
        fields = {**fields, "structured": form}
    if reference is not None:  # only then: keys of rows without one stay as they were
        fields = {**fields, "reference": reference}
    return make_key("rating/v1", backend.id, fields, instruction, list(completions))


def _item(columns: Columns, row: dict[str, Any]) -> Item:
    return Item(columns.instruction_of(row), columns.completions_of(row), columns.reference_of(row))


def _chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def judge_dataset(
    backend: Backend,
    ds: Any,
    *,
    columns: Columns,
    configs: Sequence[RatingConfig],
    store: ResultStore,
    chunk_rows: int = 16,
    progress: bool = True,
) -> ScoreSummary:
    """Make sure the store holds a judgment for every row and config; return the summary."""
    from tqdm.auto import tqdm

    columns.validate(ds.column_names)
    summary = ScoreSummary(rows=len(ds))
    start, before = time.perf_counter(), snapshot(backend)
    bar = tqdm(total=len(ds), unit="row", disable=not progress, desc="scoring")
    failed = 0
    for rows in _chunks(len(ds), chunk_rows):
        batch = ds.select(rows)
        items = [_item(columns, r) for r in batch]
        for config in configs:
            keys = [judgment_key(backend, config, *item) for item in items]
            stored = store.get_many(keys, include_failed=True)
            todo = [i for i, k in enumerate(keys) if k not in stored or not _is_final(stored[k])]
            summary.from_store += len(keys) - len(todo)
            if todo:
                previous = [
                    judgment_from_dict(stored[keys[i]]) if keys[i] in stored else None for i in todo
                ]
                judged = rate_rows(backend, [items[i] for i in todo], config, previous)
                store.put_many(
                    ((keys[i], judgment_to_dict(j), _all_ok(j)) for i, j in zip(todo, judged)),
                    kind="rating",
                )
                summary.judged_now += len(todo)
                for j, prev in zip(judged, previous):  # count only what this run spent
                    summary.prompt_tokens += j.prompt_tokens - (prev.prompt_tokens if prev else 0)
                    summary.completion_tokens += j.completion_tokens - (
                        prev.completion_tokens if prev else 0
                    )
                    failed += sum(not r.ok for r in j.ratings)
        bar.update(len(rows))
        bar.set_postfix(failed=failed, **bar_fields(before, backend))
    bar.close()
    summary.seconds = time.perf_counter() - start
    summary.api = spent(before, backend)
    summary.cost_usd = summary.api.cost_usd if summary.api is not None else None
    return summary


def _is_final(value: dict[str, Any]) -> bool:
    return all(r["status"] in OK_STATUSES for r in value["ratings"])


def _all_ok(j: RowJudgment) -> bool:
    return all(r.ok for r in j.ratings)


def add_score_columns(
    backend: Backend,
    ds: Any,
    *,
    columns: Columns,
    configs: Sequence[RatingConfig],
    store: ResultStore,
    summary: ScoreSummary,
) -> Any:
    """Append rating columns read back from the store (batched ``map``: streams)."""

    def add(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        items = [_item(columns, r) for r in rows]
        new: dict[str, list[Any]] = {}
        per_aspect = []
        for config in configs:
            keys = [judgment_key(backend, config, *item) for item in items]
            stored = store.get_many(keys, include_failed=True)
            judgments = [judgment_from_dict(stored[k]) for k in keys]
            per_aspect.append(judgments)
            for j in judgments:
                summary.statuses.update(r.status for r in j.ratings)
            suffix = "" if len(configs) == 1 else f"_{config.aspect}"
            new.update(_columns_for(judgments, suffix, config))
        if len(configs) > 1:
            new.update(_combined(per_aspect, configs))
        summary.completions += sum(len(item.completions) for item in items)
        return new

    fingerprint = make_key(
        "columns/v1", ds._fingerprint, backend.id, [c.key_fields() for c in configs]
    )[:32]
    return ds.map(
        add, batched=True, batch_size=256, load_from_cache_file=False, new_fingerprint=fingerprint
    )


def _columns_for(
    judgments: list[RowJudgment], suffix: str, config: RatingConfig
) -> dict[str, list[Any]]:
    """Output columns of one config. In logprob mode ``ratings`` holds the expected score
    (a float), ``rating_argmax`` the most likely scale value, ``rating_probs`` the
    distribution over the scale and ``rating_mass`` the probability the scale got;
    ``ratings`` and ``rating_argmax`` are None where the status is not ok."""
    cols: dict[str, list[Any]] = {
        f"ratings{suffix}": [[r.value for r in j.ratings] for j in judgments],
        f"rationales{suffix}": [[r.rationale for r in j.ratings] for j in judgments],
        f"rating_status{suffix}": [[r.status for r in j.ratings] for j in judgments],
        f"judge{suffix}": [j.judge for j in judgments],
        f"rating_raw{suffix}": [[None if r.ok else r.raw for r in j.ratings] for j in judgments],
    }
    if config.mode == "logprob":
        cols[f"rating_argmax{suffix}"] = [
            [_argmax(r, config.scale) for r in j.ratings] for j in judgments
        ]
        cols[f"rating_probs{suffix}"] = [
            [list(r.probs) if r.probs else None for r in j.ratings] for j in judgments
        ]
        cols[f"rating_mass{suffix}"] = [[r.mass for r in j.ratings] for j in judgments]
    return cols


def _argmax(rating: Rating, scale: Sequence[int]) -> int | None:
    if rating.status != "ok" or not rating.probs:
        return None
    return scale[max(range(len(scale)), key=lambda k: rating.probs[k])]  # type: ignore[index]


def _combined(
    per_aspect: list[list[RowJudgment]], configs: Sequence[RatingConfig]
) -> dict[str, list[Any]]:
    """``ratings``/``rating_status`` over several aspects: the ``overall`` aspect when it was
    asked for, else the mean of the aspects' values where every aspect has a number."""
    aspects = [c.aspect for c in configs]
    if "overall" in aspects:
        chosen = per_aspect[aspects.index("overall")]
        return {
            "ratings": [[r.value for r in j.ratings] for j in chosen],
            "rating_status": [[r.status for r in j.ratings] for j in chosen],
            "judge": [j.judge for j in chosen],
        }
    ratings, statuses = [], []
    for row in zip(*per_aspect):
        values, status = [], []
        for per_completion in zip(*(j.ratings for j in row)):
            bad = next((r.status for r in per_completion if r.value is None), None)
            values.append(
                None if bad else sum(r.value for r in per_completion) / len(per_completion)
            )  # type: ignore[misc]
            status.append(bad or "ok")
        ratings.append(values)
        statuses.append(status)
    return {
        "ratings": ratings,
        "rating_status": statuses,
        "judge": [row[0].judge for row in zip(*per_aspect)],
    }
