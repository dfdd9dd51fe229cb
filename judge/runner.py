"""The job runner under every command: store lookups, scheduling, retries, commits, progress.

A caller (scoring, pairwise judging, a generator) describes its work as a :class:`Job`:
items with store keys, and how to make one *attempt* at a batch of them. The runner

* asks the store first and sends only what it lacks (a failure kept in the store is
  asked again; the attempt gets it as ``previous`` so a judgment can keep its good parts);
* schedules: a backend that takes concurrent requests
  (``capabilities.concurrent_requests > 0``, e.g. an API) gets up to that many items in
  flight across the whole dataset, a new one sent as soon as one comes back (no chunk
  waits for its slowest request); a local model gets ``batch_size`` items per call;
* retries with one bounded policy (:class:`Retry`: attempts and total seconds per item),
  and only outcomes the job marks retryable (unparseable answers, a backend error); a
  failure is stored not-ok, never as final. Backends make one attempt per request: the
  only retry loop is here. Before each attempt it waits on the run's shared
  :class:`~ultrajudge.judge.backoff.Backoff`, which a server's pushback (429 with its
  ``Retry-After``, 5xx, timeouts) moves for every worker at once;
* commits to the store every ``commit_every`` results or ``commit_seconds``, whichever
  comes first, so a kill loses at most that window;
* stops early when the backend is gone (every one of the first ``unreachable_after``
  items failed with a backend error, or that many in a row after it had answered),
  committing what it has and saying why in ``RunSummary.stopped`` (a caller that
  cannot go on without every result raises :class:`BackendUnreachable`);
* returns one :class:`RunSummary`.

Results go to the store only; callers build their outputs from the store in input order,
so an output is byte-identical whatever order the requests completed in.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Generic, Literal, TypeVar

from ultrajudge.judge.backoff import Backoff, PushesBack
from ultrajudge.judge.metering import ApiUsage, bar_fields, snapshot, spent, sum_usage
from ultrajudge.judge.store import ResultStore
from ultrajudge.judge.types import INPUT_STATUSES, REFUSED

__all__ = [
    "BackendUnreachable",
    "Job",
    "Outcome",
    "Retry",
    "RunSummary",
    "concurrent_requests",
    "result_of",
    "run_in_memory",
    "run_job",
]

I = TypeVar("I")  # noqa: E741  an item of work
T = TypeVar("T")  # its result

#: How a result counts: final (``ok``), worth asking again (``retry``), or failed for good
#: in this run (``failed``: e.g. a deterministic logprob read with too little mass).
Outcome = Literal["ok", "retry", "failed"]


@dataclass(frozen=True)
class Retry:
    """The one retry policy: at most ``attempts`` tries per item in a run, and no new try
    once ``seconds`` have passed since the item's first one (nor one that the run's
    backoff would start later than that)."""

    attempts: int = 3
    seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts must be >= 1, got {self.attempts}")
        if self.seconds <= 0:
            raise ValueError(f"retry seconds must be > 0, got {self.seconds}")

    @classmethod
    def from_max_retries(cls, max_retries: int) -> Retry:
        """``--max-retries N``: N more tries after the first."""
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        return cls(attempts=max_retries + 1)


@dataclass(frozen=True)
class Job(Generic[I, T]):
    """What to run. ``attempt(items, previous, n)`` makes a try at a batch, the ``n``-th
    (0-based, in this run) that is not a repeat of one the backend failed to answer, and
    returns one result per item; ``previous`` is each item's last result
    (from the store or the try before), None when there is none."""

    kind: str | Callable[[I], str]  # the store's kind column (of each item)
    attempt: Callable[[Sequence[I], Sequence[T | None], int], list[T]]
    outcome: Callable[[T], Outcome]
    encode: Callable[[T], dict[str, Any]]
    decode: Callable[[dict[str, Any]], T]
    tokens: Callable[[T], tuple[int, int]] = lambda _: (0, 0)  # (prompt, completion) so far
    error: Callable[[T], str | None] = lambda _: None  # a backend error's message, if any


@dataclass
class RunSummary:
    """What a run did: the one summary type of every command.

    ``made_now``/``from_store`` count store entries (a row x aspect judgment, one order
    of a pair, one generation); ``statuses`` and ``counts`` are filled by the caller
    from its outputs (per completion, per pair, per request, ...): a prompt over the
    judge's context, never sent, is the status ``too_long`` there.
    """

    rows: int = 0
    rows_out: int = 0
    completions: int = 0
    made_now: int = 0
    from_store: int = 0
    retries: int = 0  # tries beyond each item's first in this run (``--max-retries``)
    statuses: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)  # caller's tallies (verdicts, ...)
    dropped: Counter[str] = field(default_factory=Counter)  # output items left out, by reason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    api: ApiUsage | None = None  # a metered (API) backend: requests, tokens, cost (+ retries)
    stopped: str | None = None  # why the run ended early, if it did

    @property
    def cost_usd(self) -> float | None:
        """What this run's requests cost; None when unknown or local."""
        return self.api.cost_usd if self.api is not None else None

    def failure_rate(self, ok: Iterable[str] = ("ok", "na")) -> float:
        """Share of ``statuses`` not in ``ok``; nan when nothing was counted. Statuses about
        the input (``invalid_input``: never judged) count in neither part."""
        good = set(ok)
        judged = {s: n for s, n in self.statuses.items() if s not in INPUT_STATUSES}
        total = sum(judged.values())
        failed = sum(n for s, n in judged.items() if s not in good)
        return failed / total if total else float("nan")

    def add(self, other: RunSummary) -> None:
        """Add ``other``'s counts to this summary (several steps of one command)."""
        for name in ("made_now", "from_store", "retries", "prompt_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds
        self.api = sum_usage(self.api, other.api)
        self.stopped = self.stopped or other.stopped

    def merge(self, other: RunSummary) -> None:
        """Add ``other``'s counts, tallies and statuses to this one: the summaries of parts of
        one output (the shards of a Ray run), whose items do not overlap."""
        self.add(other)
        for name in ("rows", "rows_out", "completions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.statuses.update(other.statuses)
        self.counts.update(other.counts)
        self.dropped.update(other.dropped)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunSummary:
        """The summary :meth:`as_dict` wrote (derived entries are ignored).

        >>> s = RunSummary(made_now=2, statuses=Counter(ok=2), api=ApiUsage(requests=2))
        >>> RunSummary.from_dict(s.as_dict()) == s
        True
        """
        names = {f.name for f in fields(cls)}
        kept = {k: v for k, v in d.items() if k in names}
        for name in ("statuses", "counts", "dropped"):
            kept[name] = Counter(kept.get(name) or {})
        if kept.get("api") is not None:
            kept["api"] = ApiUsage(**kept["api"])
        return cls(**kept)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("statuses", "counts", "dropped"):
            d[name] = dict(getattr(self, name))
        d["failure_rate"] = self.failure_rate()
        d["cost_usd"] = self.cost_usd
        return d


class BackendUnreachable(RuntimeError):
    """Every one of the first items failed with a backend error: the run stopped early
    (the message is :attr:`RunSummary.stopped`: the judge, and the last error)."""


@dataclass
class _Slot(Generic[I, T]):
    key: str
    item: I
    result: T | None


def run_job(
    job: Job[I, T],
    keyed: Iterable[tuple[str, I]],
    *,
    store: ResultStore,
    backend: object,
    retry: Retry = Retry(),
    batch_size: int = 16,
    total: int | None = None,
    progress: bool = True,
    desc: str = "",
    commit_every: int = 64,
    commit_seconds: float = 2.0,
    unreachable_after: int = 8,
    summary: RunSummary | None = None,
    cancel: threading.Event | None = None,
) -> RunSummary:
    """Make sure ``store`` holds a result for every ``(key, item)``; return the summary.

    ``total`` sizes the progress bar (in items). A key seen twice is asked once. Once
    ``cancel`` is set (by another thread: a jury's other juror stopped), no new item
    starts and the run returns without waiting for the ones in flight (the next run asks
    them); everything finished is committed.
    """
    from tqdm.auto import tqdm

    summary = summary if summary is not None else RunSummary()
    run = _Run(job, store, backend, retry, summary, commit_every, commit_seconds, unreachable_after)
    if cancel is not None:
        run.cancel = cancel
    start, before, retried = time.perf_counter(), snapshot(backend), summary.retries
    bar = tqdm(total=total, unit="item", disable=not progress, desc=desc)
    shown = _BarUpdater(bar, run, summary, before, backend) if not bar.disable else None
    if shown is not None:
        run.on_done = shown
    try:
        todo = run.pending(keyed)
        concurrent = concurrent_requests(backend)
        if concurrent > 0:
            run.sliding_window(todo, concurrent)
        else:
            run.batches(todo, batch_size)
    finally:
        run.commit()
        if shown is not None:
            shown.show()
        bar.close()
        summary.seconds += time.perf_counter() - start
        used = spent(before, backend)
        if used is not None:  # the backend sent the requests; the runner decided the tries
            used = replace(used, retries=summary.retries - retried, errors=run.backend_failed)
        summary.api = sum_usage(summary.api, used)
    return summary


def concurrent_requests(backend: object) -> int:
    """How many requests ``backend`` keeps in flight (an API server's ``concurrency``);
    0 for a backend that takes one call at a time (a local model's batches). Such a
    backend gets the sliding window, and can run beside others (a jury, a pool)."""
    capabilities = getattr(backend, "capabilities", None)
    return int(getattr(capabilities, "concurrent_requests", 0) or 0)


def result_of(future: Future[T]) -> T:
    """``future.result()``, waited for in short steps so that a Ctrl-C reaches this thread
    at once: a wait without a timeout is not interrupted on every platform."""
    while not future.done():
        wait([future], timeout=0.05)
    return future.result()


class _Run(Generic[I, T]):
    """The state of one :func:`run_job` call."""

    def __init__(
        self,
        job: Job[I, T],
        store: ResultStore,
        backend: object,
        retry: Retry,
        summary: RunSummary,
        commit_every: int,
        commit_seconds: float,
        unreachable_after: int,
    ) -> None:
        self.job, self.store, self.backend, self.retry = job, store, backend, retry
        self.summary = summary
        self.commit_every, self.commit_seconds = commit_every, commit_seconds
        self.unreachable_after = unreachable_after
        self.backoff = _backoff(backend, retry)
        self.buffer: list[tuple[str, I, T]] = []
        self.last_commit = time.monotonic()
        self.lock = threading.Lock()
        self.finished = self.failed = self.in_a_row = 0
        self.answered = False  # the backend answered an item (the watch's two rules)
        self.backend_failed = 0  # items whose last try failed in the backend
        self.on_done: Callable[[int], Any] = lambda n: None
        self.cancel = threading.Event()  # set from outside: start nothing more
        self.closed = False  # the window returned: a late answer is not recorded

    # -- what to send ------------------------------------------------------------

    def pending(self, keyed: Iterable[tuple[str, I]]) -> Iterator[_Slot[I, T]]:
        """Items the store has no final result for, in input order, each key once.

        The keys seen are kept as 16-byte digests, not as the keys themselves (64
        characters): this set grows with the dataset, and at 10 million rows that is
        0.7 GB instead of 1.4 GB. Two different keys would share a digest with a
        probability of about 1e-25 at that size."""
        seen: set[bytes] = set()
        for block in _blocks(keyed, 256):
            fresh = []
            for key, item in block:
                digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
                if digest not in seen:
                    seen.add(digest)
                    fresh.append((key, item))
            skipped = len(block) - len(fresh)
            stored = self.store.get_many(list(dict.fromkeys(k for k, _ in fresh)), include_failed=True)  # fmt: skip
            done = 0
            for key, item in fresh:
                value = self.job.decode(stored[key]) if key in stored else None
                if value is not None and self.job.outcome(value) == "ok":
                    self.summary.from_store += 1
                    done += 1
                else:
                    yield _Slot(key, item, value)
            self.on_done(done + skipped)

    # -- scheduling ----------------------------------------------------------------

    def batches(self, todo: Iterator[_Slot[I, T]], size: int) -> None:
        """A local model: ``size`` items per call, retries of a batch batched too."""
        for batch in _blocks(todo, max(1, size)):
            if self.cancel.is_set():
                return
            self.solve(batch)
            self.commit_if_due()
            if self.summary.stopped:
                return

    def sliding_window(self, todo: Iterator[_Slot[I, T]], width: int) -> None:
        """A concurrent backend: ``width`` items in flight; each finished one is replaced.

        ``width`` worker threads each take the next item, solve it and take another, so a
        finished request is followed by the next one from the same thread at once; this
        thread only commits (every ``commit_every`` results or ``commit_seconds``) and
        watches. A hand-off through this thread for each item (an executor's future,
        its callback, a queue) cost a tenth of the client's CPU at 300 requests a second
        and put this thread on the path between every answer and the next request."""
        items = _prefetched(todo, 2 * width)
        taking = threading.Lock()  # one generator, many takers
        halt = threading.Event()  # an interrupt, an error, the unreachable stop
        wake = threading.Event()  # a commit is due, a worker ended
        errors: list[BaseException] = []
        live = [width]

        def work() -> None:
            try:
                while not (halt.is_set() or self.cancel.is_set() or self.summary.stopped):
                    with taking:
                        slot = next(items, None)
                    if slot is None:
                        return
                    self.solve([slot])
                    if len(self.buffer) >= self.commit_every:
                        wake.set()
            except BaseException as exc:  # a bug in an attempt function: raised below
                errors.append(exc)
                halt.set()
            finally:
                with taking:
                    live[0] -= 1
                wake.set()

        workers = [
            threading.Thread(target=work, name=f"ultrajudge-run-{i}", daemon=True)
            for i in range(width)
        ]
        for worker in workers:
            worker.start()
        try:
            while live[0] and not errors and not self.cancel.is_set():
                # a short wait: a Ctrl-C reaches this thread only when it runs again
                wake.wait(min(self.commit_seconds, 0.05))
                wake.clear()
                self.commit_if_due()
            if errors:
                raise errors[0]
        finally:  # on an interrupt or a cancel, start nothing more and wait for nothing in
            # flight (its answer is asked again by the next run); what finished is committed
            halt.set()
            if not errors and not live[0]:
                for worker in workers:
                    worker.join()
            with self.lock:
                self.closed = True
            with taking:
                items.close()

    # -- one batch, with its retries -------------------------------------------------

    def solve(self, batch: list[_Slot[I, T]]) -> None:
        if self.summary.stopped:
            return
        first = [s.result for s in batch]
        retried = _with_retries(self.job, batch, self.retry, self.backoff)
        with self.lock:
            self.summary.retries += retried
        self.record(batch, first)

    def record(self, batch: list[_Slot[I, T]], first: list[T | None]) -> None:
        with self.lock:
            if self.closed:  # answered after the run returned: neither counted nor stored
                return
            for slot, before_result in zip(batch, first):
                result = slot.result
                assert result is not None
                self.buffer.append((slot.key, slot.item, result))
                self.summary.made_now += 1
                p, c = self.job.tokens(result)
                before = self.job.tokens(before_result) if before_result is not None else (0, 0)
                self.summary.prompt_tokens += p - before[0]
                self.summary.completion_tokens += c - before[1]
                ok = self.job.outcome(result) == "ok"
                self.failed += not ok
                error = self.job.error(result)
                self.backend_failed += error is not None
                self._watch(result, error)
            self.finished += len(batch)
        self.on_done(len(batch))

    def _watch(self, result: T, error: str | None) -> None:
        """Stop the run when its backend is gone: the first ``unreachable_after`` items all
        failed in it (unreachable, or refusing every request), or, after answers, that many
        items in a row failed in it on every try (it stopped answering partway: without
        this, every remaining item would be sent, retried and stored failed). After an
        answer, a failure no retry mends (a prompt too long, a request the server refused)
        is no sign of an outage and ends the count."""
        if self.summary.stopped or not self.unreachable_after:
            return
        if error is None:
            self.answered, self.in_a_row = True, 0
            return
        if self.answered and self.job.outcome(result) != "retry":
            self.in_a_row = 0
            return
        self.in_a_row += 1
        if self.in_a_row < self.unreachable_after:
            return
        name, n = getattr(self.backend, "id", "the backend"), self.in_a_row
        if self.answered:
            self.summary.stopped = (
                f"{name} stopped answering: the last {n} requests failed after their "
                f"retries; last error: {error}"
            )
        elif error.startswith(REFUSED):  # an unknown model, a wrong path, no permission
            self.summary.stopped = (
                f"{name} cannot be used: the server refused each of the first {n} requests; "
                f"last answer: {error}"
            )
        else:
            self.summary.stopped = (
                f"{name} is unreachable: the first {n} requests failed after their retries; "
                f"last error: {error}"
            )

    # -- committing --------------------------------------------------------------------

    def commit_if_due(self) -> None:
        due = time.monotonic() - self.last_commit >= self.commit_seconds
        if len(self.buffer) >= self.commit_every or (due and self.buffer):
            self.commit()

    def commit(self) -> None:
        with self.lock:
            rows, self.buffer = self.buffer, []
        kinds: dict[str, list[tuple[str, dict[str, Any], bool]]] = {}
        for key, item, result in rows:
            kind = self.job.kind if isinstance(self.job.kind, str) else self.job.kind(item)
            entry = (key, self.job.encode(result), self.job.outcome(result) == "ok")
            kinds.setdefault(kind, []).append(entry)
        for kind, entries in kinds.items():
            self.store.put_many(entries, kind=kind)
        self.last_commit = time.monotonic()


class _BarUpdater:
    """Advances the bar by each finished batch; its counts (failed, retries, the backend's
    requests and errors) are gathered at most every ``bar.mininterval`` seconds, as often
    as the bar is drawn, not for each of hundreds of items a second, and once at the end."""

    def __init__(
        self, bar: Any, run: _Run[Any, Any], summary: RunSummary, before: Any, backend: object
    ) -> None:
        self.bar, self.run, self.summary, self.before, self.backend = (
            bar,
            run,
            summary,
            before,
            backend,
        )
        self.retried = summary.retries
        self.shown = 0.0

    def __call__(self, n: int) -> None:
        self.bar.update(n)
        if time.monotonic() - self.shown >= self.bar.mininterval:
            self.show()

    def show(self) -> None:
        self.shown = time.monotonic()
        fields = bar_fields(self.before, self.backend)
        retries = self.summary.retries - self.retried
        self.bar.set_postfix(failed=self.run.failed, retries=retries, **fields)


def _backoff(backend: object, retry: Retry) -> Backoff:
    pushback = backend.pushback if isinstance(backend, PushesBack) else None
    return Backoff(pushback, limit=retry.seconds)


def _with_retries(
    job: Job[I, T], batch: Sequence[_Slot[I, T]], retry: Retry, backoff: Backoff
) -> int:
    """The retry loop (the only one): try the batch, then again what came back retryable,
    within ``retry``'s bounds, each try after the run's backoff. Returns the number of
    tries beyond the first.

    The ``n`` an attempt gets counts the tries before it that were *answered*: a try
    that failed in the backend for every item (a 429, a timeout) asks the same request
    again, so a judgment does not depend on whether the server pushed back (a job that
    samples with ``seed + n`` gets the seed it would have had)."""
    backoff.wait()
    start, todo, retried, answered = time.monotonic(), list(batch), 0, 0
    for n in range(retry.attempts):
        if n and not backoff.wait(deadline=start + retry.seconds):
            break  # the server asked for a wait beyond this item's time budget
        retried += len(todo) if n else 0
        results = job.attempt([s.item for s in todo], [s.result for s in todo], answered)
        backoff.observe()
        answered += any(job.error(r) is None for r in results)
        for slot, result in zip(todo, results):
            slot.result = result
        todo = [s for s in todo if job.outcome(s.result) == "retry"]  # type: ignore[arg-type]
        if not todo or time.monotonic() - start >= retry.seconds:
            break
    return retried


def run_in_memory(
    job: Job[I, T],
    items: Sequence[I],
    previous: Sequence[T | None],
    retry: Retry,
    *,
    backend: object = None,
) -> list[T]:
    """Results of ``items`` with no store (one batch, same retry policy and backoff from
    ``backend``'s pushback as :func:`run_job`)."""
    if len(previous) != len(items):
        raise ValueError("previous must have one entry per item")
    slots = [_Slot("", item, prev) for item, prev in zip(items, previous)]
    if slots:
        _with_retries(job, slots, retry, _backoff(backend, retry))
    return [s.result for s in slots]  # type: ignore[misc]


def _prefetched(items: Iterator[Any], ahead: int) -> Generator[Any, None, None]:
    """``items``, produced by a thread of their own up to ``ahead`` in advance: the store
    lookups and keys of the next block are ready when a slot of the window frees, instead
    of the window waiting while the main thread computes them. An error in the producer is
    raised here; closing this generator stops the producer."""
    box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((False, None))
        except BaseException as exc:  # handed to the consumer
            box.put((False, exc))

    producer = threading.Thread(target=produce, name="ultrajudge-pending", daemon=True)
    producer.start()
    try:
        while True:
            more, item = box.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        producer.join(timeout=5)


def _blocks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    block: list[Any] = []
    for item in items:
        block.append(item)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block
