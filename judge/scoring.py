"""Score a whole dataset: store lookups, batching, progress, output columns, summary.

The job runner (:mod:`ultrajudge.judge.runner`) sends what the store lacks and commits
as it goes, so an interrupted run loses at most one commit window and a rerun asks only
for what the store does not have. Outputs are built in a second pass that reads the
store in input order, so nothing scales with the dataset in memory and the output does
not depend on the order requests completed in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.io import Columns, NotText, iter_rows, place_ratings
from ultrajudge.judge.output_columns import add_columns
from ultrajudge.judge.rating import (
    Item,
    RatingConfig,
    constraint_form,
    judgment_from_dict,
    rating_job,
)
from ultrajudge.judge.runner import Job, Retry, RunSummary, concurrent_requests, run_job
from ultrajudge.judge.store import ResultStore, key_maker, make_key
from ultrajudge.judge.types import Rating, RowJudgment

#: A row's store key from its instruction, judged texts and reference answer.
Keyer = Callable[[str, Sequence[str], str | None], str]


def judgment_key(
    backend: Backend,
    config: RatingConfig,
    instruction: str,
    completions: Sequence[str],
    reference: str | None = None,
) -> str:
    """The store key of one row's judgment under ``config`` (see :func:`judgment_keyer`)."""
    return judgment_keyer(backend, config)(instruction, completions, reference)


def judgment_keyer(backend: Backend, config: RatingConfig) -> Keyer:
    """:func:`judgment_key` of ``backend`` and ``config`` as a function of a row's inputs,
    with what every row shares (the config's fields, its template's id, the constraint
    form) computed once instead of for each of a dataset's rows."""
    fields = config.key_fields()
    form = constraint_form(backend, config)
    if form is not None:  # constrained answers are other judgments than free ones
        fields = {**fields, "structured": form}
    plain = key_maker("rating/v1", backend.id, fields)

    def key(instruction: str, completions: Sequence[str], reference: str | None = None) -> str:
        if reference is None:
            return plain(instruction, list(completions))
        # only then: keys of rows without one stay as they were
        with_reference = {**fields, "reference": reference}
        return make_key("rating/v1", backend.id, with_reference, instruction, list(completions))

    return key


def _item(columns: Columns, row: dict[str, Any], texts: list[str | NotText] | None = None) -> Item:
    """What the judge sees of a row: only its completions that are texts (the others are
    never judged; :func:`place_ratings` marks them ``invalid_input`` in the output), as
    :meth:`Columns.item_of` reads them; ``texts``: the row's :meth:`Columns.texts_of`,
    when the caller has them already."""
    texts = columns.texts_of(row) if texts is None else texts
    judged = [t for t in texts if isinstance(t, str)]
    return Item(columns.instruction_of(row), judged, columns.reference_of(row))


def judge_dataset(
    backend: Backend,
    ds: Any,
    *,
    columns: Columns,
    configs: Sequence[RatingConfig],
    store: ResultStore,
    chunk_rows: int = 16,
    progress: bool = True,
    retry: Retry | None = None,
    desc: str = "scoring",
    cancel: threading.Event | None = None,
) -> RunSummary:
    """Make sure the store holds a judgment for every row and config; return the summary.

    One store entry per row and config; ``chunk_rows`` rows go to a local model per
    call, an API judge gets its ``concurrency`` requests in flight (the job runner).
    ``retry`` defaults to each config's ``max_retries``; ``desc`` labels the progress
    bar; once ``cancel`` is set (from another thread), nothing more is asked."""
    columns.validate(ds.column_names)
    summary = RunSummary(rows=len(ds))
    if _one_stream(backend, configs, retry):
        _judge_in_one_stream(backend, ds, columns, configs, store, progress, retry, desc, cancel, summary)  # fmt: skip
        return summary
    for config in configs:
        if summary.stopped is not None or (cancel is not None and cancel.is_set()):
            break  # the judge is unreachable (or the run is called off): no other aspect
        job = rating_job(backend, config)

        run_job(
            job,
            _keyed(ds, columns, judgment_keyer(backend, config)),
            store=store,
            backend=backend,
            retry=retry or Retry.from_max_retries(config.max_retries),
            batch_size=chunk_rows,
            total=len(ds),
            progress=progress,
            desc=desc if len(configs) == 1 else f"{desc} {config.aspect}",
            summary=summary,
            cancel=cancel,
        )
    return summary


def _keyed(ds: Any, columns: Columns, key: Keyer) -> Iterator[tuple[str, Item]]:
    """Each row's store key under one config, and what the judge sees of the row."""
    for row in iter_rows(ds):
        item = _item(columns, row)
        yield key(*item), item


def _one_stream(backend: Backend, configs: Sequence[RatingConfig], retry: Retry | None) -> bool:
    """Whether every config's rows go to the judge as one stream: an API judge (a local
    model batches one config's rows per call), several configs, one mode (it decides
    which failures are asked again) and one retry policy."""
    return (
        concurrent_requests(backend) > 0
        and len(configs) > 1
        and len({c.mode for c in configs}) == 1
        and (retry is not None or len({c.max_retries for c in configs}) == 1)
    )


