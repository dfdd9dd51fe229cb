"""Prompts longer than the judge's context are ``too_long`` and never run: a local model in
logprob mode (its ``max_position_embeddings``), an API judge at the limit its server lists
in ``GET /v1/models`` (vLLM's ``max_model_len``), through the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app

_register()
HUGE = "lorem ipsum dolor sit amet, " * 1_800  # 50,400 characters: ~50 KB


def _data(tmp_path: Path) -> Path:
    rows = [
        {"instruction": "Hi?", "completions": ["Hello.", "Hey there."]},
        {"instruction": "Summarise.", "completions": ["Short.", HUGE]},
        {"instruction": "Bye?", "completions": ["Bye."]},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("per_completion", "expected"),
    [(True, [["ok", "ok"], ["ok", "too_long"], ["ok"]]),
     (False, [["ok", "ok"], ["too_long", "too_long"], ["ok"]])],  # one prompt for the row
)  # fmt: skip
def test_logprob_mode_marks_an_over_long_prompt_too_long(
    tmp_path: Path, tiny_model_dir: Path, per_completion: bool, expected: list
) -> None:
    assert len(HUGE.encode()) > 50_000
    out = tmp_path / "scored.jsonl"
    args = ["score", str(_data(tmp_path)), "--judge", str(tiny_model_dir), "--mode", "logprob",
            "--min-mass", "0", "-O", "dtype=float32", "-O", "device=cpu", "--out", str(out),
            "--no-progress", *(["--per-completion"] if per_completion else [])]  # fmt: skip
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rating_status"] for r in rows] == expected
    for row in rows:
        for status, value, raw in zip(row["rating_status"], row["ratings"], row["rating_raw"]):
            if status == "too_long":
                assert value is None
                assert raw.startswith("too_long: the prompt has ")
                assert "the model reads 8192; not scored" in raw
                assert int(raw.split()[4]) > 8192  # the prompt's tokens, counted
            else:
                assert 1 <= value <= 5
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    failed = 1 if per_completion else 2
    assert record["summary"]["statuses"] == {"ok": 5 - failed, "too_long": failed}


def _api_rows(tmp_path: Path) -> Path:
    rows = [{"instruction": "Say hi.", "completions": ["hi", "hello"]},
            {"instruction": "Summarise.", "completions": ["word " * 40_000]},  # ~50,000 tokens
            {"instruction": "Say bye.", "completions": ["bye"]}]  # fmt: skip
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _score_api(tmp_path: Path, max_model_len: int | None, *options: str) -> tuple[dict, int, int]:
    """Score the rows against a local server listing ``max_model_len``: the run record's
    judge, the chat requests sent and the model listings asked."""
    pytest.importorskip("openai")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
    from openai_server import OpenAITestServer

    out = tmp_path / "scored.jsonl"
    with OpenAITestServer(model="m", max_model_len=max_model_len) as server:
        args = ["score", str(_api_rows(tmp_path)), "--judge", "openai:m", "-o", str(out),
                "-O", f"base_url={server.url}", "-O", "concurrency=2", *options, "--no-progress"]  # fmt: skip
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        sent, listings = len(server.bodies("/chat/completions")), server.listings
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    statuses = [json.loads(line)["rating_status"] for line in out.read_text().splitlines()]
    return {"statuses": statuses, **record["judges"][0]["resolved"]}, sent, listings


def test_the_servers_max_model_len_refuses_an_over_long_prompt_unsent(tmp_path: Path) -> None:
    judged, sent, listings = _score_api(tmp_path, 8192)
    assert judged == {
        "statuses": [["ok", "ok"], ["too_long"], ["ok"]],
        "model": "m",
        "max_context": 8192,
        "max_context_source": "server: GET /v1/models max_model_len",
    }
    assert sent == 2, "the over-long prompt was sent"
    assert listings == 1  # asked once, for all requests
    raw = json.loads((tmp_path / "scored.jsonl").read_text().splitlines()[1])["rating_raw"][0]
    assert "do not fit max_context=8192 (server: GET /v1/models max_model_len)" in raw


def test_a_server_without_a_limit_gets_every_prompt(tmp_path: Path) -> None:
    judged, sent, listings = _score_api(tmp_path, None)
    assert judged["statuses"] == [["ok", "ok"], ["ok"], ["ok"]] and sent == 3 and listings == 1
    assert judged["max_context"] is None
    assert judged["max_context_source"] == "unknown: the server lists 'm' without max_model_len"


def test_the_option_wins_over_the_server_and_nothing_is_asked(tmp_path: Path) -> None:
    judged, sent, listings = _score_api(tmp_path, 8192, "-O", "max_context=100000")
    assert judged["statuses"] == [["ok", "ok"], ["ok"], ["ok"]] and sent == 3 and listings == 0
    assert (judged["max_context"], judged["max_context_source"]) == (100000, "option max_context")


def _score_vllm(
    tmp_path: Path, tokenize: bool, tokenize_faults: tuple[int, ...] = ()
) -> tuple[dict, int, list[int], list[str]]:
    """Score rows near and over an 8,192-token limit against a local vLLM-kind server
    (``tokenize_faults``: what its first /tokenize requests answer): the judge's record,
    statuses and fallbacks, the chat requests sent, the /tokenize counts answered, and
    the failed rows' raw texts."""
    pytest.importorskip("openai")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
    from openai_server import OpenAITestServer

    rows = [{"instruction": "Say hi.", "completions": ["hi", "hello"]},
            # 54,000 characters (an estimate of 13,500 tokens) but 2,000 words: it fits
            {"instruction": "Summarise.", "completions": ["abcdefghijklmnopqrstuvwxyz " * 2000]},
            {"instruction": "Summarise.", "completions": ["word " * 40_000]},  # does not fit
            {"instruction": "Say bye.", "completions": ["bye"]}]  # fmt: skip
    src, out = tmp_path / "near.jsonl", tmp_path / "scored.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with OpenAITestServer(model="m", max_model_len=8192, tokenize=tokenize) as server:
        server.tokenize_faults.extend(tokenize_faults)
        concurrency = 1 if tokenize_faults else 2  # in input order: which row met the fault
        args = ["score", str(src), "--judge", "openai:m", "-o", str(out), "-O",
                f"base_url={server.url}", "-O", "server_kind=vllm", "-O", f"concurrency={concurrency}",
                "--no-progress"]  # fmt: skip
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        sent, counted = len(server.bodies("/chat/completions")), sorted(server.counted)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    judged = [json.loads(line) for line in out.read_text().splitlines()]
    raws = [r["rating_raw"][0] for r in judged if r["rating_status"] == ["too_long"]]
    statuses = [r["rating_status"] for r in judged]
    fallbacks = record["summary"]["api"]["fallbacks"]
    judged = {"statuses": statuses, "fallbacks": fallbacks, **record["judges"][0]["resolved"]}
    return judged, sent, counted, raws


