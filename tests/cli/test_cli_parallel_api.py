"""Several API servers in one command: a jury's jurors (``score``) and a pool's generators
(``generate pool``) run at the same time, one that stops calls off the others, and a
jury's run has a record and a failure gate."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judge"))
from openai_server import OpenAITestServer

from ultrajudge.analysis.compare_usage import record_usage
from ultrajudge.cli import _register, app
from ultrajudge.generators import pooling as pool_module
from ultrajudge.judge import jury as jury_module
from ultrajudge.judge.io import load_rows

_register()
FEEDBACK = Path(__file__).resolve().parents[2] / "ultrajudge" / "examples" / "feedback.jsonl"


def invoke(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


class Clock:
    """When a server's requests arrived (its extra-latency hook, adding none)."""

    def __init__(self) -> None:
        self.seen: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, body: Any) -> float:
        with self._lock:
            self.seen.append(time.monotonic())
        return 0.0


@pytest.fixture()
def two_servers() -> Iterator[tuple[tuple[OpenAITestServer, OpenAITestServer], dict[str, Clock]]]:
    """Two servers, 0.1 s a request, each with a clock of when its requests arrived."""
    clocks = {"a": Clock(), "b": Clock()}
    with (
        OpenAITestServer(latency=0.1, latency_of=clocks["a"]) as a,
        OpenAITestServer(latency=0.1, latency_of=clocks["b"]) as b,
    ):
        yield (a, b), clocks


def _jury_file(tmp_path: Path, **urls: str) -> Path:
    judges = [
        {"name": name, "model": "openai:m",
         "options": {"base_url": url, "concurrency": "2", "backoff_base": "0.01", "backoff_max": "0.05"}}
        for name, url in urls.items()
    ]  # fmt: skip
    path = tmp_path / "jury.yaml"
    path.write_text(json.dumps({"judges": judges}), encoding="utf-8")  # JSON is YAML
    return path


def test_api_jurors_judge_at_the_same_time_and_write_what_one_after_the_other_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, two_servers: Any
) -> None:
    """Two servers, 0.1 s a request, 2 in flight each, 20 rows: the second juror's first
    request arrives while the first juror is still asking (one after the other, every
    request of ``a`` would come first). The output is byte-identical to the jurors run
    one after the other."""
    (a, b), clocks = two_servers
    jury = _jury_file(tmp_path, a=a.url, b=b.url)
    out = tmp_path / "together.jsonl"
    code, output = invoke("score", FEEDBACK, "--jury", jury, "-o", out, "--no-progress")
    assert code == 0, output
    assert len(clocks["a"].seen) == len(clocks["b"].seen) == 20
    assert min(clocks["b"].seen) < max(clocks["a"].seen) - 0.3
    assert min(clocks["a"].seen) < max(clocks["b"].seen) - 0.3

    monkeypatch.setattr(jury_module, "concurrent_requests", lambda backend: 0)
    alone = tmp_path / "alone.jsonl"
    code, output = invoke("score", FEEDBACK, "--jury", jury, "-o", alone, "--no-progress")
    assert code == 0, output
    assert max(clocks["a"].seen[20:]) < min(clocks["b"].seen[20:])  # one after the other
    assert out.read_bytes() == alone.read_bytes()
    rows = load_rows(str(out)).to_list()
    assert {s for r in rows for s in r["rating_status"]} == {"ok"}
    record = json.loads((tmp_path / "together.jsonl.run.json").read_text())
    assert [j["id"] for j in record["judges"]] == [f"openai:m@{x.url} (generic)" for x in (a, b)]
    assert [s["step"] for s in record["steps"]] == ["score with a", "score with b"]
    assert [s["summary"]["api"]["requests"] for s in record["steps"]] == [20, 20]
    usage = record_usage(out, "ratings__b", "pointwise")  # compare's usage column
    assert (
        usage.judgments == 55
        and usage.prompt_tokens == record["steps"][1]["summary"]["prompt_tokens"]
    )


