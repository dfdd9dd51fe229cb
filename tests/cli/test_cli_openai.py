"""Every command end to end through the CLI against the local OpenAI-protocol test server
(tests/judge/openai_server.py): score (generate, logprob, structured output), pairwise,
generate (pool, evol-instruct, evol-quality, self-instruct, magpie), usage and cost in the
summaries, and a run through injected 429/500s that loses nothing and resumes for free."""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
from openai_server import Fault, OpenAITestServer, default_logprobs, default_responder

from ultrajudge.cli import _register, app
from ultrajudge.commands._common import load_backend
from ultrajudge.judge.io import load_rows
from ultrajudge.judge.rating import RatingConfig, rate_rows
from ultrajudge.judge.structured import ultrafeedback_regex, ultrafeedback_schema
from ultrajudge.judge.types import (
    Capabilities,
    Completion,
    Conversation,
    GenerationParams,
    LogprobRequest,
    TokenDistribution,
)

_register()
runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples"
FEEDBACK = EXAMPLES / "feedback.jsonl"
FAST = ("-O", "backoff_base=0.01", "-O", "backoff_max=0.05")


def responder(prompt: str) -> str:
    """The default answers for rating prompts; a numbered list for SelfInstruct; otherwise
    a stable, long enough text that every generator's checks accept."""
    if any(k in prompt for k in ("Output for Text", "score - rationale", "[[A]]")):
        return default_responder(prompt)
    h = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) % 10_000
    if "numbered list" in prompt:
        return f"1. What is topic {h}?\n2. How does process {h} work?\n3. Why is idea {h} useful?"
    return f"A carefully expanded text number {h} with extra words, details and constraints."


def sloppy(prompt: str) -> str:
    """A judge that rambles unless its output is constrained."""
    if "Output for Text" in prompt:
        return "All of the texts are fine. I would give Text 1 a five, the others less."
    return responder(prompt)


@pytest.fixture
def server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer(responder=responder) as s:
        yield s


