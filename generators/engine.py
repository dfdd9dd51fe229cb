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
over all runs, not counting tries the backend failed to answer) samples with ``seed + a``. Generators derive base seeds with
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
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ultrajudge.judge.backends.base import Backend
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.runner import BackendUnreachable, Job, Retry, RunSummary, run_job
from ultrajudge.judge.store import ResultStore, make_key
from ultrajudge.judge.types import (
    Completion,
    GenerationParams,
    Message,
    failure_status,
    final_failure,
)

#: ``(cleaned text, status)``; status ``"ok"`` accepts the text.
Outcome = tuple[str, str]
Check = Callable[[Completion], Outcome]


def basic_check(completion: Completion) -> Outcome:
    """Reject a failed call (``backend_error``) and an empty text (``empty``)."""
    if completion.failed:
        return "", failure_status(completion.error)
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
    attempts: int = 1  # tries answered (a backend error is asked again with the same seed)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


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
    """Store, retry budget, batch size and progress shared by the generators of one run.

    Each :meth:`run` hands the job runner one stream of requests (a generator's whole
    stage: every row's first round, every row's answer ...): an API backend gets its
    ``concurrency`` requests in flight across all of them, with no chunk waiting for its
    slowest request; a local model gets ``batch_size`` requests per call."""

    store: ResultStore
    max_retries: int = 2
    batch_size: int = 16
    progress: bool = True
    summary: RunSummary = field(default_factory=RunSummary)
    #: Every backend a generator ran through this session, by id (the run record's judges).
    backends: dict[str, Backend] = field(default_factory=dict)
    #: When a backend stops answering: False raises :class:`BackendUnreachable`; True
    #: finishes the generators' pass from the store (see :meth:`run`).
    partial: bool = False
    #: Requests that failed in the backend after their retries (not those the server
    #: refused as requests), or were not sent after a stop, by backend id:
    #: ``(how many, the last error)``.
    backend_errors: dict[str, tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        # Generators may run on threads of their own (a pool's API members): the summary
        # and the tallies change under this lock; once ``cancel`` is set (one of them
        # stopped), the others start nothing more.
        self._lock = threading.Lock()
        self.cancel = threading.Event()

    def run(
        self, backend: Backend, requests: Sequence[Request], desc: str = "generate"
    ) -> list[Generated]:
        """The result of every request: from the store if it holds an accepted one, else
        generated by the job runner (bounded retries, next seed each time) and stored.

        The requests go to the runner grouped by their sampling parameters (first-seen
        order), so a local model's batch of ``batch_size`` shares them and is one call;
        results come back in the order of ``requests`` whatever order they were made in.

        A backend unreachable from the start, or one that stops answering partway (the
        job runner's watch), stops the run: what came back is
        stored. Then :class:`BackendUnreachable` is raised, or with ``partial`` the pass
        goes on without sending anything more: ``summary.stopped`` says why, and a request
        the store has no result for comes back failed (``backend_error``, "not sent")."""
        with self._lock:
            self.backends.setdefault(backend.id, backend)
        keys = [r.key(backend.id) for r in requests]
        if self.summary.stopped is None and not self.cancel.is_set():
            self._generate(backend, requests, keys, desc)
        stored = self.store.get_many(list(dict.fromkeys(keys)), include_failed=True)
        results = [Generated(**stored[k]) if k in stored else self._not_sent() for k in keys]
        with self._lock:
            self.summary.statuses.update(g.status for g in results)
            self._note_errors(backend.id, results)
        return results

    def _generate(
        self, backend: Backend, requests: Sequence[Request], keys: list[str], desc: str
    ) -> None:
        order = sorted(range(len(requests)), key=_groups(requests).__getitem__)
        retry, part = Retry.from_max_retries(self.max_retries), RunSummary()
        run_job(
            generation_job(backend),
            ((keys[i], requests[i]) for i in order),
            store=self.store,
            backend=backend,
            retry=retry,
            batch_size=self.batch_size,
            total=len(requests),
            progress=self.progress,
            desc=desc,
            summary=part,
            cancel=self.cancel,
        )
        called_off = part.stopped is None and self.cancel.is_set()  # another one stopped
        with self._lock:
            if called_off:  # the one that stopped says why, and raises
                part.stopped = self.summary.stopped or "called off: another generator stopped"
            elif part.stopped is None:  # a repeated request counts as reused
                part.from_store = len(requests) - part.made_now
            self.summary.add(part)
        if part.stopped is not None and not called_off:
            self.cancel.set()
            if not self.partial:  # what came back is stored
                raise BackendUnreachable(part.stopped)

    def _not_sent(self) -> Generated:
        return Generated("", "backend_error", raw=f"not sent: {self.summary.stopped}", attempts=0)

    def _note_errors(self, backend_id: str, results: Sequence[Generated]) -> None:
        """Count what failed in the backend; a request it refused as such is no outage (a
        rerun gets the same answer): it is left out like a rejected output."""
        failed = [g.raw for g in results if g.status == "backend_error" and not final_failure(g.status, g.raw)]  # fmt: skip
        if failed:
            count = self.backend_errors.get(backend_id, (0, ""))[0]
            self.backend_errors[backend_id] = (count + len(failed), failed[-1])

    def run_items(
        self, backend: Backend, per_item: Sequence[Sequence[Request]], desc: str = "generate"
    ) -> list[list[Generated]]:
        """:meth:`run` over every item's requests at once, regrouped by item."""
        flat = self.run(backend, [r for requests in per_item for r in requests], desc)
        out, start = [], 0
        for requests in per_item:
            out.append(flat[start : start + len(requests)])
            start += len(requests)
        return out


def _groups(requests: Sequence[Request]) -> list[int]:
    """Each request's group: the first-seen rank of its (raw prompt?, parameters)."""
    rank: dict[tuple[bool, GenerationParams], int] = {}
    return [rank.setdefault(_call_of(r), len(rank)) for r in requests]


def _call_of(request: Request) -> tuple[bool, GenerationParams]:
    return isinstance(request.prompt, str), request.params


def generation_job(backend: Backend) -> Job[Request, Generated]:
    """Generation as a :class:`~ultrajudge.judge.runner.Job` (store kind ``generate/<kind>``).
    Try ``a`` of a request (counted over all runs) samples with ``seed + a``; requests that
    share their parameters go to the backend in one call."""

    def attempt(
        requests: Sequence[Request], previous: Sequence[Generated | None], n: int
    ) -> list[Generated]:
        groups: dict[tuple[bool, GenerationParams], list[int]] = defaultdict(list)
        for i, (request, prev) in enumerate(zip(requests, previous)):
            done = prev.attempts if prev is not None else 0
            params = replace(request.params, seed=request.params.seed + done)
            groups[(isinstance(request.prompt, str), params)].append(i)
        out: list[Generated | None] = [None] * len(requests)
        for (raw, params), group in groups.items():
            call = backend.complete if raw else backend.chat
            outputs = call([requests[i].prompt for i in group], params)  # type: ignore[operator, arg-type, misc]
            for i, completion in zip(group, outputs):
                out[i] = _checked(requests[i], completion, previous[i])
        return out  # type: ignore[return-value]

    return Job(
        kind=lambda request: f"generate/{request.kind}",
        attempt=attempt,
        outcome=lambda g: "ok" if g.ok else "failed" if final_failure(g.status, g.raw) else "retry",
        encode=asdict,
        decode=lambda d: Generated(**d),
        tokens=lambda g: (g.prompt_tokens, g.completion_tokens),
        error=lambda g: (g.raw or "backend error") if g.status == "backend_error" else None,
    )


def _checked(request: Request, completion: Completion, previous: Generated | None) -> Generated:
    text, status = request.check(completion)
    return Generated(
        text=text if status == "ok" else "",
        status=status,
        raw=(completion.error or completion.text) if status != "ok" else "",
        finish_reason=completion.finish_reason,
        attempts=(previous.attempts if previous else 0) + (status != "backend_error"),
        prompt_tokens=(previous.prompt_tokens if previous else 0) + completion.prompt_tokens,
        completion_tokens=(previous.completion_tokens if previous else 0)
        + completion.completion_tokens,
    )