def test_a_prompt_near_the_limit_is_counted_by_the_server(tmp_path: Path) -> None:
    """The estimate (4 characters a token) would refuse the long-worded prompt; the
    server's /tokenize counts it (only the two prompts estimated above half the limit)
    and it is judged; the one that does not fit is refused unsent, with its count."""
    judged, sent, counted, raws = _score_vllm(tmp_path, tokenize=True)
    assert judged["statuses"] == [["ok", "ok"], ["ok"], ["too_long"], ["ok"]]
    assert sent == 3 and len(counted) == 2 and 2000 < counted[0] < 8192 - 512 < counted[1]
    assert judged["prompt_count"] == (
        "server: POST /tokenize for prompts estimated above half the limit"
    )
    (raw,) = raws
    assert raw.startswith(f"too_long: {counted[1]} prompt tokens (counted by the server)")


def test_a_server_without_tokenize_leaves_it_to_the_estimate(tmp_path: Path) -> None:
    judged, sent, counted, raws = _score_vllm(tmp_path, tokenize=False)
    assert judged["statuses"] == [["ok", "ok"], ["too_long"], ["too_long"], ["ok"]]
    assert sent == 2 and counted == []
    assert judged["prompt_count"] == "estimate (POST /tokenize failed)"
    assert all("the prompt at 4 characters a token" in raw for raw in raws)


@pytest.mark.parametrize("status", [503, 429, 408])
def test_a_busy_tokenize_leaves_one_prompt_to_the_estimate_and_counts_the_next(
    tmp_path: Path, status: int
) -> None:
    """A /tokenize that fails for a passing reason (busy, rate limited, timed out) is no
    sign the server cannot count: that one prompt is estimated (and counted in the
    fallbacks), and the next one near the limit is counted by the server again."""
    judged, sent, counted, raws = _score_vllm(tmp_path, tokenize=True, tokenize_faults=(status,))
    # row 2 met the fault: its estimate (13,500 tokens) refuses it; row 3 is counted
    assert judged["statuses"] == [["ok", "ok"], ["too_long"], ["too_long"], ["ok"]]
    assert sent == 2 and len(counted) == 1 and counted[0] > 8192
    assert judged["fallbacks"] == {"prompt_count_failed": 1}
    assert judged["prompt_count"] == (
        "server: POST /tokenize for prompts estimated above half the limit"
    )
    assert "the prompt at 4 characters a token" in raws[0]
    assert raws[1].startswith(f"too_long: {counted[0]} prompt tokens (counted by the server)")


@pytest.mark.parametrize("status", [404, 400, 501])
def test_a_tokenize_the_server_refuses_is_not_asked_again(tmp_path: Path, status: int) -> None:
    judged, sent, counted, raws = _score_vllm(tmp_path, tokenize=True, tokenize_faults=(status,))
    assert judged["statuses"] == [["ok", "ok"], ["too_long"], ["too_long"], ["ok"]]
    # one fault only: a second /tokenize would have been answered and counted
    assert sent == 2 and counted == [] and judged["fallbacks"] == {}
    assert judged["prompt_count"] == "estimate (POST /tokenize failed)"
    assert all("the prompt at 4 characters a token" in raw for raw in raws)
