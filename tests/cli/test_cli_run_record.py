"""``ultrajudge run``: the failure gate (exit 3), an unreachable judge (exit 4) and the run
record beside every dataset the pipeline writes, through the real CLI."""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
from openai_server import Fault, OpenAITestServer, default_responder

from ultrajudge import __version__
from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows

_register()
FEEDBACK = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples" / "feedback.jsonl"
DATASETS = ("scored.jsonl", "pairs.jsonl", "dropped.jsonl")


def invoke(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def _pipeline(tmp_path: Path, judge: str, extra: str = "", limit: int = 4) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(f"input: {FEEDBACK}\nlimit: {limit}\nworkdir: out\njudge: {judge}\n{extra}")
    return path


def _record(tmp_path: Path, name: str) -> dict:
    return json.loads((tmp_path / "out" / f"{name}.run.json").read_text())


def test_a_judge_that_always_fails_exits_3_after_writing_outputs_store_and_records(
    tmp_path: Path,
) -> None:
    script = tmp_path / "nonsense.jsonl"
    script.write_text('{"output": "I cannot rate these."}\n')
    pipeline = _pipeline(tmp_path, f'"scripted:{script}"', "score: {max_retries: 0}\n")
    code, output = invoke("run", pipeline, "--no-progress")
    assert code == 3, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "100.0% of judgments failed, above --max-failure-rate 0.5" in errors[0]
    assert "pipeline p: 10 judgments, 10 failed (100.0%); 0 pairs" in output
    for name in DATASETS:
        assert (tmp_path / "out" / name).exists(), name
        assert _record(tmp_path, name)["summary"]["statuses"] == {"missing": 10}
    assert (tmp_path / "out" / "store.sqlite").exists()
    assert not (tmp_path / "out" / "report.html.run.json").exists()
    statuses = [r["rating_status"] for r in load_rows(str(tmp_path / "out" / "scored.jsonl"))]
    assert Counter(s for row in statuses for s in row) == {"missing": 10}


@pytest.mark.parametrize(
    ("yaml_rate", "flag", "code"),
    [("max_failure_rate: 1\n", [], 0), ("max_failure_rate: 1\n", ["--max-failure-rate", "0.2"], 3),
     ("", ["--max-failure-rate", "1"], 0)],
)  # fmt: skip
def test_the_gate_reads_the_file_and_the_flag_wins(
    tmp_path: Path, yaml_rate: str, flag: list[str], code: int
) -> None:
    script = tmp_path / "nonsense.jsonl"
    script.write_text('{"output": "no ratings"}\n')
    pipeline = _pipeline(tmp_path, f'"scripted:{script}"', f"score: {{max_retries: 0}}\n{yaml_rate}")  # fmt: skip
    got, output = invoke("run", pipeline, "--no-progress", *flag)
    assert got == code, output
    gate = 0.2 if flag[1:] == ["0.2"] else 1.0
    assert _record(tmp_path, "scored.jsonl")["settings"]["max_failure_rate"] == gate


@pytest.mark.parametrize(
    ("value", "why"),
    [("lots", "expected a number, got 'lots'"), ("1.5", "must be <= 1, got 1.5"),
     ("true", "expected a number, got true (a boolean)"), ("-0.1", "must be >= 0, got -0.1")],
)  # fmt: skip
def test_a_bad_max_failure_rate_is_one_line(tmp_path: Path, value: str, why: str) -> None:
    pipeline = _pipeline(tmp_path, '"scripted:auto"', f"max_failure_rate: {value}\n")
    code, output = invoke("run", pipeline, "--dry-run")
    assert code == 2
    assert output == f"error: {pipeline}:5: max_failure_rate: {why}\n"


def test_a_dead_judge_server_exits_4_with_one_line_and_no_pairs(tmp_path: Path) -> None:
    with OpenAITestServer() as server:
        url = server.url
    options = f"{{base_url: '{url}', backoff_base: 0.01, backoff_max: 0.05, concurrency: 2}}"
    judge = f'{{name: api, model: "openai:m", options: {options}}}'
    pipeline = _pipeline(tmp_path, judge, "max_retries: 1\nscore: {max_retries: 1}\n", limit=12)
    code, output = invoke("run", pipeline, "--no-progress")
    assert code == 4, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert f"openai:m@{url} (generic) is unreachable" in errors[0]
    assert "last error:" in errors[0] and "onnect" in errors[0]  # "Connection error."
    rows = load_rows(str(tmp_path / "out" / "scored.jsonl")).to_list()
    assert len(rows) == 12 and all(set(r["rating_status"]) == {"backend_error"} for r in rows)
    assert not (tmp_path / "out" / "pairs.jsonl").exists()
    record = _record(tmp_path, "scored.jsonl")
    assert record["summary"]["stopped"] == errors[0].removeprefix("error: ").split(". The")[0]
    assert "no pairs (the run stopped early)" in output


def test_every_dataset_gets_a_run_record_field_by_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAITestServer() as server:
        options = (f"{{base_url: '{server.url}', server_kind: vllm, api_key: sk-secretsecret123, "
                   "price_in: 1.5, price_out: 4}")  # fmt: skip
        pipeline = _pipeline(
            tmp_path,
            f'{{name: api, model: "openai:m", options: {options}}}',
            "generate: [{pool: {generators: [{model: 'scripted:auto', name: pooled}]}}]\n"
            "score: {max_new_tokens: 64}\n",
        )
        argv = ["run", str(pipeline), "--no-progress"]
        monkeypatch.setattr(sys, "argv", ["/usr/bin/ultrajudge", *argv])
        code, output = invoke(*argv)
        url, bodies = server.url, server.bodies("/chat/completions")
    assert code == 0, output
    scored = load_rows(str(tmp_path / "out" / "scored.jsonl"))
    record = _record(tmp_path, "scored.jsonl")
    assert record["ultrajudge"] == __version__
    assert record["command"] == ["ultrajudge", *argv]
    assert "secretsecret" not in json.dumps(record)
    digest = hashlib.sha256(pipeline.read_bytes()).hexdigest()
    assert record["pipeline"] == {"name": "p", "path": str(pipeline.resolve()), "sha256": digest}
    assert record["dataset"] == "scored"
    assert [j["id"] for j in record["judges"]] == [f"openai:m@{url} (vllm)"]
    assert record["judges"][0]["resolved"]["model"] == "m"
    (config,) = record["settings"]["configs"]
    assert config["template"].startswith("ultrafeedback/overall@") and config["aspect"] == "overall"
    assert config["params"]["max_new_tokens"] == 64 and config["params"]["temperature"] == 0.0
    assert record["settings"]["judges"] == {"api": "openai:m"}
    assert record["settings"]["max_failure_rate"] == 0.5
    summary = record["summary"]
    statuses = Counter(s for row in scored["rating_status"] for s in row)
    assert summary["statuses"] == dict(statuses) and sum(statuses.values()) == 14  # 10 + 4 pooled
    assert summary["made_now"] == 4 and summary["from_store"] == 0
    prompt_tokens = sum(len("\n".join(m["content"] for m in b["messages"]).split()) for b in bodies)
    assert len(bodies) == 4 and summary["prompt_tokens"] == prompt_tokens
    cost = (summary["prompt_tokens"] * 1.5 + summary["completion_tokens"] * 4) / 1e6
    assert summary["cost_usd"] == pytest.approx(cost, rel=1e-12)
    assert record["store"] == str(tmp_path / "out" / "store.sqlite")
    assert record["started"] <= record["ended"] and record["seconds"] >= 0
    steps = record["steps"]
    assert [s["step"] for s in steps] == ["generate pool: 1 generator(s) x n=1", "score with api"]
    assert steps[1]["backends"] == [f"openai:m@{url} (vllm)"]
    assert steps[1]["summary"]["prompt_tokens"] == prompt_tokens

    generated = _record(tmp_path, "generated.jsonl")
    assert generated["dataset"] == "generated"
    assert [j["id"] for j in generated["judges"]] == steps[0]["backends"]
    assert generated["judges"][0]["id"].startswith("scripted:auto")
    assert generated["summary"]["made_now"] == 4 and generated["summary"]["statuses"] == {"ok": 4}
    assert generated["pipeline"] == record["pipeline"] and generated["steps"] == steps
    for name in ("pairs.jsonl", "dropped.jsonl"):
        other = _record(tmp_path, name)
        assert other["summary"] == summary and other["judges"] == record["judges"]
    assert not (tmp_path / "out" / "report.html.run.json").exists()


def _prompt(body: dict) -> str:
    return "\n".join(m["content"] for m in body["messages"])


def _tokens(bodies: list[dict], *, answered: bool = True) -> tuple[int, int]:
    """(prompt, completion) tokens of ``bodies`` as the test server counts them (a body it
    did not answer counts none)."""
    if not answered:
        return 0, 0
    prompts = sum(len(_prompt(b).split()) for b in bodies)
    return prompts, sum(len(default_responder(_prompt(b)).split()) for b in bodies)


def test_each_jurors_step_has_this_runs_and_all_runs_figures(tmp_path: Path) -> None:
    """A jury of two API jurors on the test server. First run: juror b's requests for two of
    the 4 rows fail (a 503, no retry). Second run: b asks again for those two only, a for
    nothing. Each juror's step keeps this run's ``summary`` and the ``cumulative`` figures
    of both runs, and compare's usage of ``ratings__b`` reads the cumulative ones."""
    from ultrajudge.analysis.compare_usage import record_usage

    failing = ("What is synthetic data?", "Give me three tips for sleeping better.")

    def fails(body: dict) -> bool:
        return body["model"] == "mb" and any(f in _prompt(body) for f in failing)

    with OpenAITestServer() as server:
        opts = (
            f"{{base_url: '{server.url}', backoff_base: 0.01, backoff_max: 0.05, concurrency: 2}}"
        )
        jury = (f"jury: {{reducer: median, judges: [{{name: a, model: 'openai:ma', options: {opts}}}, "
                f"{{name: b, model: 'openai:mb', options: {opts}}}]}}\n")  # fmt: skip
        path = tmp_path / "p.yaml"
        path.write_text(f"input: {FEEDBACK}\nlimit: 4\nworkdir: out\nmax_failure_rate: 1\n"
                        f"score: {{max_retries: 0}}\n{jury}")  # fmt: skip
        runs, records = [], []
        for fault in (lambda body: Fault(503) if fails(body) else None, None):
            server.fault_if, first = fault, len(server.requests)
            code, output = invoke("run", path, "--no-progress")
            assert code == 0, output
            bodies = [r["body"] for r in server.requests[first:]]
            runs.append({m: [b for b in bodies if b["model"] == m] for m in ("ma", "mb")})
            records.append({s["step"]: s for s in _record(tmp_path, "scored.jsonl")["steps"]})

    assert [len(r["ma"]) for r in runs] == [4, 0] and [len(r["mb"]) for r in runs] == [4, 2]
    assert all(fails(body) for body in runs[1]["mb"])  # exactly the two that failed
    b_ok = [body for body in runs[0]["mb"] if not fails(body)]
    expected = {  # (prompt, completion) tokens and requests of each run
        "a": [(*_tokens(runs[0]["ma"]), 4), (0, 0, 0)],
        "b": [(*_tokens(b_ok), 4), (*_tokens(runs[1]["mb"]), 2)],
    }
    for name, (first_run, this_run) in expected.items():
        step = records[1][f"score with {name}"]
        summary, cumulative = step["summary"], step["cumulative"]
        assert (summary["prompt_tokens"], summary["completion_tokens"], summary["api"]["requests"]) == this_run  # fmt: skip
        before = records[0][f"score with {name}"]["cumulative"]
        assert before["runs"] == 1 and (before["prompt_tokens"], before["completion_tokens"], before["requests"]) == first_run  # fmt: skip
        assert cumulative == {
            "prompt_tokens": first_run[0] + this_run[0],
            "completion_tokens": first_run[1] + this_run[1],
            "seconds": summary["seconds"] + before["seconds"],
            "made_now": 4 + summary["made_now"],
            "cost_usd": None,  # no prices given
            "requests": first_run[2] + this_run[2],
            "runs": 2,
        }
    assert records[1]["score with b"]["summary"]["made_now"] == 2
    usage = record_usage(tmp_path / "out" / "scored.jsonl", "ratings__b", "pointwise")
    b = records[1]["score with b"]["cumulative"]
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        b["prompt_tokens"],
        b["completion_tokens"],
    )
    assert usage.source == "run record (2 runs)"
