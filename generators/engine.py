"""Run generation requests through a backend and the results store: cached, checked, retried.

Every generator turns its rows into :class:`Request` objects and hands them to
:meth:`Session.run`. A request's key hashes everything that determines its
result (kind, backend id, template id, sampling parameters, the acceptance rules
and the exact prompt), so a rerun asks the store first and pays only for what is
missing. Each output goes through the request's ``check``, which cleans the
text and either accepts it (``"ok"``) or names why it is rejected (``"empty"``,
``"truncated"``, ``"copies_input"`` ...). A rejected or failed generation is
asked again with the next seed, at most ``max_retries`` times in a run, and is
stored as not-ok, so the next run tries again instead of serving it.

Seeding: a request's ``params.seed`` is its base seed; attempt ``a`` (counted
over all runs) samples with ``seed + a``. Generators derive base seeds with
:func:`seeded` from the run seed and the *sample index* (and stage), not from
the row: the backend Protocol takes one ``GenerationParams`` per call, so only
requests that share their seed can go to the backend as one batch. Samples that
must differ (``n`` completions of one prompt) get different seeds, so they
differ on every backend, an API that honours seeds included. Choices made per
row (which mutation, which aspect) use :func:`row_rng`, seeded by the row.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.metering import ApiUsage, snapshot, spent, sum_usage
from ultrajudge.judge.store import ResultStore, make_key
from ultrajudge.judge.types import Completion, GenerationParams, Message

#: ``(cleaned text, status)``; status ``"ok"`` accepts the text.
Outcome = tuple[str, str]
Check = Callable[[Completion], Outcome]


def basic_check(completion: Completion) -> Outcome:
    """Reject a failed call (``backend_error``) and an empty text (``empty``)."""
    if completion.failed:
        return "", "backend_error"
    text = completion.text.strip()
    return text, "ok" if text else "empty"


@dataclass(frozen=True)
class Request:
    """One generation: a chat (``tuple[Message, ...]``) or a raw prompt (``str``)."""

    kind: str
    prompt: tuple[Message, ...] | str
    params: GenerationParams
    template: str = ""
    check: Check = field(default=basic_check, compare=False, repr=False)
    #: Parameters of ``check`` that change what it accepts (part of the key).
    rules: tuple[tuple[str, Any], ...] = ()

    def key(self, backend_id: str) -> str:
        prompt = self.prompt if isinstance(self.prompt, str) else [m.as_dict() for m in self.prompt]
        return make_key(
            f"generate/{self.kind}/v1",
            backend_id,
            self.template,
            vars(self.params),
            dict(self.rules),
            prompt,
        )


@dataclass(frozen=True)
class Generated:
    """The accepted (or last rejected) output of a request."""

    text: str
    status: str = "ok"
    raw: str = ""
    finish_reason: str = "stop"
    attempts: int = 1
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class GenerationSummary:
    """What a generation run did, for the end-of-run report."""

    rows_in: int = 0
    rows_out: int = 0
    generated_now: int = 0  # requests paid for in this run (retries count once)
    from_store: int = 0  # requests not paid for: served by the store, or asked twice
    statuses: Counter[str] = field(default_factory=Counter)  # final status per request
    dropped: Counter[str] = field(default_factory=Counter)  # output items left out, by reason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    api: ApiUsage | None = None  # metered (API) backends: requests, retries, billed tokens, cost

    @property
    def cost_usd(self) -> float | None:
        """What this run's requests cost; None when unknown or no backend was an API."""
        return self.api.cost_usd if self.api is not None else None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["statuses"], d["dropped"] = dict(self.statuses), dict(self.dropped)
        d["cost_usd"] = self.cost_usd
        return d


def sample_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed derived from the run seed and ``parts`` (stable across runs)."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def seeded(params: GenerationParams, *parts: object) -> GenerationParams:
    """``params`` with its seed derived from ``parts``; greedy params (temperature 0) are
    returned as they are, since the seed cannot change what they generate, and requests
    that share params go to the backend in one call."""
    if params.temperature == 0:
        return params
    return replace(params, seed=sample_seed(params.seed, *parts))


def row_rng(seed: int, *parts: object) -> random.Random:
    """``random.Random`` for one row's choices, seeded by the run seed and the row."""
    return random.Random(":".join(map(str, (seed, *parts))))


