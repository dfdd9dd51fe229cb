"""Any OpenAI-compatible server as a judge: OpenAI, vLLM, SGLang, TGI, Ollama, llama.cpp.

Spec ``openai:<model>``. Options (strings from the CLI are converted):

``base_url``            server URL (default ``$OPENAI_BASE_URL`` or api.openai.com)
``api_key``             the key itself; default: see below. ``"EMPTY"`` for a server without one
``api_key_env``         name of the environment variable holding the key (``TOGETHER_API_KEY``)
``server_kind``         profile in :mod:`ultrajudge.judge.backends.profiles` (default ``openai``
                        for api.openai.com, else ``generic``)
``concurrency``         requests in flight at once (16)
``rpm`` / ``tpm``       requests / tokens per minute (token buckets; unlimited)
``timeout``             seconds per request (60; a server that hangs is pushback)
``backoff_base`` / ``backoff_max``  how the run backs off from this server when it pushes
                        back without naming a wait: exponential with jitter (1 / 60 s)
``price_in`` / ``price_out``        USD per million tokens (default: :data:`DEFAULT_PRICES`)
``progress``            tqdm bar on a terminal (true)
``max_context``         the model's context in tokens: a prompt longer (with ``max_tokens``) is
                        not sent; its item fails ``too_long``. Estimated at 4 characters a
                        token; near the limit counted by the server where it can (vLLM).
                        Default: the ``max_model_len`` the server lists for the model in
                        ``GET /v1/models`` (vLLM), asked once; else unknown (all is sent)

The key is read when the backend is built, and ``$OPENAI_API_KEY`` only goes where the
OpenAI SDK itself would send it: to api.openai.com, or to ``$OPENAI_BASE_URL`` when
that is the base URL. Any other host gets ``api_key``, the variable ``api_key_env``
names, or no key (``EMPTY``), so a key for OpenAI never leaks to a third-party server.

The calls are synchronous and thread-safe: a call with one item sends its request from
the calling thread (the job runner's window is ``concurrency`` such threads), a call with
several sends them from the backend's own ``concurrency`` threads; either way
``concurrency`` bounds all calls together, from any thread, and connections are reused
across calls (blocking ``OpenAI`` clients, closed by ``close()`` or when the backend is
collected). Blocking clients in threads, not an event loop: at 64 requests in flight on
a 2-core machine, the hand-off of every request between the caller's thread and a loop
thread, and anyio's per-request overhead, cost more CPU than the requests themselves
(``bench/bench_concurrency.py --skewed``). Each request is sent once: a failed
one comes back as an item with ``error`` set, never as an exception, and the job runner's
one retry policy (``--max-retries``) asks it again, unless the server refused the request
as such (4xx but 408 and 429, or 429 for an exhausted quota): its error starts with
``refused:`` and it is final. When the server pushes back (429 with
its ``Retry-After``, 408, 5xx, a timeout, a dropped connection) the backend also notes it
on its :class:`~ultrajudge.judge.backoff.Pushback`, from which the runner paces every
worker of the run. A 401 is final: the key is wrong for every request, so the rest are
not sent and the call raises :class:`~ultrajudge.judge.errors.AuthError`. The API key
never appears in ``id``, ``repr``, results or error messages.

Logprob scoring with an ``assistant_prefix`` needs a server that continues a
final assistant message (profiles with ``continue_final_message``: vLLM,
SGLang). Elsewhere (OpenAI, TGI, ...) the prefix cannot be forced, and such a
request comes back with ``error`` set instead of a distribution read at the
wrong position: put the prefix's instruction into the prompt and pass
``assistant_prefix=""`` for those servers.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import math
import os
import re
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlparse

from tqdm import tqdm

from ultrajudge.judge.backends.base import register_backend
from ultrajudge.judge.backends.context_limit import (
    COUNTED,
    OPTION,
    ask_server,
    count_prompt,
    tokenize_url,
)
from ultrajudge.judge.backends.profiles import ServerProfile, get_profile, structured_fields
from ultrajudge.judge.backoff import Pushback
from ultrajudge.judge.errors import AuthError, ConfigError
from ultrajudge.judge.ratelimit import TokenBucket, parse_retry_after
from ultrajudge.judge.types import (
    REFUSED,
    TOO_LONG,
    Capabilities,
    Completion,
    Conversation,
    GenerationParams,
    LogprobRequest,
    Message,
    TokenDistribution,
    as_messages,
)

logger = logging.getLogger(__name__)  # a child of the "ultrajudge" logger

R = TypeVar("R")
OPENAI_URL = "https://api.openai.com/v1"

#: Default list prices of api.openai.com models, USD per million (input, output)
#: tokens, as published in 2025 (cached-input discounts ignored). A default to
#: override with ``price_in``/``price_out``: prices change. Dated snapshots
#: (``gpt-4o-mini-2024-07-18``) use the price of their longest listed prefix.
DEFAULT_PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}

_HINTS = {
    401: " Check api_key / OPENAI_API_KEY.",
    403: " Check the key's permissions.",
    404: " Check the model name and base_url (it usually ends in /v1).",
}
_KEYLIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*]{3,}")


@dataclass
class Usage:
    """Running totals of one backend: requests sent, failed items, tokens, fallbacks."""

    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fallbacks: Counter[str] = field(default_factory=Counter)


def judge_identity(model: str, base_url: str, server_kind: str) -> str:
    """The judge id of a model behind a server: everything that changes its answers, the
    full base URL (scheme, host, port, path) and the server kind, so two servers on one
    host never share store keys.

    >>> judge_identity("m", "http://127.0.0.1:8000/v1/", "vllm")
    'openai:m@http://127.0.0.1:8000/v1 (vllm)'
    """
    parts = urlparse(base_url)
    url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl().rstrip("/")
    return f"openai:{model}@{url} ({server_kind})"


#: Connections per client pool (see ``OpenAIBackend._get_connections``).
POOL_CONNECTIONS = 8


@functools.lru_cache(maxsize=1)
def _http_client_type() -> type:
    """The SDK's own HTTP client (its defaults: timeouts, limits, redirects, proxies from the
    environment) with parsed request URLs kept.

    The SDK renders each request's URL to a string and the HTTP client parses it again,
    host included; an IP-address host (``127.0.0.1``, the usual vLLM base URL) goes
    through :mod:`ipaddress` every time, about a tenth of the client's CPU per request at
    300 requests a second (``bench/bench_concurrency.py --skewed``). A backend sends to
    one or two URLs, so it parses each once; URLs are immutable, so sharing one between
    threads and requests is safe. ``build_request`` is the HTTP client's public hook for
    this; everything else is the SDK's client unchanged.
    """
    import openai

    base: type = openai.DefaultHttpxClient

    class _ParsedURLClient(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._parsed: dict[str, Any] = {}

        def build_request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(url, str):
                parsed = self._parsed.get(url)
                if parsed is None:
                    parsed = type(self.base_url)(url)
                    if len(self._parsed) < 64:
                        self._parsed[url] = parsed
                url = parsed
            return super().build_request(method, url, *args, **kwargs)

    return _ParsedURLClient


def _tls_context(client_type: type) -> Any:
    """One TLS context for all of a backend's clients, made by the HTTP library's own
    function with the arguments each client would use for itself (certificates from
    ``SSL_CERT_FILE``/``SSL_CERT_DIR`` or the bundled set): loading the certificates is
    20 ms a client, most of the time to a run's first request. A context is made to be
    shared by connections and threads."""
    library = next(
        sys.modules[c.__module__.partition(".")[0]]
        for c in client_type.__mro__
        if c.__module__.partition(".")[0] in ("httpx", "httpx2")
    )
    return library.create_ssl_context(verify=True, trust_env=True)


class MalformedResponse(Exception):
    """The server answered 200 with a body that is not a usable completion."""


class RequestFailed(Exception):
    """A request was not answered (or not sent); ``str(exc)`` says why."""


@dataclass(frozen=True)
class Failure:
    """How a failed request is reported: its message, and whether it is the server pushing
    back (worth waiting for before asking again) with the wait it asked for."""

    message: str
    pushback: bool = False
    retry_after: float | None = None


class _Connections:
    """The backend's clients (blocking and thread-safe, one connection pool each), the bound
    on requests in flight from all threads together, and the threads that send the
    requests of a call with several items. One per backend, made on first use."""

    def __init__(self, clients: Sequence[Any], concurrency: int) -> None:
        self.clients = list(clients)
        self._next = itertools.count()
        self.slots = threading.BoundedSemaphore(concurrency)
        self.in_flight = 0
        self.workers = ThreadPoolExecutor(concurrency, thread_name_prefix="ultrajudge-openai")

    def client(self) -> Any:
        """The next client, round robin (each has its own connection pool)."""
        return self.clients[next(self._next) % len(self.clients)]

    def close(self) -> None:
        self.workers.shutdown(wait=False, cancel_futures=True)
        for client in self.clients:
            with contextlib.suppress(Exception):  # closing connections is best effort
                client.close()


@dataclass
class OpenAIBackend:
    """An OpenAI-protocol server; see the module docstring for the options."""

    model: str
    base_url: str = OPENAI_URL
    api_key: str = field(default="EMPTY", repr=False)
    profile: ServerProfile = field(default_factory=lambda: get_profile("generic"))
    concurrency: int = 16
    timeout: float = 60.0
    pushback: Pushback = field(default_factory=Pushback)
    rpm: float | None = None
    tpm: float | None = None
    prices: tuple[float, float] | None = None
    progress: bool = True
    max_context: int | None = None  # tokens; a prompt estimated above it is not sent
    id: str = field(init=False)
    capabilities: Capabilities = field(init=False)
    usage: Usage = field(init=False, default_factory=Usage)
    #: What the server reported running (``model``, ``system_fingerprint``): the run record.
    resolved: dict[str, str | int | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        self.id = judge_identity(self.model, self.base_url, self.profile.kind)
        self.capabilities = replace(
            self.profile.capabilities(),
            concurrent_requests=self.concurrency,
            max_context=self.max_context,
        )
        self._buckets = (
            TokenBucket(self.rpm) if self.rpm else None,
            TokenBucket(self.tpm) if self.tpm else None,
        )
        self._lock = threading.Lock()
        self._limit_lock = threading.Lock()
        self._limit_known = self.max_context is not None  # else asked of the server once
        self._tokenize = self.profile.tokenize_endpoint  # until the server cannot
        if self._limit_known:
            self.resolved.update(max_context=self.max_context, max_context_source=OPTION)
        self._warned: set[str] = set()
        self._connections: _Connections | None = None
        self._finalizer: weakref.finalize | None = None
        self._refused: AuthError | None = None  # a 401: final for the whole run

    def close(self) -> None:
        """Close connections and stop the backend's threads (also done when it is collected)."""
        if self._finalizer is not None:
            self._finalizer()
            self._connections = self._finalizer = None

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the Protocol ----------------------------------------------------------

    def chat(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[Completion]:
        return self._chat_all(conversations, params, None)

    def complete(self, prompts: Sequence[str], params: GenerationParams) -> list[Completion]:
        def one(prompt: str) -> Completion:
            kwargs = {"model": self.model, "prompt": prompt, **_sampling(params, "max_tokens")}
            return self._request("completions", kwargs, _completions)[0]

        return self._run([functools.partial(one, prompt=p) for p in prompts], self._failed)

    def next_token_logprobs(
        self, requests: Sequence[LogprobRequest], *, candidates: Sequence[str] = (), top_k: int = 20
    ) -> list[TokenDistribution]:
        """Top alternatives of the first generated token; ``candidates`` only widen ``top_k``.

        An API cannot be asked for given tokens, so a candidate outside the
        server's top-k is simply absent from the result.
        """
        k = min(max(top_k, len(candidates)), self.profile.max_top_logprobs)
        jobs = [functools.partial(self._logprob_one, req=r, k=k) for r in requests]
        return self._run(jobs, lambda msg: TokenDistribution({}, error=msg))

    # -- beyond the Protocol ---------------------------------------------------

    def chat_structured(
        self,
        conversations: Sequence[Conversation],
        params: GenerationParams,
        *,
        json_schema: Mapping[str, Any] | None = None,
        regex: str | None = None,
    ) -> list[Completion]:
        """Like :meth:`chat`, with the output constrained in the server's dialect.

        Where the server kind has no way to express the constraint, the requests
        go out unconstrained (a warning, ``usage.fallbacks["structured_unsupported"]``).
        Either way the caller still parses and validates what comes back.
        """
        fields = structured_fields(
            self.profile.structured_output, json_schema=json_schema, regex=regex
        )
        if fields is None:
            what = "a regex" if regex is not None else "a JSON schema"
            self._fallback(
                "structured_unsupported",
                f"server_kind={self.profile.kind!r} cannot constrain output by {what}; "
                "sending unconstrained requests",
                len(conversations),
            )
        return self._chat_all(conversations, params, fields)

    def sample(
        self, conversations: Sequence[Conversation], params: GenerationParams, *, n: int
    ) -> list[list[Completion]]:
        """``n`` completions per conversation: one request with ``n`` where the server
        honours it, else (or for what it left out) one request per sample with seeds
        ``params.seed + i``. Token counts of a multi-choice response sit on its first choice.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        jobs = [
            functools.partial(self._sample_one, conv=as_messages(c), params=params, n=n)
            for c in conversations
        ]
        return self._run(jobs, lambda msg: [self._failed(msg)] * n)

    def cost_usd(self) -> float | None:
        """Cost of the tokens used so far; None when the price is unknown (not zero)."""
        prices = self.prices
        if prices is None and self.profile.kind == "openai":
            prices = default_price(self.model)
        if prices is None:
            return None
        return (
            self.usage.prompt_tokens * prices[0] + self.usage.completion_tokens * prices[1]
        ) / 1e6

    # -- requests ----------------------------------------------------------------

    def _chat_all(
        self,
        conversations: Sequence[Conversation],
        params: GenerationParams,
        extra: dict[str, Any] | None,
    ) -> list[Completion]:
        def one(conv: Conversation) -> Completion:
            kwargs = self._chat_kwargs(as_messages(conv), params, extra_body=extra)
            return self._request("chat", kwargs, _chat_completions)[0]

        return self._run([functools.partial(one, conv=c) for c in conversations], self._failed)

    def _chat_kwargs(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        *,
        n: int = 1,
        extra_body: dict | None = None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [m.as_dict() for m in messages],
            **_sampling(params, self.profile.max_tokens_field),
        }
        if n > 1:
            kwargs["n"] = n
        if extra_body:
            kwargs["extra_body"] = extra_body
        return kwargs

    def _sample_one(self, conv: Conversation, params: GenerationParams, n: int) -> list[Completion]:
        asked = n if self.profile.supports_n else 1
        got = (self._request("chat", self._chat_kwargs(conv, params, n=asked), _chat_completions))[
            :n
        ]
        if len(got) < asked:
            self._fallback(
                "n_ignored",
                f"asked for n={asked} but the server returned {len(got)} choice(s); "
                "sending one request per missing sample, with distinct seeds",
            )

        def extra(seed: int) -> Completion:  # one after another: a degraded path, rarely taken
            kwargs = self._chat_kwargs(conv, replace(params, seed=seed))
            try:
                return self._request("chat", kwargs, _chat_completions)[0]
            except RequestFailed as exc:
                return self._failed(str(exc))

        return got + [extra(params.seed + i) for i in range(len(got), n)]

    def _logprob_one(self, req: LogprobRequest, k: int) -> TokenDistribution:
        kind = self.profile.kind
        if k < 1:
            return TokenDistribution(
                {},
                error=(
                    f"server_kind={kind!r} declares no logprobs; pass the server_kind of a server "
                    "that returns them (openai, vllm, sglang, tgi, llamacpp) or use generate mode"
                ),
            )
        if req.raw_prompt is not None:
            kwargs = {
                "model": self.model,
                "prompt": req.raw_prompt + req.assistant_prefix,
                "max_tokens": 1,
                "temperature": 1.0,
                "logprobs": k,
            }
            return self._request(
                "completions", kwargs, lambda r: self._read_logprobs(r, k, chat=False)
            )
        messages, extra = list(req.messages), None
        if req.assistant_prefix:
            if not self.profile.continue_final_message:
                return TokenDistribution(
                    {},
                    error=(
                        f"server_kind={kind!r} cannot continue an assistant prefix, so the "
                        "next-token distribution after it cannot be read; use a server that can "
                        "(server_kind=vllm or sglang), a prompt whose answer starts with the score "
                        "(ultrajudge score --per-completion; in Python assistant_prefix=''), "
                        "or generate mode"
                    ),
                )
            messages.append(Message("assistant", req.assistant_prefix))
            extra = {"continue_final_message": True, "add_generation_prompt": False}
        # temperature 1: servers that report post-processing logprobs then report the model's own.
        kwargs = self._chat_kwargs(
            messages, GenerationParams(max_new_tokens=1, temperature=1.0), extra_body=extra
        )
        kwargs.update(logprobs=True, top_logprobs=k)
        return self._request("chat", kwargs, lambda r: self._read_logprobs(r, k, chat=True))

    def _read_logprobs(self, response: Any, k: int, *, chat: bool) -> TokenDistribution:
        choice = _choices(response)[0]
        prompt_tokens = _get(_get(response, "usage"), "prompt_tokens") or 0
        logprobs = _get(choice, "logprobs")
        if chat:
            first = (_get(logprobs, "content") or [None])[0]
            pairs = [
                (_get(t, "token"), _get(t, "logprob")) for t in _get(first, "top_logprobs") or ()
            ]
        else:
            first = (_get(logprobs, "top_logprobs") or [None])[0]
            pairs = list((first or {}).items())
        dist: dict[str, float] = {}
        for token, lp in pairs:  # distinct tokens may decode to the same text: add their mass
            if isinstance(token, str) and isinstance(lp, (int, float)) and math.isfinite(lp):
                dist[token] = float(lp) if token not in dist else _logaddexp(dist[token], lp)
        if not dist:
            self._fallback(
                "logprobs_absent", f"logprobs were asked for (top {k}) but the server returned none"
            )
            return TokenDistribution(
                {},
                prompt_tokens,
                error=(
                    f"the server returned no logprobs (server_kind={self.profile.kind!r}); "
                    "it may not support them: use generate mode"
                ),
            )
        if len(pairs) < k:
            self._fallback(
                "top_logprobs_truncated",
                f"asked for top {k} logprobs, the server returned {len(pairs)}",
            )
        return TokenDistribution(dist, prompt_tokens)

    def _request(self, endpoint: str, kwargs: dict[str, Any], parse: Callable[[Any], R]) -> R:
        """One request, sent once (the job runner retries); raises :class:`RequestFailed`."""
        conns = self._get_connections()
        estimate = _estimate_tokens(kwargs)
        if not self._limit_known:
            self._learn_limit(conns)
        if self.max_context is not None and estimate > self.max_context // 2:
            self._check_fits(conns, kwargs, estimate, self.max_context)
        with conns.slots:
            if self._refused is not None:  # one 401 is enough: the rest are never sent
                raise RequestFailed(str(self._refused))
            conns.in_flight += 1  # a gauge for the progress bar: no lock needed
            try:
                return self._send(conns.client(), endpoint, kwargs, parse, estimate)
            finally:
                conns.in_flight -= 1

    def _check_fits(
        self, conns: _Connections, kwargs: dict[str, Any], estimate: int, limit: int
    ) -> None:
        """Raise ``too_long`` when the prompt and ``max_tokens`` do not fit ``limit``: the
        prompt counted by the server where it can (see :mod:`.context_limit`), else the
        estimate decides."""
        import openai

        out = _output_tokens(kwargs)
        counted = None
        if self._tokenize:
            try:
                with conns.slots:
                    counted = count_prompt(
                        conns.client(), tokenize_url(self.base_url), kwargs, min(self.timeout, 10.0)
                    )
            except openai.OpenAIError as exc:  # busy or slow: the estimate, for this one only
                why = _classify(exc, self.timeout).message
                self._fallback("prompt_count_failed", f"POST /tokenize: {why}; estimated instead")
            else:
                self._counted(counted)
        if counted is not None and counted + out > limit:
            how = f"{counted} prompt tokens (counted by the server) and max_tokens {out}"
        elif counted is None and estimate > limit:
            how = f"about {estimate} tokens (the prompt at 4 characters a token, plus max_tokens)"
        else:
            return
        raise RequestFailed(
            f"{TOO_LONG} {how} do not fit max_context={limit} "
            f"({self.resolved.get('max_context_source')}); not sent. Shorten the input, or "
            "pass -O max_context with the server's real limit"
        )

    def _counted(self, count: int | None) -> None:
        """Note how prompts are counted; a server that cannot count is not asked again."""
        if count is None:  # an older server, or another kind: the estimate decides
            self._tokenize = False
        how = COUNTED if count is not None else "estimate (POST /tokenize failed)"
        if self.resolved.get("prompt_count") != how:
            with self._lock:
                self.resolved["prompt_count"] = how

    def _learn_limit(self, conns: _Connections) -> None:
        """Ask the server for the model's context once (the other threads wait for it)."""
        with self._limit_lock:
            if self._limit_known:
                return
            limit, source = ask_server(conns.client(), self.model, min(self.timeout, 10.0))
            self.max_context, self._limit_known = limit, True
            self.capabilities = replace(self.capabilities, max_context=limit)
            self.resolved.update(max_context=limit, max_context_source=source)

    def _send(
        self,
        client: Any,
        endpoint: str,
        kwargs: dict[str, Any],
        parse: Callable[[Any], R],
        estimate: int,
    ) -> R:
        """Rate limits, the request, accounting; a failure raises :class:`RequestFailed`
        after noting the server's pushback, if it was that."""
        import openai

        path = "/chat/completions" if endpoint == "chat" else "/completions"
        body = {k: v for k, v in kwargs.items() if k != "extra_body"} | (kwargs.get("extra_body") or {})  # fmt: skip
        rpm, tpm = self._buckets
        if rpm is not None:
            rpm.acquire(1)
        if tpm is not None:
            tpm.acquire(estimate)
        with self._lock:
            self.usage.requests += 1
        try:
            # The SDK's documented raw route (``client.post``): the typed ``create`` walks
            # every parameter through its TypedDict transform and builds pydantic models of
            # the answer, a quarter of the client's CPU per request at high concurrency; the
            # body here is plain JSON already and is read as a dict.
            # ``timeout`` bounds each wait (connect, send, each read): a server computing a
            # whole completion sends nothing until it is done, so for these requests it
            # is the time to the answer.
            response = client.post(
                path, body=body, cast_to=object, options={"timeout": self.timeout}
            )
            used = self._account(response)
            if tpm is not None and used:
                tpm.adjust(used - estimate)
            return parse(response)
        except openai.AuthenticationError:
            self._refused = AuthError(
                f"{self.id}: the server refused the API key (HTTP 401); check api_key, "
                "api_key_env or OPENAI_API_KEY, then rerun: what was judged is in the store"
            )
            raise RequestFailed(str(self._refused)) from None
        except Exception as exc:  # every other failure is reported as the item's error
            failure = _classify(exc, self.timeout)
            if failure.pushback:
                self.pushback.note(failure.retry_after)
            raise RequestFailed(failure.message) from exc

    # -- running -----------------------------------------------------------------

    def _run(self, jobs: Sequence[Callable[[], R]], failed: Callable[[str], R]) -> list[R]:
        """Each job's result (``failed(message)`` for a request that failed): one job in the
        calling thread, several on the backend's threads."""
        if len(jobs) == 1:  # the job runner's window: no bar, no hand-off to another thread
            results = [self._item(jobs[0], failed, None)]
        else:
            results = self._on_workers(jobs, failed)
        if self._refused is not None:
            raise self._refused
        return results

    def _on_workers(self, jobs: Sequence[Callable[[], R]], failed: Callable[[str], R]) -> list[R]:
        conns = self._get_connections()
        disable = not (self.progress and sys.stderr.isatty()) or not jobs
        with tqdm(total=len(jobs), desc=self.id, unit="req", disable=disable, leave=False) as bar:
            futures = [conns.workers.submit(self._item, job, failed, bar) for job in jobs]
            try:
                return [f.result() for f in futures]
            except BaseException:  # e.g. KeyboardInterrupt: send nothing more
                for f in futures:
                    f.cancel()
                raise

    def _get_connections(self) -> _Connections:
        if self._connections is not None:  # made once; every request asks
            return self._connections
        with self._lock:
            if self._connections is None:
                import openai

                # Connection pools of at most POOL_CONNECTIONS: httpcore checks every pooled
                # connection for expiry on each request and each response, so one pool of
                # 64 connections costs the client more CPU per request than the request
                # itself; several small pools keep that scan short.
                http_client = _http_client_type()
                tls = _tls_context(http_client)
                clients = [
                    openai.OpenAI(
                        api_key=self.api_key,
                        base_url=self.base_url,
                        max_retries=0,
                        http_client=http_client(verify=tls),
                    )
                    for _ in range(-(-self.concurrency // POOL_CONNECTIONS))
                ]
                self._connections = _Connections(clients, self.concurrency)
                self._finalizer = weakref.finalize(self, self._connections.close)
            return self._connections

    def _item(self, job: Callable[[], R], failed: Callable[[str], R], bar: Any) -> R:
        try:
            result = job()
        except RequestFailed as exc:
            result = failed(self._redact(str(exc)))
        items = result if isinstance(result, list) else [result]
        errors = sum(getattr(r, "error", None) is not None for r in items)
        if errors:
            with self._lock:
                self.usage.errors += errors
        if bar is not None and not bar.disable:
            bar.update(1)
            in_flight = self._connections.in_flight if self._connections else 0
            bar.set_postfix(in_flight=in_flight, errors=self.usage.errors, refresh=False)
        return result

    def _failed(self, message: str) -> Completion:
        return Completion("", finish_reason="error", error=self._redact(message))

    def _redact(self, text: str) -> str:
        if self.api_key and self.api_key != "EMPTY":
            text = text.replace(self.api_key, "***")
        return _KEYLIKE.sub("sk-***", text)

    def _account(self, response: Any) -> int:
        usage = _get(response, "usage")
        prompt = _get(usage, "prompt_tokens") or 0
        completion = _get(usage, "completion_tokens") or 0
        with self._lock:
            self.usage.prompt_tokens += prompt
            self.usage.completion_tokens += completion
        for name in ("model", "system_fingerprint"):  # what the server says it ran
            value = _get(response, name)
            if isinstance(value, str) and value:
                self.resolved[name] = value
        return prompt + completion

    def _fallback(self, kind: str, message: str, count: int = 1) -> None:
        with self._lock:
            self.usage.fallbacks[kind] += count
            first = kind not in self._warned
            self._warned.add(kind)
        if first:
            logger.warning("%s: %s (counted in usage.fallbacks[%r])", self.id, message, kind)


# -- helpers ---------------------------------------------------------------------


def _classify(exc: Exception, timeout: float) -> Failure:
    """What a failed request reports: 429 (except out of credit), 408, 5xx, timeouts and
    dropped connections are the server pushing back; the rest are plain failures."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        pushback = status in (408, 429) or status >= 500
        if status == 429 and exc.code == "insufficient_quota":
            pushback = False  # out of credit: waiting will not help
        detail = re.sub(r"^Error code: \d+ - ", "", str(exc.message))[:300]
        message = f"HTTP {status}: {detail.rstrip('. ')}.{_HINTS.get(status, '')}"
        if 400 <= status < 500 and not pushback:  # asking again gets the same answer
            message = f"{REFUSED} {message}"
        return Failure(message, pushback, parse_retry_after(exc.response.headers))
    if isinstance(exc, openai.APITimeoutError):
        return Failure(f"timed out: no answer within {timeout:g} s (option timeout)", True)
    if isinstance(exc, openai.APIConnectionError):
        return Failure(f"connection error: {exc.__cause__ or exc}", True)
    if isinstance(
        exc,
        (
            openai.APIResponseValidationError,
            MalformedResponse,
            json.JSONDecodeError,
            AttributeError,
            TypeError,
            KeyError,
            IndexError,
        ),
    ):
        return Failure(f"malformed response body: {type(exc).__name__}: {str(exc)[:300]}")
    return Failure(f"{type(exc).__name__}: {str(exc)[:300]}")


def _sampling(params: GenerationParams, max_tokens_field: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        max_tokens_field: params.max_new_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "seed": params.seed,
    }
    if params.stop:
        kwargs["stop"] = list(params.stop)
    return kwargs


def _get(obj: Any, name: str) -> Any:
    """Attribute or key ``name`` of a response part (SDK object or plain dict), else None."""
    if obj is None:
        return None
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _choices(response: Any) -> list[Any]:
    choices = _get(response, "choices") if not isinstance(response, str) else None
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse(f"no choices in the response ({str(response)[:200]!r})")
    return sorted(choices, key=lambda c: _get(c, "index") or 0)


def _to_completions(response: Any, text_of: Callable[[Any], str | None]) -> list[Completion]:
    usage = _get(response, "usage")
    prompt, completion = _get(usage, "prompt_tokens") or 0, _get(usage, "completion_tokens") or 0
    out = []
    for i, choice in enumerate(_choices(response)):
        finish = "length" if _get(choice, "finish_reason") == "length" else "stop"
        tokens = (prompt, completion) if i == 0 else (0, 0)
        out.append(Completion(text_of(choice) or "", *tokens, finish))
    return out


def _chat_completions(response: Any) -> list[Completion]:
    return _to_completions(response, lambda c: _get(_get(c, "message"), "content"))


def _completions(response: Any) -> list[Completion]:
    return _to_completions(response, lambda c: _get(c, "text"))


def _logaddexp(a: float, b: float) -> float:
    """``log(exp(a) + exp(b))`` without overflow."""
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def _estimate_tokens(kwargs: Mapping[str, Any]) -> int:
    text = kwargs.get("prompt") or "".join(m["content"] for m in kwargs.get("messages", ()))
    return len(text) // 4 + 1 + _output_tokens(kwargs)


def _output_tokens(kwargs: Mapping[str, Any]) -> int:
    out = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens") or 0
    return int(out) * int(kwargs.get("n", 1))


def default_price(model: str) -> tuple[float, float] | None:
    """List price of ``model`` (or of the longest listed prefix of a dated snapshot)."""
    matches = [name for name in DEFAULT_PRICES if model == name or model.startswith(name + "-")]
    return DEFAULT_PRICES[max(matches, key=len)] if matches else None


# -- the factory ---------------------------------------------------------------------

_OPTIONS = (
    "base_url",
    "api_key",
    "api_key_env",
    "server_kind",
    "concurrency",
    "rpm",
    "tpm",
    "timeout",
    "backoff_base",
    "backoff_max",
    "price_in",
    "price_out",
    "progress",
    "max_context",
)


#: Options of the backend's own retry loop, which is gone (the runner retries).
_REMOVED = ("max_attempts", "max_request_seconds")


def _option(
    options: Mapping[str, Any], name: str, cast: Callable[[Any], Any], default: Any = None
) -> Any:
    value = options.get(name)
    if value is None or value == "":
        return default
    try:
        result = cast(value)
    except (TypeError, ValueError):
        kind = {"_flag": "boolean"}.get(cast.__name__, cast.__name__)
        raise ConfigError(
            f"option {name}={value!r} for the openai backend is not a valid {kind}"
        ) from None
    if isinstance(result, (int, float)) and result < 0:
        raise ConfigError(f"option {name}={value!r} for the openai backend must be >= 0")
    return result


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(value)


def _api_key(options: Mapping[str, Any], *, trusted: bool) -> str:
    """``api_key``, else the variable ``api_key_env`` names, else ``$OPENAI_API_KEY`` where
    the OpenAI SDK would send it too (``trusted``), else "" (no key)."""
    if options.get("api_key"):
        return str(options["api_key"])
    name = options.get("api_key_env")
    if name:
        if not os.environ.get(str(name)):
            raise ConfigError(
                f"api_key_env={name!r} names an environment variable that is not set or empty"
            )
        return os.environ[str(name)]
    return os.environ.get("OPENAI_API_KEY", "") if trusted else ""


@register_backend("openai")
def build_openai(target: str, **options: Any) -> OpenAIBackend:
    """``openai:<model>``; the API key comes from ``api_key`` or ``$OPENAI_API_KEY``, read now."""
    gone = sorted(set(options) & set(_REMOVED))
    if gone:
        raise ConfigError(
            f"option(s) {gone} of the openai backend are gone: a request is sent once and the "
            "run retries it (--max-retries N: N tries after the first, within the run's time "
            "budget per item); drop the option(s)"
        )
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for the openai backend; options are {list(_OPTIONS)}"
        )
    env_url = (os.environ.get("OPENAI_BASE_URL") or "").rstrip("/")
    base_url = str(options.get("base_url") or env_url or OPENAI_URL).rstrip("/")
    on_openai = urlparse(base_url).hostname == "api.openai.com"
    kind = str(options.get("server_kind") or ("openai" if on_openai else "generic"))
    api_key = _api_key(options, trusted=on_openai or (bool(env_url) and base_url == env_url))
    if not api_key and on_openai:
        raise ConfigError(
            "no API key for api.openai.com: set OPENAI_API_KEY or pass the api_key option"
        )
    price_in, price_out = _option(options, "price_in", float), _option(options, "price_out", float)
    if (price_in is None) != (price_out is None):
        raise ConfigError("pass both price_in and price_out (USD per million tokens), or neither")
    try:
        pushback = Pushback(
            base=_option(options, "backoff_base", float, 1.0),
            cap=_option(options, "backoff_max", float, 60.0),
        )
    except ValueError as exc:
        raise ConfigError(f"openai backend: {exc}") from None
    return OpenAIBackend(
        model=target,
        base_url=base_url,
        api_key=api_key or "EMPTY",
        profile=get_profile(kind),
        concurrency=_option(options, "concurrency", int, 16),
        timeout=_option(options, "timeout", float, 300.0),
        pushback=pushback,
        rpm=_option(options, "rpm", float),
        tpm=_option(options, "tpm", float),
        prices=None if price_in is None else (price_in, price_out),
        progress=_option(options, "progress", _flag, True),
        max_context=_option(options, "max_context", int),
    )