def invoke(*args: object, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def api(server: OpenAITestServer, kind: str = "vllm") -> tuple[str, ...]:
    return ("-O", f"base_url={server.url}", "-O", f"server_kind={kind}", *FAST)


def rows(path: Path) -> list[dict]:
    return load_rows(str(path)).to_list()


def api_line(output: str) -> dict[str, float]:
    """The numbers of the summary's ``API: ...`` line."""
    m = re.search(
        r"API: (\d+) requests \((\d+) retries, (\d+) failed\), (\d+) prompt \+ (\d+) "
        r"completion tokens; cost (\$[0-9.]+|unknown)",
        output,
    )
    assert m is not None, output
    names = ("requests", "retries", "failed", "prompt", "completion")
    out: dict[str, float] = {k: int(v) for k, v in zip(names, m.groups())}
    out["cost"] = float(m.group(6)[1:]) if m.group(6) != "unknown" else math.nan
    return out


# -- score ---------------------------------------------------------------------------


def test_score_generate_mode_constrained_by_regex_with_cost(tmp_path, server) -> None:
    out = tmp_path / "scored.jsonl"
    output = invoke(
        "score", FEEDBACK, "-o", out, "-j", "openai:test-model", *api(server),
        "-O", "price_in=2", "-O", "price_out=8", "--limit", "5", "--no-progress",
    )  # fmt: skip
    scored = rows(out)
    assert all(set(r["rating_status"]) == {"ok"} for r in scored)
    assert all(r["judge"].endswith("| generate+regex | greedy") for r in scored)
    sizes = {len(r["completions"]) for r in scored}
    sent = {b["structured_outputs"]["regex"] for b in server.bodies("/chat/completions")}
    assert sent == {ultrafeedback_regex(n, (1, 2, 3, 4, 5)) for n in sizes}
    usage = api_line(output)
    assert usage["requests"] == len(server.requests) == 5 and usage["retries"] == 0
    assert f"tokens: {usage['prompt']:.0f} prompt, {usage['completion']:.0f} generated" in output
    assert usage["cost"] == pytest.approx(
        (usage["prompt"] * 2 + usage["completion"] * 8) / 1e6, abs=1e-4
    )


@pytest.mark.parametrize(
    ("kind", "field"), [("vllm", "structured_outputs"), ("openai", "response_format")]
)
def test_structured_output_turns_a_rambling_judge_into_parsed_ratings(
    tmp_path, server, kind, field
) -> None:
    server.responder = sloppy
    free, held = tmp_path / "free.jsonl", tmp_path / "held.jsonl"
    common = ("-j", "openai:test-model", *api(server, kind), "--limit", "3", "--no-progress")
    invoke(
        "score",
        FEEDBACK,
        "-o",
        free,
        *common,
        "--no-structured",
        "--max-retries",
        "0",
        "--max-failure-rate",
        "1",
    )
    assert {s for r in rows(free) for s in r["rating_status"]} == {"missing"}
    assert not any(field in b for b in server.bodies())
    server.requests.clear()
    invoke("score", FEEDBACK, "-o", held, *common, "-a", "honesty")
    scored = rows(held)
    assert {s for r in scored for s in r["rating_status"]} <= {"ok", "na"}
    assert all(v is None or 1 <= v <= 5 for r in scored for v in r["ratings"])
    bodies = server.bodies()
    assert len(bodies) == 3 and all(field in b for b in bodies)  # no retries were needed
    if kind == "openai":  # no regex there: the JSON schema of the answer, N/A allowed
        n = len(scored[0]["completions"])
        schema = ultrafeedback_schema(n, (1, 2, 3, 4, 5), allow_na=True)
        assert schema in [b["response_format"]["json_schema"]["schema"] for b in bodies]
        assert scored[0]["judge"].split(" | ")[2] == "generate+json"


@dataclass
class Mirror:
    """In process, the distributions the test server returns: what a local judge that
    reads the same text would give (the server joins the messages with newlines)."""

    id: str = "mirror"
    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(logprobs=True, max_top_logprobs=20)
    )

    def chat(self, conversations: Sequence[Conversation], params: GenerationParams) -> list:
        raise AssertionError("logprob mode generates nothing")

    def complete(self, prompts: Sequence[str], params: GenerationParams) -> list[Completion]:
        raise AssertionError("logprob mode generates nothing")

    def next_token_logprobs(
        self, requests: Sequence[LogprobRequest], *, candidates: Sequence[str] = (), top_k: int = 20
    ) -> list[TokenDistribution]:
        out = []
        for r in requests:
            text = "\n".join([*(m.content for m in r.messages), r.assistant_prefix])
            out.append(TokenDistribution(dict(list(default_logprobs(text).items())[:top_k])))
        return out


def test_score_logprob_mode_over_the_api_matches_the_in_process_path(tmp_path, server) -> None:
    out = tmp_path / "lp.jsonl"
    output = invoke(
        "score", FEEDBACK, "-o", out, "-j", "openai:test-model", *api(server),
        "--mode", "logprob", "--limit", "4", "--no-progress",
    )  # fmt: skip
    scored = rows(out)
    items = [(r["instruction"], r["completions"]) for r in scored]
    local = rate_rows(Mirror(), items, RatingConfig(mode="logprob"))
    for row, judged in zip(scored, local):
        statuses = [r.status for r in judged.ratings]
        assert row["rating_status"] == statuses == ["ok"] * len(row["completions"])
        assert row["ratings"] == pytest.approx([r.value for r in judged.ratings], abs=1e-12)
        assert row["rating_mass"] == pytest.approx([0.9] * len(row["completions"]))
        for probs, rating in zip(row["rating_probs"], judged.ratings):
            assert probs == pytest.approx(list(rating.probs), abs=1e-12)
    # one request per rating position, each continuing the teacher-forced assistant prefix
    bodies, usage = server.bodies("/chat/completions"), api_line(output)
    assert len(bodies) == sum(len(c) for _, c in items) == usage["requests"]
    assert f"tokens: {usage['prompt']:.0f} prompt, 0 generated" in output  # every request billed
    assert all(b["continue_final_message"] and b["top_logprobs"] == 20 for b in bodies)
    last = max((b["messages"][-1]["content"] for b in bodies), key=len)
    assert re.fullmatch(r"#### Output for Text 1\nRating:(.*\n\n#### Output for Text \d\nRating:)+", last)  # fmt: skip