def text_key(text: str) -> str:
    """Short stable id of a text (row keys for per-row seeding)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Session:
    """Store, retry budget, chunking and progress shared by the generators of one run."""

    store: ResultStore
    max_retries: int = 2
    chunk_rows: int = 16
    progress: bool = True
    summary: GenerationSummary = field(default_factory=GenerationSummary)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {self.chunk_rows}")

    def chunks(self, n: int, desc: str) -> Iterator[range]:
        """Consecutive ranges of ``chunk_rows`` items, with a progress bar over ``n``."""
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="row", desc=desc, disable=not self.progress)
        start_time = time.perf_counter()
        try:
            for start in range(0, n, self.chunk_rows):
                chunk = range(start, min(n, start + self.chunk_rows))
                yield chunk
                bar.update(len(chunk))
                failed = sum(v for s, v in self.summary.statuses.items() if s != "ok")
                api = self.summary.api
                extra = {"requests": api.requests, "retries": api.retries} if api else {}
                bar.set_postfix(failed=failed, **extra)
        finally:
            bar.close()
            self.summary.seconds += time.perf_counter() - start_time

    def run(self, backend: Backend, requests: Sequence[Request]) -> list[Generated]:
        """The result of every request: from the store if it holds an accepted one, else
        generated (with bounded retries) and stored."""
        keys = [r.key(backend.id) for r in requests]
        stored = self.store.get_many(list(dict.fromkeys(keys)), include_failed=True)
        results: dict[str, Generated] = {}
        todo: dict[str, Request] = {}
        for key, request in zip(keys, requests):
            previous = stored.get(key)
            if previous is not None and previous["status"] == "ok":
                results[key] = Generated(**previous)
            elif key not in todo:
                todo[key] = request
                if previous is not None:
                    results[key] = Generated(**previous)  # the failure to retry
        self.summary.from_store += len(requests) - sum(k in todo for k in keys)
        if todo:
            before = snapshot(backend)
            self._generate(backend, todo, results)
            self.summary.api = sum_usage(self.summary.api, spent(before, backend))
        self.summary.generated_now += len(todo)
        for key in keys:
            self.summary.statuses[results[key].status] += 1
        return [results[k] for k in keys]

    def run_items(
        self, backend: Backend, per_item: Sequence[Sequence[Request]]
    ) -> list[list[Generated]]:
        """:meth:`run` over every item's requests at once, regrouped by item."""
        flat = self.run(backend, [r for requests in per_item for r in requests])
        out, start = [], 0
        for requests in per_item:
            out.append(flat[start : start + len(requests)])
            start += len(requests)
        return out

    def _generate(
        self, backend: Backend, todo: Mapping[str, Request], results: dict[str, Generated]
    ) -> None:
        pending = dict(todo)
        for _ in range(self.max_retries + 1):
            if not pending:
                break
            groups: dict[tuple[bool, GenerationParams], list[str]] = defaultdict(list)
            for key, request in pending.items():
                done = results[key].attempts if key in results else 0
                params = replace(request.params, seed=request.params.seed + done)
                groups[(isinstance(request.prompt, str), params)].append(key)
            for (raw, params), group in groups.items():
                prompts = [pending[k].prompt for k in group]
                call = backend.complete if raw else backend.chat
                outputs = call(prompts, params)  # type: ignore[operator, arg-type]
                for key, completion in zip(group, outputs):
                    results[key] = self._judge(pending[key], completion, results.get(key))
            for kind in {r.kind for r in pending.values()}:
                self.store.put_many(
                    (
                        (k, asdict(results[k]), results[k].ok)
                        for k, r in pending.items()
                        if r.kind == kind
                    ),
                    kind=f"generate/{kind}",
                )
            pending = {k: r for k, r in pending.items() if not results[k].ok}

    def _judge(
        self, request: Request, completion: Completion, previous: Generated | None
    ) -> Generated:
        self.summary.prompt_tokens += completion.prompt_tokens
        self.summary.completion_tokens += completion.completion_tokens
        text, status = request.check(completion)
        return Generated(
            text=text if status == "ok" else "",
            status=status,
            raw=(completion.error or completion.text) if status != "ok" else "",
            finish_reason=completion.finish_reason,
            attempts=(previous.attempts if previous else 0) + 1,
            prompt_tokens=(previous.prompt_tokens if previous else 0) + completion.prompt_tokens,
            completion_tokens=(previous.completion_tokens if previous else 0)
            + completion.completion_tokens,
        )
