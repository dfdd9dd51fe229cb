"""``ultrajudge run`` with a generator whose server fails partway, through the real CLI
against the local OpenAI test server: exit 4 with one line (the step, the generator's id
with host and port, the last error, what the store holds, where the partial rows are),
nothing judged; a rerun once the server answers sends exactly the missing requests, and
the outputs are byte-identical to a run that was never interrupted."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
from openai_server import Fault, OpenAITestServer

from ultrajudge.cli import _register, app
from ultrajudge.judge.io import load_rows

_register()
FEEDBACK = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples" / "feedback.jsonl"
OUTPUTS = ("generated.jsonl", "scored.jsonl", "pairs.jsonl", "dropped.jsonl")
STEP = "generate step 1 (pool: 1 generator(s) x n=2)"


def invoke(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def _pipeline(tmp_path: Path, url: str) -> Path:
    """20 rows, one pooled generator on the test server writing 2 completions per row (40
    requests), each request tried twice at most; a scripted judge."""
    options = f"{{base_url: '{url}', backoff_base: 0.01, backoff_max: 0.05, concurrency: 2}}"
    generator = f"{{model: 'openai:gen', name: g, temperature: 0.7, options: {options}}}"
    path = tmp_path / "p.yaml"
    path.write_text(
        f"input: {FEEDBACK}\nmax_retries: 1\njudge: scripted:auto\n"
        f"generate: [{{pool: {{n: 2, generators: [{generator}]}}}}]\n"
    )
    return path


def _canon(body: dict) -> str:
    return json.dumps(body, sort_keys=True)


def _sent(server: OpenAITestServer) -> Counter[str]:
    return Counter(_canon(b) for b in server.bodies("/chat/completions"))


def _uninterrupted(server: OpenAITestServer, pipeline: Path, workdir: Path) -> Counter[str]:
    code, output = invoke("run", pipeline, "--workdir", workdir, "--no-progress")
    assert code == 0, output
    sent = _sent(server)
    assert sum(sent.values()) == 40 and len(sent) == 40
    server.requests.clear()
    return sent


def _interrupted(
    server: OpenAITestServer, pipeline: Path, workdir: Path, fault: Callable[[dict], Fault | None]
) -> tuple[str, Counter[str], int]:
    """Run with ``fault`` deciding each request; the one error line, the requests answered
    (200) and how many were sent."""
    answered: Counter[str] = Counter()

    def fault_if(body: dict) -> Fault | None:
        got = fault(body)
        if got is None:
            answered[_canon(body)] += 1
        return got

    server.fault_if = fault_if
    code, output = invoke("run", pipeline, "--workdir", workdir, "--no-progress")
    server.fault_if = None
    assert code == 4, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert "pipeline p: stopped in a generate step; nothing judged, no pairs; run records: generated.partial.jsonl.run.json" in output  # fmt: skip
    sent = len(server.requests)
    server.requests.clear()
    return errors[0], answered, sent


def _stop_line(stopped: str, held: int, cut: Path) -> str:
    """The one error line of a run whose generate step stopped (``stopped``: why, ending in
    a full stop) with ``held`` of its 40 generations in the store."""
    return (
        f"error: {STEP}: {stopped[:-1]}. The store holds {held} of the 40 generations this "
        f"step asked for; the rows so far are in {cut / 'generated.partial.jsonl'} (partial: "
        "not scored, no pairs built); rerun the same command when the server answers: it "
        f"asks only for the {40 - held} the store lacks"
    )


def _check_partial(workdir: Path, ok: int, stopped: str) -> None:
    """Only the partial rows, their record and the store are there; the record says partial."""
    names = {"generated.partial.jsonl", "generated.partial.jsonl.run.json", "store.sqlite"}
    assert {p.name for p in workdir.iterdir()} == names
    record = json.loads((workdir / "generated.partial.jsonl.run.json").read_text())
    assert record["partial"] is True and record["dataset"] == "generated_partial"
    assert record["summary"]["stopped"] == stopped
    statuses = {"ok": ok, "backend_error": 40 - ok}
    assert record["summary"]["statuses"] == {k: n for k, n in statuses.items() if n}
    rows = load_rows(str(workdir / "generated.partial.jsonl")).to_list()
    originals = [json.loads(line) for line in FEEDBACK.read_text().splitlines()]
    assert len(rows) == 20  # each row keeps its own completions and gets the pooled ones it has
    added = sum(len(r["completions"]) for r in rows) - sum(len(r["completions"]) for r in originals)
    assert added == ok


def _rerun_completes(
    server: OpenAITestServer, pipeline: Path, cut: Path, whole: Path, missing: Counter[str]
) -> None:
    code, output = invoke("run", pipeline, "--workdir", cut, "--no-progress")
    assert code == 0, output
    assert _sent(server) == missing  # exactly the requests the store lacked, each once
    for name in OUTPUTS:
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name
    assert not (cut / "generated.partial.jsonl").exists()  # superseded, with its record
    assert not (cut / "generated.partial.jsonl.run.json").exists()
    assert json.loads((cut / "generated.jsonl.run.json").read_text())["partial"] is False


def test_a_generator_that_stops_answering_partway(tmp_path: Path) -> None:
    with OpenAITestServer() as server:
        pipeline, whole, cut = _pipeline(tmp_path, server.url), tmp_path / "whole", tmp_path / "cut"
        everything = _uninterrupted(server, pipeline, whole)
        answers: list[int] = []

        def down_after_5(body: dict) -> Fault | None:  # 5 answers, then a 503 for everything
            answers.append(1)
            return None if len(answers) <= 5 else Fault(503)

        line, answered, sent = _interrupted(server, pipeline, cut, down_after_5)
        stopped = (
            f"openai:gen@{server.url} (generic) stopped answering: the last 8 requests failed "
            "after their retries; last error: HTTP 503: injected fault 503."
        )
        assert line == _stop_line(stopped, 5, cut)
        # it stopped: 5 answers, 8 items x 2 tries, and at most one more item in flight
        assert sum(answered.values()) == 5 and 5 + 16 <= sent <= 5 + 18
        _check_partial(cut, 5, stopped)
        _rerun_completes(server, pipeline, cut, whole, everything - answered)


def test_some_requests_failing_after_their_retries_stop_the_run_before_judging(
    tmp_path: Path,
) -> None:
    """The server answers, but every request for two of the instructions fails (a 502 on
    each try): no stop partway, yet the generated rows lack 4 completions, so the run
    judges nothing and says so; the rerun asks for those 4."""
    failing = ("What is synthetic data?", "Write a Python function")
    with OpenAITestServer() as server:
        pipeline, whole, cut = _pipeline(tmp_path, server.url), tmp_path / "whole", tmp_path / "cut"
        everything = _uninterrupted(server, pipeline, whole)

        def two_rows_fail(body: dict) -> Fault | None:
            prompt = body["messages"][-1]["content"]
            return Fault(502) if any(f in prompt for f in failing) else None

        line, answered, sent = _interrupted(server, pipeline, cut, two_rows_fail)
        stopped = (
            f"4 request(s) to openai:gen@{server.url} (generic) failed after their retries; "
            "last error: HTTP 502: injected fault 502."
        )
        assert line == _stop_line(stopped, 36, cut)
        assert sum(answered.values()) == 36 and sent == 36 + 4 * 2
        _check_partial(cut, 36, stopped)
        _rerun_completes(server, pipeline, cut, whole, everything - answered)


def test_a_generator_dead_from_the_start_writes_its_rows_as_partial_too(tmp_path: Path) -> None:
    with OpenAITestServer() as server:
        url = server.url  # closed below: every connection is refused
    cut = tmp_path / "cut"
    code, output = invoke("run", _pipeline(tmp_path, url), "--workdir", cut, "--no-progress")
    assert code == 4, output
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    stopped = line.removeprefix(f"error: {STEP}: ").split(". The store holds")[0]
    assert stopped.startswith(
        f"openai:gen@{url} (generic) is unreachable: the first 8 requests failed after their "
        "retries; last error: "
    )
    assert line == _stop_line(stopped + ".", 0, cut)
    record = json.loads((cut / "generated.partial.jsonl.run.json").read_text())
    assert record["summary"]["stopped"].startswith(stopped)
    _check_partial(cut, 0, record["summary"]["stopped"])


def test_requests_the_server_refuses_are_left_out_and_the_run_goes_on(tmp_path: Path) -> None:
    """A 400 for two of the instructions is the server's answer, not an outage: a rerun would
    get it again, so those 4 completions are left out (as a rejected output is) and the run
    judges and pairs what there is, exit 0, no partial file."""
    failing = ("What is synthetic data?", "Write a Python function")
    with OpenAITestServer() as server:
        server.fault_if = lambda body: (
            Fault(400) if any(f in body["messages"][-1]["content"] for f in failing) else None
        )
        out = tmp_path / "out"
        code, output = invoke("run", _pipeline(tmp_path, server.url), "--workdir", out, "--no-progress")  # fmt: skip
        sent = len(server.requests)
    assert code == 0, output
    assert sent == 40  # each refused request asked once
    assert not (out / "generated.partial.jsonl").exists() and (out / "pairs.jsonl").exists()
    rows = load_rows(str(out / "generated.jsonl")).to_list()
    originals = [json.loads(line) for line in FEEDBACK.read_text().splitlines()]
    added = sum(len(r["completions"]) for r in rows) - sum(len(r["completions"]) for r in originals)
    assert added == 36


def test_generate_stops_with_one_line_when_its_server_stops_answering(tmp_path: Path) -> None:
    """``ultrajudge generate`` has no partial output: a server that stops answering ends it
    early (it used to send every remaining request, each retried, and exit 0 with the rows
    short of completions), exit 4, one line; what came back is in the store."""
    seeds = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples" / "seed_instructions.jsonl"  # fmt: skip
    with OpenAITestServer() as server:
        answers: list[int] = []

        def down_after_3(body: dict) -> Fault | None:
            answers.append(1)
            return None if len(answers) <= 3 else Fault(503)

        server.fault_if = down_after_3
        config = tmp_path / "g.yaml"
        config.write_text(
            "generators:\n- {model: 'openai:gen', temperature: 0.7, options: "
            f"{{base_url: '{server.url}', backoff_base: 0.01, backoff_max: 0.05, concurrency: 2}}}}\n"
        )
        out = tmp_path / "pool.jsonl"
        code, output = invoke("generate", "pool", seeds, "-o", out, "--generators", config,
                              "--n", "3", "--max-retries", "1", "--no-progress")  # fmt: skip
        sent, url = len(server.requests), server.url
    assert code == 4, output
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert line == (
        f"error: openai:gen@{url} (generic) stopped answering: the last 8 requests failed "
        "after their retries; last error: HTTP 503: injected fault 503.; rerun when the server answers"
    )
    assert 3 + 16 <= sent <= 3 + 18 < 3 + 2 * 27  # 30 requests in all, most never sent
    assert not out.exists()


def test_a_dead_member_of_a_pool_of_servers_calls_off_the_other(tmp_path: Path) -> None:
    """Two API generators write at the same time; ``h``'s server answers every request with
    a 503 from the start: ``h`` is unreachable, ``g`` (slow) starts nothing more,
    the one line names ``h``, the partial rows are written; once ``h`` answers, the rerun
    gives the outputs of a run never interrupted."""
    with OpenAITestServer(latency=0.05) as a, OpenAITestServer() as b:
        members = [
            f"{{model: 'openai:gen', name: {name}, temperature: 0.7, options: {{base_url: '{url}', "
            "backoff_base: 0.01, backoff_max: 0.05, concurrency: 2}}"
            for name, url in (("g", a.url), ("h", b.url))
        ]
        pipeline = tmp_path / "p.yaml"
        pipeline.write_text(
            f"input: {FEEDBACK}\nmax_retries: 1\njudge: scripted:auto\n"
            f"generate: [{{pool: {{n: 2, generators: [{', '.join(members)}]}}}}]\n"
        )
        whole, cut = tmp_path / "whole", tmp_path / "cut"
        code, output = invoke("run", pipeline, "--workdir", whole, "--no-progress")
        assert code == 0, output
        a.requests.clear()
        b.fault_if = lambda body: Fault(503)
        code, output = invoke("run", pipeline, "--workdir", cut, "--no-progress")
        assert code == 4, output
        (line,) = [x for x in output.splitlines() if x.startswith("error:")]
        step = "generate step 1 (pool: 2 generator(s) x n=2)"
        assert line.startswith(
            f"error: {step}: openai:gen@{b.url} (generic) is unreachable: the first 8 requests "
            "failed after their retries; last error: HTTP 503: injected fault 503"
        )
        assert len(a.requests) < 40 and (cut / "generated.partial.jsonl").exists()
        b.fault_if = None
        code, output = invoke("run", pipeline, "--workdir", cut, "--no-progress")
        assert code == 0, output
    for name in OUTPUTS:
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name
    assert not (cut / "generated.partial.jsonl").exists()
