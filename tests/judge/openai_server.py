"""A small OpenAI-protocol HTTP server on 127.0.0.1, for tests and benchmarks.

Implements ``POST /v1/chat/completions``, ``POST /v1/completions`` and
``GET /v1/models`` with the standard library only. Per test it can inject
faults (status codes with headers, hangs, malformed bodies), add latency,
ignore ``n`` or logprobs like some real servers, and it logs every request.

Structured output is honoured in every dialect the backend speaks (vLLM's
``structured_outputs`` / ``guided_*``, SGLang's ``regex``, TGI's and OpenAI's
``response_format``, llama.cpp's ``json_schema``): a regex gets the responder's
answer if it matches, else the default responder's (else 400: the test server
cannot search a regex), a
JSON schema gets a stable instance of the schema (:func:`schema_instance`).

    with OpenAITestServer(latency=0.1) as server:
        server.faults.append(Fault.rate_limited(retry_after="0.2"))
        backend = build_backend("openai:test-model", base_url=server.url, server_kind="vllm")
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 4 << 20
MAX_DELAY = 10.0
MAX_LOG = 10_000
_TEXT = re.compile(r"\btext (\d+)", re.IGNORECASE)


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def default_responder(prompt: str) -> str:
    """UltraFeedback blocks for each "Text i" of a rating prompt, ``n - rationale`` for a
    one-response rating prompt, a ``[[A]]``/``[[B]]``/``[[C]]`` verdict for a pairwise
    prompt; else a stable short answer."""
    if "[[A]]" in prompt and "[[B]]" in prompt:
        return f"Test comparison.\n[[{'ABC'[_stable_int(prompt) % 3]}]]"
    if "score - rationale" in prompt:
        return f"{1 + _stable_int(prompt) % 5} - test rationale."
    if "Output for Text" in prompt:
        indices = sorted({int(i) for i in _TEXT.findall(prompt)})
        return "\n\n".join(
            f"#### Output for Text {i}\nRating: {1 + _stable_int(f'{prompt}|{i}') % 5}\n"
            f"Rationale: test rationale {i}."
            for i in indices
        )
    return f"answer {_stable_int(prompt) % 10_000}"


def default_logprobs(prompt: str) -> dict[str, float]:
    """A stable distribution: 90% of the mass on "1".."5" (on "A", "B", "C" after a
    pairwise verdict's "[["), the rest on 40 other tokens."""
    labels = "ABC" if prompt.endswith("[[") else "12345"
    weights = {s: 1.0 + _stable_int(f"{prompt}|{s}") % 100 for s in labels}
    total = sum(weights.values()) / 0.9
    dist = {t: math.log(w / total) for t, w in weights.items()}
    dist.update({f"tok{i}": math.log(0.1 / 40) for i in range(40)})
    return dict(sorted(dist.items(), key=lambda kv: -kv[1]))


def schema_instance(schema: Mapping[str, Any], seed: str) -> Any:
    """A stable value that satisfies ``schema`` (objects, enums, strings, numbers, arrays)."""
    if "enum" in schema:
        options = list(schema["enum"])
        return options[_stable_int(seed) % len(options)]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        keys = schema.get("required", list(props))
        return {k: schema_instance(props.get(k, {}), f"{seed}|{k}") for k in keys}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [schema_instance(schema.get("items", {}), f"{seed}|{i}") for i in range(count)]
    if kind == "integer":
        return _stable_int(seed) % 10
    if kind == "number":
        return (_stable_int(seed) % 1000) / 10
    if kind == "boolean":
        return bool(_stable_int(seed) % 2)
    return f"test {seed.rsplit('|', 1)[-1]}"


def constraint_of(body: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``("regex", pattern)`` or ``("json", schema)`` asked for in any dialect; else None."""
    so = body.get("structured_outputs") or {}
    fmt = body.get("response_format") or {}
    for kind, value in (
        ("regex", so.get("regex")),
        ("json", so.get("json")),
        ("regex", body.get("guided_regex")),
        ("json", body.get("guided_json")),
        ("regex", body.get("regex")),
        ("json", body.get("json_schema")),
        ("regex", fmt.get("value") if fmt.get("type") == "regex" else None),
        ("json", fmt.get("value") if fmt.get("type") == "json" else None),
        ("json", (fmt.get("json_schema") or {}).get("schema")),
    ):
        if value is not None:
            return kind, value
    return None


@dataclass
class Fault:
    """One injected misbehaviour. ``status=None`` answers normally after ``delay``."""

    status: int | None = 500
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    echo_auth: bool = False  # put the request's bearer token into the error message

    @classmethod
    def rate_limited(cls, retry_after: str = "0.2", header: str = "Retry-After") -> Fault:
        return cls(429, {header: retry_after})

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        return cls(None, delay=seconds)

    @classmethod
    def malformed(cls) -> Fault:
        return cls(200, body=b'{"id": "x", "object": "chat.completion", "choices": [')


@dataclass
class OpenAITestServer:
    """The server and its knobs; change them between requests from the test."""

    responder: Callable[[str], str] = default_responder
    logprob_responder: Callable[[str], Mapping[str, float]] = default_logprobs
    latency: float = 0.0
    #: Extra seconds for one request, from its JSON body (a latency tail for benchmarks).
    latency_of: Callable[[Mapping[str, Any]], float] | None = None
    honour_n: bool = True
    logprobs: bool = True
    max_top_logprobs: int = 20
    model: str = "test-model"
    #: Listed as the model's ``max_model_len`` in ``GET /v1/models`` (as vLLM does) when set.
    max_model_len: int | None = None
    faults: deque[Fault] = field(default_factory=deque)
    fault_if: Callable[[dict], Fault | None] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    listings: int = 0  # GET /v1/models requests (not in ``requests``)
    #: Serve vLLM's ``POST /tokenize`` (the prompt's words are its tokens, as in ``usage``).
    tokenize: bool = True
    counted: list[int] = field(default_factory=list)  # /tokenize answers (not in ``requests``)
    #: HTTP statuses to answer the next /tokenize requests with, one each (a busy server).
    tokenize_faults: deque[int] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the server is not running"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> OpenAITestServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.app = self  # type: ignore[attr-defined]
        threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
            name="openai-test-server",
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> OpenAITestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def bodies(self, path: str = "") -> list[dict]:
        with self._lock:
            return [r["body"] for r in self.requests if r["path"].endswith(path)]

    # -- called by the handler (one thread per request) --------------------------

    def _log_and_pick_fault(self, path: str, body: dict, auth: str) -> Fault | None:
        with self._lock:
            if len(self.requests) < MAX_LOG:
                self.requests.append(
                    {"path": path, "body": body, "auth": auth, "time": time.monotonic()}
                )
            if self.faults:
                return self.faults.popleft()
        return self.fault_if(body) if self.fault_if is not None else None

    def _answer(self, path: str, body: dict) -> dict:
        chat = path.endswith("/chat/completions")
        prompt = (
            "\n".join(m.get("content") or "" for m in body["messages"])
            if chat
            else str(body["prompt"])
        )
        max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)
        n = int(body.get("n") or 1) if self.honour_n else 1
        constraint = constraint_of(body)
        choices = []
        for i in range(n):
            text = self.responder(prompt if i == 0 else f"{prompt}|{i}")
            if constraint is not None:
                text = _constrained(text, constraint, prompt)
            for stop in body.get("stop") or ():
                text = text.split(stop, 1)[0]
            words = text.split(" ")
            finish = "length" if len(words) > max_tokens else "stop"
            choice: dict[str, Any] = {"index": i, "finish_reason": finish, "logprobs": None}
            dist = self._distribution(prompt, body, chat)
            if dist and max_tokens == 1:
                words = [next(iter(dist))]
            text = " ".join(words[:max_tokens])
            if chat:
                choice["message"] = {"role": "assistant", "content": text}
            else:
                choice["text"] = text
            if dist is not None:
                choice["logprobs"] = (
                    _chat_logprobs(text, dist) if chat else _legacy_logprobs(text, dist)
                )
            choices.append(choice)
        completion_tokens = sum(
            len((c.get("text") or c["message"]["content"]).split()) for c in choices
        )
        return {
            "id": f"cmpl-{len(self.requests)}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": choices,
            "usage": {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": completion_tokens,
                "total_tokens": len(prompt.split()) + completion_tokens,
            },
        }

    def _distribution(self, prompt: str, body: dict, chat: bool) -> dict[str, float] | None:
        wanted = (body.get("top_logprobs") or 0) if chat else (body.get("logprobs") or 0)
        if not self.logprobs or not (body.get("logprobs") if chat else wanted):
            return None
        k = min(int(wanted), self.max_top_logprobs)
        return dict(list(self.logprob_responder(prompt).items())[:k])


def _constrained(text: str, constraint: tuple[str, Any], prompt: str) -> str:
    kind, value = constraint
    if kind == "json":
        return json.dumps(schema_instance(value, prompt))
    for candidate in (text, default_responder(prompt)):  # held to the format: the clean answer
        if re.fullmatch(value, candidate) is not None:
            return candidate
    raise ValueError(f"the test server cannot write a match of {value!r}; it had {text!r}")


def _chat_logprobs(text: str, dist: dict[str, float]) -> dict:
    first = next(iter(dist)) if dist else text
    top = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in dist.items()]
    return {
        "content": [
            {
                "token": first,
                "logprob": dist.get(first, -1.0),
                "bytes": list(first.encode()),
                "top_logprobs": top,
            }
        ]
    }


def _legacy_logprobs(text: str, dist: dict[str, float]) -> dict:
    first = next(iter(dist)) if dist else text
    return {
        "tokens": [first],
        "token_logprobs": [dist.get(first, -1.0)],
        "top_logprobs": [dist],
        "text_offset": [0],
    }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default (5) drops connections under load

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) closed its end: not an error of the server.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    @property
    def app(self) -> OpenAITestServer:
        return self.server.app  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        body = {"error": {"message": message, "type": "test_error", "code": status}}
        self._send(status, json.dumps(body).encode(), headers)

    def _tokenize(self, body: dict) -> None:
        with self.app._lock:
            status = self.app.tokenize_faults.popleft() if self.app.tokenize_faults else None
        if status is not None:
            return self._error(status, f"injected fault {status}")
        if "messages" in body:
            prompt = "\n".join(m.get("content") or "" for m in body["messages"])
        else:
            prompt = str(body.get("prompt", ""))
        count = len(prompt.split())
        with self.app._lock:
            self.app.counted.append(count)
        answer = {"count": count, "max_model_len": self.app.max_model_len, "tokens": []}
        self._send(200, json.dumps(answer).encode())

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/v1/models"):
            entry: dict[str, Any] = {
                "id": self.app.model,
                "object": "model",
                "created": 0,
                "owned_by": "ultrajudge-test",
            }
            if self.app.max_model_len is not None:
                entry["max_model_len"] = self.app.max_model_len
            with self.app._lock:
                self.app.listings += 1
            data = [entry]
            self._send(200, json.dumps({"object": "list", "data": data}).encode())
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return self._error(413, "request body too large")
        try:
            body = json.loads(self.rfile.read(length))
        except json.JSONDecodeError:
            return self._error(400, "request body is not JSON")
        path = self.path.rstrip("/")
        if path == "/tokenize" and self.app.tokenize:
            return self._tokenize(body)
        if not path.endswith(("/v1/chat/completions", "/v1/completions")):
            return self._error(404, f"no route {self.path}")
        auth = self.headers.get("Authorization", "")
        fault = self.app._log_and_pick_fault(path, body, auth)
        delay = self.app.latency + (fault.delay if fault else 0.0)
        if self.app.latency_of is not None:
            delay += self.app.latency_of(body)
        time.sleep(min(delay, MAX_DELAY))
        if fault is not None and fault.status is not None:
            if fault.body is not None:
                return self._send(fault.status, fault.body, fault.headers)
            message = f"injected fault {fault.status}" + (f" for {auth}" if fault.echo_auth else "")
            return self._error(fault.status, message, fault.headers)
        try:
            answer = self.app._answer(path, body)
        except (KeyError, TypeError, ValueError) as exc:
            return self._error(400, f"bad request: {exc}")
        self._send(200, json.dumps(answer).encode())