def test_a_dead_api_juror_calls_off_the_others_and_exits_4(tmp_path: Path) -> None:
    """``b`` is unreachable: after its first 8 requests fail, ``a`` (slow) starts nothing
    more; the output, store and run record hold what ``a`` judged; exit 4 names ``b``."""
    with OpenAITestServer() as dead:
        dead_url = dead.url
    clock = Clock()
    with OpenAITestServer(latency=0.3, latency_of=clock) as a:
        jury = _jury_file(tmp_path, a=a.url, b=dead_url)
        out = tmp_path / "scored.jsonl"
        code, output = invoke("score", FEEDBACK, "--jury", jury, "-o", out,
                              "--max-retries", "0", "--no-progress")  # fmt: skip
    assert code == 4, output
    line = next(x for x in output.splitlines() if x.startswith("error:"))
    assert f"openai:m@{dead_url} (generic) is unreachable" in line
    assert len(clock.seen) < 20  # called off before every row was asked
    rows = load_rows(str(out)).to_list()
    assert len(rows) == 20
    raws = [r["rating_raw__a"] for r in rows if r["rating_status__a"][0] == "backend_error"]
    assert raws and all(raw[0] == "not judged: the run stopped before this row" for raw in raws)
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    assert "is unreachable" in record["summary"]["stopped"]


def test_a_jury_whose_ratings_mostly_fail_exits_3_with_its_record(tmp_path: Path) -> None:
    """A jury rating needs every juror (the default quorum): one juror that never answers
    in format fails the jury's ratings, so the gate (over the jury's ratings) exits 3."""
    script = tmp_path / "nonsense.jsonl"
    script.write_text('{"output": "I cannot rate these."}\n')
    out = tmp_path / "scored.jsonl"
    code, output = invoke("score", FEEDBACK, "--judge", "good=scripted:auto",
                          "--judge", f"bad=scripted:{script}", "-o", out,
                          "--max-retries", "0", "--no-progress")  # fmt: skip
    assert code == 3, output
    assert "100.0% of judgments failed, above --max-failure-rate 0.5" in output
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    assert record["settings"]["jury"] == "jury:mean(good, bad)"
    assert record["summary"]["failure_rate"] == 1.0
    good, bad = (s["summary"] for s in record["steps"])
    assert good["statuses"] == {"ok": 55} and bad["failure_rate"] == 1.0
    code, output = invoke("score", FEEDBACK, "--judge", "good=scripted:auto",
                          "--judge", f"bad=scripted:{script}", "-o", out,
                          "--max-retries", "0", "--max-failure-rate", "1", "--no-progress")  # fmt: skip
    assert code == 0, output


def _generators_file(tmp_path: Path, **urls: str) -> Path:
    generators = [
        {"model": "openai:m", "temperature": 0.8,
         "options": {"base_url": url, "concurrency": "2", "backoff_base": "0.01", "backoff_max": "0.05"}}
        for url in urls.values()
    ]  # fmt: skip
    path = tmp_path / "generators.yaml"
    path.write_text(json.dumps({"generators": generators}), encoding="utf-8")
    return path


SEEDS = FEEDBACK.parent / "seed_instructions.jsonl"


def test_api_generators_of_a_pool_run_at_the_same_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, two_servers: Any
) -> None:
    (a, b), clocks = two_servers
    generators = _generators_file(tmp_path, a=a.url, b=b.url)
    out = tmp_path / "together.jsonl"
    code, output = invoke("generate", "pool", SEEDS, "--generators", generators, "-o", out,
                          "--no-progress")  # fmt: skip
    assert code == 0, output
    n = len(clocks["a"].seen)
    assert n == len(clocks["b"].seen) == len(load_rows(str(out))) >= 10
    assert min(clocks["b"].seen) < max(clocks["a"].seen) - 0.2
    monkeypatch.setattr(pool_module, "concurrent_requests", lambda backend: 0)
    alone = tmp_path / "alone.jsonl"
    code, output = invoke("generate", "pool", SEEDS, "--generators", generators, "-o", alone,
                          "--no-progress")  # fmt: skip
    assert code == 0, output
    assert max(clocks["a"].seen[n:]) < min(clocks["b"].seen[n:])  # one after the other
    assert out.read_bytes() == alone.read_bytes()
    assert all(len(r["completions"]) == 2 for r in load_rows(str(out)).to_list())


def test_a_dead_generator_calls_off_the_pool_and_exits_4(tmp_path: Path) -> None:
    with OpenAITestServer() as dead:
        dead_url = dead.url
    clock = Clock()
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"instruction": f"question {i}"}) + "\n" for i in range(30)))
    with OpenAITestServer(latency=0.3, latency_of=clock) as a:
        generators = _generators_file(tmp_path, a=a.url, b=dead_url)
        out = tmp_path / "pool.jsonl"
        code, output = invoke("generate", "pool", rows, "--generators", generators, "-o", out,
                              "--max-retries", "0", "--no-progress")  # fmt: skip
    assert code == 4, output
    assert f"openai:m@{dead_url} (generic)" in output and "unreachable" in output
    assert len(clock.seen) < 30  # called off before every row was asked


