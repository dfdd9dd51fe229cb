"""The ``openai`` backend against a real local OpenAI-protocol server (tests/judge/openai_server.py)."""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).parent))
from openai_server import Fault, OpenAITestServer, default_logprobs

from ultrajudge.judge.backends import available_backends, build_backend
from ultrajudge.judge.backends.openai import OpenAIBackend, default_price
from ultrajudge.judge.backends.profiles import PROFILES, get_profile, structured_fields
from ultrajudge.judge.errors import AuthError
from ultrajudge.judge.ratelimit import TokenBucket, parse_retry_after
from ultrajudge.judge.types import GenerationParams, LogprobRequest, Message

KEY = "sk-test-5ecret-abcdef0123456789"
PARAMS = GenerationParams(max_new_tokens=64)
UF_PROMPT = "Rate each text.\n<text 1> first answer\n<text 2> second answer\nFormat: #### Output for Text 1 ..."


def conv(text: str) -> list[Message]:
    return [Message("system", "You are a judge."), Message("user", text)]


@pytest.fixture
def server():
    with OpenAITestServer() as s:
        yield s


def make(server: OpenAITestServer, **options) -> OpenAIBackend:
    options = {
        "base_url": server.url,
        "api_key": KEY,
        "server_kind": "vllm",
        "backoff_base": "0.01",
        "progress": "false",
        **options,
    }
    backend = build_backend("openai:test-model", **options)
    assert isinstance(backend, OpenAIBackend)
    return backend


# -- round trips -----------------------------------------------------------------


def test_registered_and_capabilities_follow_the_profile(server):
    assert "openai" in available_backends()
    backend = make(server, server_kind="tgi")
    assert backend.id == f"openai:test-model@{server.url.rstrip('/')} (tgi)"
    assert backend.capabilities.max_top_logprobs == 5
    assert backend.capabilities.structured_output == "tgi"
    assert not backend.capabilities.supports_n
    assert not make(server, server_kind="generic").capabilities.logprobs
    assert not get_profile("openai").capabilities().raw_completion


def test_chat_round_trip_sends_params_and_reads_ultrafeedback_blocks(server):
    backend = make(server)
    out = backend.chat(
        [conv(UF_PROMPT), conv("hello")],
        GenerationParams(max_new_tokens=64, seed=7, stop=("<END>",)),
    )
    assert out[0].error is None and out[0].finish_reason == "stop"
    assert (
        "#### Output for Text 1\nRating: " in out[0].text
        and "#### Output for Text 2" in out[0].text
    )
    assert out[1].text.startswith("answer ")
    (body,) = [
        b for b in server.bodies("/chat/completions") if b["messages"][-1]["content"] == UF_PROMPT
    ]
    assert body["model"] == "test-model" and body["max_tokens"] == 64 and body["seed"] == 7
    assert body["stop"] == ["<END>"] and body["temperature"] == 0.0
    assert body["messages"] == [
        {"role": "system", "content": "You are a judge."},
        {"role": "user", "content": UF_PROMPT},
    ]
    assert out[1].prompt_tokens == 5  # words of the system + user messages
    assert out[1].completion_tokens == 2


def test_complete_uses_raw_completions_and_reports_length(server):
    out = make(server).complete(["Once upon", "a time"], GenerationParams(max_new_tokens=1))
    assert [c.text for c in out] == ["answer", "answer"] and out[0].finish_reason == "length"
    assert sorted(b["prompt"] for b in server.bodies("/v1/completions")) == ["Once upon", "a time"]


def test_openai_kind_uses_max_completion_tokens(server):
    make(server, server_kind="openai").chat([conv("x")], PARAMS)
    body = server.bodies()[0]
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body