def test_logprob_mode_where_no_prefix_can_be_forced_is_a_recorded_failure(tmp_path, server) -> None:
    out = tmp_path / "lp.jsonl"
    common = ("-j", "openai:test-model", *api(server, "openai"), "--limit", "3", "--no-progress")
    invoke("score", FEEDBACK, "-o", out, *common, "--mode", "logprob", "--max-failure-rate", "1")
    scored = rows(out)
    assert {s for r in scored for s in r["rating_status"]} == {"backend_error"}
    assert all(v is None for r in scored for v in r["ratings"] + r["rating_probs"])
    assert "cannot continue an assistant prefix" in scored[0]["rating_raw"][0]
    assert "--per-completion" in scored[0]["rating_raw"][0]
    assert server.requests == []  # nothing was sent, nothing was invented
    # a prompt whose answer starts with the score needs no prefix: it works there
    per = tmp_path / "per.jsonl"
    invoke(
        "score",
        FEEDBACK,
        "-o",
        per,
        *common,
        "--mode",
        "logprob",
        "--per-completion",
        "--max-failure-rate",
        "1",
    )
    scored = rows(per)
    assert {s for r in scored for s in r["rating_status"]} == {"ok"}
    assert all(b["messages"][-1]["role"] == "user" for b in server.bodies())


# -- pairwise --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["generate", "logprob"])
def test_pairwise_over_the_api(tmp_path, server, mode) -> None:
    out = tmp_path / f"pw-{mode}.jsonl"
    output = invoke(
        "pairwise", EXAMPLES / "pairs.jsonl", "-o", out, "-j", "openai:test-model",
        *api(server), "--mode", mode, "--limit", "6", "--no-progress",
    )  # fmt: skip
    judged = rows(out)
    assert len(judged) == 6 and {r["verdict_status"] for r in judged} == {"ok"}
    assert api_line(output)["requests"] == len(server.requests) == 12  # both orders, once
    if mode == "logprob":
        assert all(r["p_a"] + r["p_b"] + r["p_tie"] == pytest.approx(1) for r in judged)
        assert all(b["messages"][-1]["content"] == "[[" for b in server.bodies())


# -- generate ----------------------------------------------------------------------------


def test_generate_every_kind_over_the_api_then_score(tmp_path, server) -> None:
    model = ("-m", "openai:test-model", *api(server))
    seeds = EXAMPLES / "seed_instructions.jsonl"
    runs = {
        "pool": (
            "pool",
            seeds,
            "-g",
            "model=openai:test-model,temperature=0.8",
            *api(server),
            "--n",
            "2",
        ),
        "evol": ("evol-instruct", seeds, *model, "--answers"),
        "quality": ("evol-quality", EXAMPLES / "seed_responses.jsonl", *model),
        "self": (
            "self-instruct",
            EXAMPLES / "seed_contexts.jsonl",
            *model,
            "--n",
            "3",
            "--answers",
        ),
        "magpie": (
            "magpie",
            EXAMPLES / "seed_system_prompts.jsonl",
            *model,
            "--template-family",
            "llama3",
        ),
    }
    for name, args in runs.items():
        out = tmp_path / f"{name}.jsonl"
        output = invoke("generate", args[0], "-o", out, *args[1:], "--limit", "3", "--no-progress")
        written = rows(out)
        assert written, (name, output)
        assert all(r["completions"] for r in written), name
        usage = api_line(output)
        assert usage["requests"] > 0 and usage["failed"] == 0, name
        scored = tmp_path / f"scored-{name}.jsonl"
        invoke("score", out, "-o", scored, "-j", "openai:test-model", *api(server), "--no-progress")
        assert {s for r in rows(scored) for s in r["rating_status"]} == {"ok"}, name
    magpie = rows(tmp_path / "magpie.jsonl")
    assert magpie[0]["magpie_params"]["template"] == "builtin:llama3"
    prompts = [b["prompt"] for b in server.bodies("/v1/completions")]
    for role in ("user", "assistant"):  # pre-query prompts, then replies
        assert any(p.endswith(f"<|start_header_id|>{role}<|end_header_id|>\n\n") for p in prompts)