def test_ctrl_c_stops_every_juror_at_once_and_the_rerun_finishes_the_same(
    tmp_path: Path,
) -> None:
    """Ctrl-C while two API jurors judge (1 s a request): exit 130 within the second, both
    jurors' finished judgments stored; the rerun asks only for the rest and writes what
    an uninterrupted run writes."""
    import _thread

    def interrupt_at_the_fifth(clock: Clock) -> Any:
        def hook(body: Any) -> float:
            clock(body)
            if len(clock.seen) == 5:
                _thread.interrupt_main()  # what Ctrl-C does
            return 0.0

        return hook

    clock = Clock()
    with (
        OpenAITestServer(latency=0.2, latency_of=interrupt_at_the_fifth(clock)) as a,
        OpenAITestServer(latency=0.2) as b,
    ):
        jury = _jury_file(tmp_path, a=a.url, b=b.url)
        out = tmp_path / "scored.jsonl"
        start = time.monotonic()
        code, output = invoke("score", FEEDBACK, "--jury", jury, "-o", out, "--no-progress")
        took = time.monotonic() - start
        assert code == 130 and "interrupted" in output, output
        assert took < 3 and not out.exists()
        asked = len(a.requests) + len(b.requests)
        code, output = invoke("score", FEEDBACK, "--jury", jury, "-o", out, "--no-progress")
        assert code == 0, output
        again = len(a.requests) + len(b.requests) - asked
        clean = tmp_path / "clean.jsonl"
        code, output = invoke("score", FEEDBACK, "--jury", jury, "-o", clean,
                              "--store", tmp_path / "clean.sqlite", "--no-progress")  # fmt: skip
        assert code == 0, output
    # 20 rows x 2 jurors; asked twice at most: the answers in flight at Ctrl-C (2 a juror)
    assert asked < 40 and 40 <= asked + again <= 40 + 2 * 2
    assert out.read_bytes() == clean.read_bytes()


def test_one_server_twice_is_refused_before_anything_is_asked(tmp_path: Path) -> None:
    """Two jurors (or two pool members) that are one judge would share every store entry:
    one line, exit 2, no request sent."""
    with OpenAITestServer() as server:
        jury = _jury_file(tmp_path, a=server.url, b=server.url)
        code, output = invoke("score", FEEDBACK, "--jury", jury, "-o", tmp_path / "s.jsonl")
        assert code == 2, output
        assert output.startswith(f"error: {jury}: jurors 'a' and 'b' are the same judge (openai:m)")
        generators = _generators_file(tmp_path, a=server.url, b=server.url)
        code, output = invoke("generate", "pool", SEEDS, "--generators", generators,
                              "-o", tmp_path / "p.jsonl")  # fmt: skip
        assert code == 2, output
        assert "generators 'openai:m#0' and 'openai:m#1' are the same" in output
        assert server.requests == []


def test_the_aspects_of_an_api_judge_follow_each_other_without_a_barrier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--aspect helpfulness --aspect honesty``: the honesty requests go out while the
    helpfulness aspect's one slow request (1 s) is still in flight, instead of every slot
    waiting for it; the output is byte-identical to aspect after aspect."""
    from ultrajudge.judge import scoring

    sent: list[tuple[float, str]] = []
    lock = threading.Lock()

    def timed(body: Any) -> float:
        text = json.dumps(body).lower()
        aspect = "honesty" if "honest" in text else "helpfulness"
        slow = aspect == "helpfulness" and "one-line definition of machine learning" in text
        with lock:
            sent.append((time.monotonic(), aspect + (" slow" if slow else "")))
        return 1.0 if slow else 0.0

    with OpenAITestServer(latency=0.05, latency_of=timed) as server:
        args = ["score", FEEDBACK, "--judge", "openai:m", "-O", f"base_url={server.url}",
                "-O", "concurrency=4", "--aspect", "helpfulness", "--aspect", "honesty",
                "--no-progress"]  # fmt: skip
        code, output = invoke(*args, "-o", tmp_path / "stream.jsonl")
        assert code == 0, output
        (slow_at,) = [t for t, what in sent if what == "helpfulness slow"]
        honesty = [t for t, what in sent if what == "honesty"]
        assert len(honesty) == 20 and min(honesty) < slow_at + 0.5
        monkeypatch.setattr(scoring, "_one_stream", lambda *a: False)
        code, output = invoke(*args, "-o", tmp_path / "apart.jsonl")
        assert code == 0, output
    assert (tmp_path / "stream.jsonl").read_bytes() == (tmp_path / "apart.jsonl").read_bytes()