def test_usable_from_a_running_event_loop_and_from_threads(server):
    backend = make(server)

    async def inside_a_loop():
        return backend.chat([conv("a")], PARAMS)

    assert asyncio.run(inside_a_loop())[0].error is None
    results: list = []
    threads = [
        threading.Thread(target=lambda: results.extend(backend.chat([conv("b")], PARAMS)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(c.error is None for c in results)
    assert backend.usage.requests == 5
    backend.close()
    assert backend.chat([conv("c")], PARAMS)[0].error is None  # a closed backend starts again


def test_the_concurrency_bound_holds_across_threads(server):
    server.latency = 0.1
    backend = make(server, concurrency="2")
    threads = [
        threading.Thread(target=backend.chat, args=([conv(f"q{i}") for i in range(3)], PARAMS))
        for _ in range(2)
    ]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - start >= 0.3  # 6 requests, 2 at a time, 0.1 s each


# -- log-probabilities -------------------------------------------------------------


def test_logprobs_with_assistant_prefix_continue_the_final_message(server):
    backend = make(server)
    req = LogprobRequest(messages=(Message("user", "Rate it."),), assistant_prefix="Rating: ")
    (dist,) = backend.next_token_logprobs([req], candidates=["1", "2", "3", "4", "5"], top_k=50)
    assert dist.error is None
    assert dict(dist.logprobs) == dict(list(default_logprobs("Rate it.\nRating: ").items())[:20])
    body = server.bodies()[0]
    assert body["messages"][-1] == {"role": "assistant", "content": "Rating: "}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1


def test_raw_prompt_logprobs_use_completions(server):
    (dist,) = make(server).next_token_logprobs(
        [LogprobRequest(raw_prompt="Score: ", assistant_prefix="[")], top_k=3
    )
    assert dict(dist.logprobs) == dict(list(default_logprobs("Score: [").items())[:3])
    body = server.bodies("/v1/completions")[0]
    assert body["prompt"] == "Score: [" and body["logprobs"] == 3


def test_missing_logprobs_are_an_error_and_a_counted_fallback(server, caplog):
    server.logprobs = False
    backend = make(server)
    reqs = [LogprobRequest(messages=(Message("user", f"q{i}"),)) for i in range(3)]
    with caplog.at_level(logging.WARNING, logger="ultrajudge"):
        out = backend.next_token_logprobs(reqs, top_k=5)
    assert len([m for m in caplog.messages if "returned none" in m]) == 1  # logged once
    assert all(d.error and not d.logprobs for d in out)
    assert backend.usage.fallbacks["logprobs_absent"] == 3 and backend.usage.errors == 3


def test_tokens_with_the_same_text_add_their_probability(server):
    top = [
        {"token": "1", "logprob": math.log(0.5)},
        {"token": "1", "logprob": math.log(0.25)},
        {"token": "2", "logprob": math.log(0.125)},
    ]
    response = {
        "choices": [
            {
                "index": 0,
                "logprobs": {
                    "content": [{"token": "1", "logprob": math.log(0.5), "top_logprobs": top}]
                },
            }
        ],
        "usage": {"prompt_tokens": 7},
    }
    dist = make(server)._read_logprobs(response, 3, chat=True)
    assert dist.logprobs == {
        "1": pytest.approx(math.log(0.75)),
        "2": pytest.approx(math.log(0.125)),
    }
    assert dist.prompt_tokens == 7 and dist.error is None


def test_truncated_top_logprobs_are_counted(server, caplog):
    server.max_top_logprobs = 3
    backend = make(server)
    with caplog.at_level(logging.WARNING, logger="ultrajudge"):
        (dist,) = backend.next_token_logprobs(
            [LogprobRequest(messages=(Message("user", "q"),))], top_k=10
        )
    assert any("returned 3" in m for m in caplog.messages)
    assert len(dist.logprobs) == 3 and dist.error is None
    assert backend.usage.fallbacks["top_logprobs_truncated"] == 1


def test_prefix_that_cannot_be_forced_and_kinds_without_logprobs_send_nothing(server):
    req = LogprobRequest(messages=(Message("user", "q"),), assistant_prefix="Rating: ")
    (dist,) = make(server, server_kind="openai").next_token_logprobs([req])
    assert "cannot continue an assistant prefix" in dist.error
    (dist,) = make(server, server_kind="generic").next_token_logprobs(
        [LogprobRequest(raw_prompt="x")]
    )
    assert "declares no logprobs" in dist.error
    assert server.requests == []


# -- n and structured output ---------------------------------------------------------


def test_n_ignored_by_the_server_falls_back_to_seeded_requests(server, caplog):
    server.honour_n = False
    backend = make(server)
    with caplog.at_level(logging.WARNING, logger="ultrajudge"):
        (samples,) = backend.sample([conv("q")], GenerationParams(temperature=1.0, seed=10), n=3)
    assert any("n=3" in m for m in caplog.messages)
    assert len(samples) == 3 and all(c.error is None for c in samples)
    bodies = server.bodies()
    assert bodies[0]["n"] == 3
    assert sorted(b["seed"] for b in bodies[1:]) == [11, 12] and all(
        "n" not in b for b in bodies[1:]
    )
    assert backend.usage.fallbacks["n_ignored"] == 1


def test_n_honoured_is_one_request(server):
    (samples,) = make(server).sample([conv("q")], GenerationParams(temperature=1.0), n=3)
    assert len({c.text for c in samples}) == 3 and len(server.requests) == 1


def test_structured_output_fields_per_dialect(server):
    schema = {"type": "object", "properties": {"rating": {"type": "integer"}}}
    make(server).chat_structured([conv("q")], PARAMS, regex=r"Rating: [1-5]")
    assert server.bodies()[-1]["structured_outputs"] == {"regex": r"Rating: [1-5]"}
    make(server, server_kind="tgi").chat_structured([conv("q")], PARAMS, json_schema=schema)
    assert server.bodies()[-1]["response_format"] == {"type": "json", "value": schema}
    assert structured_fields("llamacpp", json_schema=schema) == {"json_schema": schema}
    assert (
        structured_fields("json_schema", json_schema=schema)["response_format"]["type"]
        == "json_schema"
    )
    assert structured_fields(None, json_schema=schema) is None
    with pytest.raises(ValueError, match="exactly one"):
        structured_fields("vllm", json_schema=schema, regex="x")


def test_unsupported_structured_output_goes_out_unconstrained_with_a_warning(server, caplog):
    backend = make(server, server_kind="openai")
    with caplog.at_level(logging.WARNING, logger="ultrajudge"):
        (out,) = backend.chat_structured([conv("q")], PARAMS, regex="[1-5]")
    assert any("cannot constrain" in m for m in caplog.messages)
    assert out.error is None and "response_format" not in server.bodies()[0]
    assert backend.usage.fallbacks["structured_unsupported"] == 1


# -- one attempt per request; pushback is noted for the runner -------------------------------


@pytest.mark.parametrize(
    ("fault", "wait"),
    [
        (Fault.rate_limited("0.2"), 0.2),
        (Fault.rate_limited("200", header="retry-after-ms"), 0.2),
        (Fault(503), None),
        (Fault(500, {"Retry-After": "1"}), 1.0),
    ],
    ids=["429-retry-after", "429-retry-after-ms", "503", "500-retry-after"],
)
def test_pushback_is_sent_once_and_noted_with_its_wait(server, fault, wait):
    server.faults.append(fault)
    backend = make(server)
    before = time.monotonic()
    (out,) = backend.chat([conv("q")], PARAMS)
    assert out.failed and out.error.startswith(f"HTTP {fault.status}")
    assert len(server.requests) == 1 and backend.usage.requests == 1
    assert backend.usage.errors == 1
    count, until = backend.pushback.read()
    assert count == 1
    if wait is None:
        assert until == 0.0  # no wait named: the runner backs off with jitter
    else:
        assert before + wait <= until <= time.monotonic() + wait
    (again,) = backend.chat([conv("q")], PARAMS)  # the backend never waits or re-sends
    assert again.error is None and len(server.requests) == 2


@pytest.mark.parametrize("fault", [Fault.malformed(), Fault(200, body=b"not json at all")])
def test_a_malformed_body_is_a_failure_but_not_pushback(server, fault):
    server.faults.append(fault)
    backend = make(server)
    (out,) = backend.chat([conv("q")], PARAMS)
    assert out.error.startswith("malformed response body") and len(server.requests) == 1
    assert backend.pushback.read() == (0, 0.0)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_not_pushback(server, status):
    server.faults.append(Fault(status))
    backend = make(server)
    (out,) = backend.chat([conv("q")], PARAMS)
    assert out.failed and out.finish_reason == "error" and out.text == ""
    assert out.error.startswith(f"refused: HTTP {status}")  # final: never asked again
    assert len(server.requests) == 1 and backend.usage.errors == 1
    assert backend.pushback.read() == (0, 0.0)


def test_out_of_credit_is_not_pushback(server):
    body = b'{"error": {"message": "You exceeded your quota", "code": "insufficient_quota"}}'
    server.faults.append(Fault(429, body=body))
    backend = make(server)
    (out,) = backend.chat([conv("q")], PARAMS)
    assert out.error.startswith("refused: HTTP 429") and backend.pushback.read()[0] == 0


def test_a_401_is_final_for_the_whole_run(server):
    server.fault_if = lambda body: Fault(401, echo_auth=True)
    backend = make(server, concurrency="1")
    with pytest.raises(AuthError, match=r"refused the API key \(HTTP 401\)") as caught:
        backend.chat([conv(f"q{i}") for i in range(5)], PARAMS)
    assert len(server.requests) == 1  # the other four were never sent
    with pytest.raises(AuthError):
        backend.next_token_logprobs([LogprobRequest(raw_prompt="x")])
    assert len(server.requests) == 1 and KEY not in str(caught.value)
    assert backend.pushback.read()[0] == 0


def test_a_hang_times_out_as_pushback(server):
    server.faults.append(Fault.hang(2.0))
    backend = make(server, timeout="0.3")
    start = time.monotonic()
    (out,) = backend.chat([conv("q")], PARAMS)
    assert out.error.startswith("timed out") and time.monotonic() - start < 1.5
    assert len(server.requests) == 1 and backend.pushback.read()[0] == 1


def test_a_refused_connection_is_pushback():
    with OpenAITestServer() as gone:
        url = gone.url
    backend = build_backend("openai:m", base_url=url, progress="0", timeout="5")
    (out,) = backend.chat([conv("q")], PARAMS)
    assert out.error.startswith("connection error") and backend.pushback.read()[0] == 1


def test_one_permanent_failure_loses_nothing_else_and_keeps_order(server):
    server.fault_if = lambda body: (
        Fault(400) if "poison" in body["messages"][-1]["content"] else None
    )
    prompts = [f"q{i}" for i in range(5)] + ["poison"] + [f"q{i}" for i in range(5, 9)]
    backend = make(server, concurrency="4")
    out = backend.chat([conv(p) for p in prompts], PARAMS)
    expected = make(server).chat([conv(p) for p in prompts if p != "poison"], PARAMS)
    assert [c.failed for c in out] == [p == "poison" for p in prompts]
    assert [c.text for c in out if not c.failed] == [c.text for c in expected]
    assert backend.usage.errors == 1 and backend.usage.requests == 10


def test_the_api_key_never_leaks(server, monkeypatch):
    backend = make(server)
    server.faults.append(Fault(403, echo_auth=True))
    (out,) = backend.chat([conv("q")], PARAMS)
    assert server.requests[0]["auth"] == f"Bearer {KEY}"  # it was sent...
    assert "Bearer ***" in out.error  # ...and the server's echo of it is redacted
    for text in (
        out.error,
        repr(out),
        repr(backend),
        str(backend),
        backend.id,
        repr(backend.usage),
    ):
        assert KEY not in text and "5ecret" not in text
    server.faults.append(
        Fault(403, body=b'{"error": {"message": "Incorrect API key provided: sk-test-****6789"}}')
    )
    (out,) = backend.chat([conv("q")], PARAMS)
    assert "6789" not in out.error
    server.faults.append(Fault(403, echo_auth=True))
    (dist,) = backend.next_token_logprobs([LogprobRequest(raw_prompt="x")])
    assert "Bearer ***" in dist.error and KEY not in dist.error
    server.faults.append(Fault(401, echo_auth=True))
    with pytest.raises(AuthError) as refused:
        make(server).chat([conv("q")], PARAMS)
    assert KEY not in str(refused.value) and "5ecret" not in str(refused.value)
    monkeypatch.setenv("MY_SERVER_KEY", KEY)  # read when the backend is built
    backend = build_backend("openai:m", base_url=server.url, api_key_env="MY_SERVER_KEY")
    backend.chat([conv("q")], PARAMS)
    assert server.requests[-1]["auth"] == f"Bearer {KEY}" and KEY not in repr(backend)


def test_the_openai_key_goes_only_where_the_sdk_would_send_it(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    build_backend("openai:m", base_url=server.url, progress="0").chat([conv("q")], PARAMS)
    assert server.requests[-1]["auth"] == "Bearer EMPTY"  # another host: not by default
    assert build_backend("openai:gpt-4o-mini").api_key == KEY  # api.openai.com
    build_backend("openai:m", base_url=server.url, api_key_env="OPENAI_API_KEY").chat(
        [conv("q")], PARAMS
    )
    assert server.requests[-1]["auth"] == f"Bearer {KEY}"  # asked for by name
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # the SDK's own pairing of the two
    build_backend("openai:m", progress="0").chat([conv("q")], PARAMS)
    assert server.requests[-1]["auth"] == f"Bearer {KEY}"
    with pytest.raises(ValueError, match="NO_SUCH_KEY"):
        build_backend("openai:m", base_url=server.url, api_key_env="NO_SUCH_KEY")


# -- accounting and concurrency ----------------------------------------------------------


def test_usage_and_cost_are_summed(server):
    backend = make(server, price_in="1.5", price_out="6")
    out = backend.chat([conv(UF_PROMPT), conv("hi")], PARAMS)
    assert backend.usage.prompt_tokens == sum(c.prompt_tokens for c in out) > 0
    assert backend.usage.completion_tokens == sum(c.completion_tokens for c in out) > 0
    expected = (backend.usage.prompt_tokens * 1.5 + backend.usage.completion_tokens * 6) / 1e6
    assert backend.cost_usd() == pytest.approx(expected)
    assert make(server).cost_usd() is None  # unknown price, not zero
    openai_kind = build_backend(
        "openai:gpt-4o-mini-2024-07-18",
        base_url=server.url,
        server_kind="openai",
        api_key=KEY,
        progress="0",
    )
    openai_kind.chat([conv("hi")], PARAMS)
    assert openai_kind.cost_usd() == pytest.approx(
        (openai_kind.usage.prompt_tokens * 0.15 + openai_kind.usage.completion_tokens * 0.60) / 1e6
    )
    assert default_price("gpt-4.1-mini") == (0.40, 1.60) and default_price("llama-3") is None


def test_requests_overlap_up_to_the_concurrency(server):
    server.latency = 0.1
    backend = make(server, concurrency="16")
    start = time.monotonic()
    out = backend.chat([conv(f"q{i}") for i in range(16)], PARAMS)
    assert time.monotonic() - start < 1.0 and not any(c.failed for c in out)
    start = time.monotonic()
    make(server, concurrency="2").chat([conv(f"q{i}") for i in range(4)], PARAMS)
    assert time.monotonic() - start >= 0.2  # two rounds of 0.1 s: the bound holds


def test_token_bucket_paces_requests():
    bucket = TokenBucket(600, burst_seconds=0.1)  # 10 per second, one at a time

    start = time.monotonic()
    for _ in range(4):
        bucket.acquire()
    assert 0.28 <= time.monotonic() - start < 0.6


def test_rpm_limits_the_backend(server):
    start = time.monotonic()
    make(server, rpm="300").chat([conv(f"q{i}") for i in range(7)], PARAMS)
    assert time.monotonic() - start >= 0.35  # 5 at once (one second's worth), then one per 0.2 s


# -- pure helpers and option checking ------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers, now=1445412480.0) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "red"}, "unknown option"),
        ({"concurrency": "many"}, "concurrency='many'"),
        (
            {"max_attempts": "3"},
            r"\['max_attempts'\] of the openai backend are gone.*--max-retries",
        ),
        ({"max_request_seconds": "9"}, "max_request_seconds"),
        ({"backoff_base": "2", "backoff_max": "1"}, "backoff_base <= backoff_max"),
        ({"server_kind": "mystery"}, "unknown server_kind"),
        ({"price_in": "1"}, "both price_in and price_out"),
        ({"progress": "maybe"}, "boolean"),
    ],
)
def test_bad_options_are_rejected_with_a_useful_message(server, options, message):
    with pytest.raises(ValueError, match=message):
        build_backend("openai:m", base_url=server.url, **options)


def test_api_openai_com_needs_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        build_backend("openai:gpt-4o-mini")
    backend = build_backend("openai:gpt-4o-mini", api_key=KEY)
    assert backend.id == "openai:gpt-4o-mini@https://api.openai.com/v1 (openai)"
    assert backend.profile.kind == "openai"


def test_every_profile_maps_to_capabilities():
    for kind, profile in PROFILES.items():
        caps = profile.capabilities()
        assert caps.logprobs == (profile.max_top_logprobs > 0), kind
        assert caps.structured_output == profile.structured_output, kind


def test_no_warning_on_a_clean_run(server):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(server).chat([conv("q")], PARAMS)