def test_magpie_over_an_api_names_what_it_needs(tmp_path, server) -> None:
    out = tmp_path / "m.jsonl"
    model = ("-m", "openai:test-model", "--system", "You help.", "--no-progress")
    output = invoke("generate", "magpie", "-o", out, *model, *api(server), code=2)
    assert "--template-family" in output
    output = invoke(
        "generate", "magpie", "-o", out, *model, *api(server, "openai"),
        "--template-family", "llama3", code=2,
    )  # fmt: skip
    assert "raw text completion" in output and "/v1/completions" in output
    assert server.requests == []


# -- faults, resume, progress ---------------------------------------------------------------


def test_429_and_500_lose_nothing_and_a_rerun_sends_no_request(tmp_path, server) -> None:
    seen: set[str] = set()
    lock = threading.Lock()

    def flaky(body: dict) -> Fault | None:
        key = json.dumps(body, sort_keys=True)
        with lock:
            first = key not in seen
            seen.add(key)
        if not first or len(seen) % 3 == 0:
            return None
        return Fault.rate_limited("0.01") if len(seen) % 3 == 1 else Fault(500)

    server.fault_if = flaky
    out = tmp_path / "scored.jsonl"
    args = ("score", FEEDBACK, "-o", out, "-j", "openai:test-model", *api(server), "--no-progress")
    output = invoke(*args, "-O", "concurrency=4")
    scored = rows(out)
    assert len(scored) == 20 and all(set(r["rating_status"]) == {"ok"} for r in scored)
    usage = api_line(output)
    assert usage["retries"] > 0 and usage["failed"] == 0
    assert usage["requests"] == len(server.requests) == 20 + usage["retries"]  # each try sent once
    sent = len(server.requests)
    again = invoke(*args)
    assert "judgments: 0 made now, 20 from the store" in again
    assert len(server.requests) == sent  # nothing stored was asked again
    assert rows(out) == scored
    # the comparison leaderboard reads the API judge's tokens from its run records (both runs)
    board = tmp_path / "board.json"
    invoke("compare", out, "--human-col", "human_ratings", "--out", board, "--price-in", "2", "--price-out", "8")  # fmt: skip
    (row,) = [r for r in json.loads(board.read_text())["leaderboard"] if r["judge"] != "human_ratings"]  # fmt: skip
    per = usage["prompt"] / 55, usage["completion"] / 55  # 55 rated completions
    assert (row["prompt_tokens"], row["completion_tokens"]) == pytest.approx(per)
    assert row["cost_per_1k"] == pytest.approx(1000 * (per[0] * 2 + per[1] * 8) / 1e6)


def test_the_cli_quiets_the_backends_own_progress_bar(server) -> None:
    assert load_backend("openai:test-model", base_url=server.url).progress is False
    assert load_backend("openai:test-model", base_url=server.url, progress="1").progress is True
    assert not hasattr(load_backend("scripted:auto"), "progress")


def test_a_generator_keeps_concurrency_requests_in_flight_across_rows(tmp_path, server) -> None:
    """``--batch-size 2`` no longer cuts an API generator into chunks of 2 rows: with
    concurrency 8, the first 8 of the 20 requests (10 rows x 2 samples) go out at once."""
    server.latency = 0.5
    out = tmp_path / "pool.jsonl"
    invoke("generate", "pool", EXAMPLES / "seed_instructions.jsonl", "-o", out, "-g",
           "model=openai:test-model,temperature=0.8", *api(server), "-O", "concurrency=8",
           "--n", "2", "--batch-size", "2", "--no-progress")  # fmt: skip
    times = sorted(r["time"] for r in server.requests)
    assert len(times) == 20 and all(len(r["completions"]) == 2 for r in rows(out))
    first_wave = sum(t - times[0] < 0.45 for t in times)  # before any answer is back
    assert first_wave == 8, [round(t - times[0], 2) for t in times]  # chunks of 2 rows: 4


