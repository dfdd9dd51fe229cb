"""Failure gate, exit codes, run record and over-long prompts, end to end through the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
from openai_server import OpenAITestServer

from ultrajudge import __version__
from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows

_register()
EXAMPLES = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples"
FEEDBACK = EXAMPLES / "feedback.jsonl"
PAIRS = EXAMPLES / "pairs.jsonl"


def invoke(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def test_a_judge_that_always_fails_exits_3_with_everything_written(tmp_path: Path) -> None:
    script = tmp_path / "nonsense.jsonl"
    script.write_text('{"output": "I cannot rate these."}\n')
    out = tmp_path / "scored.jsonl"
    code, output = invoke("score", FEEDBACK, "--judge", f"scripted:{script}", "-o", out,
                          "--max-retries", "0", "--no-progress")  # fmt: skip
    assert code == 3, output
    assert "100.0% of judgments failed, above --max-failure-rate 0.5" in output
    assert len(load_rows(str(out))) == 20
    assert (tmp_path / "scored.jsonl.ultrajudge.sqlite").exists()
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    assert record["summary"]["statuses"] == {"missing": 55}
    code, _ = invoke("score", FEEDBACK, "--judge", f"scripted:{script}", "-o", out,
                     "--max-retries", "0", "--max-failure-rate", "1", "--no-progress")  # fmt: skip
    assert code == 0


def test_pairwise_gate(tmp_path: Path) -> None:
    script = tmp_path / "nonsense.jsonl"
    script.write_text('{"output": "no verdict"}\n')
    out = tmp_path / "verdicts.jsonl"
    code, output = invoke("pairwise", PAIRS, "--judge", f"scripted:{script}", "-o", out,
                          "--max-retries", "0", "--no-progress")  # fmt: skip
    assert code == 3 and "above --max-failure-rate" in output
    assert len(load_rows(str(out))) == 15


def test_a_dead_server_stops_early_and_exits_4(tmp_path: Path) -> None:
    with OpenAITestServer() as server:
        url = server.url
    port = url.split(":")[2].split("/")[0]
    out = tmp_path / "scored.jsonl"
    code, output = invoke("score", FEEDBACK, "--judge", "openai:m", "-o", out,
                          "-O", f"base_url={url}", "--max-retries", "1", "-O", "backoff_base=0.01", "-O", "backoff_max=0.05",
                          "-O", "concurrency=2", "--no-progress")  # fmt: skip
    assert code == 4, output
    line = next(x for x in output.splitlines() if x.startswith("error:"))
    assert f"openai:m@http://127.0.0.1:{port}/v1 (generic) is unreachable" in line
    assert "last error:" in line and "onnect" in line  # "Connection error."
    rows = load_rows(str(out)).to_list()
    assert len(rows) == 20 and all(set(r["rating_status"]) == {"backend_error"} for r in rows)
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    assert record["summary"]["made_now"] <= 12 and record["summary"]["stopped"]


def test_the_run_record_says_what_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "scored.jsonl"
    with OpenAITestServer() as server:
        args = ["score", FEEDBACK, "--judge", "openai:m", "-o", out, "--limit", "3",
                "-O", f"base_url={server.url}", "-O", "server_kind=vllm",
                "-O", "api_key=sk-secretsecret123", "--no-progress"]  # fmt: skip
        monkeypatch.setattr(sys, "argv", ["/usr/bin/ultrajudge", *map(str, args)])
        code, output = invoke(*args)
        url = server.url
    assert code == 0, output
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    assert record["ultrajudge"] == __version__
    assert "api_key=***" in record["command"] and "secretsecret" not in json.dumps(record)
    (judge,) = record["judges"]
    assert judge["id"] == f"openai:m@{url} (vllm)"
    assert judge["resolved"]["model"] == "m"
    assert record["summary"]["statuses"] == {"ok": 8} and record["summary"]["made_now"] == 3
    assert record["settings"]["configs"][0]["template"].startswith("ultrafeedback/overall@")
    assert record["store"] == str(tmp_path / "scored.jsonl.ultrajudge.sqlite")
    assert record["started"] <= record["ended"]


def test_an_over_long_prompt_is_marked_too_long_and_not_sent(tmp_path: Path) -> None:
    long = tmp_path / "long.jsonl"
    rows = [{"instruction": "Say hi.", "completions": ["hi", "hello"]},
            {"instruction": "Summarise.", "completions": ["word " * 40_000]},
            {"instruction": "Say bye.", "completions": ["bye"]}]  # fmt: skip
    long.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "scored.jsonl"
    with OpenAITestServer() as server:
        code, output = invoke("score", long, "--judge", "openai:m", "-o", out,
                              "-O", f"base_url={server.url}", "-O", "max_context=8192",
                              "--no-progress")  # fmt: skip
        sent = len(server.requests)
    assert code == 0, output  # one of four completions failed: under the 0.5 gate
    statuses = [r["rating_status"] for r in load_rows(str(out)).to_list()]
    assert statuses == [["ok", "ok"], ["too_long"], ["ok"]]
    assert sent == 2, "the over-long prompt was sent"
    assert "too_long" in output