def _judge_in_one_stream(
    backend: Backend,
    ds: Any,
    columns: Columns,
    configs: Sequence[RatingConfig],
    store: ResultStore,
    progress: bool,
    retry: Retry | None,
    desc: str,
    cancel: threading.Event | None,
    summary: RunSummary,
) -> None:
    """Every config's rows (aspect after aspect, as the per-config runs ask them) in one
    job runner window: the next aspect's requests go out as the last ones of the aspect
    before come back, instead of every slot waiting for that aspect's slowest request.
    The store keys are each config's own, so outputs and resumes are the same."""
    jobs = [rating_job(backend, config) for config in configs]

    def attempt(
        items: Sequence[tuple[int, Item]], previous: Sequence[RowJudgment | None], n: int
    ) -> list[RowJudgment]:
        out: list[RowJudgment | None] = [None] * len(items)
        for k, job in enumerate(jobs):  # a window's call holds one item; batches may mix
            mine = [i for i, (c, _) in enumerate(items) if c == k]
            if mine:
                done = job.attempt([items[i][1] for i in mine], [previous[i] for i in mine], n)
                for i, judgment in zip(mine, done):
                    out[i] = judgment
        return out  # type: ignore[return-value]

    def keyed() -> Iterator[tuple[str, tuple[int, Item]]]:
        for k, config in enumerate(configs):
            for key, item in _keyed(ds, columns, judgment_keyer(backend, config)):
                yield key, (k, item)

    first = jobs[0]  # the outcome rule depends only on the mode, which configs share
    assert isinstance(first.kind, str)  # one store kind for every rating
    job: Job[tuple[int, Item], RowJudgment] = Job(
        first.kind, attempt, first.outcome, first.encode, first.decode, first.tokens, first.error
    )
    run_job(
        job,
        keyed(),
        store=store,
        backend=backend,
        retry=retry or Retry.from_max_retries(configs[0].max_retries),
        total=len(ds) * len(configs),
        progress=progress,
        desc=f"{desc} ({', '.join(c.aspect for c in configs)})",
        summary=summary,
        cancel=cancel,
    )


def add_score_columns(
    backend: Backend,
    ds: Any,
    *,
    columns: Columns,
    configs: Sequence[RatingConfig],
    store: ResultStore,
    summary: RunSummary,
    block_rows: int = 256,
) -> Any:
    """Append rating columns read back from the store, ``block_rows`` rows at a time
    (:func:`~ultrajudge.judge.output_columns.add_columns`: memory stays that of one block)."""
    keyers = [judgment_keyer(backend, config) for config in configs]
    tally = RunSummary()  # what the blocks saw, added to ``summary`` once the output is made

    def add(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        all_texts = [columns.texts_of(r) for r in rows]
        items = [_item(columns, r, texts) for r, texts in zip(rows, all_texts)]
        new: dict[str, list[Any]] = {}
        per_aspect = []
        for config, key in zip(configs, keyers):
            keys = [key(*item) for item in items]
            stored = store.get_many(keys, include_failed=True)
            judgments = [
                _placed(_stored(stored, k, len(item.completions), config), texts)
                for k, item, texts in zip(keys, items, all_texts)
            ]
            per_aspect.append(judgments)
            for j in judgments:
                tally.statuses.update(r.status for r in j.ratings)
            suffix = "" if len(configs) == 1 else f"_{config.aspect}"
            new.update(_columns_for(judgments, suffix, config))
        if len(configs) > 1:
            new.update(_combined(per_aspect, configs))
        tally.completions += sum(len(texts) for texts in all_texts)
        return new

    def restart() -> None:
        tally.statuses.clear()
        tally.completions = 0

    fingerprint = make_key(
        "columns/v1", ds._fingerprint, backend.id, [c.key_fields() for c in configs]
    )[:32]
    scored = add_columns(
        ds,
        add,
        types=_types(configs),
        block_rows=block_rows,
        fingerprint=fingerprint,
        restart=restart,
    )
    summary.statuses.update(tally.statuses)
    summary.completions += tally.completions
    return scored


def _types(configs: Sequence[RatingConfig]) -> dict[str, Any]:
    """The pyarrow types of the columns :func:`_columns_for` and :func:`_combined` write."""
    import pyarrow as pa

    texts, numbers = pa.list_(pa.string()), pa.list_(pa.float64())
    types: dict[str, Any] = {}
    for config in configs:
        suffix = "" if len(configs) == 1 else f"_{config.aspect}"
        names: tuple[str, ...] = ("ratings", "rationales", "rating_status", "judge", "rating_raw")
        kinds: tuple[Any, ...] = (numbers, texts, texts, pa.string(), texts)
        if config.mode == "logprob":
            names += ("rating_argmax", "rating_probs", "rating_mass")
            kinds += (pa.list_(pa.int64()), pa.list_(numbers), numbers)
        types |= {f"{name}{suffix}": kind for name, kind in zip(names, kinds)}
    if len(configs) > 1:
        types |= {"ratings": numbers, "rating_status": texts, "judge": pa.string()}
    return types


def _placed(judgment: RowJudgment, texts: Sequence[Any]) -> RowJudgment:
    """The judgment's ratings put back at their completions' places (non-texts get
    ``invalid_input``; see :func:`place_ratings`). A row whose completions are all texts
    (nearly every row) keeps its judgment as it is."""
    if len(judgment.ratings) == len(texts) and all(isinstance(t, str) for t in texts):
        return judgment
    return replace(judgment, ratings=place_ratings(judgment.ratings, texts))


def _stored(
    stored: dict[str, dict[str, Any]], key: str, n: int, config: RatingConfig
) -> RowJudgment:
    if key in stored:
        return judgment_from_dict(stored[key])
    # the run stopped early (an unreachable judge) before this row was judged
    missing = Rating(None, "backend_error", raw="not judged: the run stopped before this row")
    return RowJudgment((missing,) * n, judge="", aspect=config.aspect, attempts=0)


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