def _one_row(tmp_path: Path) -> Path:
    src = tmp_path / "one.jsonl"
    src.write_text(json.dumps({"instruction": "q", "completions": ["a", "b"]}) + "\n")
    return src


def test_429_then_500_then_ok_is_retried_by_the_runner_after_retry_after(tmp_path, server) -> None:
    server.faults.extend([Fault.rate_limited("0.3"), Fault(500)])
    out = tmp_path / "scored.jsonl"
    output = invoke("score", _one_row(tmp_path), "-o", out, "-j", "openai:test-model",
                    *api(server), "--max-retries", "2", "--no-progress")  # fmt: skip
    first, second, third = server.requests  # exactly three sent: one try, two retries
    assert second["time"] - first["time"] >= 0.3  # the server's Retry-After, honoured
    assert third["time"] - second["time"] >= 0.005  # FAST backoff: 0.01 s x U(0.5, 1)
    assert rows(out)[0]["rating_status"] == ["ok", "ok"]
    usage = api_line(output)
    assert (usage["requests"], usage["retries"], usage["failed"]) == (3, 2, 0)
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    assert record["summary"]["retries"] == 2 and record["summary"]["api"]["retries"] == 2
    assert record["summary"]["api"]["requests"] == 3


def test_with_max_retries_0_a_429_is_a_recorded_failure(tmp_path, server) -> None:
    server.faults.append(Fault.rate_limited("0.3"))
    out = tmp_path / "scored.jsonl"
    output = invoke("score", _one_row(tmp_path), "-o", out, "-j", "openai:test-model",
                    *api(server), "--max-retries", "0", "--no-progress", code=3)  # fmt: skip
    assert len(server.requests) == 1
    (row,) = rows(out)
    assert row["rating_status"] == ["backend_error", "backend_error"]
    assert row["ratings"] == [None, None]
    assert (api_line(output)["requests"], api_line(output)["retries"]) == (1, 0)
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    assert record["summary"]["retries"] == 0 and record["summary"]["statuses"] == {
        "backend_error": 2
    }
    server.faults.clear()  # a rerun asks the failure again, and only it
    invoke("score", _one_row(tmp_path), "-o", out, "-j", "openai:test-model", *api(server),
           "--max-retries", "0", "--no-progress")  # fmt: skip
    assert len(server.requests) == 2 and rows(out)[0]["rating_status"] == ["ok", "ok"]


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_a_refused_request_is_a_final_failure_not_asked_again(tmp_path, server, status) -> None:
    """A 4xx other than 408 and 429 is the server refusing the request itself: asking the
    same again gets the same answer, so ``--max-retries`` does not spend requests on it."""
    server.faults.append(Fault(status))
    out = tmp_path / "scored.jsonl"
    output = invoke("score", _one_row(tmp_path), "-o", out, "-j", "openai:test-model",
                    *api(server), "--max-retries", "3", "--no-progress", code=3)  # fmt: skip
    assert len(server.requests) == 1
    (row,) = rows(out)
    assert row["rating_status"] == ["backend_error", "backend_error"]
    assert (api_line(output)["requests"], api_line(output)["retries"]) == (1, 0)
    stored = json.dumps(row)
    assert f"refused: HTTP {status}: injected fault {status}" in stored
    server.faults.clear()  # a rerun (the request mended) asks it again, and only it
    invoke("score", _one_row(tmp_path), "-o", out, "-j", "openai:test-model", *api(server),
           "--max-retries", "3", "--no-progress")  # fmt: skip
    assert len(server.requests) == 2 and rows(out)[0]["rating_status"] == ["ok", "ok"]


def test_pairwise_and_generators_do_not_ask_a_refused_request_again(tmp_path, server) -> None:
    server.faults.append(Fault(400))
    invoke("pairwise", EXAMPLES / "pairs.jsonl", "-o", tmp_path / "pw.jsonl", "-j",
           "openai:test-model", *api(server), "--limit", "1", "--max-retries", "3",
           "--no-progress", code=3)  # fmt: skip
    assert len(server.requests) == 2  # both orders once; the refused one not again
    server.requests.clear()
    server.faults.append(Fault(400))
    src = tmp_path / "seeds.jsonl"
    src.write_text(json.dumps({"instruction": "Name a prime."}) + "\n")
    result = runner.invoke(app, ["generate", "pool", str(src), "-o", str(tmp_path / "g.jsonl"),
                                 "-g", "model=openai:test-model", *api(server),
                                 "--max-retries", "3", "--no-progress"])  # fmt: skip
    assert len(server.requests) == 1, result.output


def test_a_server_that_refuses_every_request_ends_the_run_early(tmp_path, server) -> None:
    """An unknown model (404 for each request): the run stops after the first few, exit 4,
    one line saying the server refused them, not that it is unreachable."""
    server.fault_if = lambda body: Fault(404)
    src = tmp_path / "many.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"q{i}", "completions": ["a"]}) + "\n" for i in range(40)))  # fmt: skip
    result = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "s.jsonl"), "-j",
                                 "openai:no-such-model", *api(server), "-O", "concurrency=2",
                                 "--max-retries", "3", "--no-progress"])  # fmt: skip
    assert result.exit_code == 4, result.output
    assert len(server.requests) < 16, "no retries, and the run stopped early"
    line = next(x for x in result.output.splitlines() if "cannot be used" in x)
    assert "the server refused each of the first 8 requests" in line
    assert "refused: HTTP 404" in line and "Check the model name and base_url" in line


def test_a_judge_that_stops_answering_partway_ends_the_run_and_a_rerun_finishes_it(
    tmp_path, server
) -> None:
    """After 10 answers the server fails every request (a dead model worker behind a live
    proxy): the run stops after 8 items in a row failed, exit 4, one line; what came back
    is stored, and a rerun against the mended server asks only for the rest."""
    src = tmp_path / "many.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"q{i}", "completions": ["a"]}) + "\n" for i in range(60)))  # fmt: skip
    answered = [0]

    def dying(body: dict) -> Fault | None:
        answered[0] += 1
        return Fault(503) if answered[0] > 10 else None

    server.fault_if = dying
    out = tmp_path / "scored.jsonl"
    args = ("score", src, "-o", out, "-j", "openai:test-model", *api(server), "-O",
            "concurrency=1", "--max-retries", "1", "--no-progress")  # fmt: skip
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 4, result.output
    (line,) = [x for x in result.output.splitlines() if "stopped answering" in x]
    assert "the last 8 requests failed after their retries; last error: HTTP 503" in line
    assert len(server.requests) == 10 + 8 * 2, "8 items, each tried twice, then nothing"
    server.fault_if, sent = None, len(server.requests)
    invoke(*args)
    assert len(server.requests) - sent == 50  # the 8 failed and the 42 never sent
    assert [r["rating_status"] for r in rows(out)] == [["ok"]] * 60


def test_a_429_slows_the_whole_window(tmp_path, server) -> None:
    """Concurrency 4: the first request is refused with Retry-After 0.5; the other three
    were already in flight, but no request starts inside the wait, the retry included."""
    # the refused request (the first one logged) comes back at once, the others after 0.1 s
    server.latency_of = lambda body: 0.0 if body == server.requests[0]["body"] else 0.1
    server.faults.append(Fault.rate_limited("0.5"))
    src = tmp_path / "many.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"q{i}", "completions": ["a"]}) + "\n" for i in range(12)))  # fmt: skip
    out = tmp_path / "scored.jsonl"
    invoke("score", src, "-o", out, "-j", "openai:test-model", *api(server),
           "-O", "concurrency=4", "--no-progress")  # fmt: skip
    times = sorted(r["time"] for r in server.requests)
    assert len(times) == 13  # 12 rows and one retry
    start = times[0]
    early = [t - start for t in times if t - start < 0.5]
    assert len(early) == 4, [round(t - start, 3) for t in times]  # the first window only
    assert all(set(r["rating_status"]) == {"ok"} for r in rows(out))
